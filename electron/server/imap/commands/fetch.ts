// FETCH and UID FETCH (RFC 3501 6.4.5, 6.4.8; response format 7.4.2).
// Flags, UID, size and INTERNALDATE come from the mailbox index, never from message files;
// ENVELOPE, BODYSTRUCTURE and header fields come from the parsed-message cache; only body
// sections read the file, and only the byte range they need.

import type { CommandContext, CommandSpec } from '../session.js';
import type { MessageInfo, MessageMeta, MailboxView } from '../../storage/types.js';
import { StorageError } from '../../storage/types.js';
import { ImapNo } from '../errors.js';
import { ImapSyntaxError, type Token } from '../parser.js';
import { imapDateTime } from '../format.js';
import { selected, targetUids } from './messages.js';
import { envelope } from '../../mime/envelope.js';
import { bodyStructure } from '../../mime/bodystructure.js';
import { headerFields } from '../../mime/header.js';
import { fetchSection, toCrlf, type SectionSpec } from '../../mime/section.js';

type Simple = 'UID' | 'FLAGS' | 'INTERNALDATE' | 'RFC822.SIZE' | 'ENVELOPE' | 'BODYSTRUCTURE' | 'BODY';

export type FetchItem =
  | { kind: 'simple'; name: Simple }
  | {
      kind: 'section';
      /** Response label without the partial origin, e.g. 'BODY[1.MIME]' or 'RFC822.HEADER'. */
      label: string;
      spec: SectionSpec;
      peek: boolean;
      partial?: [number, number];
    };

const MACROS: Record<string, Simple[]> = {
  ALL: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE'],
  FAST: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE'],
  FULL: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE', 'BODY'],
};

const SIMPLE = new Set<string>(['UID', 'FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE', 'BODYSTRUCTURE', 'BODY']);

export function parseFetchItems(tokens: Token[] | Token): FetchItem[] {
  if (!Array.isArray(tokens)) {
    if (tokens.type === 'atom' && !tokens.section) {
      const macro = MACROS[tokens.value.toUpperCase()];
      if (macro) return macro.map((name) => ({ kind: 'simple', name }));
    }
    if (tokens.type === 'list') return parseFetchItems(tokens.items);
    return [parseItem(tokens)];
  }
  if (tokens.length === 0) throw new ImapSyntaxError('Empty fetch attribute list');
  return tokens.map(parseItem);
}

function parseItem(t: Token): FetchItem {
  if (t.type !== 'atom') throw new ImapSyntaxError('Invalid fetch attribute');
  const name = t.value.toUpperCase();
  if (t.section) {
    if (name !== 'BODY' && name !== 'BODY.PEEK') throw new ImapSyntaxError(`Unsupported fetch attribute ${name}[`);
    const spec = parseSection(t.section);
    return { kind: 'section', label: `BODY[${sectionLabel(spec)}]`, spec, peek: name === 'BODY.PEEK', partial: partialOf(t.partial) };
  }
  if (SIMPLE.has(name)) return { kind: 'simple', name: name as Simple };
  switch (name) {
    case 'RFC822':
      return { kind: 'section', label: 'RFC822', spec: { part: [] }, peek: false };
    case 'RFC822.HEADER':
      return { kind: 'section', label: 'RFC822.HEADER', spec: { part: [], text: 'HEADER' }, peek: true };
    case 'RFC822.TEXT':
      return { kind: 'section', label: 'RFC822.TEXT', spec: { part: [], text: 'TEXT' }, peek: false };
  }
  throw new ImapSyntaxError(`Unknown fetch attribute ${t.value.slice(0, 40)}`);
}

function partialOf(p: [number, number] | undefined): [number, number] | undefined {
  if (!p) return undefined;
  if (p[1] < 0) throw new ImapSyntaxError('Partial range needs an offset and a length: <offset.length>');
  return p;
}

/** section = "[" [section-spec] "]" (RFC 3501 9). */
export function parseSection(tokens: Token[]): SectionSpec {
  if (tokens.length === 0) return { part: [] };
  const first = tokens[0];
  if (first.type !== 'atom') throw new ImapSyntaxError('Invalid section');
  const pieces = first.value.toUpperCase().split('.');
  const part: number[] = [];
  while (pieces.length && /^\d+$/.test(pieces[0])) {
    const n = Number(pieces.shift());
    if (n < 1 || n > 0xffffffff) throw new ImapSyntaxError('Invalid section part number');
    part.push(n);
  }
  const text = pieces.join('.');
  if (text === '') {
    if (tokens.length > 1) throw new ImapSyntaxError('Invalid section');
    if (part.length === 0) throw new ImapSyntaxError('Invalid section');
    return { part };
  }
  if (text === 'HEADER' || text === 'TEXT' || text === 'MIME') {
    if (tokens.length > 1) throw new ImapSyntaxError('Invalid section');
    if (text === 'MIME' && part.length === 0) throw new ImapSyntaxError('MIME needs a part number');
    return { part, text };
  }
  if (text === 'HEADER.FIELDS' || text === 'HEADER.FIELDS.NOT') {
    const listTok = tokens[1];
    if (!listTok || listTok.type !== 'list' || listTok.items.length === 0 || tokens.length > 2) {
      throw new ImapSyntaxError(`${text} needs a list of header names`);
    }
    const fields = listTok.items.map((f) => {
      const v = f.type === 'atom' ? f.value : f.type === 'string' ? f.value.toString('latin1') : '';
      if (!/^[\x21-\x39\x3b-\x7e]+$/.test(v)) throw new ImapSyntaxError('Invalid header field name');
      return v;
    });
    return { part, text, fields };
  }
  throw new ImapSyntaxError(`Invalid section ${first.value.slice(0, 40)}`);
}

