// Header block tokenizer (RFC 5322 section 2.2) and BODY[HEADER.FIELDS] filtering.
//
// A field starts at a line that does not begin with SP/HTAB; following lines that do are
// its continuation (folding). Like Dovecot we are lenient with malformed input: a line
// without a colon is a field with no value (it never matches HEADER.FIELDS), the name
// loses trailing blanks before the colon, and the value loses the blanks after the colon
// (all of them, unless the whole first line is blank, then only one). The block ends at
// the first empty line, or at the end of the data when there is none.

import { isUtf8 } from 'node:buffer';
import libmime from 'libmime';
import { toCrlf } from './crlf.js';

/** Offsets of one header field inside a header block. */
export interface RawField {
  /** First byte of the field's first line. */
  start: number;
  /** Just past the field's last line terminator (or the end of the data). */
  end: number;
  /** End of the name (trailing blanks removed); the name starts at `start`. */
  nameEnd: number;
  /** False for a malformed line without a colon. */
  colon: boolean;
  /** Value bytes: [valueStart, valueEnd), folding line breaks included, final terminator not. */
  valueStart: number;
  valueEnd: number;
}

export interface ScanResult {
  fields: RawField[];
  /** Offset of the empty line ending the header, or -1 when there is none. */
  eoh: number;
}

