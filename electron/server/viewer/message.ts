// What the message pane shows, built from storage's parsed MessageInfo (header + MIME tree with byte
// offsets) and ranged reads of the file: decoded headers, Received hops, the text and HTML bodies, the
// attachment list, and an attachment's bytes. Nothing here parses MIME structure: the tree comes from
// mime/structure.ts through storage (cached), header decoding from mime/header.ts, charsets from
// mime/search-text.ts. Only the choice of which parts are "the body" is the viewer's own.

import { decodeHeaderValue, parseHeader } from '../mime/header.js';
import { decodeQuotedPrintable, decodeText } from '../mime/search-text.js';
import { parseAddressList } from '../mime/address.js';
import type { MimeParam, MimePart } from '../mime/types.js';
import type {
  ViewerAttachment, ViewerHeader, ViewerReceivedHop, ViewerTextBody,
} from '../../shared/viewer-types.js';

export type ReadRange = (start: number, end: number) => Promise<Buffer>;

// ---- headers ---------------------------------------------------------------------------------

export function decodedHeaders(header: Buffer): ViewerHeader[] {
  return parseHeader(header).map((f) => ({ name: f.name, value: decodeHeaderValue(f.value) }));
}

/** The first value of a field among decoded headers ('' when absent). */
export function firstValue(headers: readonly ViewerHeader[], name: string): string {
  const lower = name.toLowerCase();
  for (const h of headers) if (h.name.toLowerCase() === lower) return h.value;
  return '';
}

/**
 * A `Received:` value split into its clauses (RFC 5321 4.4 trace fields: "from X by Y via Z with W
 * id I for <F>; date"). Real-world values stray from the grammar (comments with spaces, missing
 * clauses), so each clause is looked for on its own; the raw value is always kept.
 */
export function parseReceived(value: string): ViewerReceivedHop {
  const hop: ViewerReceivedHop = { raw: value };
  const semi = value.lastIndexOf(';');
  const clauses = semi >= 0 ? value.slice(0, semi) : value;
  if (semi >= 0) {
    const date = value.slice(semi + 1).trim();
    if (date) {
      hop.date = date;
      const t = parseRfc5322Date(date);
      if (t !== undefined) hop.time = t;
    }
  }
  // A clause runs from its keyword to the next keyword at nesting depth 0 (outside comments).
  const words = ['from', 'by', 'via', 'with', 'id', 'for'] as const;
  const found: { key: (typeof words)[number]; at: number; valueAt: number }[] = [];
  let depth = 0;
  for (let i = 0; i < clauses.length; i++) {
    const c = clauses[i];
    if (c === '(') depth++;
    else if (c === ')') depth = Math.max(0, depth - 1);
    else if (depth === 0 && (i === 0 || /\s/.test(clauses[i - 1]))) {
      for (const w of words) {
        if (clauses.slice(i, i + w.length).toLowerCase() === w && /\s/.test(clauses[i + w.length] ?? '')) {
          found.push({ key: w, at: i, valueAt: i + w.length });
          i += w.length;
          break;
        }
      }
    }
  }
  for (let k = 0; k < found.length; k++) {
    const f = found[k];
    const end = k + 1 < found.length ? found[k + 1].at : clauses.length;
    const v = clauses.slice(f.valueAt, end).replace(/\s+/g, ' ').trim();
    if (!v || f.key === 'via') continue;
    if (hop[f.key] === undefined) hop[f.key] = v;
  }
  return hop;
}

/** Date.parse understands RFC 5322 dates once comments like "(UTC)" are gone. */
export function parseRfc5322Date(text: string): number | undefined {
  const t = Date.parse(text.replace(/\([^)]*\)/g, ' ').replace(/\s+/g, ' ').trim());
  return Number.isFinite(t) ? t : undefined;
}

export function receivedHops(headers: readonly ViewerHeader[]): ViewerReceivedHop[] {
  return headers.filter((h) => h.name.toLowerCase() === 'received').map((h) => parseReceived(h.value));
}

/** First mailbox of an address-list field: display name (decoded) and address. */
export function firstAddress(raw: Buffer | undefined): { name: string; address: string } {
  if (!raw || raw.length === 0) return { name: '', address: '' };
  for (const a of parseAddressList(raw)) {
    if (a.mailbox === null || a.domain === null) continue; // group markers
    const address = a.domain ? `${a.mailbox}@${a.domain}` : a.mailbox;
    const name = a.name ? decodeHeaderValue(Buffer.from(a.name, 'latin1')).trim() : '';
    return { name, address: decodeHeaderValue(Buffer.from(address, 'latin1')) };
  }
  // Not an address at all ("undisclosed"): show the decoded text.
  return { name: decodeHeaderValue(raw).trim(), address: '' };
}

