// FETCH BODY[section]<partial> (RFC 3501 section 6.4.5): locating the part and producing its
// bytes in CRLF form while reading only the physical range needed.
//
// Part numbers follow Dovecot: in a multipart, n is the n-th child; any other part is its
// own part 1 (so BODY[1] of a single-part message is its body); to go deeper than a
// message/rfc822 part, numbering continues inside the encapsulated message. HEADER, TEXT
// and HEADER.FIELDS[.NOT] apply to the whole message, or, with a part number, only to a
// message/rfc822 part, meaning its encapsulated message; MIME is the part's own header.
//
// Files with bare LF need conversion: a partial fetch scans forward from the nearest known
// (physical, virtual) anchor - a part boundary or a crlfMap checkpoint - and stops as soon as
// enough output exists, so the first 1 KB of a 50 MB part costs about 1 KB of reading.
// NUL bytes are sent as 0x80 unless asked otherwise, as Dovecot does for BODY[] literals.

import { nulsTo80, toCrlf } from './crlf.js';
import { headerFields, scanHeader } from './header.js';
import type { MimePart } from './types.js';

export { toCrlf, crlfSize } from './crlf.js';

export interface SectionSpec {
  /** Part path, e.g. [2, 1] for BODY[2.1]; [] for the whole message. */
  part: number[];
  text?: 'HEADER' | 'HEADER.FIELDS' | 'HEADER.FIELDS.NOT' | 'TEXT' | 'MIME';
  /** Field names for HEADER.FIELDS[.NOT]. */
  fields?: string[];
}

/** Reads physical bytes [start, end) of the message file. */
export type ReadFn = (start: number, end: number) => Promise<Buffer>;

export interface SectionOptions {
  /** Keep NUL bytes (for BINARY); by default they become 0x80 like Dovecot's BODY[]. */
  keepNuls?: boolean;
}

/** Largest read issued at once. */
const MAX_READ = 1 << 20;
/** Smallest read issued while converting (avoids many tiny reads near the end). */
const MIN_READ = 512;

/** The part a section path designates, or null when it does not exist (RFC 3501 6.4.5). */
export function findPart(root: MimePart, path: readonly number[]): MimePart | null {
  let part = root;
  for (let i = 0; i < path.length; i++) {
    const num = path[i];
    const more = i < path.length - 1;
    if (num < 1) return null;
    if (part.parts) {
      const child = part.parts[num - 1];
      if (!child) return null;
      part = child;
    } else if (num !== 1 || (more && !part.message)) {
      return null;
    }
    if (more && part.message) part = part.message;
  }
  return part;
}

function vHeaderStart(part: MimePart): number {
  return part.virtualStart ?? part.headerStart;
}

interface Range {
  start: number;
  end: number;
  /** Virtual offset of `start` from the beginning of the file. */
  vstart: number;
  vsize: number;
}

function headerRange(p: MimePart): Range {
  return { start: p.headerStart, end: p.bodyStart, vstart: vHeaderStart(p), vsize: p.headerSize };
}

function bodyRange(p: MimePart): Range {
  return { start: p.bodyStart, end: p.bodyEnd, vstart: vHeaderStart(p) + p.headerSize, vsize: p.bodySize };
}

/**
 * BODY[section]<partial> bytes as IMAP sends them (CRLF, NUL as 0x80), or null when the part
 * does not exist or the section does not apply to it (e.g. HEADER of a non-message part).
 * Dovecot answers those with an empty string; the caller decides. A partial origin past the
 * end gives an empty buffer. BODY[MIME] without a part number is a client error (null here).
 */
