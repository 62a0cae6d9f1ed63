// Dovecot-compatible dot-locks.
//
// A lock on `<file>` is the file `<file>.lock` in the same directory, created with
// O_CREAT|O_EXCL. Dovecot writes `<pid>:<hostname>` into it (seen with strace on 2.3.19:
// `write(fd, "17477:vm")`), and so does Roost. A lock is stale, and is removed, when its
// mtime is older than the stale timeout (2 minutes, like Dovecot's dovecot-uidlist lock) or
// when it names a process on this host that no longer exists. The holder refreshes the mtime
// while it keeps the lock, so long operations are not mistaken for stale ones.
//
// dovecot-keywords and subscriptions use the same lock as their temporary file: the new
// content is written into `<file>.lock`, fsynced, and the lock is renamed over `<file>`
// (that is how Dovecot 2.3 replaces them).
//
// Locks are also serialized inside the process (all Roost sessions share one pid).

import fs from 'node:fs/promises';
import { constants as FS } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StorageError } from '../types.js';
import { FsContext, KeyedMutex, errCode, fsyncDir, isNotFound } from './fsutil.js';

export const DEFAULT_STALE_MS = 120_000;

const inProcess = new KeyedMutex();

export interface DotlockOptions {
  timeoutMs?: number;
  staleMs?: number;
  /** Leave the lock empty (it will receive replacement content, see Dotlock.replace). */
  forReplace?: boolean;
}

export class Dotlock {
  private released = false;
  private refresher: NodeJS.Timeout | undefined;

  constructor(
    public lockPath: string,
    private readonly ino: number,
    private readonly releaseMutex: () => void,
    private readonly fsx: FsContext,
    staleMs: number,
  ) {
    this.refresher = setInterval(() => {
      const now = new Date();
      fs.utimes(this.lockPath, now, now).catch(() => {});
    }, Math.max(1000, Math.floor(staleMs / 3)));
    this.refresher.unref();
  }

  /** The directory holding the lock was renamed: the lock now lives at `newLockPath`. */
  movedTo(newLockPath: string): void {
    this.lockPath = newLockPath;
  }

  /** Remove the lock (if it is still ours). Safe to call twice. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    clearInterval(this.refresher);
    try {
      const st = await fs.stat(this.lockPath);
      if (st.ino === this.ino) await fs.unlink(this.lockPath);
    } catch (err) {
      if (!isNotFound(err)) this.fsx.log('warn', `unlink(${this.lockPath}) failed: ${String(err)}`);
    } finally {
      this.releaseMutex();
    }
  }

  /** Write `data` into the lock file and rename it over `target`; this releases the lock. */
  async replace(target: string, data: Buffer | string): Promise<void> {
    if (this.released) throw new Error('dotlock already released');
    try {
      const handle = await fs.open(this.lockPath, FS.O_WRONLY | FS.O_TRUNC);
      try {
        await handle.writeFile(data);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.rename(this.lockPath, target);
      await fsyncDir(path.dirname(target));
    } catch (err) {
      await this.release();
      throw err;
    }
    this.released = true;
    clearInterval(this.refresher);
    this.releaseMutex();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const myHost = os.hostname();

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errCode(err) !== 'ESRCH';
  }
}

/** Why an existing lock is stale, or undefined if it must be respected. */
async function staleReason(lockPath: string, staleMs: number): Promise<{ reason: string; ino: number } | undefined> {
  let st;
  try {
    st = await fs.stat(lockPath);
  } catch (err) {
    if (isNotFound(err)) return { reason: 'gone', ino: -1 };
    throw err;
  }
  if (Date.now() - st.mtimeMs > staleMs) return { reason: `older than ${Math.round(staleMs / 1000)}s`, ino: st.ino };
  let content = '';
  try {
    content = (await fs.readFile(lockPath, 'latin1')).slice(0, 300);
  } catch (err) {
    if (isNotFound(err)) return { reason: 'gone', ino: -1 };
    throw err;
  }
  const m = /^(\d+):(.*)$/.exec(content.trim());
  if (m && m[2] === myHost) {
    const pid = Number(m[1]);
    // Our own pid: this process does not hold it (the in-process mutex is ours), so it is a leftover.
    if (pid === process.pid || !processAlive(pid)) return { reason: `process ${pid} is gone`, ino: st.ino };
  }
  return undefined;
}

/** Take `<file>.lock`; throws StorageError('INUSE') after the timeout. */
export async function takeDotlock(file: string, fsx: FsContext, options: DotlockOptions = {}): Promise<Dotlock> {
  const lockPath = file + '.lock';
  const timeoutMs = options.timeoutMs ?? fsx.lockTimeoutMs;
  const staleMs = options.staleMs ?? DEFAULT_STALE_MS;
  const releaseMutex = await inProcess.acquire(lockPath);
  const deadline = Date.now() + timeoutMs;
  let delay = 5;
  try {
    for (;;) {
      let handle: fs.FileHandle | undefined;
      try {
        handle = await fs.open(lockPath, FS.O_CREAT | FS.O_EXCL | FS.O_WRONLY, 0o600);
      } catch (err) {
        if (errCode(err) !== 'EEXIST') throw err;
      }
      if (handle) {
        try {
          await fsx.fchownNew(handle, path.dirname(lockPath));
          if (!options.forReplace) await handle.writeFile(`${process.pid}:${myHost}`);
          const st = await handle.stat();
          return new Dotlock(lockPath, st.ino, releaseMutex, fsx, staleMs);
        } catch (err) {
          await fs.unlink(lockPath).catch(() => {});
          throw err;
        } finally {
          await handle.close().catch(() => {});
        }
      }
      const stale = await staleReason(lockPath, staleMs);
      if (stale) {
        if (stale.ino >= 0) {
          // Remove only the lock we judged, not one somebody created meanwhile.
          const st = await fs.stat(lockPath).catch(() => undefined);
          if (st && st.ino === stale.ino) {
            fsx.log('warn', `Removing stale lock ${lockPath} (${stale.reason})`);
            await fs.unlink(lockPath).catch(() => {});
          }
        }
        continue;
      }
      if (Date.now() >= deadline) {
        throw new StorageError('INUSE', `Timeout while waiting for lock ${path.basename(lockPath)}`);
      }
      await sleep(delay);
      delay = Math.min(delay * 2, 100);
    }
  } catch (err) {
    releaseMutex();
    throw err;
  }
}

export async function withDotlock<T>(file: string, fsx: FsContext, fn: () => Promise<T>, options?: DotlockOptions): Promise<T> {
  const lock = await takeDotlock(file, fsx, options);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}
