// Roost under test: the built headless CLI as a separate process, so its RSS (worker
// thread included) can be measured on its own, as Dovecot's processes are.

import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { LineTail, processTree, waitExit, type BenchServer } from './procs.js';

export interface RoostOptions {
  /** Repository root: the server's working directory. */
  root: string;
  /** The built CLI (normally <root>/out/cli.js). */
  cli: string;
  vmail: string;
  port: number;
  password: string;
  /** Where the server's output is copied. */
  logFile: string;
  /** Roost's --data-dir (generated password, log): private to the run. */
  dataDir: string;
  /** Settings by their Dovecot names, passed as -o KEY=VALUE. */
  settings?: Record<string, string | number>;
  startTimeoutMs?: number;
}

export async function startRoost(o: RoostOptions): Promise<BenchServer> {
  const cli = o.cli;
  if (!fs.existsSync(cli)) throw new Error(`${path.relative(o.root, cli) || cli} not built`);
  const out = new LineTail();
  const log = fs.createWriteStream(o.logFile, { flags: 'a' });
  const args = [cli, '--vmail', o.vmail, '--listen', '127.0.0.1', '--port', String(o.port), '--password', o.password, '--data-dir', o.dataDir];
  for (const [k, v] of Object.entries(o.settings ?? {})) args.push('-o', `${k}=${v}`);
  const child = spawn(process.execPath, args, { cwd: o.root, stdio: ['ignore', 'pipe', 'pipe'] });
  const pid = child.pid!;
  let exitText: string | null = null;
  const server: BenchServer = {
    name: 'Roost',
    port: o.port,
    pid,
    pids: () => processTree(pid),
    logTail: (n = 20) => out.tail(n),
    stop: async () => {
      const tree = processTree(pid);
      if (exitText === null) child.kill('SIGTERM');
      const left = await waitExit(tree, 10_000);
      for (const p of left) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await waitExit(left, 5_000);
      log.end();
    },
  };
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      void server.stop().finally(() => reject(new Error(`no 'listening on' line within ${(o.startTimeoutMs ?? 60_000) / 1000} s: ${out.tail(3)}`)));
    }, o.startTimeoutMs ?? 60_000);
    const onData = (chunk: string): void => {
      log.write(chunk);
      for (const line of out.push(chunk)) {
        if (/listening on 127\.0\.0\.1:\d+/.test(line)) {
          clearTimeout(timer);
          resolve();
        }
      }
    };
    child.stdout.setEncoding('utf8').on('data', onData);
    child.stderr.setEncoding('utf8').on('data', onData);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('exit', (code, sig) => {
      exitText = `exited with ${sig ?? code}`;
      clearTimeout(timer);
      const last = out.tail(6).split('\n').filter(Boolean);
      reject(new Error(`roost ${exitText}${last.length ? ': ' + last.slice(-3).join(' | ') : ''}`));
    });
  });
  return server;
}
