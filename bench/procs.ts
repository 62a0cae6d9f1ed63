// Process, memory and environment helpers for the benchmark (Linux /proc).

import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { execFileSync } from 'node:child_process';

/** pid and every descendant of it (by walking /proc/<pid>/stat parent links). */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${name}/stat`, 'latin1');
    } catch {
      continue; // exited meanwhile
    }
    // Field 4 (ppid) follows the parenthesised command name, which may itself contain ') '.
    const after = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ppid = Number(after[1]);
    const list = children.get(ppid) ?? [];
    list.push(Number(name));
    children.set(ppid, list);
  }
  const out: number[] = [];
  const todo = [root];
  while (todo.length) {
    const pid = todo.pop()!;
    if (!fs.existsSync(`/proc/${pid}`)) continue;
    out.push(pid);
    todo.push(...(children.get(pid) ?? []));
  }
  return out;
}

export interface MemSample {
  /** Sum of VmRSS over the processes, kB. */
  rssKb: number;
  /** Sum of Pss (smaps_rollup) over the processes, kB: shared pages split between their users. */
  pssKb: number;
  processes: number;
  /** Process names with their count, e.g. { imap: 200, 'imap-login': 1 }. */
  names: Record<string, number>;
}

function readKb(text: string, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

export function measureMemory(pids: number[]): MemSample {
  const sample: MemSample = { rssKb: 0, pssKb: 0, processes: 0, names: {} };
  for (const pid of pids) {
    try {
      const status = fs.readFileSync(`/proc/${pid}/status`, 'latin1');
      const rollup = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'latin1');
      sample.rssKb += readKb(status, 'VmRSS');
      sample.pssKb += readKb(rollup, 'Pss');
      sample.processes++;
      let name = /^Name:\s+(.*)$/m.exec(status)?.[1] ?? '?';
      try {
        // Dovecot names its processes 'dovecot/imap' etc. in argv; the comm is just 'imap'.
        const argv0 = fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0')[0];
        if (argv0.startsWith('dovecot/')) name = argv0.slice(8).split(' ')[0];
      } catch {
        // keep comm
      }
      sample.names[name] = (sample.names[name] ?? 0) + 1;
    } catch {
      // exited meanwhile
    }
  }
  return sample;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address() as net.AddressInfo;
      srv.close(() => resolve(addr.port));
    });
  });
}

/** Writes dirty pages and drops the page cache; returns an error text when not permitted. */
export function dropCaches(): string | null {
  try {
    execFileSync('sync');
    fs.writeFileSync('/proc/sys/vm/drop_caches', '3\n');
    return null;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits up to timeoutMs for every pid to exit; returns the ones still alive. */
export async function waitExit(pids: number[], timeoutMs: number): Promise<number[]> {
  const until = Date.now() + timeoutMs;
  let alive = pids.filter(isAlive);
  while (alive.length && Date.now() < until) {
    await sleep(50);
    alive = alive.filter(isAlive);
  }
  return alive;
}

export interface Environment {
  cpu: string;
  cores: number;
  memoryGb: number;
  kernel: string;
  node: string;
  dovecot: string;
  date: string;
  /** 1, 5 and 15 minute load averages when the run started. */
  load: number[];
}

export function environment(dovecotBin: string): Environment {
  let dovecot: string;
  try {
    dovecot = execFileSync(dovecotBin, ['--version'], { encoding: 'utf8' }).trim();
  } catch (err) {
    dovecot = `unavailable (${(err as Error).message.split('\n')[0]})`;
  }
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGb: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    dovecot,
    date: new Date().toISOString(),
    load: os.loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

/** A server process (tree) under test. */
export interface BenchServer {
  readonly name: string;
  readonly port: number;
  /** The top process: Dovecot's master, Roost's node process. */
  readonly pid: number;
  /** The top process and all its descendants, now. */
  pids(): number[];
  /** The last lines the server logged (for error messages). */
  logTail(lines?: number): string;
  stop(): Promise<void>;
}

/** Keeps the last `max` lines of a stream. */
export class LineTail {
  private lines: string[] = [];
  private partial = '';
  constructor(private readonly max = 200) {}
  push(chunk: string): string[] {
    const text = this.partial + chunk;
    const parts = text.split('\n');
    this.partial = parts.pop() ?? '';
    this.lines.push(...parts);
    if (this.lines.length > this.max) this.lines.splice(0, this.lines.length - this.max);
    return parts;
  }
  tail(n = 20): string {
    return [...this.lines, ...(this.partial ? [this.partial] : [])].slice(-n).join('\n');
  }
}
