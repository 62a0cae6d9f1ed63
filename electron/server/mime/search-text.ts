// Decoded message text for SEARCH (RFC 3501 6.4.4: BODY, TEXT, HEADER, FROM, SUBJECT, ...).
//
// Matching is on what a person reads, not on the transfer form: header values are unfolded
// and RFC 2047-decoded; body text is every text/* part (including those inside attached
// messages, whose headers count as body text too) with its Content-Transfer-Encoding undone
// and its charset converted, HTML reduced to its text. Other parts (attachments) are not
// searched, as in Dovecot without full-text search. Case-insensitive comparison is done on
// searchFold()ed strings, an approximation of i;unicode-casemap (RFC 5051).

import { isAscii, isUtf8 } from 'node:buffer';
import libmime from 'libmime';
import { decode as decodeCharset } from 'libmime/lib/charset.js';
import iconv from 'iconv-lite';
import { bytesToText, decodeHeaderValue, parseHeader, scanHeader } from './header.js';
import type { ReadFn } from './section.js';
import type { MimePart } from './types.js';

export interface MessageTextOptions {
  /** Raw bytes of text parts read at most (the rest is not searched). Default 16 MiB. */
  maxBytes?: number;
}

const DEFAULT_MAX_BYTES = 16 * 1024 * 1024;

/** Decoded header fields as "Name: value" lines. */
function headerText(header: Buffer): string {
  let out = '';
  for (const f of parseHeader(header)) out += f.name + ': ' + decodeHeaderValue(f.value) + '\n';
  return out;
}

/** All decoded values of a header field (case-insensitive name), for SEARCH HEADER/FROM/... */
export function headerValues(header: Buffer, name: string): string[] {
  const lower = name.toLowerCase();
  const out: string[] = [];
  for (const f of parseHeader(header)) {
    if (f.name.length === lower.length && f.name.toLowerCase() === lower) out.push(decodeHeaderValue(f.value));
  }
  return out;
}

/** searchFold(decodeHeaderValue(raw)) of recently seen values (senders and subjects repeat). */
const VALUE_MEMO = new Map<string, string>();
const VALUE_MEMO_MAX = 2048;

/** searchFold(decodeHeaderValue(value)): what SEARCH FROM/SUBJECT/HEADER compare against. */
export function foldedHeaderValue(value: Buffer): string {
  if (isAscii(value) && value.indexOf(ENCODED_WORD) < 0) return searchFold(decodeHeaderValue(value));
  const key = value.toString('latin1');
  let folded = VALUE_MEMO.get(key);
  if (folded === undefined) {
    folded = searchFold(decodeHeaderValue(value));
    if (VALUE_MEMO.size >= VALUE_MEMO_MAX) VALUE_MEMO.clear();
    VALUE_MEMO.set(key, folded);
  }
  return folded;
}

/** Case-folded, compatibility-decomposed form for substring matching (i;unicode-casemap-like). */
export function searchFold(s: string): string {
  let ascii = true;
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return s.toLowerCase();
  // upper then lower folds ß/ẞ to "ss" and final sigma to sigma; NFKD splits accents and ligatures
  return s.toUpperCase().toLowerCase().normalize('NFKD');
}

/** Folded runs of non-ASCII text, by run (most texts repeat a few accented words). */
const RUN_MEMO = new Map<string, string>();
const RUN_MEMO_MAX = 2048;
const NON_ASCII_RUN = /[^\x00-\x7f]+/g;

function foldRunAscii(run: string): string {
  let out = RUN_MEMO.get(run);
  if (out === undefined) {
    // Non-ASCII output becomes 0x80 runs: an ASCII needle cannot match across them.
    out = searchFold(run).replace(NON_ASCII_RUN, '\x80');
    if (RUN_MEMO.size >= RUN_MEMO_MAX) RUN_MEMO.clear();
    RUN_MEMO.set(run, out);
  }
  return out;
}

/**
 * searchFold(s) for finding an ASCII needle: the same ASCII characters in the same places,
 * with every run of non-ASCII output replaced by one 0x80. Exact for ASCII needles, because
 * folding works character by character as far as ASCII output goes (case mapping is
 * context-free except for final sigma, NFKD only decomposes and reorders combining marks,
 * which never cross an ASCII starter) - and much cheaper than folding a whole non-ASCII text.
 */
