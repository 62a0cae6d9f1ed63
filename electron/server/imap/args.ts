// Reads a command's arguments from its tokens, following the command's grammar.
// Every mismatch is an ImapSyntaxError (answered BAD) naming what was expected.

import { ImapSyntaxError, type Token } from './parser.js';
import { parseSequenceSet, type SequenceSet } from './sequence.js';
import { decodeMutf7 } from '../storage/mutf7.js';
import { MAX_NUMBER } from './grammar.js';

export class ArgReader {
  private i = 0;
  constructor(
    private readonly tokens: readonly Token[],
    private readonly command: string,
  ) {}

  get remaining(): number {
    return this.tokens.length - this.i;
  }

  peek(): Token | undefined {
    return this.tokens[this.i];
  }

  next(what: string): Token {
    const t = this.tokens[this.i++];
    if (!t) throw new ImapSyntaxError(`Missing ${what}`);
    return t;
  }

  /** No more arguments may follow. */
  end(): void {
    if (this.i < this.tokens.length) throw new ImapSyntaxError(`Unexpected extra arguments to ${this.command}`);
  }

  atom(what: string): string {
    const t = this.next(what);
    if (t.type !== 'atom' || t.section) throw new ImapSyntaxError(`Expected ${what}`);
    return t.value;
  }

  /** astring as bytes. */
  astringBytes(what: string): Buffer {
    const t = this.next(what);
    if (t.type === 'string') return t.value;
    if (t.type === 'atom' && !t.section) return Buffer.from(t.value, 'latin1');
    throw new ImapSyntaxError(`Expected ${what}`);
  }

  astring(what: string): string {
    return this.astringBytes(what).toString('utf8');
  }

  /** A mailbox name, decoded from modified UTF-7; INBOX in any case becomes 'INBOX'. */
  mailbox(what = 'mailbox name'): string {
    return mailboxName(this.astringBytes(what));
  }

  number(what: string, nonZero = false): number {
    const t = this.next(what);
    return toNumber(t, what, nonZero);
  }

  list(what: string): Token[] {
    const t = this.next(what);
    if (t.type !== 'list') throw new ImapSyntaxError(`Expected ${what} in parentheses`);
    return t.items;
  }

  sequenceSet(what = 'sequence set'): SequenceSet {
    return parseSequenceSet(this.atom(what));
  }

  /** flag-list "(" [flag *(SP flag)] ")"; a single flag without parens is accepted in STORE. */
  flags(allowBare: boolean): string[] {
    const t = this.next('flags');
    const items = t.type === 'list' ? t.items : allowBare ? [t, ...this.tokens.slice(this.i)] : null;
    if (!items) throw new ImapSyntaxError('Expected flag list');
    if (t.type !== 'list') this.i = this.tokens.length;
    return items.map((f) => flagToken(f));
  }
}

export function toNumber(t: Token, what: string, nonZero: boolean): number {
  if (t.type !== 'atom' || !/^\d{1,10}$/.test(t.value)) throw new ImapSyntaxError(`Expected number for ${what}`);
  const n = Number(t.value);
  if (n > MAX_NUMBER) throw new ImapSyntaxError(`Number too large for ${what}`);
  if (nonZero && n === 0) throw new ImapSyntaxError(`${what} must not be zero`);
  return n;
}

const SYSTEM_FLAGS = new Map(
  ['\\Answered', '\\Flagged', '\\Deleted', '\\Seen', '\\Draft', '\\Recent'].map((f) => [f.toLowerCase(), f]),
);

/** A flag token, system flags canonicalized ('\\SEEN' -> '\\Seen'). */
export function flagToken(t: Token): string {
  if (t.type !== 'atom' || t.section) throw new ImapSyntaxError('Invalid flag');
  const v = t.value;
  if (v.startsWith('\\')) {
    const sys = SYSTEM_FLAGS.get(v.toLowerCase());
    if (!sys) throw new ImapSyntaxError(`Invalid system flag ${v}`);
    return sys;
  }
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    // keyword = atom: no atom-specials (the tokenizer lets '%', '*', ']' through)
    if (c === 0x25 || c === 0x2a || c === 0x5d || c === 0x5c) throw new ImapSyntaxError(`Invalid keyword ${v}`);
  }
  return v;
}

export function mailboxName(raw: Buffer): string {
  if (raw.length === 0) return '';
  for (const c of raw) {
    if (c >= 0x80) throw new ImapSyntaxError('Mailbox name is not valid mUTF-7');
  }
  let name: string;
  try {
    name = decodeMutf7(raw.toString('latin1'));
  } catch {
    throw new ImapSyntaxError('Mailbox name is not valid mUTF-7');
  }
  if (name.toUpperCase() === 'INBOX') return 'INBOX';
  if (name.toUpperCase().startsWith('INBOX.')) return 'INBOX' + name.slice(5);
  return name;
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/** date = date-text / DQUOTE date-text DQUOTE; date-text = date-day "-" date-month "-" date-year. Returns UTC ms of that day. */
export function parseDate(t: Token): { y: number; m: number; d: number } {
  const text = t.type === 'string' ? t.value.toString('latin1') : t.type === 'atom' ? t.value : '';
  const m = /^(\d{1,2})-([A-Za-z]{3})-(\d{4})$/.exec(text);
  if (!m) throw new ImapSyntaxError(`Invalid date: ${text.slice(0, 40)}`);
  const month = MONTHS.indexOf(m[2].toLowerCase());
  const day = Number(m[1]);
  if (month < 0 || day < 1 || day > 31) throw new ImapSyntaxError(`Invalid date: ${text}`);
  return { y: Number(m[3]), m: month, d: day };
}

/** date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE (RFC 3501). Returns ms. */
export function parseDateTime(t: Token): number {
  const text = t.type === 'string' ? t.value.toString('latin1') : '';
  const m = /^ ?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$/.exec(text);
  if (!m) throw new ImapSyntaxError('Invalid date-time');
  const month = MONTHS.indexOf(m[2].toLowerCase());
  if (month < 0) throw new ImapSyntaxError('Invalid date-time');
  const [day, year, hh, mm, ss, zh, zm] = [m[1], m[3], m[4], m[5], m[6], m[8], m[9]].map(Number);
  if (day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60 || zm > 59) throw new ImapSyntaxError('Invalid date-time');
  const zone = (zh * 60 + zm) * (m[7] === '-' ? -1 : 1);
  return Date.UTC(year, month, day, hh, mm, ss) - zone * 60_000;
}
