// Reading and preparing message files: CRLF sizes, line-ending conversion for saving, and
// parsing header + MIME structure by streaming the file once.

import fs from 'node:fs/promises';
import { constants as FS } from 'node:fs';
import type { MessageInfo } from '../types.js';
import { StructureParser } from '../../mime/structure.js';

const CHUNK = 64 * 1024;

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

/** Physical and CRLF size of a message file, reading it once. */
export async function measureFile(file: string): Promise<{ size: number; vsize: number }> {
  const handle = await fs.open(file, FS.O_RDONLY);
  try {
    const buf = Buffer.allocUnsafe(CHUNK);
    let size = 0;
    let extra = 0;
    let prev = -1;
    for (;;) {
      const { bytesRead } = await handle.read(buf, 0, CHUNK, size);
      if (bytesRead === 0) break;
      const chunk = buf.subarray(0, bytesRead);
      extra += bareLfs(chunk, prev);
      prev = chunk[bytesRead - 1];
      size += bytesRead;
    }
    return { size, vsize: size + extra };
  } finally {
    await handle.close();
  }
}

/**
 * Stream a message file through the MIME structure parser in 64 KB chunks, keeping the header
 * bytes (everything before the first empty line) on the side.
 */
export async function parseMessageFile(file: string): Promise<MessageInfo> {
  const handle = await fs.open(file, FS.O_RDONLY);
  try {
    const parser = new StructureParser();
    const headerChunks: Buffer[] = [];
    let headerLen = -1;
    // Line state across chunks: absolute start of the current line, its length so far, and
    // whether it is only a CR so far (so "\r\n" counts as the empty line).
    let lineStart = 0;
    let lineLen = 0;
    let onlyCr = true;
    const buf = Buffer.allocUnsafe(CHUNK);
    let offset = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buf, 0, CHUNK, offset);
      if (bytesRead === 0) break;
      const chunk = Buffer.from(buf.subarray(0, bytesRead));
      if (headerLen < 0) {
        headerChunks.push(chunk);
        for (let i = 0; i < chunk.length; i++) {
          const c = chunk[i];
          if (c === 0x0a) {
            if (lineLen === 0 || (lineLen === 1 && onlyCr)) {
              headerLen = lineStart;
              break;
            }
            lineStart = offset + i + 1;
            lineLen = 0;
            onlyCr = true;
          } else {
            lineLen++;
            if (c !== 0x0d) onlyCr = false;
          }
        }
      }
      parser.write(chunk);
      offset += bytesRead;
    }
    const structure = parser.end();
    const headerBytes = Buffer.concat(headerChunks);
    const header = headerLen < 0 ? headerBytes : Buffer.from(headerBytes.subarray(0, headerLen));
    return { header, structure, physicalSize: offset };
  } finally {
    await handle.close();
  }
}