export function asciiFold(s: string): string {
  let ascii = true;
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) >= 0x80) {
      ascii = false;
      break;
    }
  }
  return (ascii ? s : s.replace(NON_ASCII_RUN, foldRunAscii)).toLowerCase();
}

/** Does searchFold(text) contain the (folded) needle? */
export function foldedIncludes(text: string, needle: string, asciiNeedle: boolean): boolean {
  return asciiNeedle ? asciiFold(text).includes(needle) : searchFold(text).includes(needle);
}

const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) HEX[0x30 + i] = i;
for (let i = 0; i < 6; i++) HEX[0x41 + i] = HEX[0x61 + i] = 10 + i;

/**
 * Quoted-printable (RFC 2045 6.7): =XX escapes and soft line breaks; broken escapes kept.
 * The text between two '=' is copied in one go (it is most of the data).
 */
export function decodeQuotedPrintable(buf: Buffer): Buffer {
  return decodeQpInto(buf, Buffer.allocUnsafe(buf.length));
}

/** Reused output of decodeTransfer(): its result is always turned into a string at once. */
let scratch = Buffer.allocUnsafe(64 * 1024);

function scratchOf(n: number): Buffer {
  if (scratch.length < n) scratch = Buffer.allocUnsafe(Math.max(n, scratch.length * 2));
  return scratch;
}

function decodeQpInto(buf: Buffer, out: Buffer): Buffer {
  const n = buf.length;
  let i = buf.indexOf(0x3d);
  if (i < 0) return buf;
  let o = buf.copy(out, 0, 0, i);
  for (;;) {
    // buf[i] is '='. Soft line break: "=" optional blanks, then [CR]LF.
    let j = i + 1;
    while (j < n && (buf[j] === 0x20 || buf[j] === 0x09)) j++;
    if (j < n && buf[j] === 0x0d) j++;
    let next: number;
    if (j < n && buf[j] === 0x0a) {
      next = j + 1;
    } else if (j >= n) {
      break; // "=" and blanks at the very end: dropped
    } else {
      const h = HEX[buf[i + 1]];
      const l = i + 2 < n ? HEX[buf[i + 2]] : -1;
      if (h >= 0 && l >= 0) {
        out[o++] = (h << 4) | l;
        next = i + 3;
      } else {
        out[o++] = 0x3d;
        next = i + 1;
      }
    }
    const e = buf.indexOf(0x3d, next);
    const stop = e < 0 ? n : e;
    if (stop - next < 16) {
      for (let k = next; k < stop; k++) out[o++] = buf[k];
    } else {
      o += buf.copy(out, o, next, stop);
    }
    if (e < 0) break;
    i = e;
  }
  return out.subarray(0, o);
}

/**
 * Content-Transfer-Encoding undone. The result may be a shared scratch buffer (for messages
 * up to 1 MB): callers turn it into text before decoding anything else.
 */
function decodeTransfer(raw: Buffer, encoding: string): Buffer {
  const e = encoding.toLowerCase();
  if (e === 'base64') {
    if (raw.length > SCRATCH_MAX) return Buffer.from(raw.toString('latin1'), 'base64');
    const out = scratchOf(raw.length);
    return out.subarray(0, out.write(raw.toString('latin1'), 'base64'));
  }
  if (e === 'quoted-printable') return raw.length > SCRATCH_MAX ? decodeQuotedPrintable(raw) : decodeQpInto(raw, scratchOf(raw.length));
  return raw;
}

/** Parts larger than this get buffers of their own. */
const SCRATCH_MAX = 1024 * 1024;

const JAPANESE = new Set(['ISO-2022-JP', 'SHIFT_JIS', 'EUC-JP', 'CP932']);
/** Declared ASCII often carries raw UTF-8 in practice (RFC 6532 mail, broken clients). */
const ASCII_OR_UTF8 = new Set(['us-ascii', 'ascii', 'ansi_x3.4-1968', 'utf-8', 'utf8']);

/** True when decodeText(buf, charset) is bytesToText(buf): no charset conversion. */
function decodesAsBytes(charset: string | undefined): boolean {
  if (!charset || ASCII_OR_UTF8.has(charset.trim().toLowerCase())) return true;
  const cs = libmime.normalizeCharset(charset);
  const upper = cs.toUpperCase();
  return upper === 'UTF-8' || (!iconv.encodingExists(cs) && !JAPANESE.has(upper));
}

