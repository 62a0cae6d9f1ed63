// Character classes of the RFC 3501 formal syntax (section 9), named as in the grammar.

/** atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards / quoted-specials / resp-specials */
export function isAtomSpecial(c: number): boolean {
  return (
    c <= 0x20 || // SP and CTL
    c === 0x7f ||
    c === 0x28 || // (
    c === 0x29 || // )
    c === 0x7b || // {
    c === 0x25 || // % list-wildcard
    c === 0x2a || // * list-wildcard
    c === 0x22 || // " quoted-special
    c === 0x5c || // \ quoted-special
    c === 0x5d // ] resp-special
  );
}

/** ATOM-CHAR = <any CHAR except atom-specials> (CHAR is 7-bit). */
export function isAtomChar(c: number): boolean {
  return c < 0x80 && !isAtomSpecial(c);
}

/** tag = 1*<any ASTRING-CHAR except "+"> */
export const TAG_RE = /^[\x21\x23\x24\x26\x27\x2c-\x5b\x5d-\x7a\x7c-\x7e]+$/;

/** nz-number / number: at most 2^32-1 (number32 in RFC 9051). */
export const MAX_NUMBER = 0xffffffff;