function sectionLabel(spec: SectionSpec): string {
  const parts = spec.part.join('.');
  let label = parts;
  if (spec.text) label += (parts ? '.' : '') + spec.text;
  if (spec.fields) label += ` (${spec.fields.map((f) => f.toUpperCase()).join(' ')})`;
  return label;
}

function needsInfo(items: FetchItem[]): boolean {
  return items.some(
    (i) => (i.kind === 'simple' && (i.name === 'ENVELOPE' || i.name === 'BODYSTRUCTURE' || i.name === 'BODY')) || i.kind === 'section',
  );
}

/** Whole-message partials starting below this virtual offset are served by scanning from byte 0. */
const WHOLE_PARTIAL_SCAN_MAX = 256 * 1024;

/** Bytes of the whole message in CRLF form from a virtual offset, reading only what is needed. */
export async function wholePartial(view: MailboxView, uid: number, offset: number, length: number): Promise<Buffer> {
  const out: Buffer[] = [];
  let produced = 0; // virtual bytes passed so far
  let pos = 0; // physical position
  let prevCR = false;
  const chunkSize = Math.max(4096, Math.min(1 << 20, length + 1));
  for (;;) {
    const chunk = await view.read(uid, pos, pos + chunkSize);
    if (chunk.length === 0) break;
    const conv = toCrlfContinuing(chunk, prevCR);
    prevCR = chunk[chunk.length - 1] === 0x0d;
    const start = Math.max(0, offset - produced);
    const end = Math.min(conv.length, offset + length - produced);
    if (start < end) out.push(conv.subarray(start, end));
    produced += conv.length;
    pos += chunk.length;
    if (produced >= offset + length || chunk.length < chunkSize) break;
  }
  return Buffer.concat(out);
}

/** Bare LF -> CRLF, knowing whether the previous chunk ended in CR. */
function toCrlfContinuing(chunk: Buffer, prevCR: boolean): Buffer {
  if (chunk[0] === 0x0a && prevCR) {
    return Buffer.concat([chunk.subarray(0, 1), toCrlf(chunk.subarray(1))]);
  }
  return toCrlf(chunk);
}

async function sectionData(view: MailboxView, uid: number, item: Extract<FetchItem, { kind: 'section' }>, info: () => Promise<MessageInfo>): Promise<Buffer | null> {
  const { spec, partial } = item;
  if (spec.part.length === 0 && !spec.text && partial && partial[0] < WHOLE_PARTIAL_SCAN_MAX) {
    // Whole-message partials near the start need no MIME structure: a 1 KB peek at a 50 MB
    // file reads ~1 KB. Deeper offsets use the cached structure's CRLF checkpoints instead.
    return wholePartial(view, uid, partial[0], partial[1]);
  }
  const mi = await info();
  if (spec.part.length === 0 && (spec.text === 'HEADER.FIELDS' || spec.text === 'HEADER.FIELDS.NOT')) {
    const data = headerFields(mi.header, spec.fields ?? [], spec.text === 'HEADER.FIELDS.NOT');
    return partial ? slice(data, partial) : data;
  }
  const read = (start: number, end: number) => view.read(uid, start, end);
  return fetchSection(mi.structure, spec, read, partial ? { offset: partial[0], length: partial[1] } : undefined);
}

function slice(data: Buffer, [offset, length]: [number, number]): Buffer {
  return data.subarray(Math.min(offset, data.length), Math.min(data.length, offset + length));
}

/** Write threshold: responses are batched into writes of about this many bytes. */
const BATCH = 256 * 1024;
/** Messages whose parsed info is fetched ahead of the one being written. */
const READ_AHEAD = 16;

