// Modified UTF-7 for IMAP mailbox names (RFC 3501 section 5.1.3).
//
// Maildir++ folder directories and the `subscriptions` file carry names in this form, exactly
// as Dovecot writes them: printable US-ASCII (0x20-0x7e) stands for itself except '&', which
// is written "&-"; every other run of characters becomes '&' + modified BASE64 of its UTF-16BE
// code units (',' instead of '/', no '=' padding) + '-'.

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,';
const B64_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < B64.length; i++) B64_VALUE[B64.charCodeAt(i)] = i;

function isDirect(code: number): boolean {
  return code >= 0x20 && code <= 0x7e;
}

/** UTF-8 (JavaScript string) to modified UTF-7. Lone surrogates are encoded as they are. */
export function encodeMutf7(name: string): string {
  let out = '';
  let i = 0;
  while (i < name.length) {
    const code = name.charCodeAt(i);
    if (code === 0x26) {
      out += '&-';
      i++;
      continue;
    }
    if (isDirect(code)) {
      out += name[i];
      i++;
      continue;
    }
    // Collect the whole run of non-direct characters into one shift sequence.
    let bits = 0;
    let nbits = 0;
    out += '&';
    while (i < name.length && !isDirect(name.charCodeAt(i))) {
      bits = (bits << 16) | name.charCodeAt(i);
      nbits += 16;
      while (nbits >= 6) {
        nbits -= 6;
        out += B64[(bits >> nbits) & 0x3f];
      }
      bits &= (1 << nbits) - 1;
      i++;
    }
    if (nbits > 0) out += B64[(bits << (6 - nbits)) & 0x3f];
    out += '-';
  }
  return out;
}

/**
 * Modified UTF-7 to UTF-8. Throws on anything RFC 3501 does not allow: bytes outside
 * 0x20-0x7e, an unterminated or malformed shift, non-zero padding bits, a half UTF-16 unit,
 * broken surrogate pairs, or printable ASCII hidden inside BASE64.
 */
export function decodeMutf7(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const code = text.charCodeAt(i);
    if (!isDirect(code)) throw new Error(`invalid modified UTF-7: character 0x${code.toString(16)} at ${i}`);
    if (code !== 0x26) {
      out += text[i];
      i++;
      continue;
    }
    i++;
    if (text[i] === '-') {
      out += '&';
      i++;
      continue;
    }
    let bits = 0;
    let nbits = 0;
    let units = 0;
    let pendingHigh = -1;
    while (i < text.length && text[i] !== '-') {
      const c = text.charCodeAt(i);
      const v = c < 128 ? B64_VALUE[c] : -1;
      if (v < 0) throw new Error(`invalid modified UTF-7: bad BASE64 character at ${i}`);
      bits = (bits << 6) | v;
      nbits += 6;
      if (nbits >= 16) {
        nbits -= 16;
        const unit = (bits >> nbits) & 0xffff;
        bits &= (1 << nbits) - 1;
        units++;
        if (pendingHigh >= 0) {
          if (unit < 0xdc00 || unit > 0xdfff) throw new Error('invalid modified UTF-7: unpaired high surrogate');
          out += String.fromCharCode(pendingHigh, unit);
          pendingHigh = -1;
        } else if (unit >= 0xd800 && unit <= 0xdbff) {
          pendingHigh = unit;
        } else if (unit >= 0xdc00 && unit <= 0xdfff) {
          throw new Error('invalid modified UTF-7: unpaired low surrogate');
        } else if (isDirect(unit)) {
          throw new Error('invalid modified UTF-7: printable ASCII encoded in BASE64');
        } else {
          out += String.fromCharCode(unit);
        }
      }
      i++;
    }
    if (i >= text.length) throw new Error('invalid modified UTF-7: unterminated shift sequence');
    if (units === 0) throw new Error('invalid modified UTF-7: empty shift sequence');
    if (pendingHigh >= 0) throw new Error('invalid modified UTF-7: unpaired high surrogate');
    // Leftover bits are padding: fewer than 6 of them (a full sextet would be a partial unit), all zero.
    if (nbits >= 6 || bits !== 0) throw new Error('invalid modified UTF-7: bad BASE64 padding');
    i++; // the '-'
  }
  return out;
}