const HIGH_RUN = /[\x80-\xff]+/g;
const UTF8_RUN_MEMO = new Map<string, string>();

function foldUtf8Run(run: string): string {
  let out = UTF8_RUN_MEMO.get(run);
  if (out === undefined) {
    out = foldRunAscii(Buffer.from(run, 'latin1').toString('utf8'));
    if (UTF8_RUN_MEMO.size >= RUN_MEMO_MAX) UTF8_RUN_MEMO.clear();
    UTF8_RUN_MEMO.set(run, out);
  }
  return out;
}

/**
 * asciiFold(decodeText(buf, charset)) for a charset decodeText leaves alone, computed on the
 * bytes: ASCII bytes are the ASCII characters, and each run of 8-bit bytes is a run of
 * non-ASCII characters (whole UTF-8 sequences, or latin1 characters when buf is not UTF-8).
 * Spares building a two-byte string of the whole text.
 */
function asciiFoldBytes(buf: Buffer): string {
  const s = buf.toString('latin1');
  if (isAscii(buf)) return s.toLowerCase();
  return isUtf8(buf) ? s.replace(HIGH_RUN, foldUtf8Run).toLowerCase() : asciiFold(s);
}

/** Bytes in a declared charset as text; unknown or ASCII-like charsets: UTF-8, else latin1. */
export function decodeText(buf: Buffer, charset: string | undefined): string {
  if (!charset || ASCII_OR_UTF8.has(charset.trim().toLowerCase())) return bytesToText(buf);
  const cs = libmime.normalizeCharset(charset);
  const upper = cs.toUpperCase();
  if (upper === 'UTF-8') return bytesToText(buf);
  if (!iconv.encodingExists(cs) && !JAPANESE.has(upper)) return bytesToText(buf);
  try {
    return decodeCharset(buf, cs);
  } catch {
    return bytesToText(buf);
  }
}

const ENTITIES: Record<string, string> = {
  amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ', copy: '©', reg: '®', trade: '™',
  euro: '€', pound: '£', yen: '¥', cent: '¢', sect: '§', deg: '°', hellip: '…', mdash: '—',
  ndash: '–', lsquo: '‘', rsquo: '’', ldquo: '“', rdquo: '”', laquo: '«', raquo: '»', bull: '•',
  middot: '·', times: '×', divide: '÷', shy: '', zwnj: '', zwj: '',
  auml: 'ä', ouml: 'ö', uuml: 'ü', Auml: 'Ä', Ouml: 'Ö', Uuml: 'Ü', szlig: 'ß',
  eacute: 'é', egrave: 'è', ecirc: 'ê', aacute: 'á', agrave: 'à', acirc: 'â', iacute: 'í',
  oacute: 'ó', uacute: 'ú', ccedil: 'ç', ntilde: 'ñ', Eacute: 'É', aring: 'å', oslash: 'ø', aelig: 'æ',
};

/** Character references (&name; &#N; &#xH;) in one linear pass; unknown ones are kept. */
export function decodeEntities(s: string): string {
  let amp = s.indexOf('&');
  if (amp < 0) return s;
  let out = '';
  let from = 0;
  while (amp >= 0) {
    const semi = s.indexOf(';', amp + 1);
    if (semi < 0 || semi - amp > 32) {
      amp = s.indexOf('&', amp + 1);
      continue;
    }
    const ref = s.slice(amp + 1, semi);
    let rep: string | undefined;
    if (ref.charCodeAt(0) === 0x23) {
      const hex = ref[1] === 'x' || ref[1] === 'X';
      const n = parseInt(ref.slice(hex ? 2 : 1), hex ? 16 : 10);
      if (Number.isInteger(n) && n > 0 && n <= 0x10ffff && (n < 0xd800 || n > 0xdfff)) rep = String.fromCodePoint(n);
    } else {
      rep = ENTITIES[ref];
    }
    if (rep !== undefined) {
      out += s.slice(from, amp) + rep;
      from = semi + 1;
    }
    amp = s.indexOf('&', rep !== undefined ? semi + 1 : amp + 1);
  }
  return out + s.slice(from);
}

/** Inline elements: removing the tag must not split the word around it. */
const INLINE = new Set(['a', 'abbr', 'b', 'bdi', 'bdo', 'big', 'cite', 'code', 'em', 'font', 'i', 'kbd', 'mark', 'q', 's', 'samp', 'small', 'span', 'strike', 'strong', 'sub', 'sup', 'tt', 'u', 'var', 'wbr']);

