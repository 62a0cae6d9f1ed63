// SEARCH and UID SEARCH (RFC 3501 6.4.4): every search key, CHARSET, nested OR/NOT/lists.
// Keys are parsed into a tree, then evaluated per message cheapest-first: index facts (flags,
// size, dates, uids) need no I/O; header keys read the cached header; BODY/TEXT read and
// decode the message (transfer encodings and charsets) and match case-insensitively.

import iconv from 'iconv-lite';
import type { CommandContext, CommandSpec } from '../session.js';
import type { MessageMeta, MailboxView } from '../../storage/types.js';
import { StorageError } from '../../storage/types.js';
import { ImapNo } from '../errors.js';
import { ImapSyntaxError, type Token } from '../parser.js';
import { parseDate, flagToken } from '../args.js';
import { parseSequenceSet, type SequenceSet } from '../sequence.js';
import { selected } from './messages.js';
import { headerValues, messageText, searchFold } from '../../mime/search-text.js';
import type { SelectedMailbox } from '../selected.js';

type Day = { y: number; m: number; d: number };

export type SearchKey =
  | { k: 'all' }
  | { k: 'flag'; flag: string; set: boolean }
  | { k: 'recent'; set: boolean }
  | { k: 'new' }
  | { k: 'header'; field: string; value: string }
  | { k: 'body'; value: string }
  | { k: 'text'; value: string }
  | { k: 'date'; sent: boolean; op: 'before' | 'on' | 'since'; day: Day }
  | { k: 'size'; larger: boolean; n: number }
  | { k: 'seq'; set: SequenceSet }
  | { k: 'uid'; set: SequenceSet }
  | { k: 'not'; key: SearchKey }
  | { k: 'or'; a: SearchKey; b: SearchKey }
  | { k: 'and'; keys: SearchKey[] };

const FLAG_KEYS: Record<string, [string, boolean]> = {
  ANSWERED: ['\\Answered', true],
  DELETED: ['\\Deleted', true],
  DRAFT: ['\\Draft', true],
  FLAGGED: ['\\Flagged', true],
  SEEN: ['\\Seen', true],
  UNANSWERED: ['\\Answered', false],
  UNDELETED: ['\\Deleted', false],
  UNDRAFT: ['\\Draft', false],
  UNFLAGGED: ['\\Flagged', false],
  UNSEEN: ['\\Seen', false],
};

const ADDRESS_KEYS = new Set(['BCC', 'CC', 'FROM', 'TO', 'SUBJECT']);
const DATE_KEYS: Record<string, [boolean, 'before' | 'on' | 'since']> = {
  BEFORE: [false, 'before'],
  ON: [false, 'on'],
  SINCE: [false, 'since'],
  SENTBEFORE: [true, 'before'],
  SENTON: [true, 'on'],
  SENTSINCE: [true, 'since'],
};

class KeyParser {
  private i = 0;
  constructor(
    private readonly tokens: readonly Token[],
    private readonly decode: (t: Token) => string,
    private readonly maxDepth: number,
  ) {}

  all(): SearchKey {
    const keys: SearchKey[] = [];
    while (this.i < this.tokens.length) keys.push(this.key(0));
    if (keys.length === 0) throw new ImapSyntaxError('Missing search parameters');
    return keys.length === 1 ? keys[0] : { k: 'and', keys };
  }

  private next(what: string): Token {
    const t = this.tokens[this.i++];
    if (!t) throw new ImapSyntaxError(`Missing argument for ${what}`);
    return t;
  }

  private key(depth: number): SearchKey {
    if (depth > this.maxDepth) throw new ImapSyntaxError('Search key nesting too deep', 'LIMIT');
    const t = this.next('search key');
    if (t.type === 'list') {
      if (t.items.length === 0) throw new ImapSyntaxError('Empty search key list');
      const sub = new KeyParser(t.items, this.decode, this.maxDepth - depth - 1);
      return sub.all();
    }
    if (t.type !== 'atom' || t.section) throw new ImapSyntaxError('Invalid search key');
    const name = t.value.toUpperCase();
    if (name === 'ALL') return { k: 'all' };
    const flag = FLAG_KEYS[name];
    if (flag) return { k: 'flag', flag: flag[0], set: flag[1] };
    if (name === 'RECENT') return { k: 'recent', set: true };
    if (name === 'OLD') return { k: 'recent', set: false };
    if (name === 'NEW') return { k: 'new' };
    if (name === 'KEYWORD' || name === 'UNKEYWORD') {
      return { k: 'flag', flag: flagToken(this.next(name)), set: name === 'KEYWORD' };
    }
    if (ADDRESS_KEYS.has(name)) return { k: 'header', field: name.toLowerCase(), value: this.decode(this.next(name)) };
    if (name === 'HEADER') {
      const fieldTok = this.next('HEADER');
      const field = fieldTok.type === 'string' ? fieldTok.value.toString('latin1') : fieldTok.type === 'atom' ? fieldTok.value : '';
      if (!field) throw new ImapSyntaxError('Invalid header field name');
      return { k: 'header', field: field.toLowerCase(), value: this.decode(this.next('HEADER')) };
    }
    if (name === 'BODY') return { k: 'body', value: this.decode(this.next(name)) };
    if (name === 'TEXT') return { k: 'text', value: this.decode(this.next(name)) };
    const date = DATE_KEYS[name];
    if (date) return { k: 'date', sent: date[0], op: date[1], day: parseDate(this.next(name)) };
    if (name === 'LARGER' || name === 'SMALLER') {
      const n = this.next(name);
      if (n.type !== 'atom' || !/^\d{1,10}$/.test(n.value) || Number(n.value) > 0xffffffff) throw new ImapSyntaxError(`Invalid size for ${name}`);
      return { k: 'size', larger: name === 'LARGER', n: Number(n.value) };
    }
    if (name === 'UID') {
      const s = this.next(name);
      if (s.type !== 'atom') throw new ImapSyntaxError('Invalid UID set');
      return { k: 'uid', set: parseSequenceSet(s.value) };
    }
    if (name === 'NOT') return { k: 'not', key: this.key(depth + 1) };
    if (name === 'OR') {
      const a = this.key(depth + 1);
      const b = this.key(depth + 1);
      return { k: 'or', a, b };
    }
    if (/^[\d*]/.test(name)) return { k: 'seq', set: parseSequenceSet(t.value) };
    throw new ImapSyntaxError(`Unknown search key ${t.value.slice(0, 40)}`);
  }
}