// ---- MIME parts ----------------------------------------------------------------------------

function param(params: readonly MimeParam[] | undefined, name: string): MimeParam | undefined {
  if (!params) return undefined;
  return params.find((p) => p.name === name) ?? params.find((p) => p.name === name + '*');
}

/**
 * A Content-Type/Disposition parameter value as text. Values are raw header bytes (latin1 strings);
 * RFC 2231 extended values ('name*', charset''percent-encoded, continuations already joined by the
 * MIME module) are percent-decoded in their charset; others may carry RFC 2047 words (common, though
 * not allowed there) or raw UTF-8.
 */
export function paramText(p: MimeParam | undefined): string | undefined {
  if (!p) return undefined;
  if (p.name.endsWith('*')) {
    const m = /^([^']*)'[^']*'([\s\S]*)$/.exec(p.value);
    const charset = m ? m[1] : 'utf-8';
    const encoded = m ? m[2] : p.value;
    const bytes = Buffer.from(encoded.replace(/%([0-9A-Fa-f]{2})/g, (_s, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1');
    return decodeText(bytes, charset || 'utf-8');
  }
  return decodeHeaderValue(Buffer.from(p.value, 'latin1'));
}

export function charsetOf(part: MimePart): string | undefined {
  const p = param(part.params, 'charset');
  return p ? p.value.trim() : undefined;
}

/** Content-Transfer-Encoding undone (base64 ignores whatever is not in its alphabet, as RFC 2045 6.8 asks). */
export function decodeTransfer(raw: Buffer, encoding: string): Buffer {
  const e = encoding.toLowerCase();
  if (e === 'base64') return Buffer.from(raw.toString('latin1'), 'base64');
  if (e === 'quoted-printable') return decodeQuotedPrintable(raw);
  return raw;
}

function isAttachmentDisposition(part: MimePart): boolean {
  return part.disposition?.type.toLowerCase() === 'attachment';
}

/** A body the pane can show as text: text/plain or text/html not marked as an attachment. */
function bodyKind(part: MimePart): 'text' | 'html' | null {
  if (part.parts || part.message || part.type !== 'text' || isAttachmentDisposition(part)) return null;
  if (part.subtype === 'plain') return 'text';
  if (part.subtype === 'html') return 'html';
  return null;
}

export interface BodyChoice {
  text?: { part: MimePart; number: string };
  html?: { part: MimePart; number: string };
  attachments: { part: MimePart; number: string }[];
}

/**
 * Which parts are the message's text and HTML bodies and which are attachments. Part numbers are
 * IMAP's (RFC 3501 6.4.5, see mime/section.ts): children of a multipart are 1..n; a single-part
 * message's body is part 1. Attached messages (message/rfc822) are attachments as a whole.
 */
export function chooseBodies(root: MimePart): BodyChoice {
  const out: BodyChoice = { attachments: [] };
  const take = (kind: 'text' | 'html', part: MimePart, number: string): boolean => {
    if (out[kind]) return false;
    out[kind] = { part, number };
    return true;
  };
  const walk = (part: MimePart, number: string): void => {
    if (part.parts) {
      const childNo = (i: number) => (number ? `${number}.${i + 1}` : String(i + 1));
      if (part.subtype === 'alternative') {
        // The alternatives say the same thing: show the richest HTML and the plain text, never list
        // the others as attachments. Later alternatives are the preferred ones (RFC 2046 5.1.4).
        let html: { part: MimePart; number: string } | undefined;
        let text: { part: MimePart; number: string } | undefined;
        const nested: { part: MimePart; number: string }[] = [];
        part.parts.forEach((c, i) => {
          const kind = bodyKind(c);
          if (kind === 'html') html = { part: c, number: childNo(i) };
          else if (kind === 'text') text ??= { part: c, number: childNo(i) };
          else if (c.parts) nested.push({ part: c, number: childNo(i) });
        });
        if (text) take('text', text.part, text.number);
        if (html) take('html', html.part, html.number);
        // multipart/related (HTML with its images) inside the alternative: its HTML and images count.
        for (const n of nested) if (!html || n.part.subtype === 'related') walk(n.part, n.number);
        return;
      }
      part.parts.forEach((c, i) => walk(c, childNo(i)));
      return;
    }
    const own = number || '1';
    const kind = bodyKind(part);
    if (kind && take(kind, part, own)) return;
    out.attachments.push({ part, number: own });
  };
  walk(root, '');
  return out;
}

const EXTENSIONS: Record<string, string> = {
  'text/plain': 'txt', 'text/html': 'html', 'text/calendar': 'ics', 'message/rfc822': 'eml', 'application/pdf': 'pdf',
  'image/png': 'png', 'image/jpeg': 'jpg', 'image/gif': 'gif', 'application/zip': 'zip',
};

/** Decoded file name, or a made-up one ("part-2.pdf", or the attached message's subject + .eml). */
export function filenameOf(part: MimePart, number: string): string {
  const name = paramText(param(part.disposition?.params, 'filename')) ?? paramText(param(part.params, 'name'));
  if (name && name.trim()) return name.trim().replace(/[\\/]/g, '_');
  const type = `${part.type}/${part.subtype}`;
  return `part-${number}.${EXTENSIONS[type] ?? 'bin'}`;
}

/**
 * The size of the decoded part, found without reading it whole. For base64: the encoded characters
 * are its bytes minus the line breaks, less the '=' padding, which the last few bytes of the part
 * show. In a file with LF line ends (Postfix writes those) every line break is one bare LF, and the
 * part's CRLF size exceeds its physical size by their number: exact. In a CRLF file the line breaks
 * cannot be told from the sizes; lines of 76 characters are assumed (RFC 2045's maximum, which
 * everyone uses).
 */
export async function decodedSizeOf(part: MimePart, read: ReadRange, lfFile: boolean): Promise<number> {
  const physical = part.bodyEnd - part.bodyStart;
  if (part.encoding.toLowerCase() !== 'base64') return part.bodySize;
  let chars: number;
  if (lfFile) chars = physical - (part.bodySize - physical);
  else chars = part.bodySize - 2 * Math.floor(part.bodySize / 78);
  let padding = 0;
  if (physical > 0) {
    const tail = await read(Math.max(part.bodyStart, part.bodyEnd - 8), part.bodyEnd);
    const text = tail.toString('latin1').replace(/\s+$/, '');
    padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  }
  return Math.max(0, Math.floor((Math.max(0, chars) * 3) / 4) - padding);
}

/** True when the file has bare LF line ends (its CRLF size exceeds its size on disk). */
export function isLfFile(root: MimePart): boolean {
  return root.headerSize + root.bodySize > root.bodyEnd;
}

export async function attachmentEntry(part: MimePart, number: string, read: ReadRange, lfFile: boolean): Promise<ViewerAttachment> {
  const id = part.id ? decodeHeaderValue(Buffer.from(part.id, 'latin1')).trim().replace(/^<|>$/g, '') : undefined;
  return {
    part: number,
    filename: filenameOf(part, number),
    contentType: `${part.type}/${part.subtype}`.toLowerCase(),
    size: await decodedSizeOf(part, read, lfFile),
    encodedSize: part.bodySize,
    inline: part.disposition?.type.toLowerCase() === 'inline',
    ...(id ? { contentId: id } : {}),
  };
}

/**
 * The decoded text of a text part, at most maxChars characters. Reads at most what can produce that
 * many characters (4 bytes per character, plus base64's 4/3), cut at a line end so that neither a
 * base64 quad nor a quoted-printable escape is split.
 */
export async function readTextBody(part: MimePart, number: string, read: ReadRange, maxChars: number): Promise<ViewerTextBody> {
  const length = part.bodyEnd - part.bodyStart;
  const budget = Math.ceil(maxChars * 4 * (4 / 3)) + 4096;
  let rawTruncated = false;
  let raw: Buffer;
  if (length > budget) {
    raw = await read(part.bodyStart, part.bodyStart + budget);
    const lf = raw.lastIndexOf(0x0a);
    if (lf > 0) raw = raw.subarray(0, lf + 1);
    rawTruncated = true;
  } else {
    raw = length > 0 ? await read(part.bodyStart, part.bodyEnd) : Buffer.alloc(0);
  }
  const charset = charsetOf(part);
  let content = decodeText(decodeTransfer(raw, part.encoding), charset);
  let truncated = rawTruncated;
  if (content.length > maxChars) {
    content = content.slice(0, maxChars);
    truncated = true;
  }
  return { content, truncated, part: number, ...(charset ? { charset } : {}) };
}

/** The bytes of a part to save: transfer encoding undone (an attached message is saved as it is stored). */
export async function partBytes(part: MimePart, read: ReadRange): Promise<Buffer> {
  const raw = part.bodyEnd > part.bodyStart ? await read(part.bodyStart, part.bodyEnd) : Buffer.alloc(0);
  return decodeTransfer(raw, part.encoding);
}
