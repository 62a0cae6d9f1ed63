// Lists Dovecot masters started by tests/helpers/dovecot.ts (recognizable by their private
// config path) whose parent is gone, i.e. a test process ended without calling stop().
// Reads /proc directly: a minimal Debian image has no procps (ps/pgrep).
// Usage: node tests/setup/leak-check.mjs [--kill]   prints one PID per line.
import { readdirSync, readFileSync } from 'node:fs';

const kill = process.argv.includes('--kill');
let entries = [];
try {
  entries = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
} catch {
  process.exit(0); // no /proc (not Linux): nothing to check
}
for (const pid of entries) {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
    if (!/dovecot.* -c \S*roost-dovecot-[^/ ]+\/dovecot\.conf/.test(cmdline)) continue;
    // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may contain spaces, so split after ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid !== 1) continue;
    console.log(pid);
    if (kill) process.kill(Number(pid), 'SIGTERM');
  } catch {
    // process ended while we looked
  }
}
