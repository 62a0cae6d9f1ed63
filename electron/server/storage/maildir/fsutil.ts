// File system helpers shared by the maildir modules: ownership of what Roost creates,
// crash-safe writes (temporary name + fsync + rename + directory fsync), bounded parallelism,
// and the mapping of system errors to StorageError codes.
//
// Speed: a call through fs/promises costs tens of microseconds (a thread-pool round trip plus
// FileHandle bookkeeping) where the system call itself costs a few. Metadata operations on
// local files (stat, open, rename, unlink, small writes) therefore use the synchronous API;
// what may take long (fsync, reading message files, big directories) stays asynchronous, via
// the callback API (cheaper than fs/promises).

import fs from 'node:fs/promises';
import fsSync, { constants as FS } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { StringDecoder } from 'node:string_decoder';
import { StorageError } from '../types.js';

/** Promisified callback API: one thread-pool round trip each, without FileHandle overhead. */
export const fsAsync = {
  open: promisify(fsSync.open),
  close: promisify(fsSync.close),
  fstat: promisify(fsSync.fstat) as (fd: number) => Promise<fsSync.Stats>,
  stat: promisify(fsSync.stat) as (file: string) => Promise<fsSync.Stats>,
  fsync: promisify(fsSync.fsync),
  readdir: promisify(fsSync.readdir) as (dir: string) => Promise<string[]>,
  rename: promisify(fsSync.rename),
  /** read() that resolves with the number of bytes read. */
  read: (fd: number, buffer: Buffer, offset: number, length: number, position: number): Promise<number> =>
    new Promise((resolve, reject) => fsSync.read(fd, buffer, offset, length, position, (err, n) => (err ? reject(err) : resolve(n)))),
  write: (fd: number, buffer: Buffer, offset: number, length: number, position: number | null): Promise<number> =>
    new Promise((resolve, reject) => fsSync.write(fd, buffer, offset, length, position, (err, n) => (err ? reject(err) : resolve(n)))),
};

/** Writes above this size go through the thread pool instead of blocking the event loop. */
export const SYNC_WRITE_MAX = 256 * 1024;

/** Write all of `data` at the current position (appending for O_APPEND descriptors). */
export async function writeAll(fd: number, data: Buffer, sync = data.length <= SYNC_WRITE_MAX): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const chunk = Math.min(data.length - done, 4 * 1024 * 1024);
    done += sync ? fsSync.writeSync(fd, data, done, chunk) : await fsAsync.write(fd, data, done, chunk, null);
  }
}

/** Characters per piece of writeText (at most 3 bytes each in UTF-8: under 128 KB). */
const TEXT_PIECE = 32 * 1024;

/**
 * Write a string at the current position, encoded a piece at a time (see readTextSync for
 * why no Buffer of the whole text is made).
 */
export async function writeText(fd: number, text: string): Promise<void> {
  for (let i = 0; i < text.length; ) {
    let end = Math.min(text.length, i + TEXT_PIECE);
    if (end < text.length) {
      // Pieces end with a whole line when they can (a reader may look while we append),
      // and never split a surrogate pair.
      const lf = text.lastIndexOf('\n', end - 1);
      if (lf >= i) end = lf + 1;
      else if ((text.charCodeAt(end - 1) & 0xfc00) === 0xd800) end--;
    }
    await writeAll(fd, Buffer.from(text.slice(i, end), 'utf8'), text.length <= SYNC_WRITE_MAX);
    i = end;
  }
}

/** The buffer readTextSync reads through (synchronous use only). */
const TEXT_SCRATCH = Buffer.allocUnsafeSlow(64 * 1024);

/**
 * Bytes [start, end) of an open file as UTF-8 text, read 64 KB at a time through one buffer,
 * and the offset just after the last LF among them (start when there is none).
 *
 * Why not one Buffer of the file's size: glibc serves a big allocation with its own mmap, and
 * freeing it raises the threshold under which later allocations come from the heap (up to
 * 32 MB), after which freed memory tends to stay in the process. State files of a big
 * mailbox are megabytes; reading them this way keeps every transient Buffer small.
 */
