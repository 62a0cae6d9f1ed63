// Turns one framed command (see framer.ts) into a tag, a command name and a token tree.
// IMAP arguments are not uniformly tokenizable: fetch attributes like
// `BODY.PEEK[HEADER.FIELDS (From To)]<0.100>` carry a bracketed section and a partial
// range, so atoms named BODY/BINARY... take their `[...]<...>` along. Everything else is
// atoms, quoted strings, literals and parenthesized lists; each command then reads its
// arguments from the tokens with ArgReader (args.ts), which knows the command's grammar.

import { isAtomChar, TAG_RE } from './grammar.js';
import type { ImapLimits } from './limits.js';

export type Token =
  | { type: 'atom'; value: string; section?: Token[]; partial?: [number, number] }
  | { type: 'string'; value: Buffer; literal: boolean }
  | { type: 'list'; items: Token[] };

export interface ParsedCommand {
  tag: string;
  /** Uppercased command name; 'UID FETCH' etc. for UID commands. */
  name: string;
  args: Token[];
}

/** A syntax error: answered `<tag> BAD <message>`. */
export class ImapSyntaxError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'ImapSyntaxError';
  }
}

const SECTION_ATOMS = new Set(['BODY', 'BODY.PEEK', 'BINARY', 'BINARY.PEEK', 'BINARY.SIZE']);

/**
 * What each byte means inside an atom: 0 part of it, 1 ends it, 2 '[' (a section may follow),
 * 3 8-bit (an error). Liberal on purpose: flags start with '\\', list patterns carry '%' and
 * '*', sequence sets carry '*', and astrings may carry ']'. Commands validate further.
 */
const ATOM_BYTE = (() => {
  const t = new Uint8Array(256);
  for (let c = 0; c < 256; c++) {
    if (c >= 0x80) t[c] = 3;
    else if (c === 0x5b) t[c] = 2;
    else if (c === 0x20 || c === 0x28 || c === 0x29 || c === 0x22 || c === 0x7b || c < 0x20 || c === 0x7f) t[c] = 1;
  }
  return t;
})();

/** Tag of a command buffer or null when the line does not start with a valid tag. */
export function parseTag(data: Buffer): string | null {
  const sp = data.indexOf(0x20);
  if (sp <= 0) return null;
  const tag = data.toString('latin1', 0, sp);
  return TAG_RE.test(tag) ? tag : null;
}

export function parseCommand(data: Buffer, limits: ImapLimits): ParsedCommand {
  const p = new Tokenizer(data, limits);
  return p.command();
}

class Tokenizer {
  private pos = 0;
  private tokens = 0;
  private readonly end: number;

  constructor(
    private readonly data: Buffer,
    private readonly limits: ImapLimits,
  ) {
    // Drop the final line ending; a bare LF is tolerated like Dovecot does.
    let end = data.length;
    if (end > 0 && data[end - 1] === 0x0a) end--;
    if (end > 0 && data[end - 1] === 0x0d) end--;
    this.end = end;
  }

  command(): ParsedCommand {
    const tag = this.word();
    if (!tag || !TAG_RE.test(tag)) throw new ImapSyntaxError('Error in IMAP command received by server.');
    if (!this.space()) throw new ImapSyntaxError('Error in IMAP command received by server.');
    let name = this.word().toUpperCase();
    if (!name) throw new ImapSyntaxError('Error in IMAP command received by server.');
    if (name === 'UID' && this.peek() === 0x20) {
      this.pos++;
      const sub = this.word().toUpperCase();
      if (!sub) throw new ImapSyntaxError('Missing UID subcommand');
      name = 'UID ' + sub;
    }
    const args: Token[] = [];
    while (this.pos < this.end) {
      if (!this.space()) throw new ImapSyntaxError('Expected space between arguments');
      // Trailing space after the last argument: lenient like Dovecot.
      if (this.pos >= this.end) break;
      args.push(this.token(0));
    }
    return { tag, name, args };
  }

  private peek(): number {
    return this.pos < this.end ? this.data[this.pos] : -1;
  }

  private space(): boolean {
    if (this.data[this.pos] !== 0x20) return false;
    this.pos++;
    return true;
  }

  /** A run of non-space, non-paren bytes (tag and command name). */
  private word(): string {
    const data = this.data;
    const end = this.end;
    const start = this.pos;
    let pos = start;
    while (pos < end) {
      const c = data[pos];
      if (c === 0x20 || c === 0x28 || c === 0x29) break;
      pos++;
    }
    this.pos = pos;
    return data.toString('latin1', start, pos);
  }

  private count(): void {
    if (++this.tokens > this.limits.maxTokens) throw new ImapSyntaxError('Too many arguments', 'LIMIT');
  }

  private token(depth: number): Token {
    this.count();
    const c = this.peek();
    if (c === 0x28 /* ( */) return this.list(depth + 1);
    if (c === 0x22 /* " */) return this.quoted();
    if (c === 0x7b /* { */) return this.literal();
    if (c === 0x7e /* ~ */ && this.data[this.pos + 1] === 0x7b) {
      this.pos++; // literal8 (RFC 3516): same framing, binary content allowed
      return this.literal();
    }
    return this.atom(depth);
  }

