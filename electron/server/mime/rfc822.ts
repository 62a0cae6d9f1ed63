// Lexical scanner for structured header values (RFC 5322 section 3.2, RFC 2045 section 5.1).
//
// It follows the lenient rules Dovecot's lib-mail applies, because what the scanner accepts
// decides the ENVELOPE and BODYSTRUCTURE strings clients see:
//  - 8-bit bytes count as atext, so raw UTF-8 names parse as atoms;
//  - CFWS (spaces, tabs, CR, LF and nested comments) may appear between any tokens,
//    and the text of the last comment skipped is remembered (used as a display name);
//  - inside quoted strings and comments a line break is folding and is removed, while
//    the whitespace that follows it stays.
// Every scan is a single forward pass over the bytes: no backtracking beyond explicit
// position resets by the caller. Output is collected into `out` as a latin1 string.

import { NUL_REPLACEMENT } from './quote.js';

// 1 = atext, 2 = atext (letters, digits, 8-bit), 4 = atext but a MIME tspecial ('/', '=', '?').
const ATEXT = new Uint8Array(256);
for (let c = 0x30; c <= 0x39; c++) ATEXT[c] = 2;
for (let c = 0x41; c <= 0x5a; c++) ATEXT[c] = 2;
for (let c = 0x61; c <= 0x7a; c++) ATEXT[c] = 2;
for (let c = 0x80; c <= 0xff; c++) ATEXT[c] = 2;
for (const ch of "!#$%&'*+-^_`{|}~") ATEXT[ch.charCodeAt(0)] = 1;
for (const ch of '/=?') ATEXT[ch.charCodeAt(0)] = 4;

export function isAtext(c: number): boolean {
  return ATEXT[c] !== 0;
}