/** Cost class of a key: 0 = index only, 1 = header, 2 = whole message. */
function cost(key: SearchKey): number {
  switch (key.k) {
    case 'header':
      return 1;
    case 'date':
      return key.sent ? 1 : 0;
    case 'body':
    case 'text':
      return 2;
    case 'not':
      return cost(key.key);
    case 'or':
      return Math.max(cost(key.a), cost(key.b));
    case 'and':
      return Math.max(0, ...key.keys.map(cost));
    default:
      return 0;
  }
}

/** Same tree with AND children ordered cheapest first and string needles case-folded. */
function prepare(key: SearchKey): SearchKey {
  switch (key.k) {
    case 'and':
      return { k: 'and', keys: key.keys.map(prepare).sort((a, b) => cost(a) - cost(b)) };
    case 'or':
      return { k: 'or', a: prepare(key.a), b: prepare(key.b) };
    case 'not':
      return { k: 'not', key: prepare(key.key) };
    case 'header':
    case 'body':
    case 'text':
      return { ...key, value: searchFold(key.value) };
    default:
      return key;
  }
}

interface Candidate {
  seq: number;
  uid: number;
  meta: MessageMeta;
}

class Evaluator {
  private header: Buffer | null = null;
  private text: { headers: string; body: string } | null = null;

  constructor(
    private readonly sel: SelectedMailbox,
    private readonly view: MailboxView,
    private readonly c: Candidate,
    private readonly maxSeq: number,
    private readonly maxUid: number,
  ) {}

  async match(key: SearchKey): Promise<boolean> {
    const { meta } = this.c;
    switch (key.k) {
      case 'all':
        return true;
      case 'flag':
        return meta.flags.includes(key.flag) === key.set;
      case 'recent':
        return this.sel.isRecent(this.c.uid) === key.set;
      case 'new':
        return this.sel.isRecent(this.c.uid) && !meta.flags.includes('\\Seen');
      case 'size':
        return key.larger ? meta.size > key.n : meta.size < key.n;
      case 'seq':
        return inSet(key.set, this.c.seq, this.maxSeq);
      case 'uid':
        return inSet(key.set, this.c.uid, this.maxUid);
      case 'date': {
        const day = key.sent ? sentDay(await this.getHeader()) : localDay(meta.internalDate);
        if (!day) return false;
        const cmp = compareDay(day, key.day);
        return key.op === 'before' ? cmp < 0 : key.op === 'on' ? cmp === 0 : cmp >= 0;
      }
      case 'header': {
        const values = headerValues(await this.getHeader(), key.field);
        if (key.value === '') return values.length > 0;
        return values.some((v) => searchFold(v).includes(key.value));
      }
      case 'body':
        return (await this.getText()).body.includes(key.value);
      case 'text': {
        const t = await this.getText();
        return t.headers.includes(key.value) || t.body.includes(key.value);
      }
      case 'not':
        return !(await this.match(key.key));
      case 'or':
        return (await this.match(key.a)) || this.match(key.b);
      case 'and':
        for (const k of key.keys) if (!(await this.match(k))) return false;
        return true;
    }
  }

  private async getHeader(): Promise<Buffer> {
    if (!this.header) this.header = (await this.view.info(this.c.uid)).header;
    return this.header;
  }

