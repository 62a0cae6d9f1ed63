// Reading and preparing message files: CRLF sizes, line-ending conversion for saving, and
// parsing header + MIME structure by streaming the file once.

import fsSync, { constants as FS } from 'node:fs';
import type { MessageInfo } from '../types.js';
import { StructureParser } from '../../mime/structure.js';
import { closeQuietly, fsAsync, statIfExists } from './fsutil.js';
import { copyHeader } from './cache.js';

const CHUNK = 64 * 1024;

/**
 * How often message files were opened or stat()ed by this process. Every access to a message
 * file goes through the helpers below, so tests can check what an operation touched (e.g.
 * that SELECT reads no message file).
 */
export const messageFileAccess = { opens: 0, stats: 0 };

/** open() a message file for reading. */
export function openMessageFile(file: string): number {
  messageFileAccess.opens++;
  return fsSync.openSync(file, FS.O_RDONLY);
}

/** stat() a message file; undefined when it does not exist. */
export function statMessageFile(file: string): fsSync.Stats | undefined {
  messageFileAccess.stats++;
  return statIfExists(file);
}

/** stat() a message file without blocking. */
export function statMessageFileAsync(file: string): Promise<fsSync.Stats> {
  messageFileAccess.stats++;
  return fsAsync.stat(file);
}

/** Number of LF bytes not preceded by CR, given the byte before `buf` (or -1). */
function bareLfs(buf: Buffer, prevByte: number): number {
  let count = 0;
  let at = buf.indexOf(0x0a);
  while (at >= 0) {
    const before = at > 0 ? buf[at - 1] : prevByte;
    if (before !== 0x0d) count++;
    at = buf.indexOf(0x0a, at + 1);
  }
  return count;
}

/** RFC822.SIZE of a buffer: its size with every bare LF counted as CRLF. */
export function virtualSize(buf: Buffer): number {
  return buf.length + bareLfs(buf, -1);
}

/**
 * The bytes Roost stores for an APPENDed message: CRLF becomes LF, like Dovecot's default
 * mail_save_crlf=no (a CR not followed by LF stays).
 */
export function toStoredForm(data: Buffer): Buffer {
  if (data.indexOf(0x0d) < 0) return data;
  const out = Buffer.allocUnsafe(data.length);
  let o = 0;
  let start = 0;
  let at = data.indexOf('\r\n', 0, 'latin1');
  while (at >= 0) {
    o += data.copy(out, o, start, at);
    start = at + 1; // keep the LF
    at = data.indexOf('\r\n', start, 'latin1');
  }
  o += data.copy(out, o, start);
  return out.subarray(0, o);
}

/** What reading a whole message file tells besides its content. */
export interface FileFacts {
  /** Physical size in bytes. */
  size: number;
  /** RFC822.SIZE: size with every bare LF counted as CRLF. */
  vsize: number;
  /** mtime in milliseconds (INTERNALDATE). */
  mtime: number;
}

// Read buffers are reused from file to file: allocating (and garbage-collecting) one per
// message file leaves the process's memory fragmented after a pass over a big mailbox.
const spare: Buffer[] = [];
const SPARE_MAX = 16;

function takeChunk(): Buffer {
  return spare.pop() ?? Buffer.allocUnsafeSlow(CHUNK);
}

function giveChunk(buf: Buffer): void {
  if (spare.length < SPARE_MAX) spare.push(buf);
}

/** Physical and CRLF size of a message file, reading it once. */
export async function measureFile(file: string): Promise<{ size: number; vsize: number }> {
  const { size, vsize } = await measureFileFacts(file);
  return { size, vsize };
}

/** Physical and CRLF size and mtime of a message file, reading it once. */
export async function measureFileFacts(file: string): Promise<FileFacts> {
  const fd = openMessageFile(file);
  const buf = takeChunk();
  try {
    const st = fsSync.fstatSync(fd);
    let size = 0;
    let extra = 0;
    let prev = -1;
    for (;;) {
      const bytesRead = await fsAsync.read(fd, buf, 0, buf.length, size);
      if (bytesRead === 0) break;
      const chunk = buf.subarray(0, bytesRead);
      extra += bareLfs(chunk, prev);
      prev = chunk[bytesRead - 1];
      size += bytesRead;
      // A short read once fstat's size is reached is the end (saves the read() that returns 0).
      if (bytesRead < buf.length && size >= st.size) break;
    }
    return { size, vsize: size + extra, mtime: Math.round(st.mtimeMs) };
  } finally {
    giveChunk(buf);
    closeQuietly(fd);
  }
}