async function runFetch(ctx: CommandContext): Promise<string> {
  const { session, args, uid: byUid } = ctx;
  const set = args.sequenceSet();
  const items = parseFetchItems(args.next('fetch attributes'));
  args.end();
  const sel = selected(session);
  const view = sel.view;
  const uids = targetUids(sel, set, byUid);

  const wantsUid = byUid || items.some((i) => i.kind === 'simple' && i.name === 'UID');
  const wantsFlags = items.some((i) => i.kind === 'simple' && i.name === 'FLAGS');
  const setsSeen = !view.readOnly && items.some((i) => i.kind === 'section' && !i.peek);

  // Non-peek body fetches set \Seen first, so the FLAGS we report are the new ones (6.4.5).
  const seenChanged = new Set<number>();
  if (setsSeen) {
    const unseen = uids.filter((u) => {
      const m = sel.meta(u);
      return m && !m.flags.includes('\\Seen');
    });
    if (unseen.length) {
      const mark = sel.pendingMark();
      const changed = await view.store(unseen, 'add', ['\\Seen']);
      sel.dropPendingFlags(mark, new Set(changed.keys()));
      for (const u of changed.keys()) seenChanged.add(u);
    }
  }

  const withInfo = needsInfo(items);
  const infoCache = new Map<number, Promise<MessageInfo>>();
  const infoOf = (u: number) => {
    let p = infoCache.get(u);
    if (!p) {
      p = view.info(u);
      p.catch(() => undefined);
      infoCache.set(u, p);
    }
    return p;
  };

  let out = '';
  let missing = 0;
  for (let k = 0; k < uids.length; k++) {
    const u = uids[k];
    const seq = sel.indexOf(u) + 1;
    const meta = sel.meta(u);
    if (!meta || seq === 0) {
      missing++;
      continue;
    }
    if (withInfo) for (let j = k + 1; j < Math.min(uids.length, k + READ_AHEAD); j++) void infoOf(uids[j]);
    let parts: (string | Buffer)[];
    try {
      parts = await renderMessage(sel, view, u, meta, items, withInfo ? () => infoOf(u) : null);
    } catch (err) {
      if (err instanceof StorageError && err.code === 'EXPUNGEISSUED') {
        missing++;
        infoCache.delete(u);
        continue;
      }
      throw err;
    }
    infoCache.delete(u);
    const head: string[] = [];
    if (wantsUid) head.push(`UID ${u}`);
    if (seenChanged.has(u) && !wantsFlags) head.push(`FLAGS ${sel.flagsOf(u, meta.flags)}`);
    out += `* ${seq} FETCH (`;
    let first = true;
    for (const h of head) {
      out += (first ? '' : ' ') + h;
      first = false;
    }
    for (const p of parts) {
      if (typeof p === 'string') {
        out += (first ? '' : ' ') + p;
        first = false;
      } else {
        // Large literal: flush text so far, then the bytes themselves, without a latin1 copy.
        session.write(out);
        out = '';
        session.write(p);
        first = false;
      }
    }
    out += ')\r\n';
    if (out.length >= BATCH) {
      session.write(out);
      out = '';
      await session.io.drain();
    }
  }
  if (out) session.write(out);
  if (missing > 0) throw new ImapNo('Some of the requested messages no longer exist.', 'EXPUNGEISSUED');
  return 'Fetch completed.';
}

/** The data items of one message. Buffers are raw literal bodies to write as they are. */
async function renderMessage(
  sel: import('../selected.js').SelectedMailbox,
  view: MailboxView,
  uid: number,
  meta: MessageMeta,
  items: FetchItem[],
  info: (() => Promise<MessageInfo>) | null,
): Promise<(string | Buffer)[]> {
  const out: (string | Buffer)[] = [];
  for (const item of items) {
    if (item.kind === 'simple') {
      switch (item.name) {
        case 'UID':
          break; // always rendered first
        case 'FLAGS':
          out.push(`FLAGS ${sel.flagsOf(uid, meta.flags)}`);
          break;
        case 'INTERNALDATE':
          out.push(`INTERNALDATE ${imapDateTime(meta.internalDate)}`);
          break;
        case 'RFC822.SIZE':
          out.push(`RFC822.SIZE ${meta.size}`);
          break;
        case 'ENVELOPE':
          out.push(`ENVELOPE ${envelope((await info!()).header)}`);
          break;
        case 'BODYSTRUCTURE':
          out.push(`BODYSTRUCTURE ${bodyStructure((await info!()).structure, true)}`);
          break;
        case 'BODY':
          out.push(`BODY ${bodyStructure((await info!()).structure, false)}`);
          break;
      }
      continue;
    }
    const data = await sectionData(view, uid, item, info!);
    const label = item.partial ? `${item.label}<${item.partial[0]}>` : item.label;
    if (data === null) {
      out.push(`${label} NIL`);
    } else if (data.length > 64 * 1024) {
      out.push(`${label} {${data.length}}\r\n`);
      out.push(data);
    } else {
      out.push(`${label} ${literal(data)}`);
    }
  }
  return out;
}

/** Body data always goes as a literal (like Dovecot), so 8-bit and CRLF pass unchanged. */
function literal(data: Buffer): string {
  if (data.length === 0) return '""';
  return `{${data.length}}\r\n${data.toString('latin1')}`;
}

export const FETCH: CommandSpec = { states: ['selected'], expungeOk: false, run: runFetch };
export const UID_FETCH: CommandSpec = { states: ['selected'], run: runFetch };

