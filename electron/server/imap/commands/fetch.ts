// FETCH and UID FETCH (RFC 3501 6.4.5, 6.4.8; response format 7.4.2).
// Flags, UID, size and INTERNALDATE come from the mailbox index, never from message files;
// ENVELOPE, BODYSTRUCTURE and header fields come from the parsed-message cache; only body
// sections read the file, and only the byte range they need. BODY[] of the whole message
// needs no MIME structure at all: the file, LF -> CRLF, NUL -> 0x80.
//
// Speed: the command is analysed once (makePlan); a message whose items need no file is
// rendered synchronously into one string, without a promise when storage already holds its
// parsed info in memory (storage-fast.ts); a whole message is read and converted in
// WebAssembly memory (crlf-wasm.ts), up to 4 MB 256 KB at a time, and copied from there to the
// connection's output buffer; responses go to the connection in ~64 KB pieces (BATCH).

import type { CommandContext, CommandSpec } from '../session.js';
import type { MessageInfo, MessageMeta, MailboxView } from '../../storage/types.js';
import type { SelectedMailbox } from '../selected.js';
import { StorageError } from '../../storage/types.js';
import { ImapNo } from '../errors.js';
import { ImapSyntaxError, type Token } from '../parser.js';
import { imapDateTime } from '../format.js';
import { selected, targetUids } from './messages.js';
import { envelope } from '../../mime/envelope.js';
import { bodyStructure } from '../../mime/bodystructure.js';
import { FieldNames, headerFields, headerFieldsText } from '../../mime/header.js';
import { fetchSection, toCrlf, type SectionSpec } from '../../mime/section.js';
import { imapText, nulsTo80 } from '../../mime/crlf.js';
import { isConverterMemory, wasmConverter, type WasmConverter } from '../../mime/crlf-wasm.js';
import { borrowedInfo, cachedInfo, prefetch, readChunksSync, readWholeSync } from '../storage-fast.js';

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
    (i) =>
      (i.kind === 'simple' && (i.name === 'ENVELOPE' || i.name === 'BODYSTRUCTURE' || i.name === 'BODY')) ||
      (i.kind === 'section' && !isWholeMessage(i.spec)),
  );
}

/** BODY[] / RFC822: the whole message, which needs no MIME structure. */
function isWholeMessage(spec: SectionSpec): boolean {
  return spec.part.length === 0 && !spec.text;
}

/** Top-level BODY[HEADER.FIELDS (...)]: rendered from the cached header, no file access. */
function isTopHeaderFields(item: FetchItem): boolean {
  return item.kind === 'section' && item.spec.part.length === 0 && item.spec.text === 'HEADER.FIELDS';
}

/** Whole-message partials starting below this virtual offset are served by scanning from byte 0. */
const WHOLE_PARTIAL_SCAN_MAX = 256 * 1024;

/** Bytes of the whole message in CRLF form from a virtual offset, reading only what is needed (NULs as 0x80). */
export async function wholePartial(view: MailboxView, uid: number, offset: number, length: number): Promise<Buffer> {
  const out: Buffer[] = [];
  let produced = 0; // virtual bytes passed so far
  let pos = 0; // physical position
  let prevCR = false;
  const chunkSize = Math.max(4096, Math.min(1 << 20, length + 1));
  for (;;) {
    const chunk = await view.read(uid, pos, pos + chunkSize);
    if (chunk.length === 0) break;
    const conv = toCrlf(chunk, prevCR);
    prevCR = chunk[chunk.length - 1] === 0x0d;
    const start = Math.max(0, offset - produced);
    const end = Math.min(conv.length, offset + length - produced);
    if (start < end) out.push(conv.subarray(start, end));
    produced += conv.length;
    pos += chunk.length;
    if (produced >= offset + length || chunk.length < chunkSize) break;
  }
  // Dovecot sends NUL as 0x80 in every BODY[] literal, partial or not (imap-msgpart.c).
  return nulsTo80(out.length === 1 ? out[0] : Buffer.concat(out));
}

/** Messages up to this size are sent from a latin1 string (cheaper to convert), bigger ones from Buffers. */
const TEXT_BODY_MAX = 256 * 1024;

/**
 * BODY[] without a partial: the file in CRLF form, NULs as 0x80 - the bytes fetchSection
 * gives, without parsing the structure. Small messages come back as a latin1 string.
 */
export async function wholeMessage(view: MailboxView, uid: number): Promise<Buffer | string> {
  const raw = await view.read(uid);
  return raw.length <= TEXT_BODY_MAX ? imapText(raw) : nulsTo80(toCrlf(raw));
}

