// IMAP string rendering for ENVELOPE and BODYSTRUCTURE, byte-compatible with Dovecot 2.3.
//
// All values here are latin1 "binary strings" (one char = one byte), the form IMAP
// responses are assembled in (see imap/format.ts). Dovecot differs from the generic
// helpers in format.ts in three observable ways, which clients caching BODYSTRUCTURE
// may compare byte for byte:
//  - a quoted string may carry at most four escaped characters (" or \); one more and
//    the value is sent as a literal;
//  - there is no length limit for quoted strings;
//  - human-readable text (subject, display names) is whitespace-normalized, and any
//    value that needed changing, or holds '"', '\' or 8-bit bytes, goes out as a literal.

/** Dovecot's replacement for NUL bytes in header values: U+FFFD as UTF-8, in latin1 form. */
export const NUL_REPLACEMENT = '\xef\xbf\xbd';

/** A literal: {n} CRLF bytes (RFC 3501 4.3). */
export function literal(s: string): string {
  return '{' + s.length + '}\r\n' + s;
}

/** nstring (RFC 3501 4.5): NIL, quoted with up to four escapes, else a literal. */
export function nstr(s: string | null | undefined): string {
  if (s === null || s === undefined) return 'NIL';
  let escapes = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22 || c === 0x5c) {
      if (++escapes > 4) return literal(s);
    } else if (c === 0x0d || c === 0x0a || c >= 0x80 || c === 0) {
      return literal(s.indexOf('\0') >= 0 ? s.replace(/\0/g, NUL_REPLACEMENT) : s);
    }
  }
  return escapes === 0 ? '"' + s + '"' : '"' + s.replace(/["\\]/g, '\\$&') + '"';
}

/**
 * Header unfolding as Dovecot does it: CR and LF are removed, and a line break followed by
 * anything but a blank (a lone CR in the text) becomes one space.
 */
export function nolf(s: string): string {
  if (s.indexOf('\n') < 0 && s.indexOf('\r') < 0) return s;
  let out = '';
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 0x0a && c !== 0x0d) continue;
    out += s.slice(start, i);
    start = i + 1;
    const n = i + 1 < s.length ? s.charCodeAt(i + 1) : 0x20;
    if (n !== 0x20 && n !== 0x09 && n !== 0x0a && n !== 0x0d) out += ' ';
  }
  return out + s.slice(start);
}

function isLwsp(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a;
}

/** True when human text must be normalized or sent as a literal (Dovecot's "modify" test). */
function humanNeedsLiteral(s: string): boolean {
  let prevSpace = true; // a leading space counts as removable
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x20) {
      if (prevSpace) return true;
      prevSpace = true;
    } else if (c === 0x09 || c === 0x0d || c === 0x0a || c === 0x22 || c === 0x5c || c >= 0x80 || c === 0) {
      return true;
    } else {
      prevSpace = false;
    }
  }
  return prevSpace; // trailing space
}

/**
 * Text meant for humans (subject, display names): runs of whitespace become one space,
 * leading/trailing whitespace is dropped; changed values and values with '"', '\' or
 * 8-bit bytes are sent as literals, as Dovecot's imap_append_string_for_humans does.
 */
export function humanStr(s: string): string {
  if (s.length === 0) return '""';
  if (!humanNeedsLiteral(s)) return '"' + s + '"';
  let out = '';
  let pendingSpace = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (isLwsp(c)) {
      pendingSpace = out.length > 0;
      continue;
    }
    if (pendingSpace) out += ' ';
    pendingSpace = false;
    out += c === 0 ? NUL_REPLACEMENT : s[i];
  }
  return out.length === 0 ? '""' : literal(out);
}
