// Rendering of IMAP data items (RFC 3501 section 4): NIL, quoted strings, literals, lists.
// Values that cannot travel in a quoted string (CR, LF, NUL, 8-bit bytes, or long) become
// literals, as Dovecot does.

const QUOTED_MAX = 1024;

/** True when every byte may appear inside a quoted string: TEXT-CHAR without CR/LF, 7-bit. */
function quotable(buf: Buffer): boolean {
  if (buf.length > QUOTED_MAX) return false;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i];
    if (c === 0 || c === 0x0d || c === 0x0a || c >= 0x80) return false;
  }
  return true;
}

/** An IMAP nstring: NIL for null/undefined, else a quoted string or a literal. */
export function nstring(value: string | Buffer | null | undefined): string {
  if (value === null || value === undefined) return 'NIL';
  return istring(value);
}

/** An IMAP string (quoted or literal). Strings are taken as UTF-8 (or already-binary latin1 via Buffer). */
export function istring(value: string | Buffer): string {
  const buf = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  if (quotable(buf)) {
    return '"' + buf.toString('latin1').replace(/[\\"]/g, (c) => '\\' + c) + '"';
  }
  // The response is assembled as a latin1 string so arbitrary bytes survive; see Response.
  return '{' + buf.length + '}\r\n' + buf.toString('latin1');
}

/** An astring: atom when it is a plain atom, else a string. Used for mailbox names and flags. */
export function astring(value: string): string {
  if (value.length > 0 && /^[\x21\x23-\x27\x2b-\x5b\x5d-\x7a\x7c\x7e]+$/.test(value) && value.toUpperCase() !== 'NIL') {
    return value;
  }
  return istring(value);
}

/** A parenthesized list of already-rendered items. */
export function list(items: readonly string[]): string {
  return '(' + items.join(' ') + ')';
}

/** RFC 3501 date-time for INTERNALDATE: "17-Jul-1996 02:44:25 -0700", in the server's local zone like Dovecot. */
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
export function imapDateTime(ms: number): string {
  const d = new Date(ms);
  const offsetMin = -d.getTimezoneOffset();
  const sign = offsetMin >= 0 ? '+' : '-';
  const abs = Math.abs(offsetMin);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return (
    '"' +
    pad(d.getDate()) +
    '-' +
    MONTHS[d.getMonth()] +
    '-' +
    d.getFullYear() +
    ' ' +
    pad(d.getHours()) +
    ':' +
    pad(d.getMinutes()) +
    ':' +
    pad(d.getSeconds()) +
    ' ' +
    sign +
    pad(Math.floor(abs / 60)) +
    pad(abs % 60) +
    '"'
  );
}