async function sectionData(
  view: MailboxView,
  uid: number,
  item: Extract<FetchItem, { kind: 'section' }>,
  info: MessageInfo | undefined,
  fieldNames: FieldNames | undefined,
): Promise<Buffer | string | null> {
  const { spec, partial } = item;
  if (isWholeMessage(spec)) {
    if (!partial) return wholeMessage(view, uid);
    if (partial[0] < WHOLE_PARTIAL_SCAN_MAX) {
      // Whole-message partials near the start need no MIME structure: a 1 KB peek at a
      // 50 MB file reads ~1 KB. Deeper offsets use the cached structure's CRLF checkpoints instead.
      return wholePartial(view, uid, partial[0], partial[1]);
    }
  }
  const mi = info ?? (await view.info(uid));
  if (spec.part.length === 0 && spec.text === 'HEADER.FIELDS' && fieldNames) {
    const text = headerFieldsText(mi.header, fieldNames);
    return partial ? sliceText(text, partial) : text;
  }
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

function sliceText(data: string, [offset, length]: [number, number]): string {
  return data.slice(Math.min(offset, data.length), Math.min(data.length, offset + length));
}

/** Write threshold: responses are handed to the connection in pieces of about this many bytes. */
const BATCH = 64 * 1024;
/** Messages whose parsed info is fetched ahead of the one being written (when not in memory). */
const READ_AHEAD = 16;
/** Messages whose RFC822.SIZE / INTERNALDATE are prefetched at a time. */
const PREFETCH_WINDOW = 512;
/** A long FETCH gives other connections a turn at least this often (ms). */
const YIELD_MS = 20;
/** Literals at least this long are queued as the Buffer itself, not copied into the response text. */
const BUFFER_LITERAL_MIN = 2048;

/** What one FETCH command asks for, worked out once for all its messages. */
interface Plan {
  items: FetchItem[];
  /** Per item: compiled field names of a top-level HEADER.FIELDS. */
  fieldNames: (FieldNames | undefined)[];
  wantsUid: boolean;
  wantsFlags: boolean;
  withInfo: boolean;
  /** RFC822.SIZE or INTERNALDATE: storage may have to find them out (MailboxView.prefetch). */
  wantsFacts: boolean;
  /** Every item can be rendered from the index and the parsed info alone (no file reads). */
  sync: boolean;
  /** Like sync, plus whole-message BODY[]/RFC822 without a partial: renderSync() tries them (storage may read the file synchronously). */
  syncWhole: boolean;
}

function makePlan(items: FetchItem[], byUid: boolean): Plan {
  return {
    items,
    fieldNames: items.map((i) => (isTopHeaderFields(i) && i.kind === 'section' ? new FieldNames(i.spec.fields ?? []) : undefined)),
    wantsUid: byUid || items.some((i) => i.kind === 'simple' && i.name === 'UID'),
    wantsFlags: items.some((i) => i.kind === 'simple' && i.name === 'FLAGS'),
    withInfo: needsInfo(items),
    wantsFacts: items.some((i) => i.kind === 'simple' && (i.name === 'RFC822.SIZE' || i.name === 'INTERNALDATE')),
    sync: items.every((i) => i.kind === 'simple' || isTopHeaderFields(i)),
    syncWhole: items.every((i) => i.kind === 'simple' || isTopHeaderFields(i) || (isWholeMessage(i.spec) && !i.partial)),
  };
}

async function runFetch(ctx: CommandContext): Promise<string> {
  const { session, args, uid: byUid } = ctx;
  const set = args.sequenceSet();
  const items = parseFetchItems(args.next('fetch attributes'));
  args.end();
  const sel = selected(session);
  const view = sel.view;
  const uids = targetUids(sel, set, byUid);
  const plan = makePlan(items, byUid);
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

  // Parsed info not in memory is requested a few messages ahead of the one being written.
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
  let queued = 0;
  let missing = 0;
  let lastYield = performance.now();
  for (let k = 0; k < uids.length; k++) {
    // Sizes and dates storage has not found out yet are looked up in parallel, a window at a time.
    if (plan.wantsFacts && k % PREFETCH_WINDOW === 0) await prefetch(view, uids.slice(k, k + PREFETCH_WINDOW));
    const u = uids[k];
    const index = sel.indexOf(u);
    const meta = index < 0 ? undefined : sel.metaAt(index);
    if (!meta) {
      missing++;
      continue;
    }
    let info: MessageInfo | undefined;
    let body: string | (string | Buffer)[] | undefined;
    try {
      if (plan.withInfo) {
        // renderSync uses the info at once and keeps nothing of it: a borrowed one will do.
        info = plan.sync ? borrowedInfo(view, u) : cachedInfo(view, u);
        // A read-ahead of u may have put its info in memory: its promise must go too, or the
        // map keeps every info of the command (measured: 21,000 infos, ~60 MB, at 50,000
        // messages, all promoted to the old generation before they could be freed).
        if (info) infoCache.delete(u);
        else {
          for (let j = k + 1; j < Math.min(uids.length, k + READ_AHEAD); j++) if (!infoCache.has(uids[j])) void infoOf(uids[j]);
          info = await infoOf(u);
          infoCache.delete(u);
        }
      }
      body = plan.syncWhole ? renderSync(plan, sel, view, u, meta, info) : undefined;
      if (body === undefined) body = await renderAsync(plan, sel, view, u, meta, info);
    } catch (err) {
      infoCache.delete(u);
      if (err instanceof StorageError && err.code === 'EXPUNGEISSUED') {
        missing++;
        continue;
      }
      throw err;
    }
    out += `* ${index + 1} FETCH (`;
    let head = '';
    if (plan.wantsUid) head = `UID ${u}`;
    if (seenChanged.has(u) && !plan.wantsFlags) head += (head ? ' ' : '') + `FLAGS ${sel.flagsOf(u, meta.flags)}`;
    if (typeof body === 'string') {
      out += head && body ? head + ' ' + body : head + body;
    } else {
      out += head;
      let first = head === '';
      for (const p of body) {
        if (typeof p === 'string') {
          out += (first ? '' : ' ') + p;
          first = false;
        } else {
          // Literal bytes: queue the text so far, then the Buffer itself, without a latin1 copy.
          session.write(out);
          queued += out.length + p.length;
          out = '';
          // Bytes in the converter's memory are only valid until its next use: the connection copies them.
          session.write(p, isConverterMemory(p));
        }
      }
    }
    out += ')\r\n';
    if (out.length + queued >= BATCH) {
      session.write(out);
      out = '';
      queued = 0;
      await session.io.drain();
      // Messages rendered from memory never wait for I/O: let other connections have a turn.
      if (performance.now() - lastYield > YIELD_MS) {
        await new Promise((resolve) => setImmediate(resolve));
        lastYield = performance.now();
      }
    }
  }
  if (out) session.write(out);
  if (missing > 0) throw new ImapNo('Some of the requested messages no longer exist.', 'EXPUNGEISSUED');
  return 'Fetch completed.';
}

/** A simple (non-section) data item. */
function renderSimple(name: Simple, sel: SelectedMailbox, uid: number, meta: MessageMeta, info: MessageInfo | undefined): string {
  switch (name) {
    case 'UID':
      return ''; // always rendered first
    case 'FLAGS':
      return `FLAGS ${sel.flagsOf(uid, meta.flags)}`;
    case 'INTERNALDATE':
      return `INTERNALDATE ${imapDateTime(meta.internalDate)}`;
    case 'RFC822.SIZE':
      return `RFC822.SIZE ${meta.size}`;
    case 'ENVELOPE':
      // Pre-rendered when the message was parsed (structure.ts); older cache entries lack it.
      return `ENVELOPE ${info!.structure.headerEnvelope ?? envelope(info!.header)}`;
    case 'BODYSTRUCTURE':
      return `BODYSTRUCTURE ${bodyStructure(info!.structure, true)}`;
    case 'BODY':
      return `BODY ${bodyStructure(info!.structure, false)}`;
  }
}

/** Read buffer of renderSync for whole messages where WebAssembly is unavailable (filled and copied within one call). */
let wholeScratch: Buffer | undefined;

/**
 * The data items of one message, without a promise: items from the index and the parsed info,
 * and the whole message (BODY[], RFC822) when storage reads the file synchronously (up to
 * 4 MB). A string, or pieces when a literal is bytes: bytes in the converter's memory
 * (isConverterMemory) are only valid until the next call, so they are written as transient.
 * Undefined when it cannot; renderAsync() then does the work.
 */
function renderSync(plan: Plan, sel: SelectedMailbox, view: MailboxView, uid: number, meta: MessageMeta, info: MessageInfo | undefined): string | (string | Buffer)[] | undefined {
  let out = '';
  let pieces: (string | Buffer)[] | undefined;
  const items = plan.items;
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    let piece: string;
    if (item.kind === 'simple') {
      piece = renderSimple(item.name, sel, uid, meta, info);
      if (piece === '') continue;
    } else if (isWholeMessage(item.spec)) {
      // The file goes into the converter's memory and the converted bytes from there to the
      // connection (crlf-wasm.ts); a second whole item in the same FETCH takes the string route.
      const conv = pieces ? null : wasmConverter();
      if (conv) {
        const raw = readWholeSync(view, uid, conv.input);
        const bytes = raw === undefined ? convertPieces(view, uid, conv) : conv.convert(raw.length);
        if (bytes === undefined) return undefined;
        pieces = out ? [out] : [];
        if (Array.isArray(bytes)) pieces.push(`${item.label} {${bytes.reduce((n, b) => n + b.length, 0)}}\r\n`, ...bytes);
        else pieces.push(`${item.label} {${bytes.length}}\r\n`, bytes);
        out = '';
        continue;
      }
      wholeScratch ??= Buffer.allocUnsafeSlow(TEXT_BODY_MAX);
      const raw = readWholeSync(view, uid, wholeScratch);
      if (raw === undefined) return undefined;
      piece = `${item.label} ${textLiteral(imapText(raw))}`;
    } else {
      let text = headerFieldsText(info!.header, plan.fieldNames[i]!);
      if (item.partial) text = sliceText(text, item.partial);
      piece = `${itemLabel(item)} ${textLiteral(text)}`;
    }
    if (pieces) pieces.push(piece);
    else out += out ? ' ' + piece : piece;
  }
  return pieces ?? out;
}

