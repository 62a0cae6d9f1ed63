// Content-* header interpretation (RFC 2045, RFC 2183, RFC 3282, RFC 2557) for one MIME part,
// with Dovecot's rules for malformed input, since BODYSTRUCTURE shows the results:
//  - the first Content-Type / -Transfer-Encoding / -ID / -Description / -MD5 / -Language /
//    -Location wins; a later Content-Disposition replaces one that had no parameters;
//  - Content-* fields only count in a MIME part: a child of a multipart, or a message with
//    MIME-Version or a Content-Type field (RFC 2045 4 asks for MIME-Version; real mail often
//    omits it); otherwise the RFC 2045 5.2 defaults apply;
//  - a Content-Type that is not "type/subtype" becomes "" / "" (a lone type is kept);
//  - a transfer encoding that is not a single token is ignored ("7bit").
// Header values are kept as latin1 "binary" strings so 8-bit bytes survive to the response.

import { fieldValue, scanHeader } from './header.js';
import { NUL_REPLACEMENT, nolf } from './quote.js';
import { Rfc822Scanner } from './rfc822.js';
import type { MimeParam, MimePart } from './types.js';

/** Dovecot matches at most this many boundary bytes (RFC 2046 5.1.1 allows 70). */
export const BOUNDARY_MAX = 80;

export interface ContentInfo {
  multipart: boolean;
  digest: boolean;
  /** message/rfc822 (or message/global when enabled): the body is a message. */
  message: boolean;
  /** Boundary parameter of a multipart, truncated to BOUNDARY_MAX bytes. */
  boundary: string | null;
}

function rawString(buf: Buffer): string {
  const s = nolf(buf.toString('latin1'));
  return s.indexOf('\0') >= 0 ? s.replace(/\0/g, NUL_REPLACEMENT) : s;
}

/** Lowercased MimeParams plus the names as sent when any differs in case. */
function toParams(pairs: [string, string][]): { params: MimeParam[]; names?: string[] } {
  let differs = false;
  const params = pairs.map(([name, value]) => {
    const lower = name.toLowerCase();
    if (lower !== name) differs = true;
    return { name: lower, value };
  });
  return differs ? { params, names: pairs.map((p) => p[0]) } : { params };
}

/**
 * RFC 2231 section 3 continuations (name*0, name*1*, ...) joined into one parameter, the way
 * Dovecot presents them: still percent-encoded, named "name*" when any piece is extended.
 * Plain parameters come first in their order, then the joined ones sorted by name.
 */
export function mergeRfc2231(pairs: readonly (readonly [string, string])[]): [string, string][] {
  const plain: [string, string][] = [];
  const pieces: { key: string; idx: number; ext: boolean; value: string }[] = [];
  let idx = 0; // a bare "name*" reuses the previous index, as Dovecot does
  for (const [key, value] of pairs) {
    const star = key.indexOf('*');
    if (star < 0) {
      plain.push([key, value]);
      continue;
    }
    let p = star;
    if (star + 1 < key.length) {
      p = star + 1;
      idx = 0;
      while (p < key.length && key.charCodeAt(p) >= 0x30 && key.charCodeAt(p) <= 0x39) {
        idx = idx * 10 + key.charCodeAt(p) - 0x30;
        p++;
      }
    }
    const ext = key[p] === '*';
    if (ext) p++;
    if (p !== key.length) plain.push([key, value]);
    else pieces.push({ key: key.slice(0, star), idx, ext, value });
  }
  if (pieces.length === 0) return plain;
  pieces.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.idx - b.idx));
  for (let i = 0; i < pieces.length; ) {
    const first = pieces[i];
    const group = first.key.toLowerCase();
    let j = i;
    let ok = true;
    let anyExt = false;
    for (; j < pieces.length && pieces[j].key.toLowerCase() === group; j++) {
      if (pieces[j].idx !== j - i) ok = false;
      if (pieces[j].ext) anyExt = true;
    }
    if (!ok) {
      for (let k = i; k < j; k++) {
        plain.push([pieces[k].key + '*' + pieces[k].idx + (pieces[k].ext ? '*' : ''), pieces[k].value]);
      }
    } else {
      let v = !first.ext && anyExt ? "''" : '';
      for (let k = i; k < j; k++) {
        v += !pieces[k].ext && anyExt ? pieces[k].value.replace(/%/g, '%25') : pieces[k].value;
      }
      plain.push([first.key + (anyExt ? '*' : ''), v]);
    }
    i = j;
  }
  return plain;
}

/** Parameter pairs of a part with their names as sent. */
export function sentParams(params: readonly MimeParam[], names: readonly string[] | undefined): [string, string][] {
  return params.map((p, i) => [names?.[i] ?? p.name, p.value]);
}

