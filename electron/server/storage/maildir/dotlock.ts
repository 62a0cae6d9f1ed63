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
//
// Lingering: release({ lingerUntil }) keeps the lock file (and the in-process mutex) until that
// time, and whoever takes the lock with { reuseLingering: true } meanwhile gets it at once,
// without touching the file system. The maildir index uses this to be sure that nobody else
// (who must take the lock to change cur/) changes cur/ within the clock tick of its own last
// change, without making every change wait for the tick (see Mailbox.ownCurChangeEnd).

import fs from 'node:fs/promises';
import fsSync, { constants as FS } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StorageError } from '../types.js';
import { FsContext, KeyedMutex, closeQuietly, errCode, fsyncDir, isNotFound } from './fsutil.js';

export const DEFAULT_STALE_MS = 120_000;

const inProcess = new KeyedMutex();
/** Released locks whose file is kept until a moment has passed (see lingering above). */
const lingering = new Map<string, Dotlock>();
let exitHook = false;

export interface DotlockOptions {
  timeoutMs?: number;
  staleMs?: number;
  /** Leave the lock empty (it will receive replacement content, see Dotlock.replace). */
  forReplace?: boolean;
  /** Take over a lingering lock of this process at once (see lingering above). */
  reuseLingering?: boolean;
}

export class Dotlock {
  private released = false;
  private refresher: NodeJS.Timeout | undefined;
  private lingerTimer: NodeJS.Timeout | undefined;

  constructor(
    public lockPath: string,
    private readonly ino: number,
    private releaseMutex: () => void,
    private readonly fsx: FsContext,
    private readonly staleMs: number,
  ) {
    this.startRefresher();
  }

  private startRefresher(): void {
    this.refresher = setInterval(() => {
      const now = new Date();
      fs.utimes(this.lockPath, now, now).catch(() => {});
    }, Math.max(1000, Math.floor(this.staleMs / 3)));
    this.refresher.unref();
  }

  /** The directory holding the lock was renamed: the lock now lives at `newLockPath`. */
  movedTo(newLockPath: string): void {
    this.lockPath = newLockPath;
  }

  /**
   * Remove the lock (if it is still ours). Safe to call twice. With `lingerUntil` (a
   * Date.now() time) in the future, the file and the in-process mutex are kept until then;
   * takeDotlock({ reuseLingering }) may take the lock over meanwhile.
   */
  async release(options: { lingerUntil?: number } = {}): Promise<void> {
    if (this.released) return;
    const wait = (options.lingerUntil ?? 0) - Date.now();
    if (wait > 0 && !lingering.has(this.lockPath)) {
      this.released = true;
      if (!exitHook) {
        // Leave no lock behind when the process (or worker) ends within a linger.
        exitHook = true;
        process.once('exit', () => {
          for (const lock of lingering.values()) lock.removeFileAtExit();
        });
      }
      lingering.set(this.lockPath, this);
      this.lingerTimer = setTimeout(() => this.endLinger(), Math.ceil(wait));
      return;
    }
    this.released = true;
    this.removeFile();
  }

  removeFileAtExit(): void {
    try {
      if (fsSync.statSync(this.lockPath).ino === this.ino) fsSync.unlinkSync(this.lockPath);
    } catch {
      // gone already
    }
  }

  private endLinger(): void {
    if (lingering.get(this.lockPath) !== this) return;
    lingering.delete(this.lockPath);
    this.removeFile();
  }

  /** A lingering lock taken over: held again by the new taker (takeDotlock only). */
  reclaim(): this {
    clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    lingering.delete(this.lockPath);
    this.released = false;
    return this;
  }

  private removeFile(): void {
    clearInterval(this.refresher);
    try {
      const st = fsSync.statSync(this.lockPath);
      if (st.ino === this.ino) fsSync.unlinkSync(this.lockPath);
    } catch (err) {
      if (!isNotFound(err)) this.fsx.log('warn', `unlink(${this.lockPath}) failed: ${String(err)}`);
    } finally {
      this.releaseMutex();
    }
  }

  /**
   * Write `data` into the lock file and rename it over `target`; this releases the lock.
   * `mtimeMs` sets the new file's mtime (before the fsync).
   */
  async replace(target: string, data: Buffer | string, options: { mtimeMs?: number } = {}): Promise<void> {
    if (this.released) throw new Error('dotlock already released');
    try {
      const handle = await fs.open(this.lockPath, FS.O_WRONLY | FS.O_TRUNC);
      try {
        await handle.writeFile(data);
        if (options.mtimeMs !== undefined) await handle.utimes(new Date(), new Date(options.mtimeMs));
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
  if (options.reuseLingering) {
    const held = lingering.get(lockPath);
    if (held) return held.reclaim();
  }
  const timeoutMs = options.timeoutMs ?? fsx.lockTimeoutMs;
  const staleMs = options.staleMs ?? DEFAULT_STALE_MS;
  const releaseMutex = await inProcess.acquire(lockPath);
  const deadline = Date.now() + timeoutMs;
  let delay = 5;
  try {
    for (;;) {
      let fd: number | undefined;
      try {
        fd = fsSync.openSync(lockPath, FS.O_CREAT | FS.O_EXCL | FS.O_WRONLY, 0o600);
      } catch (err) {
        if (errCode(err) !== 'EEXIST') throw err;
      }
      if (fd !== undefined) {
        try {
          fsx.fchownNewSync(fd, path.dirname(lockPath));
          if (!options.forReplace) fsSync.writeSync(fd, `${process.pid}:${myHost}`);
          const st = fsSync.fstatSync(fd);
          return new Dotlock(lockPath, st.ino, releaseMutex, fsx, staleMs);
        } catch (err) {
          await fs.unlink(lockPath).catch(() => {});
          throw err;
        } finally {
          closeQuietly(fd);
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
