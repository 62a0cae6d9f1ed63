// Line-ending conversion between the maildir file (LF, CRLF or mixed) and IMAP (CRLF).
//
// A "virtual" size counts every LF not preceded by CR as two bytes, which is how Dovecot
// reports RFC822.SIZE and BODYSTRUCTURE octets; a lone CR is left alone and counts one.

/** Buffers up to this size are converted through a latin1 string (see toCrlf). */
const STRING_PATH_MAX = 1 << 20;

/**
 * The IMAP form of a whole message or section - bare LF as CRLF, NUL as 0x80 - as a latin1
 * string ready to follow a literal's {n} (n = its length).
 */
export function imapText(buf: Buffer): string {
  let s = buf.toString('latin1');
  if (buf.indexOf(0x0a) >= 0) s = buf.indexOf(0x0d) < 0 ? s.replaceAll('\n', '\r\n') : s.replace(/(?<!\r)\n/g, '\r\n');
  if (buf.indexOf(0) >= 0) s = s.replaceAll('\0', '\x80');
  return s;
}

/** Number of LF bytes not preceded by CR; `prevCr` says whether the byte before buf was CR. */
export function bareLfCount(buf: Buffer, prevCr = false): number {
  let n = 0;
  let i = buf.indexOf(0x0a);
  while (i >= 0) {
    if (i === 0 ? !prevCr : buf[i - 1] !== 0x0d) n++;
    i = buf.indexOf(0x0a, i + 1);
  }
  return n;
}

/** Size of buf once bare LFs are sent as CRLF. */
export function crlfSize(buf: Buffer): number {
  return buf.length + bareLfCount(buf);
}

/** Converts bare LF to CRLF; returns buf itself when nothing changes. */
export function toCrlf(buf: Buffer, prevCr = false): Buffer {
  if (buf.length <= STRING_PATH_MAX && buf.indexOf(0x0d) < 0) {
    // LF-only data (what Postfix writes): V8's native string replace beats a copy per line.
    if (buf.indexOf(0x0a) < 0) return buf;
    if (prevCr && buf[0] === 0x0a) return Buffer.concat([buf.subarray(0, 1), toCrlf(buf.subarray(1))]);
    return Buffer.from(buf.toString('latin1').replaceAll('\n', '\r\n'), 'latin1');
  }
  const extra = bareLfCount(buf, prevCr);
  if (extra === 0) return buf;
  const out = Buffer.allocUnsafe(buf.length + extra);
  let o = 0;
  let from = 0;
  let i = buf.indexOf(0x0a);
  while (i >= 0) {
    if (i === 0 ? !prevCr : buf[i - 1] !== 0x0d) {
      o += buf.copy(out, o, from, i);
      out[o++] = 0x0d;
      from = i;
    }
    i = buf.indexOf(0x0a, i + 1);
  }
  buf.copy(out, o, from);
  return out;
}

/** IMAP literals must not carry NUL (RFC 3501 4.3): Dovecot sends 0x80 instead. */
export function nulsTo80(buf: Buffer): Buffer {
  let i = buf.indexOf(0);
  if (i < 0) return buf;
  const out = Buffer.from(buf);
  while (i >= 0) {
    out[i] = 0x80;
    i = out.indexOf(0, i + 1);
  }
  return out;
}