export async function fetchSection(
  root: MimePart,
  spec: SectionSpec,
  read: ReadFn,
  partial?: { offset: number; length: number },
  options: SectionOptions = {},
): Promise<Buffer | null> {
  const found = findPart(root, spec.part);
  if (found === null) return null;
  const top = spec.part.length === 0;
  let out: Buffer;
  switch (spec.text) {
    case undefined: {
      const r: Range = top ? { start: 0, end: root.bodyEnd, vstart: 0, vsize: root.headerSize + root.bodySize } : bodyRange(found);
      out = await readRange(root, r, read, partial);
      break;
    }
    case 'MIME':
      if (top) return null;
      out = await readRange(root, headerRange(found), read, partial);
      break;
    default: {
      const msg = top ? root : found.message;
      if (!msg) return null;
      if (spec.text === 'HEADER') {
        out = await readRange(root, headerRange(msg), read, partial);
      } else if (spec.text === 'TEXT') {
        out = await readRange(root, bodyRange(msg), read, partial);
      } else {
        const raw = msg.bodyStart > msg.headerStart ? await read(msg.headerStart, msg.bodyStart) : Buffer.alloc(0);
        const data = headerFields(raw, spec.fields ?? [], spec.text === 'HEADER.FIELDS.NOT', scanHeader(raw).eoh >= 0);
        out = partial ? slicePartial(data, partial) : data;
      }
    }
  }
  return options.keepNuls ? out : nulsTo80(out);
}

function slicePartial(data: Buffer, partial: { offset: number; length: number }): Buffer {
  const from = Math.min(partial.offset, data.length);
  return data.subarray(from, Math.min(data.length, from + partial.length));
}

/** Bytes [offset, offset+length) of the CRLF form of a physical range. */
async function readRange(root: MimePart, r: Range, read: ReadFn, partial?: { offset: number; length: number }): Promise<Buffer> {
  const skip = partial ? partial.offset : 0;
  if (skip >= r.vsize) return Buffer.alloc(0);
  const want = Math.min(partial ? partial.length : r.vsize, r.vsize - skip);
  if (want <= 0) return Buffer.alloc(0);
  if (r.end - r.start === r.vsize) {
    // no bare LF in the range: virtual offsets are physical offsets
    return read(r.start + skip, r.start + skip + want);
  }
  const [p0, v0] = anchor(root, r, r.vstart + skip);
  return convertFrom(read, p0, r.end, r.vstart + skip - v0, want);
}

/** The known (physical, virtual) line start in the range closest before virtual `target`. */
function anchor(root: MimePart, r: Range, target: number): [number, number] {
  let bestP = r.start;
  let bestV = r.vstart;
  const consider = (p: number, v: number): void => {
    if (p > bestP && p < r.end && v <= target) {
      bestP = p;
      bestV = v;
    }
  };
  const map = root.crlfMap;
  if (map) {
    for (let i = 0; i < map.length; i += 2) {
      if (map[i + 1] > target) break;
      consider(map[i], map[i + 1]);
    }
  }
  // part starts inside the range, descending only into the part that holds the target
  let level: MimePart[] | undefined = root.parts ?? (root.message ? [root.message] : undefined);
  while (level) {
    let next: MimePart[] | undefined;
    for (const q of level) {
      const vh = vHeaderStart(q);
      const vb = vh + q.headerSize;
      if (vh > target) break;
      consider(q.headerStart, vh);
      consider(q.bodyStart, vb);
      if (target < vb + q.bodySize) {
        next = q.parts ?? (q.message ? [q.message] : undefined);
        break;
      }
    }
    level = next;
  }
  return [bestP, bestV];
}

/** Converts from physical `pos`, dropping `skip` output bytes and returning the next `want`. */
async function convertFrom(read: ReadFn, pos: number, end: number, skip: number, want: number): Promise<Buffer> {
  const out: Buffer[] = [];
  let got = 0;
  let prevCr = false;
  while (got < want && pos < end) {
    const need = skip + (want - got); // a physical byte yields at least one output byte
    const n = Math.min(end - pos, Math.min(MAX_READ, Math.max(need, MIN_READ)));
    const chunk = await read(pos, pos + n);
    if (chunk.length === 0) break;
    const conv = toCrlf(chunk, prevCr);
    prevCr = chunk[chunk.length - 1] === 0x0d;
    pos += chunk.length;
    let from = 0;
    if (skip > 0) {
      from = Math.min(skip, conv.length);
      skip -= from;
    }
    const take = Math.min(conv.length - from, want - got);
    if (take > 0) {
      out.push(conv.subarray(from, from + take));
      got += take;
    }
  }
  return out.length === 1 ? out[0] : Buffer.concat(out, got);
}
