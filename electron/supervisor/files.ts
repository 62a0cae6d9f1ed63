// Small, durable files in the data directory (settings, the password, the app's own state): read
// when present, written so that a crash leaves the old or the new content, never half.
import fs from 'node:fs';
import path from 'node:path';

/** The file's text, or undefined when it does not exist (other errors are thrown). */
export function readTextIfExists(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** Creates (or truncates) `file` with `mode`, writes all of `data` and fsyncs it. */
export function writeSynced(file: string, data: string | Uint8Array, mode: number): void {
  const fd = fs.openSync(file, 'w', mode);
  try {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    // writeSync may write less than asked; loop until all of it is down.
    for (let off = 0; off < bytes.length;) off += fs.writeSync(fd, bytes, off, bytes.length - off);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Writes `data` to `file` atomically with `mode`: temporary file, fsync, rename, directory fsync. */
export function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o600): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
  writeSynced(tmp, data, mode);
  try {
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  if (process.platform !== 'win32') {
    fs.chmodSync(file, mode);
    // The rename itself is durable only once the directory is synced.
    try {
      const dfd = fs.openSync(path.dirname(file), 'r');
      try { fs.fsyncSync(dfd); } finally { fs.closeSync(dfd); }
    } catch {
      // Some file systems refuse fsync on directories; the data itself is synced.
    }
  }
}