function isBlank(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/** Opens a field at a line that is not a continuation. */
function openField(buf: Buffer, pos: number, contentEnd: number, lineEnd: number): RawField {
  let colon = buf.indexOf(0x3a, pos);
  if (colon >= contentEnd) colon = -1;
  if (colon < 0) {
    return { start: pos, end: lineEnd, nameEnd: contentEnd, colon: false, valueStart: contentEnd, valueEnd: contentEnd };
  }
  let nameEnd = colon;
  while (nameEnd > pos && isBlank(buf[nameEnd - 1])) nameEnd--;
  let v = colon + 1;
  while (v < contentEnd && isBlank(buf[v])) v++;
  if (v === contentEnd && contentEnd > colon + 1) v = colon + 2; // all blank: drop only one
  return { start: pos, end: lineEnd, nameEnd, colon: true, valueStart: v, valueEnd: contentEnd };
}

/** Splits a header block into fields (one pass, no copies). */
export function scanHeader(buf: Buffer): ScanResult {
  const fields: RawField[] = [];
  const end = buf.length;
  let cur: RawField | null = null;
  let pos = 0;
  while (pos < end) {
    const lf = buf.indexOf(0x0a, pos);
    const lineEnd = lf < 0 ? end : lf + 1;
    const contentEnd = lf < 0 ? end : lf > pos && buf[lf - 1] === 0x0d ? lf - 1 : lf;
    if (lf >= 0 && contentEnd === pos) return { fields, eoh: pos };
    if (cur !== null && isBlank(buf[pos])) {
      cur.valueEnd = contentEnd;
      cur.end = lineEnd;
    } else {
      cur = openField(buf, pos, contentEnd, lineEnd);
      fields.push(cur);
    }
    pos = lineEnd;
  }
  return { fields, eoh: -1 };
}

/**
 * A field's value as Dovecot's header parser assembles it: the raw bytes, except that a
 * continuation line holding a single blank is joined without its line break (observed
 * with Dovecot 2.3; it only matters for broken input such as an unterminated comment).
 */
export function fieldValue(buf: Buffer, f: RawField): Buffer {
  const v = buf.subarray(f.valueStart, f.valueEnd);
  let lf = v.indexOf(0x0a);
  if (lf < 0) return v;
  let out: Buffer[] | null = null;
  let from = 0;
  while (lf >= 0) {
    const after = lf + 2; // LF, one blank
    const single = after <= v.length && isBlank(v[lf + 1]) && (after === v.length || v[after] === 0x0a || (v[after] === 0x0d && v[after + 1] === 0x0a));
    if (single) {
      const breakStart = lf > 0 && v[lf - 1] === 0x0d ? lf - 1 : lf;
      (out ??= []).push(v.subarray(from, breakStart));
      from = lf + 1;
    }
    lf = v.indexOf(0x0a, lf + 1);
  }
  if (out === null) return v;
  out.push(v.subarray(from));
  return Buffer.concat(out);
}

/** ASCII lowercase of each byte (other bytes unchanged). */
const LOWER = new Uint8Array(256);
for (let c = 0; c < 256; c++) LOWER[c] = c >= 0x41 && c <= 0x5a ? c + 0x20 : c;

/**
 * A set of header field names matched against raw bytes without building strings: FETCH
 * compiles it once per command instead of lowercasing every field name of every message.
 * Matching is ASCII case-insensitive, which is what comparing latin1 toLowerCase() forms of
 * an ASCII name does (no 8-bit byte lowercases to ASCII).
 */
export class FieldNames {
  /** Lowercased names by length; entry = [bytes, index]. */
  private readonly byLength: (readonly [Uint8Array, number][] | undefined)[] = [];
  /** 1 for each byte a wanted name can start with (either case): other lines are skipped at once. */
  readonly firstByte = new Uint8Array(256);
  readonly names: readonly string[];

  constructor(names: readonly string[]) {
    this.names = names;
    names.forEach((name, index) => {
      const bytes = Buffer.from(name.toLowerCase(), 'latin1');
      if (bytes.length > 0) {
        this.firstByte[bytes[0]] = 1;
        this.firstByte[bytes[0] >= 0x61 && bytes[0] <= 0x7a ? bytes[0] - 0x20 : bytes[0]] = 1;
      }
      const list = (this.byLength[bytes.length] ??= []) as [Uint8Array, number][];
      // The first of duplicate names wins, like Set membership.
      if (!list.some(([b]) => Buffer.compare(b, bytes) === 0)) list.push([bytes, index]);
    });
  }

  /** Index (in names) of the name buf[start, end) spells, or -1. */
  indexOf(buf: Buffer, start: number, end: number): number {
    const list = this.byLength[end - start];
    if (list === undefined) return -1;
    outer: for (let k = 0; k < list.length; k++) {
      const [bytes, index] = list[k];
      for (let i = 0; i < bytes.length; i++) if (LOWER[buf[start + i]] !== bytes[i]) continue outer;
      return index;
    }
    return -1;
  }
}

/**
 * scanHeader() for the fields `names` knows only: the same RawFields (plus each one's index
 * in names), without allocating anything for the other fields.
 */
export function scanNamedFields(buf: Buffer, names: FieldNames): { fields: RawField[]; ids: number[]; eoh: number } {
  const fields: RawField[] = [];
  const ids: number[] = [];
  const end = buf.length;
  let cur: RawField | null = null;
  let inField = false;
  let pos = 0;
  while (pos < end) {
    const lf = buf.indexOf(0x0a, pos);
    const lineEnd = lf < 0 ? end : lf + 1;
    const contentEnd = lf < 0 ? end : lf > pos && buf[lf - 1] === 0x0d ? lf - 1 : lf;
    if (lf >= 0 && contentEnd === pos) return { fields, ids, eoh: pos };
    if (inField && isBlank(buf[pos])) {
      if (cur !== null) {
        cur.valueEnd = contentEnd;
        cur.end = lineEnd;
      }
    } else {
      inField = true;
      cur = null;
      const colon = names.firstByte[buf[pos]] === 1 ? buf.indexOf(0x3a, pos) : -1;
      if (colon >= 0 && colon < contentEnd) {
        let nameEnd = colon;
        while (nameEnd > pos && isBlank(buf[nameEnd - 1])) nameEnd--;
        const id = names.indexOf(buf, pos, nameEnd);
        if (id >= 0) {
          cur = openField(buf, pos, contentEnd, lineEnd);
          fields.push(cur);
          ids.push(id);
        }
      }
    }
    pos = lineEnd;
  }
  return { fields, ids, eoh: -1 };
}

/** Bare LF -> CRLF in a latin1 string. */
export function crlfText(s: string): string {
  if (s.indexOf('\n') < 0) return s;
  if (s.indexOf('\r') < 0) return s.replaceAll('\n', '\r\n');
  return s.replace(/(?<!\r)\n/g, '\r\n');
}

/**
 * BODY[HEADER.FIELDS (names)] (not .NOT) as a latin1 string: the same bytes headerFields()
 * returns, built without intermediate Buffers (FETCH of many messages renders it per message).
 */
export function headerFieldsText(header: Buffer, names: FieldNames): string {
  const { fields } = scanNamedFields(header, names);
  let out = '';
  for (const f of fields) {
    out += crlfText(header.toString('latin1', f.start, f.end));
    if (header[f.end - 1] !== 0x0a) out += '\r\n';
  }
  return out + '\r\n';
}

export interface HeaderField {
  /** Field name as sent (latin1), without trailing blanks. */
  name: string;
  /** Raw value bytes; folding line breaks kept unless unfolded. */
  value: Buffer;
}

/** Removes CR and LF bytes: RFC 5322 2.2.3 unfolding (the folding blanks stay). */
export function unfoldBytes(value: Buffer): Buffer {
  if (value.indexOf(0x0a) < 0 && value.indexOf(0x0d) < 0) return value;
  const out = Buffer.allocUnsafe(value.length);
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c !== 0x0a && c !== 0x0d) out[n++] = c;
  }
  return out.subarray(0, n);
}