/**
 * Text of an HTML document: tags, comments, scripts and styles removed, references decoded,
 * blanks collapsed (collapse=false leaves blank runs as they are: searching for a needle
 * without blanks does not need it).
 */
export function htmlToText(html: string, collapse = true): string {
  const lower = html.toLowerCase();
  let out = '';
  let i = 0;
  const n = html.length;
  while (i < n) {
    const lt = html.indexOf('<', i);
    if (lt < 0) {
      out += decodeEntities(html.slice(i));
      break;
    }
    out += decodeEntities(html.slice(i, lt));
    if (lower.startsWith('<!--', lt)) {
      const end = lower.indexOf('-->', lt + 4);
      i = end < 0 ? n : end + 3;
      continue;
    }
    const gt = html.indexOf('>', lt + 1);
    if (gt < 0) break;
    let k = lt + 1;
    if (html.charCodeAt(k) === 0x2f) k++;
    const nameStart = k;
    while (k < gt && ((lower.charCodeAt(k) >= 0x61 && lower.charCodeAt(k) <= 0x7a) || (lower.charCodeAt(k) >= 0x30 && lower.charCodeAt(k) <= 0x39))) k++;
    const name = lower.slice(nameStart, k);
    i = gt + 1;
    if ((name === 'script' || name === 'style') && nameStart === lt + 1) {
      const close = lower.indexOf('</' + name, i);
      i = close < 0 ? n : close;
      continue;
    }
    if (!INLINE.has(name)) out += ' ';
  }
  return collapse ? collapseBlanks(out) : out;
}

/** Runs of whitespace become one space, as HTML renders them. */
function collapseBlanks(s: string): string {
  return s.replace(BLANK_RUN, ' ');
}

const BLANK_RUN = /[ \t\n\r\f\xa0]+/g;

function charsetOf(part: MimePart): string | undefined {
  for (const p of part.params) if (p.name === 'charset') return p.value;
  return undefined;
}

/** Decoded header and body text of a message, reading only its text parts. */
export async function messageText(
  root: MimePart,
  read: ReadFn,
  options: MessageTextOptions = {},
): Promise<{ headers: string; body: string }> {
  let budget = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const body: string[] = [];
  // MIME part headers (e.g. an attachment's filename) count for TEXT, as in Dovecot.
  const partHeaders: string[] = [];
  const readRange = async (start: number, end: number): Promise<Buffer | null> => {
    if (end <= start || budget <= 0) return null;
    const n = Math.min(end - start, budget);
    budget -= n;
    return read(start, start + n);
  };
  const walk = async (part: MimePart): Promise<void> => {
    if (part !== root && part.bodyStart > part.headerStart) {
      const h = await readRange(part.headerStart, part.bodyStart);
      if (h) partHeaders.push(headerText(h));
    }
    if (part.parts) {
      for (const c of part.parts) await walk(c);
    } else if (part.message) {
      const h = await readRange(part.message.headerStart, part.message.bodyStart);
      if (h) body.push(headerText(h));
      await walk(part.message);
    } else if (part.type === 'text') {
      const raw = await readRange(part.bodyStart, part.bodyEnd);
      if (!raw) return;
      const text = decodeText(decodeTransfer(raw, part.encoding), charsetOf(part));
      body.push(part.subtype === 'html' ? htmlToText(text) : text);
    }
  };
  const header = root.bodyStart > 0 ? await read(0, root.bodyStart) : Buffer.alloc(0);
  await walk(root);
  return { headers: [headerText(header), ...partHeaders].join('\n'), body: body.join('\n') };
}

// ---- SEARCH BODY/TEXT over a message held in memory ---------------------------------------
//
// MessageSearch answers the same question as searchFold(messageText(...)).includes(needle),
// piece by piece (the root header, each part header, each encapsulated header, each text
// part), without building the joined strings: for a needle without a line break a match
// cannot span two pieces (they are joined with '\n'), and folding a piece alone gives the
// same characters as folding it inside the joined text ('\n' ends every casing and
// normalization context).
//
// Most pieces are plain ASCII that decoding leaves as it is ("transform-free": no encoded
// words, no transfer encoding, an ASCII-compatible charset, no HTML). For a needle of
// printable ASCII without blanks and ':' (a word, an address...), such a piece can only
// contain the needle if the lowercased file contains it at that place, so one lowercase scan
// of the whole file rules them all out at once; only the other pieces are decoded.