  private list(depth: number): Token {
    if (depth > this.limits.maxNestingDepth) throw new ImapSyntaxError('Too deep nesting of parentheses', 'LIMIT');
    this.pos++; // (
    const items: Token[] = [];
    for (;;) {
      if (this.pos >= this.end) throw new ImapSyntaxError("Missing ')'");
      if (this.peek() === 0x29) {
        this.pos++;
        return { type: 'list', items };
      }
      if (items.length > 0 && !this.space()) throw new ImapSyntaxError("Expected space or ')' in list");
      if (this.peek() === 0x29) {
        // "(a )": tolerated
        this.pos++;
        return { type: 'list', items };
      }
      items.push(this.token(depth));
    }
  }

  private quoted(): Token {
    this.pos++; // opening quote
    let start = this.pos;
    const chunks: Buffer[] = [];
    for (;;) {
      if (this.pos >= this.end) throw new ImapSyntaxError('Missing closing quote');
      const c = this.data[this.pos];
      if (c === 0x22) {
        chunks.push(this.data.subarray(start, this.pos));
        this.pos++;
        break;
      }
      if (c === 0x0d || c === 0x0a || c === 0) throw new ImapSyntaxError('Invalid character in quoted string');
      if (c === 0x5c) {
        const next = this.data[this.pos + 1];
        if (next !== 0x22 && next !== 0x5c) throw new ImapSyntaxError('Invalid escape in quoted string');
        chunks.push(this.data.subarray(start, this.pos));
        chunks.push(this.data.subarray(this.pos + 1, this.pos + 2));
        this.pos += 2;
        start = this.pos;
        continue;
      }
      this.pos++;
    }
    return { type: 'string', value: Buffer.from(Buffer.concat(chunks)), literal: false };
  }

  private literal(): Token {
    const close = this.data.indexOf(0x7d, this.pos);
    if (close < 0 || close > this.end) throw new ImapSyntaxError('Invalid literal');
    let digits = this.data.toString('latin1', this.pos + 1, close);
    if (digits.endsWith('+')) digits = digits.slice(0, -1);
    if (!/^\d{1,10}$/.test(digits)) throw new ImapSyntaxError('Invalid literal size');
    const size = Number(digits);
    let p = close + 1;
    if (this.data[p] === 0x0d) p++;
    if (this.data[p] !== 0x0a) throw new ImapSyntaxError('Literal must end the line');
    p++;
    if (p + size > this.data.length) throw new ImapSyntaxError('Literal shorter than announced');
    const value = this.data.subarray(p, p + size);
    this.pos = p + size;
    return { type: 'string', value, literal: true };
  }

  private atom(depth: number): Token {
    const data = this.data;
    const end = this.end;
    const start = this.pos;
    let pos = start;
    for (; pos < end; pos++) {
      const c = data[pos];
      const kind = ATOM_BYTE[c];
      if (kind === 0) continue;
      if (kind === 2 /* [ */) {
        const name = data.toString('latin1', start, pos).toUpperCase();
        if (SECTION_ATOMS.has(name)) {
          this.pos = pos;
          return this.sectionAtom(name, depth);
        }
        continue; // '[' is an ordinary ATOM-CHAR elsewhere (e.g. "[Gmail]" mailboxes)
      }
      if (kind === 3) {
        this.pos = pos;
        throw new ImapSyntaxError('8-bit data in atom');
      }
      break;
    }
    this.pos = pos;
    if (pos === start) {
      const c = this.peek();
      throw new ImapSyntaxError(c === 0x29 ? "Unexpected ')'" : 'Unexpected character in command');
    }
    return { type: 'atom', value: data.toString('latin1', start, pos) };
  }

  private sectionAtom(name: string, depth: number): Token {
    this.pos++; // [
    const section: Token[] = [];
    for (;;) {
      if (this.pos >= this.end) throw new ImapSyntaxError("Missing ']'");
      const c = this.peek();
      if (c === 0x5d) {
        this.pos++;
        break;
      }
      if (section.length > 0 && !this.space()) throw new ImapSyntaxError('Invalid section');
      if (this.peek() === 0x28) {
        section.push(this.list(depth + 1));
        continue;
      }
      const start = this.pos;
      while (this.pos < this.end && this.peek() !== 0x5d && this.peek() !== 0x20 && this.peek() !== 0x28) {
        if (!isAtomChar(this.peek()) && this.peek() !== 0x2a) throw new ImapSyntaxError('Invalid section');
        this.pos++;
      }
      if (this.pos === start) throw new ImapSyntaxError('Invalid section');
      section.push({ type: 'atom', value: this.data.toString('latin1', start, this.pos) });
    }
    const token: Token = { type: 'atom', value: name, section };
    if (this.peek() === 0x3c /* < */) {
      const close = this.data.indexOf(0x3e, this.pos);
      if (close < 0 || close > this.end) throw new ImapSyntaxError('Invalid partial');
      const text = this.data.toString('latin1', this.pos + 1, close);
      const m = /^(\d{1,10})(?:\.(\d{1,10}))?$/.exec(text);
      if (!m) throw new ImapSyntaxError('Invalid partial');
      const offset = Number(m[1]);
      const length = m[2] === undefined ? -1 : Number(m[2]);
      if (offset > 0xffffffff || length > 0xffffffff) throw new ImapSyntaxError('Invalid partial');
      token.partial = [offset, length];
      this.pos = close + 1;
    }
    if (this.pos < this.end && this.peek() !== 0x20 && this.peek() !== 0x29) throw new ImapSyntaxError('Invalid fetch attribute');
    return token;
  }
}