export function readTextSync(fd: number, start: number, end: number): { text: string; afterLastLf: number } {
  const decoder = new StringDecoder('utf8');
  let text = '';
  let afterLastLf = start;
  let pos = start;
  while (pos < end) {
    const n = fsSync.readSync(fd, TEXT_SCRATCH, 0, Math.min(TEXT_SCRATCH.length, end - pos), pos);
    if (n === 0) break;
    const chunk = TEXT_SCRATCH.subarray(0, n);
    const lf = chunk.lastIndexOf(0x0a);
    if (lf >= 0) afterLastLf = pos + lf + 1;
    text += decoder.write(chunk);
    pos += n;
  }
  text += decoder.end();
  return { text, afterLastLf };
}

/** Fills `buf` from file position `from` (less at the end of the file); returns what was read. */
export function readFullySync(fd: number, buf: Buffer, from: number): Buffer {
  let got = 0;
  while (got < buf.length) {
    const n = fsSync.readSync(fd, buf, got, buf.length - got, from + got);
    if (n === 0) break;
    got += n;
  }
  return buf.subarray(0, got);
}

export function closeQuietly(fd: number): void {
  try {
    fsSync.closeSync(fd);
  } catch {
    // nothing to do: the descriptor is gone either way
  }
}

export interface Owner {
  uid: number;
  gid: number;
}

export type LogFn = (level: 'debug' | 'info' | 'warn' | 'error', message: string) => void;

export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;

const runningAsRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/**
 * Everything the maildir code creates goes through here so it ends up with the right owner:
 * the configured owner when running as root, else (as root) the owner of the directory it
 * was created in. Without root privileges files simply belong to the process.
 */
export class FsContext {
  private readonly dirOwners = new Map<string, Owner>();

  constructor(
    readonly owner: Owner | undefined,
    readonly log: LogFn,
    readonly lockTimeoutMs: number,
  ) {}

  private ownerFor(parentDir: string): Owner | undefined {
    if (!runningAsRoot) return undefined;
    if (this.owner) return this.owner;
    let owner = this.dirOwners.get(parentDir);
    if (!owner) {
      const st = fsSync.statSync(parentDir);
      owner = { uid: st.uid, gid: st.gid };
      if (this.dirOwners.size > 1000) this.dirOwners.clear();
      this.dirOwners.set(parentDir, owner);
    }
    return owner;
  }

  /** Give a just-created path its owner (no-op unless running as root). */
  async chownNew(target: string, parentDir = path.dirname(target)): Promise<void> {
    this.chownNewSync(target, parentDir);
  }

  chownNewSync(target: string, parentDir = path.dirname(target)): void {
    const owner = this.ownerFor(parentDir);
    if (!owner || (owner.uid === 0 && owner.gid === 0)) return;
    fsSync.lchownSync(target, owner.uid, owner.gid);
  }

  async fchownNew(handle: fs.FileHandle, parentDir: string): Promise<void> {
    const owner = this.ownerFor(parentDir);
    if (!owner || (owner.uid === 0 && owner.gid === 0)) return;
    await handle.chown(owner.uid, owner.gid);
  }

  fchownNewSync(fd: number, parentDir: string): void {
    const owner = this.ownerFor(parentDir);
    if (!owner || (owner.uid === 0 && owner.gid === 0)) return;
    fsSync.fchownSync(fd, owner.uid, owner.gid);
  }

  /** mkdir that chowns what it created; returns false if the directory already existed. */
  async mkdir(dir: string): Promise<boolean> {
    return this.mkdirSync(dir);
  }

  mkdirSync(dir: string): boolean {
    try {
      fsSync.mkdirSync(dir, { mode: DIR_MODE });
    } catch (err) {
      if (errCode(err) === 'EEXIST') return false;
      throw err;
    }
    this.chownNewSync(dir);
    return true;
  }

  /** mkdir -p, chowning each created level. */
  async mkdirp(dir: string): Promise<void> {
    const missing: string[] = [];
    let cur = path.resolve(dir);
    for (;;) {
      try {
        await fs.stat(cur);
        break;
      } catch (err) {
        if (errCode(err) !== 'ENOENT') throw err;
        missing.push(cur);
        const parent = path.dirname(cur);
        if (parent === cur) break;
        cur = parent;
      }
    }
    for (const d of missing.reverse()) await this.mkdir(d);
  }