/** Charsets whose ASCII bytes decode to the same ASCII characters. */
const ASCII_COMPATIBLE = /^(?:us-ascii|ascii|ansi_x3\.4-1968|utf-?8|iso[-_]?8859-\d+|latin-?\d|l\d|windows-125\d|cp125\d|koi8-[rux])$/i;

interface Piece {
  start: number;
  end: number;
  /** A header block (its fields become "Name: value" lines) or a text part. */
  header: boolean;
  /** Part of the body text (BODY); every piece is part of TEXT. */
  inBody: boolean;
  part: MimePart | null;
}

/** The pieces messageText() reads, in its order. */
function collectPieces(root: MimePart): Piece[] {
  const pieces: Piece[] = [];
  if (root.bodyStart > 0) pieces.push({ start: 0, end: root.bodyStart, header: true, inBody: false, part: null });
  const walk = (part: MimePart): void => {
    if (part !== root && part.bodyStart > part.headerStart) {
      pieces.push({ start: part.headerStart, end: part.bodyStart, header: true, inBody: false, part: null });
    }
    if (part.parts) {
      for (const c of part.parts) walk(c);
    } else if (part.message) {
      const m = part.message;
      if (m.bodyStart > m.headerStart) pieces.push({ start: m.headerStart, end: m.bodyStart, header: true, inBody: true, part: null });
      walk(m);
    } else if (part.type === 'text' && part.bodyEnd > part.bodyStart) {
      pieces.push({ start: part.bodyStart, end: part.bodyEnd, header: false, inBody: true, part });
    }
  };
  walk(root);
  return pieces;
}

/** True for a needle the raw-bytes prefilter may be used with (see above). */
function simpleNeedle(needle: string): boolean {
  for (let i = 0; i < needle.length; i++) {
    const c = needle.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || c === 0x3a) return false;
  }
  return needle.length > 0;
}

/** A lone CR (not followed by LF): header unfolding removes it, joining what surrounds it. */
function hasLoneCr(buf: Buffer): boolean {
  let i = buf.indexOf(0x0d);
  while (i >= 0) {
    if (buf[i + 1] !== 0x0a) return true;
    i = buf.indexOf(0x0d, i + 1);
  }
  return false;
}

const ENCODED_WORD = Buffer.from('=?');

/** Blank characters collapseBlanks() acts on. */
const BLANK_CHAR = /[ \t\n\r\f\xa0]/;

/**
 * SEARCH BODY / TEXT of one message whose file is in memory (see above). Decoded pieces are
 * kept, so several BODY/TEXT keys on one message decode it once.
 */
export class MessageSearch {
  private pieces: Piece[] | null = null;
  private readonly decoded = new Map<Piece, { text: string; collapsed: boolean }>();
  private readonly skeletons = new Map<Piece, string>();
  private readonly fileAscii: boolean;

  constructor(
    private readonly root: MimePart,
    private readonly file: Buffer,
  ) {
    this.fileAscii = isAscii(file);
  }

  /** searchFold(body text).includes(needle), or with withHeaders, the same for header text too (TEXT). */
  contains(needle: string, withHeaders: boolean): boolean {
    if (needle === '') return true;
    const pieces = (this.pieces ??= collectPieces(this.root));
    if (needle.includes('\n')) {
      // A match could span two pieces: use the joined texts, exactly as messageText builds them.
      const t = this.joined(withHeaders);
      return (withHeaders && t.headers.includes(needle)) || t.body.includes(needle);
    }
    const simple = simpleNeedle(needle);
    const asciiNeedle = simple || /^[\x00-\x7f]*$/.test(needle);
    for (const p of pieces) {
      if (!withHeaders && !p.inBody) continue;
      if (p.header) {
        if (this.headerContains(p, needle, simple, asciiNeedle)) return true;
      } else if (simple && this.textIsRaw(p)) {
        if (this.rawContains(p.start, p.end, needle)) return true;
      } else if (asciiNeedle && p.part!.subtype !== 'html' && decodesAsBytes(charsetOf(p.part!))) {
        if (this.byteSkeleton(p).includes(needle)) return true;
      } else if (foldedIncludes(this.text(p, !simple && BLANK_CHAR.test(needle)), needle, asciiNeedle)) {
        return true;
      }
    }
    return false;
  }