/** MIME token characters (RFC 2045 5.1): atext without tspecials, plus '.'. */
function isTokenChar(c: number): boolean {
  return (ATEXT[c] & 3) !== 0 || c === 0x2e;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const LF = 0x0a;
const CR = 0x0d;

export class Rfc822Scanner {
  pos: number;
  readonly end: number;
  /** Output accumulator of the parse functions (latin1). */
  out = '';
  /** Text of the most recently skipped comment, when tracking is enabled. */
  comment = '';

  constructor(
    readonly d: Buffer,
    start = 0,
    end = d.length,
    private readonly trackComments = false,
    private readonly replaceNuls = false,
  ) {
    this.pos = start;
    this.end = end;
  }

  private seg(a: number, b: number): string {
    return b > a ? this.d.toString('latin1', a, b) : '';
  }

  /** Returns 1 when data remains, 0 at the end, -1 on an unterminated comment. */
  skipLwsp(): number {
    const d = this.d;
    while (this.pos < this.end) {
      const c = d[this.pos];
      if (c === 0x20 || c === 0x09 || c === CR || c === LF) {
        this.pos++;
      } else if (c === 0x28) {
        if (this.skipComment() < 0) return -1;
      } else {
        break;
      }
    }
    return this.pos < this.end ? 1 : 0;
  }

  /**
   * Skips a (possibly nested) comment starting at '(' (RFC 5322 3.2.2). Its text is collected
   * as it goes, so an unterminated comment still leaves what preceded its last line break.
   */
  private skipComment(): number {
    const d = this.d;
    const track = this.trackComments;
    let level = 1;
    let start = ++this.pos;
    if (track) this.comment = '';
    for (; this.pos < this.end; this.pos++) {
      const c = d[this.pos];
      if (c === 0x28) {
        level++;
      } else if (c === 0x29) {
        if (--level === 0) {
          if (track) this.comment += this.seg(start, this.pos);
          this.pos++;
          return this.pos < this.end ? 1 : 0;
        }
      } else if (c === LF) {
        if (track) this.comment += this.seg(start, this.pos > start && d[this.pos - 1] === CR ? this.pos - 1 : this.pos);
        start = this.pos + 1;
      } else if (c === 0 && this.replaceNuls) {
        if (track) this.comment += this.seg(start, this.pos) + NUL_REPLACEMENT;
        start = this.pos + 1;
      } else if (c === BACKSLASH) {
        this.pos++;
        if (this.pos >= this.end) return -1;
        const n = d[this.pos];
        if (n === CR || n === LF || n === 0) {
          this.pos--; // keep the backslash, let the loop see the line break
        } else {
          if (track) this.comment += this.seg(start, this.pos - 1);
          start = this.pos;
        }
      }
    }
    return -1;
  }

  /** atom = 1*atext; returns -1 when none is here. */
  atom(): number {
    const d = this.d;
    if (this.pos >= this.end || !isAtext(d[this.pos])) return -1;
    const start = this.pos++;
    while (this.pos < this.end && isAtext(d[this.pos])) this.pos++;
    this.out += this.seg(start, this.pos);
    return this.pos < this.end ? this.skipLwsp() : 0;
  }

  /** dot-atom with CFWS allowed around the dots (RFC 822 compatibility). */
  dotAtom(): number {
    const d = this.d;
    if (this.pos >= this.end || !isAtext(d[this.pos])) return -1;
    let start = this.pos++;
    while (this.pos < this.end) {
      if (isAtext(d[this.pos])) {
        this.pos++;
        continue;
      }
      if (start === this.pos) return -1;
      this.out += this.seg(start, this.pos);
      const r = this.skipLwsp();
      if (r <= 0) return r;
      if (d[this.pos] !== 0x2e) return 1;
      this.pos++;
      this.out += '.';
      if (this.skipLwsp() <= 0) return -1;
      start = this.pos;
    }
    this.out += this.seg(start, this.pos);
    return 0;
  }

  /** Local part accepting leading, doubled and trailing dots, as found in real mail. */
  looseDotAtom(): number {
    const d = this.d;
    const end = this.end;
    let ret = -1;
    do {
      while (this.pos < end && d[this.pos] === 0x2e) {
        this.out += '.';
        this.pos++;
        if (this.pos >= end) return 0;
        ret = 1;
      }
      if (this.pos < end && d[this.pos] === 0x40) break;
      ret = this.atom();
    } while (ret > 0 && d[this.pos] === 0x2e);
    return ret;
  }

  /** MIME token (possibly empty), then CFWS. */
  token(): number {
    const d = this.d;
    const start = this.pos;
    while (this.pos < this.end && isTokenChar(d[this.pos])) this.pos++;
    this.out += this.seg(start, this.pos);
    return this.pos < this.end ? this.skipLwsp() : 0;
  }

  /** quoted-string at '"' (RFC 5322 3.2.4): unescapes quoted-pairs, removes folding line breaks. */
  quoted(): number {
    const d = this.d;
    let start = ++this.pos;
    for (; this.pos < this.end; this.pos++) {
      const c = d[this.pos];
      if (c === QUOTE) {
        this.out += this.seg(start, this.pos);
        this.pos++;
        return this.skipLwsp();
      } else if (c === LF) {
        this.out += this.seg(start, this.pos > start && d[this.pos - 1] === CR ? this.pos - 1 : this.pos);
        start = this.pos + 1;
      } else if (c === 0 && this.replaceNuls) {
        this.out += this.seg(start, this.pos) + NUL_REPLACEMENT;
        start = this.pos + 1;
      } else if (c === BACKSLASH) {
        this.pos++;
        if (this.pos >= this.end) return -1;
        const n = d[this.pos];
        if (n === CR || n === LF || n === 0) {
          this.pos--;
        } else {
          this.out += this.seg(start, this.pos - 1);
          start = this.pos;
        }
      }
    }
    return -1;
  }

  /** Atoms and dots of an obs-phrase, whitespace left as the separator decides. */
  private atomOrDot(): number {
    const d = this.d;
    const start = this.pos;
    while (this.pos < this.end && (isAtext(d[this.pos]) || d[this.pos] === 0x2e)) this.pos++;
    this.out += this.seg(start, this.pos);
    return this.pos < this.end ? this.skipLwsp() : 0;
  }

  /** phrase = 1*word / obs-phrase (RFC 5322 3.2.5); words are joined with single spaces. */
  phrase(): number {
    const d = this.d;
    if (this.pos >= this.end) return 0;
    if (d[this.pos] === 0x2e) return -1;
    for (;;) {
      const r = d[this.pos] === QUOTE ? this.quoted() : this.atomOrDot();
      if (r <= 0) return r;
      const c = d[this.pos];
      if (!isAtext(c) && c !== QUOTE && c !== 0x2e) break;
      this.out += ' ';
    }
    return this.skipLwsp();
  }

  /** domain-literal at '[' (RFC 5322 3.4.1), kept with its brackets and escapes. */
  private domainLiteral(): number {
    const d = this.d;
    let start = this.pos++;
    for (; this.pos < this.end; this.pos++) {
      const c = d[this.pos];
      if (c === 0x5b) return -1;
      if (c === 0x5d) {
        this.out += this.seg(start, this.pos + 1);
        this.pos++;
        return this.skipLwsp();
      }
      if (c === LF) {
        this.out += this.seg(start, this.pos > start && d[this.pos - 1] === CR ? this.pos - 1 : this.pos);
        start = this.pos + 1;
      } else if (c === 0 && this.replaceNuls) {
        this.out += this.seg(start, this.pos) + NUL_REPLACEMENT;
        start = this.pos + 1;
      } else if (c === BACKSLASH) {
        this.pos++;
        if (this.pos >= this.end) return -1;
        const n = d[this.pos];
        if (n === CR || n === LF || n === 0) {
          this.out += this.seg(start, this.pos);
          start = this.pos;
          this.pos--;
        }
      }
    }
    return -1;
  }

  /** domain at '@': dot-atom or domain-literal. */
  domain(): number {
    this.pos++;
    if (this.skipLwsp() <= 0) return -1;
    return this.d[this.pos] === 0x5b ? this.domainLiteral() : this.dotAtom();
  }

  /**
   * type "/" subtype (RFC 2045 5.1) into `out`. A value that is not exactly that, optionally
   * followed by ";", leaves `out` empty, except a lone type token, which is kept.
   */
  contentType(): number {
    const start = this.out.length;
    if (this.skipLwsp() <= 0) return -1;
    if (this.token() <= 0 || this.out.length === start) return -1;
    const fail = (): number => {
      this.out = this.out.slice(0, start);
      return -1;
    };
    if (this.d[this.pos] !== 0x2f) return fail();
    this.pos++;
    if (this.skipLwsp() <= 0) return fail();
    this.out += '/';
    const sub = this.out.length;
    const r = this.token();
    if (r < 0 || this.out.length === sub || (this.pos < this.end && this.d[this.pos] !== 0x3b)) return fail();
    return r;
  }

  /** One `; attribute = value` (RFC 2045 5.1): 1 with key/value, 0 at the end, -1 when broken. */
  private param(kv: { key: string; value: string }): number {
    const d = this.d;
    if (this.pos >= this.end) return 0;
    if (d[this.pos] !== 0x3b) return -1;
    this.pos++;
    if (this.skipLwsp() <= 0) return -1;
    this.out = '';
    if (this.token() <= 0) return -1;
    const key = this.out;
    if (d[this.pos] !== 0x3d) return -1;
    this.pos++;
    this.out = '';
    let r = this.skipLwsp();
    if (r <= 0) {
      // "name=" without a value: kept with an empty value
    } else if (d[this.pos] === QUOTE) {
      r = this.quoted();
    } else if (d[this.pos] === 0x3d) {
      // unquoted encoded word (name==?utf-8?q?...?=), taken up to the next separator
      const start = this.pos;
      while (this.pos < this.end) {
        const c = d[this.pos];
        if (c === 0x3b || c === 0x20 || c === 0x09 || c === CR || c === LF) break;
        this.pos++;
      }
      this.out += this.seg(start, this.pos);
    } else {
      r = this.token();
    }
    kv.key = key;
    kv.value = this.out;
    return r < 0 ? -1 : 1;
  }

  /** All parameters; a broken one makes the scan resume one byte later, as Dovecot does. */
  params(): [string, string][] {
    const out: [string, string][] = [];
    const kv = { key: '', value: '' };
    for (;;) {
      const r = this.param(kv);
      if (r === 0) break;
      if (r < 0) {
        if (this.pos >= this.end) break;
        this.pos++;
        continue;
      }
      out.push([kv.key, kv.value]);
    }
    return out;
  }
}
