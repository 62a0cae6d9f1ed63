// Decoded message text for SEARCH (RFC 3501 6.4.4: BODY, TEXT, HEADER, FROM, SUBJECT, ...).
//
// Matching is on what a person reads, not on the transfer form: header values are unfolded
// and RFC 2047-decoded; body text is every text/* part (including those inside attached
// messages, whose headers count as body text too) with its Content-Transfer-Encoding undone
// and its charset converted, HTML reduced to its text. Other parts (attachments) are not
// searched, as in Dovecot without full-text search. Case-insensitive comparison is done on
// searchFold()ed strings, an approximation of i;unicode-casemap (RFC 5051).

import libmime from 'libmime';
import { decode as decodeCharset } from 'libmime/lib/charset.js';
import iconv from 'iconv-lite';
import { bytesToText, decodeHeaderValue, parseHeader } from './header.js';
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

/** Quoted-printable (RFC 2045 6.7): =XX escapes and soft line breaks; broken escapes kept. */
export function decodeQuotedPrintable(buf: Buffer): Buffer {
  const out = Buffer.allocUnsafe(buf.length);
  let o = 0;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i];
    if (c !== 0x3d) {
      out[o++] = c;
      continue;
    }
    // soft line break: "=" optional blanks, then [CR]LF
    let j = i + 1;
    while (j < buf.length && (buf[j] === 0x20 || buf[j] === 0x09)) j++;
    if (j < buf.length && buf[j] === 0x0d) j++;
    if (j < buf.length && buf[j] === 0x0a) {
      i = j;
      continue;
    }
    if (j >= buf.length) break;
    const h = hexVal(buf[i + 1]);
    const l = hexVal(buf[i + 2]);
    if (h >= 0 && l >= 0) {
      out[o++] = (h << 4) | l;
      i += 2;
    } else {
      out[o++] = c;
    }
  }
  return out.subarray(0, o);
}

function hexVal(c: number | undefined): number {
  if (c === undefined) return -1;
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

function decodeTransfer(raw: Buffer, encoding: string): Buffer {
  const e = encoding.toLowerCase();
  if (e === 'base64') return Buffer.from(raw.toString('latin1'), 'base64');
  if (e === 'quoted-printable') return decodeQuotedPrintable(raw);
  return raw;
}

const JAPANESE = new Set(['ISO-2022-JP', 'SHIFT_JIS', 'EUC-JP', 'CP932']);
/** Declared ASCII often carries raw UTF-8 in practice (RFC 6532 mail, broken clients). */
const ASCII_OR_UTF8 = new Set(['us-ascii', 'ascii', 'ansi_x3.4-1968', 'utf-8', 'utf8']);

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

/** Text of an HTML document: tags, comments, scripts and styles removed, references decoded, blanks collapsed. */
export function htmlToText(html: string): string {
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
  return collapseBlanks(out);
}

/** Runs of whitespace become one space, as HTML renders them. */
function collapseBlanks(s: string): string {
  let out = '';
  let from = 0;
  let inRun = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const blank = c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x0c || c === 0xa0;
    if (blank && !inRun) {
      out += s.slice(from, i) + ' ';
      inRun = true;
    } else if (!blank && inRun) {
      from = i;
      inRun = false;
    }
  }
  return inRun ? out : out + s.slice(from);
}

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