/** measureFileFacts without yielding (for a value needed synchronously; see Mailbox.sizeSync). */
export function measureFileSync(file: string): FileFacts {
  const fd = openMessageFile(file);
  const buf = takeChunk();
  try {
    const st = fsSync.fstatSync(fd);
    let size = 0;
    let extra = 0;
    let prev = -1;
    for (;;) {
      const bytesRead = fsSync.readSync(fd, buf, 0, buf.length, size);
      if (bytesRead === 0) break;
      const chunk = buf.subarray(0, bytesRead);
      extra += bareLfs(chunk, prev);
      prev = chunk[bytesRead - 1];
      size += bytesRead;
      if (bytesRead < buf.length && size >= st.size) break;
    }
    return { size, vsize: size + extra, mtime: Math.round(st.mtimeMs) };
  } finally {
    giveChunk(buf);
    closeQuietly(fd);
  }
}

/**
 * Splits off the header block (everything before the first empty line) while a file streams
 * past in chunks, and counts bare LFs for the CRLF size. The chunk buffer may be reused
 * between calls: what is kept is copied.
 */
class ParseState {
  readonly parser = new StructureParser();
  /** Copies of the chunks before the one where the header ends (a header over 64 KB). */
  private readonly headerChunks: Buffer[] = [];
  private header: Buffer | undefined;
  // Line state across chunks: absolute start of the current line, its length so far, and
  // whether it is only a CR so far (so "\r\n" counts as the empty line).
  private lineStart = 0;
  private lineLen = 0;
  private onlyCr = true;
  private extra = 0;
  private prev = -1;
  offset = 0;

  write(chunk: Buffer): void {
    const bytesRead = chunk.length;
    this.extra += bareLfs(chunk, this.prev);
    this.prev = chunk[bytesRead - 1];
    if (!this.header) {
      let found = false;
      let { lineStart, lineLen, onlyCr } = this;
      for (let i = 0; i < bytesRead; i++) {
        const c = chunk[i];
        if (c === 0x0a) {
          if (lineLen === 0 || (lineLen === 1 && onlyCr)) {
            found = true;
            break;
          }
          lineStart = this.offset + i + 1;
          lineLen = 0;
          onlyCr = true;
        } else {
          lineLen++;
          if (c !== 0x0d) onlyCr = false;
        }
      }
      this.lineStart = lineStart;
      this.lineLen = lineLen;
      this.onlyCr = onlyCr;
      if (found) {
        // The header is the file's first lineStart bytes (the empty line starts there;
        // "\r\n" may have begun in the chunk before).
        this.headerChunks.push(chunk.subarray(0, Math.max(0, lineStart - this.offset)));
        this.header = joinHeader(this.headerChunks, lineStart);
      } else {
        this.headerChunks.push(Buffer.from(chunk)); // the buffer is reused for the next chunk
      }
    }
    this.parser.write(chunk);
    this.offset += bytesRead;
  }

  end(mtimeMs: number): MessageInfo & { facts: FileFacts } {
    const structure = this.parser.end();
    // No empty line: the whole file is the header.
    const header = this.header ?? copyHeader(this.headerChunks.length === 1 ? this.headerChunks[0] : Buffer.concat(this.headerChunks));
    const size = this.offset;
    return { header, structure, physicalSize: size, facts: { size, vsize: size + this.extra, mtime: Math.round(mtimeMs) } };
  }
}

/**
 * Stream a message file through the MIME structure parser, keeping the header bytes
 * (everything before the first empty line) on the side; also measures the file (FileFacts),
 * since it is read completely anyway. The parser copies what it keeps, so one read buffer
 * serves every chunk.
 */
export async function parseMessageFile(file: string): Promise<MessageInfo & { facts: FileFacts }> {
  const fd = openMessageFile(file);
  const buf = takeChunk();
  try {
    const st = fsSync.fstatSync(fd);
    const state = new ParseState();
    for (;;) {
      const bytesRead = await fsAsync.read(fd, buf, 0, buf.length, state.offset);
      if (bytesRead === 0) break;
      state.write(buf.subarray(0, bytesRead));
      // A short read once fstat's size is reached is the end (saves the read() that returns 0).
      if (bytesRead < buf.length && state.offset >= st.size) break;
    }
    return state.end(st.mtimeMs);
  } finally {
    giveChunk(buf);
    closeQuietly(fd);
  }
}

/** parseMessageFile without yielding (a fallback that must answer synchronously). */
export function parseMessageFileSync(file: string): MessageInfo & { facts: FileFacts } {
  const fd = openMessageFile(file);
  const buf = takeChunk();
  try {
    const st = fsSync.fstatSync(fd);
    const state = new ParseState();
    for (;;) {
      const bytesRead = fsSync.readSync(fd, buf, 0, buf.length, state.offset);
      if (bytesRead === 0) break;
      state.write(buf.subarray(0, bytesRead));
      if (bytesRead < buf.length && state.offset >= st.size) break;
    }
    return state.end(st.mtimeMs);
  } finally {
    giveChunk(buf);
    closeQuietly(fd);
  }
}

/** The header (its first `length` bytes) from the pieces read so far, into its own memory. */
function joinHeader(pieces: Buffer[], length: number): Buffer {
  const all = pieces.length === 1 ? pieces[0] : Buffer.concat(pieces);
  return copyHeader(all.subarray(0, length));
}