function parseContentType(part: MimePart, buf: Buffer, start: number, end: number, info: ContentInfo, global: boolean): void {
  const s = new Rfc822Scanner(buf, start, end);
  s.skipLwsp();
  const r = s.contentType();
  const str = s.out;
  const slash = str.indexOf('/');
  const type = slash < 0 ? str : str.slice(0, slash);
  const subtype = slash < 0 ? '' : str.slice(slash + 1);
  part.type = type.toLowerCase();
  part.subtype = subtype.toLowerCase();
  if (type !== part.type || subtype !== part.subtype) {
    part.asSent = { ...part.asSent, type, subtype };
  }
  const lower = str.toLowerCase();
  info.message = lower === 'message/rfc822' || (global && lower === 'message/global');
  info.multipart = lower.startsWith('multipart/');
  info.digest = lower === 'multipart/digest';
  if (r < 0) return; // broken: parameters are not read
  const { params, names } = toParams(s.params());
  part.params = params;
  if (names) part.asSent = { ...part.asSent, params: names };
  if (info.multipart) {
    for (const [k, v] of mergeRfc2231(sentParams(params, names))) {
      if (k.toLowerCase() === 'boundary') {
        info.boundary = v.length > BOUNDARY_MAX ? v.slice(0, BOUNDARY_MAX) : v;
        break;
      }
    }
  }
}

function parseEncoding(buf: Buffer, start: number, end: number): string | null {
  const s = new Rfc822Scanner(buf, start, end);
  s.skipLwsp();
  if (s.token() >= 0 && s.skipLwsp() === 0 && s.out.length > 0) return s.out;
  return null;
}

function parseDisposition(part: MimePart, buf: Buffer, start: number, end: number): void {
  const s = new Rfc822Scanner(buf, start, end);
  s.skipLwsp();
  if (s.token() < 0) return;
  const type = s.out;
  const { params, names } = toParams(s.params());
  part.disposition = { type, params };
  if (part.asSent?.dispositionParams) delete part.asSent.dispositionParams;
  if (names) part.asSent = { ...part.asSent, dispositionParams: names };
}

function parseLanguage(buf: Buffer, start: number, end: number): string[] | undefined {
  const s = new Rfc822Scanner(buf, start, end);
  const langs: string[] = [];
  s.skipLwsp();
  for (;;) {
    s.out = '';
    if (s.atom() < 0) break;
    langs.push(s.out);
    if (s.pos >= s.end || buf[s.pos] !== 0x2c) break;
    s.pos++;
    s.skipLwsp();
  }
  return langs.length > 0 ? langs : undefined;
}

interface ContentField {
  /** Lowercased name after "Content-". */
  what: string;
  value: Buffer;
}

/** The Content-* fields of a header, and whether it makes the part MIME (RFC 2045 4). */
function collectContentFields(header: Buffer, parentMultipart: boolean): { fields: ContentField[]; mime: boolean; typed: boolean } {
  const fields: ContentField[] = [];
  let mime = parentMultipart;
  let typed = false;
  for (const f of scanHeader(header).fields) {
    if (!f.colon || f.nameEnd - f.start < 10) continue;
    const name = header.toString('latin1', f.start, f.nameEnd).toLowerCase();
    if (name === 'mime-version') {
      mime = true;
    } else if (name.startsWith('content-')) {
      const what = name.slice(8);
      if (what === 'type') typed = true;
      fields.push({ what, value: fieldValue(header, f) });
    }
  }
  return { fields, mime: mime || typed, typed };
}

/** Applies one Content-* field; false when its value was unusable (a later field may fill it). */
function applyField(part: MimePart, f: ContentField, info: ContentInfo, messageGlobal: boolean): boolean {
  const v = f.value;
  switch (f.what) {
    case 'type':
      parseContentType(part, v, 0, v.length, info, messageGlobal);
      return true;
    case 'transfer-encoding': {
      const enc = parseEncoding(v, 0, v.length);
      if (enc !== null) part.encoding = enc;
      return enc !== null;
    }
    case 'id':
      part.id = rawString(v);
      return true;
    case 'description':
      part.description = rawString(v);
      return true;
    case 'md5':
      part.md5 = rawString(v);
      return true;
    case 'location':
      part.location = rawString(v);
      return true;
    case 'language': {
      const langs = parseLanguage(v, 0, v.length);
      if (langs) part.language = langs;
      return langs !== undefined;
    }
    default:
      return true;
  }
}

/**
 * Fills type, params, encoding and the optional Content-* fields of `part` from its header
 * (which may hold just the relevant fields) and says what kind of body follows.
 */
export function applyContentHeaders(
  part: MimePart,
  header: Buffer,
  parentMultipart: boolean,
  parentDigest: boolean,
  messageGlobal = false,
): ContentInfo {
  const info: ContentInfo = { multipart: false, digest: false, message: false, boundary: null };
  const { fields, mime, typed } = collectContentFields(header, parentMultipart);
  part.params = [];
  part.encoding = '7bit';
  if (!mime || !typed) {
    // RFC 2045 5.2 defaults; RFC 2046 5.1.5 for digest children
    part.defaulted = true;
    info.message = parentDigest;
    part.type = parentDigest ? 'message' : 'text';
    part.subtype = parentDigest ? 'rfc822' : 'plain';
  }
  if (!mime) return info;
  const done = new Set<string>();
  for (const f of fields) {
    if (f.what === 'disposition') {
      if (!part.disposition || part.disposition.params.length === 0) parseDisposition(part, f.value, 0, f.value.length);
    } else if (!done.has(f.what) && applyField(part, f, info, messageGlobal)) {
      done.add(f.what);
    }
  }
  return info;
}