/**
 * Messages longer than the converter's buffer and up to this size are converted piece by piece
 * (convertPieces) without a promise; longer ones go through read() (renderAsync), a piece at a
 * time to the connection. Reading and converting 4 MB from the page cache takes about 2 ms.
 */
const PIECES_MAX = 4 * 1024 * 1024;

/**
 * BODY[] of a message longer than the converter's buffer: the file read a buffer at a time
 * into the converter's memory and each piece converted there (an LF at the start of a piece
 * stays as it is after a CR at the end of the previous one) and copied out. Undefined when
 * storage cannot read it synchronously or it is longer than PIECES_MAX (then renderAsync).
 * Before this, such messages went through latin1 strings, three copies the size of the
 * message for the garbage collector.
 */
function convertPieces(view: MailboxView, uid: number, conv: WasmConverter): Buffer[] | undefined {
  const out: Buffer[] = [];
  let before = 0;
  const ok = readChunksSync(view, uid, conv.input, PIECES_MAX, (chunk) => {
    out.push(Buffer.from(conv.convert(chunk.length, before)));
    before = chunk[chunk.length - 1];
  });
  return ok ? out : undefined;
}

/** The data items of one message. Buffers are raw literal bodies to write as they are. */
async function renderAsync(
  plan: Plan,
  sel: SelectedMailbox,
  view: MailboxView,
  uid: number,
  meta: MessageMeta,
  info: MessageInfo | undefined,
): Promise<(string | Buffer)[]> {
  const out: (string | Buffer)[] = [];
  const items = plan.items;
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    if (item.kind === 'simple') {
      const piece = renderSimple(item.name, sel, uid, meta, info);
      if (piece !== '') out.push(piece);
      continue;
    }
    const data = await sectionData(view, uid, item, info, plan.fieldNames[i]);
    const label = itemLabel(item);
    if (data === null) {
      out.push(`${label} NIL`);
    } else if (typeof data === 'string') {
      out.push(`${label} ${textLiteral(data)}`);
    } else if (data.length >= BUFFER_LITERAL_MIN) {
      out.push(`${label} {${data.length}}\r\n`);
      out.push(data);
    } else {
      out.push(`${label} ${literal(data)}`);
    }
  }
  return out;
}

function itemLabel(item: Extract<FetchItem, { kind: 'section' }>): string {
  return item.partial ? `${item.label}<${item.partial[0]}>` : item.label;
}

/** Body data always goes as a literal (like Dovecot), so 8-bit and CRLF pass unchanged. */
function literal(data: Buffer): string {
  if (data.length === 0) return '""';
  return `{${data.length}}\r\n${data.toString('latin1')}`;
}

/** literal() of a latin1 string. */
function textLiteral(data: string): string {
  if (data.length === 0) return '""';
  return `{${data.length}}\r\n${data}`;
}

export const FETCH: CommandSpec = { states: ['selected'], expungeOk: false, run: runFetch };
export const UID_FETCH: CommandSpec = { states: ['selected'], run: runFetch };