/** The fields of a header block, in order; lines without a colon are left out. */
export function parseHeader(header: Buffer, unfold = false): HeaderField[] {
  const out: HeaderField[] = [];
  for (const f of scanHeader(header).fields) {
    if (!f.colon) continue;
    const value = header.subarray(f.valueStart, f.valueEnd);
    out.push({ name: header.toString('latin1', f.start, f.nameEnd), value: unfold ? unfoldBytes(value) : value });
  }
  return out;
}

const CRLF = Buffer.from('\r\n');

/**
 * BODY[HEADER.FIELDS (names)] and BODY[HEADER.FIELDS.NOT (names)] (RFC 3501 6.4.5):
 * the selected fields verbatim in CRLF form. Names match case-insensitively.
 * As in Dovecot, HEADER.FIELDS always ends with an empty line (and completes a last line
 * cut short by the end of the data), while HEADER.FIELDS.NOT keeps the block's own ending:
 * the empty line only when the header had one. `eoh` says so; when omitted it is inferred
 * (a block that ends with a line break is taken as one whose empty line was cut off).
 */
export function headerFields(header: Buffer, names: readonly string[], not: boolean, eoh?: boolean): Buffer {
  const wanted = new Set(names.map((n) => n.toLowerCase()));
  const scan = scanHeader(header);
  const parts: Buffer[] = [];
  for (const f of scan.fields) {
    const matched = f.colon && wanted.has(header.toString('latin1', f.start, f.nameEnd).toLowerCase());
    if (matched === not) continue;
    parts.push(toCrlf(header.subarray(f.start, f.end)));
    if (!not && header[f.end - 1] !== 0x0a) parts.push(CRLF);
  }
  const ended = eoh ?? (scan.eoh >= 0 || header.length === 0 || header[header.length - 1] === 0x0a);
  if (!not || ended) parts.push(CRLF);
  return Buffer.concat(parts);
}

/** Raw header bytes as text: UTF-8 when they are valid UTF-8, else latin1. */
export function bytesToText(buf: Buffer): string {
  for (let i = 0; i < buf.length; i++) {
    if (buf[i] >= 0x80) return isUtf8(buf) ? buf.toString('utf8') : buf.toString('latin1');
  }
  return buf.toString('latin1');
}

/** Human-readable value: unfolded, RFC 2047 encoded words decoded, raw 8-bit taken as UTF-8. */
export function decodeHeaderValue(value: Buffer): string {
  const text = bytesToText(unfoldBytes(value));
  if (text.indexOf('=?') < 0) return text;
  try {
    return libmime.decodeWords(text);
  } catch {
    return text;
  }
}