  /** Create a new file exclusively, write it, fsync it (unless not `durable`); the caller renames it into place. */
  async writeNewFile(file: string, data: Buffer | string, mode = FILE_MODE, mtimeMs?: number, durable = true): Promise<void> {
    const fd = fsSync.openSync(file, FS.O_CREAT | FS.O_EXCL | FS.O_WRONLY, mode);
    try {
      this.fchownNewSync(fd, path.dirname(file));
      await (typeof data === 'string' ? writeText(fd, data) : writeAll(fd, data));
      // Before the fsync, so the mtime is durable with the data.
      if (mtimeMs !== undefined) fsSync.futimesSync(fd, new Date(), new Date(mtimeMs));
      if (durable) await fsAsync.fsync(fd);
    } catch (err) {
      closeQuietly(fd);
      try {
        fsSync.unlinkSync(file);
      } catch {
        // already gone
      }
      throw err;
    }
    fsSync.closeSync(fd);
  }

  /**
   * Replace `target` crash-safely: write `tmpName` (in the same directory), fsync, rename,
   * fsync the directory. Only for files nobody else writes with the same temporary name
   * (the caller holds the matching lock, or the name is unique).
   *
   * Not `durable`: the same without the two fsyncs. Readers still see the old file or the
   * whole new one, but after a system crash the file may be missing, old or empty. Only for
   * files a reader checks and can rebuild (Roost's disposable cache): each fsync costs a
   * journal commit, and a user's first login creates five mailboxes.
   */
  async writeAtomic(target: string, data: Buffer | string, tmpName?: string, durable = true): Promise<void> {
    const dir = path.dirname(target);
    const tmp = path.join(dir, tmpName ?? `${path.basename(target)}.${process.pid}.${uniqueSuffix()}.tmp`);
    try {
      fsSync.unlinkSync(tmp);
    } catch {
      // usually absent
    }
    await this.writeNewFile(tmp, data, FILE_MODE, undefined, durable);
    try {
      fsSync.renameSync(tmp, target);
    } catch (err) {
      await fs.unlink(tmp).catch(() => {});
      throw err;
    }
    if (durable) await fsyncDir(dir);
  }
}

let uniqueCounter = 0;
export function uniqueSuffix(): string {
  uniqueCounter = (uniqueCounter + 1) % 1_000_000_000;
  return `${Date.now().toString(36)}${uniqueCounter.toString(36)}${Math.floor(Math.random() * 1e9).toString(36)}`;
}

export async function fsyncDir(dir: string): Promise<void> {
  let fd: number | undefined;
  try {
    fd = fsSync.openSync(dir, FS.O_RDONLY);
    await fsAsync.fsync(fd);
  } catch (err) {
    // Some file systems refuse fsync on directories; the rename is then as durable as it gets.
    if (!['EINVAL', 'EISDIR', 'EPERM', 'EBADF'].includes(errCode(err) ?? '')) throw err;
  } finally {
    if (fd !== undefined) closeQuietly(fd);
  }
}

/** stat() that returns undefined for a missing path (synchronous: a few microseconds). */
export function statIfExists(file: string): fsSync.Stats | undefined {
  try {
    return fsSync.statSync(file);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** Nanosecond mtime of a directory, or undefined when it is missing. */
export function dirMtimeSync(dir: string): bigint | undefined {
  try {
    return fsSync.statSync(dir, { bigint: true }).mtimeNs;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** Yield to the event loop (between chunks of synchronous work). */
export function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export function errCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

export function isNotFound(err: unknown): boolean {
  const code = errCode(err);
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** Wrap an unexpected error: disk full becomes LIMIT, anything else SERVERBUG (with the cause kept). */
export function toStorageError(err: unknown, what: string): StorageError {
  if (err instanceof StorageError) return err;
  const code = errCode(err);
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new StorageError('LIMIT', `Not enough disk space (${what})`, { cause: err });
  }
  if (code === 'ENAMETOOLONG') return new StorageError('CANNOT', `Name too long (${what})`, { cause: err });
  const detail = err instanceof Error ? err.message : String(err);
  return new StorageError('SERVERBUG', `${what}: ${detail}`, { cause: err });
}

/** Run `fn` over `items` with at most `limit` in flight; results keep the input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const workers: Promise<void>[] = [];
  for (let w = 0; w < Math.min(limit, items.length); w++) {
    workers.push(
      (async () => {
        for (;;) {
          const i = next++;
          if (i >= items.length) return;
          results[i] = await fn(items[i], i);
        }
      })(),
    );
  }
  await Promise.all(workers);
  return results;
}

/** Serializes async work per key (one chain per key, dropped when idle). */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire(key);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  async acquire(key: string): Promise<() => void> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = prev.then(() => mine);
    this.tails.set(key, tail);
    await prev;
    return () => {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    };
  }
}