  /** The lowercased bytes [start, end) of an ASCII region hold the needle. */
  private rawContains(start: number, end: number, needle: string): boolean {
    return this.file.toString('latin1', start, end).toLowerCase().includes(needle);
  }

  /** A text part whose decoded text is its raw bytes (see the notes above). */
  private textIsRaw(p: Piece): boolean {
    const part = p.part!;
    const enc = part.encoding.toLowerCase();
    if (enc === 'base64' || enc === 'quoted-printable' || part.subtype === 'html') return false;
    const cs = charsetOf(part);
    if (cs !== undefined && !ASCII_COMPATIBLE.test(cs.trim())) return false;
    return this.fileAscii || isAscii(this.file.subarray(p.start, p.end));
  }

  private headerContains(p: Piece, needle: string, simple: boolean, asciiNeedle: boolean): boolean {
    const h = this.file.subarray(p.start, p.end);
    if (simple && (this.fileAscii || isAscii(h)) && h.indexOf(ENCODED_WORD) < 0 && !hasLoneCr(h)) {
      // Every field is its raw bytes minus line breaks: only a raw hit needs a closer look.
      if (!this.rawContains(p.start, p.end, needle)) return false;
    }
    for (const f of scanHeader(h).fields) {
      if (!f.colon) continue;
      if (simple) {
        const raw = h.subarray(f.start, f.end);
        if ((this.fileAscii || isAscii(raw)) && raw.indexOf(ENCODED_WORD) < 0 && !hasLoneCr(raw)) {
          if (!this.rawContains(p.start + f.start, p.start + f.end, needle)) continue;
        }
      }
      if (simple) {
        // No blank, ':' or line break in the needle: it lies within the name or within the value.
        if (foldedIncludes(h.toString('latin1', f.start, f.nameEnd), needle, true)) return true;
        if (foldedHeaderValue(h.subarray(f.valueStart, f.valueEnd)).includes(needle)) return true;
        continue;
      }
      const line = h.toString('latin1', f.start, f.nameEnd) + ': ' + decodeHeaderValue(h.subarray(f.valueStart, f.valueEnd)) + '\n';
      if (foldedIncludes(line, needle, asciiNeedle)) return true;
    }
    return false;
  }

  /** asciiFold of a non-HTML text piece decoded without charset conversion (kept for further keys). */
  private byteSkeleton(p: Piece): string {
    let t = this.skeletons.get(p);
    if (t === undefined) {
      t = asciiFoldBytes(decodeTransfer(this.file.subarray(p.start, p.end), p.part!.encoding));
      this.skeletons.set(p, t);
    }
    return t;
  }

  /** The decoded text of a text piece (kept for further keys); HTML blank runs collapsed only when asked. */
  private text(p: Piece, collapse: boolean): string {
    const cached = this.decoded.get(p);
    // Collapsed text also serves needles that do not need it (they contain no blanks).
    if (cached !== undefined && (cached.collapsed || !collapse)) return cached.text;
    const part = p.part!;
    let text = decodeText(decodeTransfer(this.file.subarray(p.start, p.end), part.encoding), charsetOf(part));
    const html = part.subtype === 'html';
    if (html) text = htmlToText(text, collapse);
    this.decoded.set(p, { text, collapsed: collapse || !html });
    return text;
  }

  /** messageText's joined header and body texts, folded, for needles with line breaks. */
  private joined(withHeaders: boolean): { headers: string; body: string } {
    const headers: string[] = [];
    const body: string[] = [];
    // messageText always starts the header text with the root header, even an empty one.
    headers.push(headerText(this.file.subarray(0, this.root.bodyStart)));
    for (const p of this.pieces!) {
      const raw = this.file.subarray(p.start, p.end);
      if (!p.inBody) {
        if (p.start !== 0 || p.end !== this.root.bodyStart) headers.push(headerText(raw));
      } else if (p.header) {
        body.push(headerText(raw));
      } else {
        const part = p.part!;
        const text = decodeText(decodeTransfer(raw, part.encoding), charsetOf(part));
        body.push(part.subtype === 'html' ? htmlToText(text) : text);
      }
    }
    return { headers: withHeaders ? searchFold(headers.join('\n')) : '', body: searchFold(body.join('\n')) };
  }
}