  private async getText(): Promise<{ headers: string; body: string }> {
    if (!this.text) {
      const info = await this.view.info(this.c.uid);
      // One read of the whole file serves every part (typical messages are a few KB).
      const whole = info.physicalSize <= WHOLE_READ_MAX ? await this.view.read(this.c.uid, 0, info.physicalSize) : null;
      const read = whole ? async (s: number, e: number) => whole.subarray(s, e) : (s: number, e: number) => this.view.read(this.c.uid, s, e);
      const t = await messageText(info.structure, read);
      this.text = { headers: searchFold(t.headers), body: searchFold(t.body) };
    }
    return this.text;
  }
}

function inSet(set: SequenceSet, n: number, max: number): boolean {
  for (const [a0, b0] of set.ranges) {
    const a = a0 === Infinity ? max : a0;
    const b = b0 === Infinity ? max : b0;
    if (n >= Math.min(a, b) && n <= Math.max(a, b)) return true;
  }
  return false;
}

function compareDay(a: Day, b: Day): number {
  return a.y - b.y || a.m - b.m || a.d - b.d;
}

/** INTERNALDATE's calendar day in the server's zone (as Dovecot compares it). */
function localDay(ms: number): Day {
  const d = new Date(ms);
  return { y: d.getFullYear(), m: d.getMonth(), d: d.getDate() };
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/** The Date: header's calendar day in its own zone (RFC 3501: time and timezone disregarded). */
function sentDay(header: Buffer): Day | null {
  const v = headerValues(header, 'date')[0];
  if (!v) return null;
  const m = /(\d{1,2})\s+([A-Za-z]{3})[a-z]*\s+(\d{2,4})/.exec(v);
  if (!m) return null;
  const month = MONTHS.indexOf(m[2].toLowerCase());
  if (month < 0) return null;
  let y = Number(m[3]);
  if (m[3].length === 2) y += y < 50 ? 2000 : 1900;
  return { y, m: month, d: Number(m[1]) };
}

/** Messages up to this size are read in one go for BODY/TEXT. */
const WHOLE_READ_MAX = 1024 * 1024;

/** Messages evaluated at once when keys need I/O. */
const PARALLEL = 32;

async function runSearch(ctx: CommandContext): Promise<string> {
  const { session, args, uid: byUid } = ctx;
  const tokens: Token[] = [];
  while (args.remaining > 0) tokens.push(args.next('search key'));
  let charset = 'UTF-8';
  if (tokens[0]?.type === 'atom' && tokens[0].value.toUpperCase() === 'CHARSET') {
    const cs = tokens[1];
    if (!cs || cs.type === 'list') throw new ImapSyntaxError('Missing charset');
    charset = cs.type === 'string' ? cs.value.toString('latin1') : cs.value;
    tokens.splice(0, 2);
  }
  const cs = charset.toUpperCase();
  const utf8 = cs === 'UTF-8' || cs === 'US-ASCII' || cs === 'UTF8';
  if (!utf8 && !iconv.encodingExists(charset)) throw new ImapNo(`Unknown charset ${cs.slice(0, 40)}`, 'BADCHARSET (UTF-8 US-ASCII)');
  const decode = (t: Token): string => {
    const raw = t.type === 'string' ? t.value : t.type === 'atom' && !t.section ? Buffer.from(t.value, 'latin1') : null;
    if (!raw) throw new ImapSyntaxError('Expected a search string');
    return utf8 ? raw.toString('utf8') : iconv.decode(raw, charset);
  };
  const key = prepare(new KeyParser(tokens, decode, session.server.limits.maxNestingDepth).all());

  const sel = selected(session);
  const view = sel.view;
  const maxSeq = sel.uids.length;
  const maxUid = maxSeq ? sel.uids[maxSeq - 1] : 0;
  const candidates: Candidate[] = [];
  for (let i = 0; i < sel.uids.length; i++) {
    const meta = sel.meta(sel.uids[i]);
    if (meta) candidates.push({ seq: i + 1, uid: sel.uids[i], meta });
  }
  const hits = new Uint8Array(candidates.length);
  const heavy = cost(key) > 0;
  const evaluate = async (idx: number) => {
    const c = candidates[idx];
    try {
      if (await new Evaluator(sel, view, c, maxSeq, maxUid).match(key)) hits[idx] = 1;
    } catch (err) {
      // A message expunged by someone else during the search simply does not match.
      if (!(err instanceof StorageError && err.code === 'EXPUNGEISSUED')) throw err;
    }
  };
  if (!heavy) {
    for (let i = 0; i < candidates.length; i++) await evaluate(i);
  } else {
    let next = 0;
    const worker = async () => {
      while (next < candidates.length) await evaluate(next++);
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL, candidates.length) }, worker));
  }
  const result: number[] = [];
  for (let i = 0; i < candidates.length; i++) if (hits[i]) result.push(byUid ? candidates[i].uid : candidates[i].seq);
  let line = '* SEARCH';
  for (const n of result) line += ' ' + n;
  session.write(line + '\r\n');
  return 'Search completed.';
}

export const SEARCH: CommandSpec = { states: ['selected'], expungeOk: false, run: runSearch };
export const UID_SEARCH: CommandSpec = { states: ['selected'], run: runSearch };
