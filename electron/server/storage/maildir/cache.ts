// Roost's disposable per-mailbox cache. Deleting it loses no mail: it is rebuilt from the
// message files (only the \Recent state, in .recent, starts over). Three files in the mailbox
// directory (or, with a cacheDir, as <cacheDir>/<sha256 of the mailbox path, 32 hex>.cache*),
// the first two append-only:
//
// roost.cache        small, read when the mailbox is loaded; one record per line, TAB-separated:
//   H  roost-cache  2  <uidvalidity>  <generation>  <mailbox dir>     first line
//   M  <uid>  <mtime ms>  <vsize>  <base>  INTERNALDATE and RFC822.SIZE of a message file;
//                                          either value may be '-' (not known yet)
//   P  <uid>  <offset>  <length>  <base>   where the parsed info of a message is in .data
// roost.cache.data   parsed messages, read when info() is first needed (see below):
//   H  roost-cache-data  2  <uidvalidity>  <generation>                first line
//   then one record per message:
//   <uid> TAB <base> TAB <physical size> TAB <header length> TAB <structure length> LF
//   <header bytes, raw> <MimePart JSON, UTF-8> LF
// roost.cache.recent `<uidvalidity> <first recent uid>\n`: UIDs >= this were never given \Recent
//                    by a Roost read-write view (written with temporary name + rename, no
//                    fsync, a moment after it changes; read by STATUS without loading the mailbox).
//                    A uidlist Roost creates starts it at 1; for a mailbox found on disk it
//                    starts at the uidlist's next uid (like Dovecot building a new index:
//                    numbered messages are old, the rest and files in new/ are recent).
//
// <base> is the maildir base name with '%', TAB, CR and LF percent-encoded. Later records win
// (an M record's '-' does not replace a known value). Every record is checked against the
// message's current uid and base name before it is used; a header with another uidvalidity,
// version or a data file of another generation invalidates the cache. Corrupt lines are
// skipped (logged at debug). Both files are rewritten (temporary name, fsync, rename) when they
// hold much more than the live messages. New, empty files are written without fsync (a lost
// one is simply rebuilt): a user's first login creates five mailboxes. Version 1 files
// (base64 headers) are simply rebuilt.
//
// In memory (what keeps a 50,000-message mailbox cheap): no parsed objects are kept. Per
// message there is one slot in a few typed arrays (where its record is in the data file, and
// in memory); the records' payloads (header bytes + structure JSON, exactly as in the data
// file) are copied into a few large Buffers ("chunks") per mailbox, newest messages first,
// within a budget of real bytes shared by all mailboxes of the process (infoMemory). A
// MessageInfo handed out is a small wrapper: `header` is a view of those bytes and
// `structure` is parsed from its JSON on first access (SEARCH FROM or HEADER.FIELDS never
// parse it). Records beyond the budget are read from the data file synchronously when asked
// for (short reads from the page cache; a sequential scan reads ever larger windows ahead,
// so FETCH 1:* costs one read per ~256 KB). New records are appended in batches (flush()),
// not one write per message.

import fsSync, { constants as FS } from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import type { MessageInfo } from '../types.js';
import type { MimePart } from '../../mime/types.js';
import { FsContext, closeQuietly, fsAsync, isNotFound, readTextSync, uniqueSuffix, writeAll } from './fsutil.js';

export const CACHE_FILE = 'roost.cache';
const VERSION = '2';
// Buffers that come and go stay below 128 KB, glibc's initial mmap threshold (see
// readTextSync in fsutil.ts for why that matters).
/** Queued records are written once they reach this size (else by a timer or the operation's end). */
const FLUSH_BYTES = 96 * 1024;
/** Size of the buffer queued data records are written into. */
const BATCH_SIZE = 112 * 1024;
/** Queued records wait at most this long. */
const FLUSH_DELAY_MS = 250;
/** The \Recent state is written this long after it changes (many changes, one write). */
const RECENT_DELAY_MS = 200;
/** Loading records into memory (and compaction) reads this much of the data file at once. */
const LOAD_WINDOW = 112 * 1024;
/** Synchronous reads of records beyond the memory budget: a lone record reads this much... */
const READ_MIN = 16 * 1024;
/** ...and a sequential scan doubles that up to this. */
const READ_MAX = 256 * 1024;
/**
 * A scan's next window starts this far before the record asked for: records appended by
 * parallel parses (SEARCH TEXT's 16 workers building the cache) are in uid order only
 * roughly, mostly a record or two (up to ~16, ~40 KB) early or late. Without it, each record
 * a little behind the window restarted the scan at READ_MIN: SEARCH FROM over 50,000 messages
 * made 4,925 reads (257 MB) of a 127 MB file; with it 537 reads (133 MB).
 */
const READ_BACK = 48 * 1024;
/** Memory chunks grow from this size... */
const CHUNK_MIN = 16 * 1024;
/** ...to this one; a record over a quarter of it gets a Buffer of its own. */
const CHUNK_MAX = 112 * 1024;
/** Infos just parsed, kept so asking again returns the same object (and its parsed structure). */
const RECENT_INFOS = 16;

function escapeBase(base: string): string {
  return /[%\t\r\n]/.test(base) ? base.replace(/[%\t\r\n]/g, (c) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0')) : base;
}
function unescapeBase(text: string): string {
  return text.includes('%') ? text.replace(/%([0-9a-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))) : text;
}

/** 32-bit FNV-1a of a base name: checks that a record in memory belongs to the message asked for. */
function hashBase(base: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < base.length; i++) {
    h ^= base.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h | 0;
}

export interface MetaEntry {
  uid: number;
  /** NaN when unknown. */
  mtime: number;
  /** -1 when unknown. */
  vsize: number;
}

export interface CacheFiles {
  meta: string;
  data: string;
}

/**
 * Memory for records kept in memory (chunk bytes actually allocated), shared by every mailbox
 * cache of the process. `reclaim` (set by the mailbox registry) drops the records of mailboxes
 * nobody has open when an open one needs room. 8 MB, not more: records beyond it are read
 * from the data file (page cache) without a copy when the caller only looks (peekInfo's
 * borrow), and at 50,000 messages (~125 MB of records) 32 MB cost ~24 MB of RSS for no
 * measurable gain (headers warm 584-648 ms with 32 MB, 635-670 ms with 8 MB; SEARCH FROM
 * within the noise).
 */
export const infoMemory: { budget: number; used: number; reclaim?: (need: number) => void } = {
  budget: 8 * 1024 * 1024,
  used: 0,
};

/**
 * A copy of bytes in memory of its own (a header parsed from a message file, so the read
 * buffer it came from can be reused; a record read from the data file). Not from Node's
 * shared 8 KB pool: the pool's current slab lives across several young-generation
 * collections, gets promoted, and then keeps every Buffer ever cut from it (garbage or not)
 * until a full collection; these copies are short-lived and should die young.
 */
export function copyBytes(src: Buffer, start = 0, end = src.length): Buffer {
  const out = Buffer.allocUnsafeSlow(end - start);
  src.copy(out, 0, start, end);
  return out;
}

export const copyHeader = (src: Buffer): Buffer => copyBytes(src);

/**
 * A MessageInfo over cache bytes (a memory chunk or a window read from the data file). The
 * structure is parsed from its JSON on first access; should the JSON be unreadable (a damaged
 * data file), `reparse` parses the message file instead.
 */
class StoredInfo implements MessageInfo {
  private parsed: MimePart | undefined;
  private view: Buffer | undefined;

  constructor(
    private readonly src: Buffer,
    private readonly headerStart: number,
    private readonly jsonStart: number,
    private readonly jsonEnd: number,
    readonly physicalSize: number,
    private readonly reparse: () => MimePart,
    structure?: MimePart,
  ) {
    this.parsed = structure;
  }

  get header(): Buffer {
    return (this.view ??= this.src.subarray(this.headerStart, this.jsonStart));
  }

  get structure(): MimePart {
    if (this.parsed) return this.parsed;
    let s: MimePart | undefined;
    try {
      s = JSON.parse(this.src.toString('utf8', this.jsonStart, this.jsonEnd)) as MimePart;
    } catch {
      s = undefined;
    }
    if (!s || typeof s !== 'object' || typeof s.type !== 'string') s = this.reparse();
    this.parsed = s;
    return s;
  }

  toJSON(): MessageInfo {
    return { header: this.header, structure: this.structure, physicalSize: this.physicalSize };
  }
}

export function cachePaths(mailboxDir: string, cacheDir?: string): { meta: string; data: string } {
  if (!cacheDir) return { meta: path.join(mailboxDir, CACHE_FILE), data: path.join(mailboxDir, CACHE_FILE + '.data') };
  const hash = crypto.createHash('sha256').update(path.resolve(mailboxDir)).digest('hex').slice(0, 32);
  return { meta: path.join(cacheDir, `${hash}.cache`), data: path.join(cacheDir, `${hash}.cache.data`) };
}

function formatNumber(n: number): string {
  return Number.isFinite(n) && n >= -8.64e15 ? String(n) : '-';
}

/** The head line of a data record, parsed. */
interface RecordHead {
  uid: number;
  /** As written (percent-encoded). */
  escapedBase: string;
  physicalSize: number;
  headerLength: number;
  structureLength: number;
}

function parseRecordHead(line: string): RecordHead | undefined {
  const f = line.split('\t');
  if (f.length !== 5) return undefined;
  const uid = Number(f[0]);
  const physicalSize = Number(f[2]);
  const headerLength = Number(f[3]);
  const structureLength = Number(f[4]);
  if (!(uid > 0) || !(physicalSize >= 0) || !Number.isInteger(headerLength) || !(headerLength >= 0) || !Number.isInteger(structureLength) || !(structureLength > 0)) {
    return undefined;
  }
  return { uid, escapedBase: f[1], physicalSize, headerLength, structureLength };
}

/**
 * parseRecordHead() of buf[at, nl) read from the bytes, for the usual head (numbers of plain
 * decimal digits); undefined for anything else, which then takes the string path. Every
 * record SEARCH FROM reads from the data file goes through here: the split() and Number()s
 * cost ~10% of a search over 50,000 messages.
 */
function parseRecordHeadBytes(buf: Buffer, at: number, nl: number): RecordHead | undefined {
  // Fields: uid, base, physical size, header length, structure length (no array: one per record).
  let field = 0;
  let n = 0;
  let digits = 0;
  let uid = 0;
  let physicalSize = 0;
  let headerLength = 0;
  let baseStart = -1;
  let baseEnd = -1;
  for (let i = at; i <= nl; i++) {
    const c = i < nl ? buf[i] : 0x09;
    if (c === 0x09) {
      if (field === 1) baseEnd = i;
      else {
        if (digits === 0 || digits > 15) return undefined;
        if (field === 0) uid = n;
        else if (field === 2) physicalSize = n;
        else if (field === 3) headerLength = n;
      }
      if (++field > 5) return undefined;
      if (field === 1) baseStart = i + 1;
      if (field < 5) {
        n = 0;
        digits = 0;
      }
    } else if (field !== 1) {
      if (c < 0x30 || c > 0x39) return undefined;
      n = n * 10 + (c - 0x30);
      digits++;
    }
  }
  if (field !== 5 || !(uid > 0) || !(n > 0)) return undefined;
  return { uid, escapedBase: buf.toString('utf8', baseStart, baseEnd), physicalSize, headerLength, structureLength: n };
}

/**
 * The record at buf[at, at + length): its head and where its payload starts, or undefined when
 * it is not a well-formed record of exactly that length.
 */
function checkRecord(buf: Buffer, at: number, length: number): { head: RecordHead; payload: number } | undefined {
  const end = at + length;
  if (end > buf.length || length < 12 || buf[end - 1] !== 0x0a) return undefined;
  const nl = buf.indexOf(0x0a, at);
  if (nl < 0 || nl >= end - 1 || nl - at > 4096) return undefined;
  const head = parseRecordHeadBytes(buf, at, nl) ?? parseRecordHead(buf.toString('utf8', at, nl));
  if (!head || nl + 1 + head.headerLength + head.structureLength + 1 !== end) return undefined;
  return { head, payload: nl + 1 };
}

/**
 * The buffer synchronous reads of data files go through (records are copied out of it), and
 * which bytes of whose data file it holds: [start, end) of the cache with id `owner`.
 */
const readWindow = { buf: Buffer.allocUnsafeSlow(0), owner: 0, start: 0, end: 0 };
let cacheIds = 0;

export class MailboxCache {
  private generation = '';
  private uidValidity = 0;
  /** base -> meta, only while the mailbox index is being built (see releaseMeta). */
  private meta = new Map<string, MetaEntry>();

  // Slots: per message with a record, a few numbers in typed arrays (no object per message).
  /** uid -> slot. */
  private slotOf = new Map<number, number>();
  private freeSlots: number[] = [];
  private slotCount = 0;
  /** The uid a slot belongs to. */
  private sUid = new Uint32Array(0);
  /** Where the record is in the data file (-1: not written yet) and its whole length. */
  private sFileOff = new Float64Array(0);
  private sFileLen = new Int32Array(0);
  /** The payload in memory: index in `chunks` (-1: not in memory), offset, header and JSON lengths. */
  private sChunk = new Int32Array(0);
  private sMemOff = new Int32Array(0);
  private sHeaderLen = new Int32Array(0);
  private sJsonLen = new Int32Array(0);
  /** Physical size and hashBase() of the base name (valid while the payload is in memory). */
  private sPhys = new Float64Array(0);
  private sHash = new Int32Array(0);

  // Payloads in memory (counted in infoMemory).
  private chunks: Buffer[] = [];
  /** The chunk records are appended to, its index in `chunks` and its used bytes. */
  private cur: Buffer | undefined;
  private curIndex = -1;
  private curUsed = 0;
  /** Bytes allocated for chunks, and bytes of live payloads in them. */
  private memBytes = 0;
  private memLive = 0;
  /** Changes whenever the memory copies are dropped (a load in progress then stops). */
  private memEpoch = 0;
  /** The first info() has been asked for (the memory copies are loaded): records may be read. */
  private dataReady = false;
  /** Loading the memory copies (once per dataReady). */
  private dataLoad: Promise<void> | undefined;
  /** Identifies this cache's reads in readWindow (0: none). */
  private readonly id = ++cacheIds;
  /** Size of the next synchronous read of the data file. */
  private readSize = READ_MIN;

  /** Infos whose records are queued but neither written yet nor in memory (over the budget only). */
  private readonly unwritten = new Map<number, { base: string; info: MessageInfo }>();
  /** Infos just parsed (info() and infoCached() return the same object for a while). */
  private readonly recentInfos = new Map<number, { base: string; info: MessageInfo }>();
  /**
   * Parses a message file synchronously (set by the mailbox): the fallback when a record's
   * structure turns out unreadable after its info was handed out.
   */
  reparse: ((uid: number) => MimePart) | undefined;

  private firstRecent: number | undefined;
  private recentDirty = false;
  private recentTimer: NodeJS.Timeout | undefined;
  private pendingMeta: string[] = [];
  private pendingData: { uid: number; base: string; start: number; length: number }[] = [];
  /** Queued data records, back to back ([0, batchUsed)); reused after each flush. */
  private batch: Buffer = Buffer.alloc(0);
  private batchUsed = 0;
  private pendingBytes = 0;
  private flushTimer: NodeJS.Timeout | undefined;
  /** compactIfNeeded() is replacing the files (flush() waits). */
  private compacting = false;
  private metaLines = 0;
  private dataSize = 0;
  private dataLiveBytes = 0;
  private disabled = false;
  private loaded = false;
  private closed = false;
  /** Identity of roost.cache as last read or written by us: a change by anyone else means reload. */
  private metaIdentity = '';

  constructor(
    private readonly mailboxDir: string,
    private readonly files: { meta: string; data: string },
    private readonly fsx: FsContext,
  ) {}

  private debug(message: string): void {
    this.fsx.log('debug', `cache ${this.files.meta}: ${message}`);
  }

  /** Read roost.cache for a mailbox with this UIDVALIDITY (anything else starts a new cache). */
  async load(uidValidity: number): Promise<void> {
    this.uidValidity = uidValidity;
    this.loaded = true;
    let text: string;
    try {
      // In small pieces (readTextSync): the file of a big mailbox is megabytes.
      const fd = fsSync.openSync(this.files.meta, FS.O_RDONLY);
      try {
        text = readTextSync(fd, 0, fsSync.fstatSync(fd).size).text;
      } finally {
        closeQuietly(fd);
      }
    } catch (err) {
      if (!isNotFound(err)) this.debug(`unreadable, rebuilding: ${String(err)}`);
      await this.reset();
      return;
    }
    const firstNl = text.indexOf('\n');
    const head = text.slice(0, firstNl < 0 ? text.length : firstNl).split('\t');
    if (head[0] !== 'H' || head[1] !== 'roost-cache' || head[2] !== VERSION || Number(head[3]) !== uidValidity || !head[4]) {
      this.debug('stale or foreign header, rebuilding');
      await this.reset();
      return;
    }
    this.noteMetaIdentity();
    // A copy: a slice would keep the whole file's text alive as long as the cache lives.
    this.generation = Buffer.from(head[4], 'utf8').toString('utf8');
    const dataOk = this.checkData();
    if (!dataOk) await this.newDataFile();
    let bad = 0;
    let start = firstNl + 1;
    while (start > 0 && start < text.length) {
      let end = text.indexOf('\n', start);
      if (end < 0) end = text.length;
      const line = text.slice(start, end);
      start = end + 1;
      if (line === '') continue;
      this.metaLines++;
      const f = line.split('\t');
      if (f.length !== 5) {
        bad++;
        continue;
      }
      if (f[0] === 'M') {
        const uid = Number(f[1]);
        const mtime = f[2] === '-' ? NaN : Number(f[2]);
        const vsize = f[3] === '-' ? -1 : Number(f[3]);
        if (uid > 0 && Number.isInteger(uid) && (Number.isFinite(mtime) || f[2] === '-') && Number.isInteger(vsize) && vsize >= -1) {
          const base = unescapeBase(f[4]);
          const old = this.meta.get(base);
          if (old && old.uid === uid) {
            if (Number.isFinite(mtime)) old.mtime = mtime;
            if (vsize >= 0) old.vsize = vsize;
          } else {
            this.meta.set(base, { uid, mtime, vsize });
          }
          continue;
        }
      } else if (f[0] === 'P') {
        const uid = Number(f[1]);
        const offset = Number(f[2]);
        const length = Number(f[3]);
        if (uid > 0 && offset > 0 && length > 0) {
          if (dataOk && offset + length <= this.dataSize) this.setFileRecord(this.slotOf.get(uid) ?? this.newSlot(uid), offset, length);
          continue;
        }
      }
      bad++;
    }
    if (bad > 0) this.debug(`${bad} corrupt line(s) skipped`);
  }

  private noteMetaIdentity(): void {
    try {
      const st = fsSync.statSync(this.files.meta);
      this.metaIdentity = `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch {
      this.metaIdentity = '';
    }
  }

  /**
   * True when roost.cache is still the file this cache last read or wrote (nobody replaced,
   * removed or damaged it). Pending records are written first.
   */
  async unchangedOnDisk(): Promise<boolean> {
    if (this.disabled) return true;
    await this.flush();
    try {
      const st = fsSync.statSync(this.files.meta);
      return this.metaIdentity === `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch {
      return false;
    }
  }

  private checkData(): boolean {
    try {
      const fd = fsSync.openSync(this.files.data, FS.O_RDONLY);
      try {
        const buf = Buffer.alloc(200);
        const bytesRead = fsSync.readSync(fd, buf, 0, 200, 0);
        const first = buf.subarray(0, bytesRead).toString('utf8').split('\n')[0].split('\t');
        this.dataSize = fsSync.fstatSync(fd).size;
        return (
          first[0] === 'H' &&
          first[1] === 'roost-cache-data' &&
          first[2] === VERSION &&
          first[3] === String(this.uidValidity) &&
          first[4] === this.generation
        );
      } finally {
        closeQuietly(fd);
      }
    } catch {
      this.dataSize = 0;
      return false;
    }
  }

  private async newDataFile(): Promise<void> {
    this.forgetWindow();
    const dataHead = `H\troost-cache-data\t${VERSION}\t${this.uidValidity}\t${this.generation}\n`;
    try {
      // Not durable (no fsync): a lost or empty file is found out by load() and rebuilt.
      await this.fsx.writeAtomic(this.files.data, dataHead, undefined, false);
      this.dataSize = Buffer.byteLength(dataHead);
    } catch (err) {
      this.disable(err);
    }
  }

  /** Start new, empty cache files. */
  private async reset(): Promise<void> {
    this.generation = crypto.randomBytes(8).toString('hex');
    this.meta.clear();
    this.dropInfos();
    this.clearSlots();
    this.firstRecent = undefined;
    this.pendingMeta = [];
    this.pendingData = [];
    this.pendingBytes = 0;
    this.metaLines = 0;
    this.dataLiveBytes = 0;
    try {
      if (path.dirname(this.files.meta) !== this.mailboxDir) await this.fsx.mkdirp(path.dirname(this.files.meta));
      await this.newDataFile();
      await this.fsx.writeAtomic(this.files.meta, this.metaHeader(), undefined, false);
      this.noteMetaIdentity();
    } catch (err) {
      this.disable(err);
    }
  }

  private metaHeader(): string {
    return `H\troost-cache\t${VERSION}\t${this.uidValidity}\t${this.generation}\t${escapeBase(this.mailboxDir)}\n`;
  }

  /**
   * The maildir (or roost.cache) was removed while the index was loaded (a user deleted with
   * rm -r): the cache turns itself off without a word and drops what is pending. Writing on
   * would recreate roost.cache / roost.cache.recent in a directory being removed, and the
   * removal then fails with ENOTEMPTY.
   */
  private vanished(): boolean {
    if (fsSync.existsSync(path.join(this.mailboxDir, 'cur')) && fsSync.existsSync(this.files.meta)) return false;
    this.debug('mailbox directory or cache file gone; cache disabled');
    this.abandon();
    this.disabled = true;
    return true;
  }

  private disable(err: unknown): void {
    if (!this.disabled) this.fsx.log('warn', `Roost cache ${this.files.meta} disabled: ${String(err)}`);
    this.disabled = true;
  }

  /** Cached mtime/vsize of a base name while the index is being built. */
  lookupMeta(base: string, uid: number): MetaEntry | undefined {
    const m = this.meta.get(base);
    return m && m.uid === uid ? m : undefined;
  }

  /** The meta map is only needed to build the index; the index then holds the values. */
  releaseMeta(): void {
    this.meta = new Map();
  }

  get firstRecentUid(): number | undefined {
    return this.firstRecent;
  }

  async loadFirstRecentUid(): Promise<number | undefined> {
    this.firstRecent = await readFirstRecentUid(this.files, this.uidValidity);
    return this.firstRecent;
  }

  /** Remember the first recent uid; written a moment later (see writeRecentNow). */
  setFirstRecentUid(uid: number): void {
    if (this.firstRecent === uid || this.disabled) return;
    this.firstRecent = uid;
    this.recentDirty = true;
    if (!this.recentTimer) {
      this.recentTimer = setTimeout(() => {
        this.recentTimer = undefined;
        void this.writeRecentNow();
      }, RECENT_DELAY_MS);
      this.recentTimer.unref();
    }
  }

  private async writeRecentNow(): Promise<void> {
    if (!this.recentDirty || this.disabled || this.firstRecent === undefined) return;
    this.recentDirty = false;
    // writeFirstRecentUid makes the directory if needed: never for a maildir deleted meanwhile.
    if (this.vanished()) return;
    try {
      await writeFirstRecentUid(this.files, this.uidValidity, this.firstRecent, this.fsx);
    } catch (err) {
      this.disable(err);
    }
  }

  /** Facts of a message file; NaN / -1 for what is not known. */
  recordMeta(uid: number, base: string, mtime: number, vsize: number): void {
    this.queueMeta(`M\t${uid}\t${formatNumber(mtime)}\t${vsize >= 0 ? vsize : '-'}\t${escapeBase(base)}\n`);
  }

  private queueMeta(line: string): void {
    if (this.disabled || !this.loaded || this.closed) return;
    this.pendingMeta.push(line);
    this.pendingBytes += line.length;
    this.metaLines++;
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.pendingBytes >= FLUSH_BYTES) {
      void this.flush();
      return;
    }
    if (!this.flushTimer) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = undefined;
        void this.flush();
      }, FLUSH_DELAY_MS);
      this.flushTimer.unref();
    }
  }

  /** Write queued records (data first, then the lines that point to them). */
  flush(): Promise<void> {
    if (this.disabled || (this.pendingMeta.length === 0 && this.pendingData.length === 0)) return Promise.resolve();
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
    }
    if (this.compacting) {
      // The data file is being replaced: these go to the new one afterwards.
      this.scheduleFlush();
      return Promise.resolve();
    }
    // Written at once, synchronously: appends of at most ~100 KB to the page cache cost less
    // than copying the batch for a later write, and the batch buffer is free again at once.
    // appendFileSync creates roost.cache when it is missing: not in a maildir being deleted.
    if (this.vanished()) return Promise.resolve();
    try {
      let lines = this.pendingMeta.join('');
      if (this.pendingData.length > 0) lines += this.writeData(this.pendingData, this.batch.subarray(0, this.batchUsed));
      if (lines !== '') {
        fsSync.appendFileSync(this.files.meta, lines);
        this.noteMetaIdentity();
      }
    } catch (err) {
      this.disable(err);
    }
    this.pendingData = [];
    this.pendingMeta = [];
    this.pendingBytes = 0;
    this.batchUsed = 0;
    if (this.batch.length > BATCH_SIZE) this.batch = Buffer.alloc(0);
    return Promise.resolve();
  }

  /** Append data records (`data` holds them back to back); returns the P lines for them. */
  private writeData(records: { uid: number; base: string; start: number; length: number }[], data: Buffer): string {
    const fd = fsSync.openSync(this.files.data, FS.O_WRONLY | FS.O_APPEND);
    let lines = '';
    try {
      // Appends are ours alone (the file is Roost's); the offset is the size before them.
      const offset = fsSync.fstatSync(fd).size;
      for (let done = 0; done < data.length; ) done += fsSync.writeSync(fd, data, done, data.length - done);
      for (const r of records) {
        lines += `P\t${r.uid}\t${offset + r.start}\t${r.length}\t${escapeBase(r.base)}\n`;
        this.metaLines++;
        this.unwritten.delete(r.uid);
        const slot = this.slotOf.get(r.uid);
        if (slot !== undefined) this.setFileRecord(slot, offset + r.start, r.length);
      }
      this.dataSize = offset + data.length;
    } finally {
      closeQuietly(fd);
    }
    return lines;
  }

  // ---- slots ----------------------------------------------------------------------------

  private newSlot(uid: number): number {
    let slot = this.freeSlots.pop();
    if (slot === undefined) {
      if (this.slotCount === this.sUid.length) this.growSlots();
      slot = this.slotCount++;
    }
    this.sUid[slot] = uid;
    this.sFileOff[slot] = -1;
    this.sFileLen[slot] = 0;
    this.sChunk[slot] = -1;
    this.slotOf.set(uid, slot);
    return slot;
  }

  private growSlots(): void {
    const n = Math.max(64, this.sUid.length * 2);
    const grow = <T extends Uint32Array | Int32Array | Float64Array>(old: T, make: (n: number) => T): T => {
      const a = make(n);
      a.set(old);
      return a;
    };
    this.sUid = grow(this.sUid, (k) => new Uint32Array(k));
    this.sFileOff = grow(this.sFileOff, (k) => new Float64Array(k));
    this.sFileLen = grow(this.sFileLen, (k) => new Int32Array(k));
    this.sChunk = grow(this.sChunk, (k) => new Int32Array(k));
    this.sMemOff = grow(this.sMemOff, (k) => new Int32Array(k));
    this.sHeaderLen = grow(this.sHeaderLen, (k) => new Int32Array(k));
    this.sJsonLen = grow(this.sJsonLen, (k) => new Int32Array(k));
    this.sPhys = grow(this.sPhys, (k) => new Float64Array(k));
    this.sHash = grow(this.sHash, (k) => new Int32Array(k));
  }

  private clearSlots(): void {
    this.slotOf.clear();
    this.freeSlots = [];
    this.slotCount = 0;
    this.dataLiveBytes = 0;
  }

  /** The record of a slot is at [offset, offset + length) of the data file. */
  private setFileRecord(slot: number, offset: number, length: number): void {
    if (this.sFileOff[slot] >= 0) this.dataLiveBytes -= this.sFileLen[slot];
    this.sFileOff[slot] = offset;
    this.sFileLen[slot] = length;
    this.dataLiveBytes += length;
  }

  /** The data file's record of a slot is unusable: forget where it is. */
  private discardFileRecord(slot: number): void {
    if (this.sFileOff[slot] < 0) return;
    this.dataLiveBytes -= this.sFileLen[slot];
    this.sFileOff[slot] = -1;
  }

  private dropMemoryCopy(slot: number): void {
    if (this.sChunk[slot] < 0) return;
    this.memLive -= this.sHeaderLen[slot] + this.sJsonLen[slot];
    this.sChunk[slot] = -1;
  }

  private dropSlot(uid: number, slot: number): void {
    this.discardFileRecord(slot);
    this.dropMemoryCopy(slot);
    this.slotOf.delete(uid);
    this.sUid[slot] = 0;
    this.freeSlots.push(slot);
  }

  // ---- payloads in memory ---------------------------------------------------------------

  /** Count n more bytes of memory, asking idle mailboxes to make room; false when over budget. */
  private reserveMemory(n: number): boolean {
    if (this.closed) return false;
    if (infoMemory.used + n > infoMemory.budget) infoMemory.reclaim?.(n);
    if (infoMemory.used + n > infoMemory.budget) return false;
    infoMemory.used += n;
    this.memBytes += n;
    return true;
  }

  /**
   * Copy a payload (header bytes then structure JSON, from src[start...]) into memory for
   * a slot, if the budget allows. Chunk bytes are never changed once written (infos handed
   * out are views of them).
   */
  private storeInMemory(slot: number, src: Buffer, start: number, headerLength: number, jsonLength: number): boolean {
    const n = headerLength + jsonLength;
    let buf: Buffer;
    let index: number;
    let at: number;
    if (n > CHUNK_MAX / 4) {
      if (!this.reserveMemory(n)) return false;
      buf = Buffer.allocUnsafeSlow(n);
      index = this.chunks.push(buf) - 1;
      at = 0;
    } else {
      if (!this.cur || this.curUsed + n > this.cur.length) {
        const size = Math.min(CHUNK_MAX, Math.max(CHUNK_MIN, this.memBytes));
        if (!this.reserveMemory(size)) return false;
        this.cur = Buffer.allocUnsafeSlow(size);
        this.curIndex = this.chunks.push(this.cur) - 1;
        this.curUsed = 0;
      }
      buf = this.cur;
      index = this.curIndex;
      at = this.curUsed;
      this.curUsed += n;
    }
    src.copy(buf, at, start, start + n);
    this.dropMemoryCopy(slot);
    this.sChunk[slot] = index;
    this.sMemOff[slot] = at;
    this.sHeaderLen[slot] = headerLength;
    this.sJsonLen[slot] = jsonLength;
    this.memLive += n;
    return true;
  }

  /** Copy the live payloads into fresh chunks when most of the memory is garbage (expunges). */
  private compactMemoryIfNeeded(): void {
    if (this.memBytes - this.memLive <= Math.max(2 * CHUNK_MAX, this.memLive)) return;
    const old = this.chunks;
    const slots: number[] = [];
    for (const slot of this.slotOf.values()) if (this.sChunk[slot] >= 0) slots.push(slot);
    this.releaseChunks();
    for (const slot of slots) {
      const buf = old[this.sChunk[slot]];
      this.sChunk[slot] = -1;
      // Not kept (budget): the record stays readable from the data file.
      this.storeInMemory(slot, buf, this.sMemOff[slot], this.sHeaderLen[slot], this.sJsonLen[slot]);
    }
  }

  // ---- parsed infos ----------------------------------------------------------------------

  private rememberInfo(uid: number, base: string, info: MessageInfo): void {
    this.recentInfos.delete(uid);
    this.recentInfos.set(uid, { base, info });
    if (this.recentInfos.size > RECENT_INFOS) this.recentInfos.delete(this.recentInfos.keys().next().value as number);
  }

  private fallback(uid: number): () => MimePart {
    return () => {
      const slot = this.slotOf.get(uid);
      if (slot !== undefined) {
        this.debug(`structure of uid ${uid} unreadable, parsing the message again`);
        this.dropSlot(uid, slot);
      }
      this.recentInfos.delete(uid);
      if (!this.reparse) throw new Error(`cache record of uid ${uid} is damaged`);
      return this.reparse(uid);
    };
  }

  /**
   * The info of uid/base without waiting: from memory, or (once info() was first asked for)
   * read synchronously from the data file. Undefined when the cache has none. With `borrow`,
   * a record read from the data file may be a view of the shared read buffer: the caller uses
   * it synchronously and lets go of it before anything else reads from any cache.
   */
  peekInfo(uid: number, base: string, borrow = false): MessageInfo | undefined {
    const recent = this.recentInfos.get(uid);
    if (recent !== undefined) return recent.base === base ? recent.info : undefined;
    const slot = this.slotOf.get(uid);
    let info: MessageInfo | undefined;
    if (slot !== undefined && this.sChunk[slot] >= 0) {
      if (this.sHash[slot] !== hashBase(base)) return undefined;
      const buf = this.chunks[this.sChunk[slot]];
      const at = this.sMemOff[slot];
      const json = at + this.sHeaderLen[slot];
      info = new StoredInfo(buf, at, json, json + this.sJsonLen[slot], this.sPhys[slot], this.fallback(uid));
    } else {
      const pending = this.unwritten.get(uid);
      if (pending) return pending.base === base ? pending.info : undefined;
      if (slot === undefined || !this.dataReady || this.disabled || this.sFileOff[slot] < 0) return undefined;
      info = this.readRecordSync(slot, uid, base, borrow);
    }
    return info;
  }

  /** Parsed info of uid/base from memory or the data file; undefined when the cache lacks it. */
  async getInfo(uid: number, base: string): Promise<MessageInfo | undefined> {
    const hit = this.peekInfo(uid, base);
    if (hit || this.disabled || this.dataReady) return hit;
    await this.loadData();
    return this.peekInfo(uid, base);
  }

  /**
   * A record beyond the memory budget, read from the data file now, into a copy of its own.
   * The reads go through one buffer shared by every cache (readWindow), which keeps what
   * was read around the record: a scan in file order (which is uid order, see
   * compactIfNeeded) reads windows that double up to READ_MAX, so FETCH 1:* reads each
   * window once.
   */
  private readRecordSync(slot: number, uid: number, base: string, borrow = false): MessageInfo | undefined {
    const off = this.sFileOff[slot];
    const len = this.sFileLen[slot];
    const w = readWindow;
    if (w.owner !== this.id || off < w.start || off + len > w.end) {
      const near = w.owner === this.id && off + READ_MAX >= w.start && off <= w.end + READ_MAX;
      this.readSize = near ? Math.min(READ_MAX, this.readSize * 2) : READ_MIN;
      // (READ_BACK) never for a record that would then not fit in READ_MAX (readSync keeps no more).
      const back = near && len + READ_BACK <= READ_MAX ? Math.min(off, READ_BACK) : 0;
      const from = off - back;
      const want = Math.min(Math.max(len + back, this.readSize), this.dataSize - from);
      if (want < len + back || !this.readSync(from, want) || w.end < off + len) {
        this.debug(`record of uid ${uid} not readable, parsing again`);
        this.discardFileRecord(slot);
        return undefined;
      }
    }
    const rec = checkRecord(w.buf, off - w.start, len);
    if (!rec || rec.head.uid !== uid || rec.head.escapedBase !== escapeBase(base)) {
      this.debug(`record of uid ${uid} unusable, parsing again`);
      this.discardFileRecord(slot);
      return undefined;
    }
    const headerLength = rec.head.headerLength;
    const jsonLength = rec.head.structureLength;
    if (borrow) {
      // A view of the shared window, valid until the next read (see MailboxCache.peekInfo's
      // borrow): no allocation per record. SEARCH FROM over 50,000 messages reads ~95 MB of
      // records; copying each one cost about a third of its time and left that much garbage.
      return new StoredInfo(w.buf, rec.payload, rec.payload + headerLength, rec.payload + headerLength + jsonLength, rec.head.physicalSize, this.fallback(uid));
    }
    // A copy (young garbage once used): a view would keep the whole window alive.
    const payload = copyBytes(w.buf, rec.payload, rec.payload + headerLength + jsonLength);
    return new StoredInfo(payload, 0, headerLength, headerLength + jsonLength, rec.head.physicalSize, this.fallback(uid));
  }

  /** Read [start, start + length) of the data file into the shared window. */
  private readSync(start: number, length: number): boolean {
    const w = readWindow;
    w.owner = 0;
    let fd: number;
    try {
      fd = fsSync.openSync(this.files.data, FS.O_RDONLY);
    } catch (err) {
      this.debug(`data file unreadable (${String(err)})`);
      return false;
    }
    try {
      if (w.buf.length < length) w.buf = Buffer.allocUnsafeSlow(Math.max(length, READ_MAX));
      let got = 0;
      while (got < length) {
        const n = fsSync.readSync(fd, w.buf, got, length - got, start + got);
        if (n === 0) break;
        got += n;
      }
      w.owner = this.id;
      w.start = start;
      w.end = start + got;
      // A record bigger than READ_MAX needed a bigger buffer: do not keep that one.
      if (w.buf.length > READ_MAX) {
        const copy = Buffer.allocUnsafeSlow(READ_MAX);
        const keep = Math.min(got, READ_MAX);
        w.buf.copy(copy, 0, 0, keep);
        w.buf = copy;
        w.end = start + keep;
      }
      return true;
    } catch (err) {
      this.debug(`data file unreadable (${String(err)})`);
      return false;
    } finally {
      closeQuietly(fd);
    }
  }

  /** Copy records from the data file into memory, newest messages first, within the budget (once). */
  private loadData(): Promise<void> {
    this.dataLoad ??= this.loadDataNow();
    return this.dataLoad;
  }

  private async loadDataNow(): Promise<void> {
    const epoch = this.memEpoch;
    try {
      const wanted: { uid: number; slot: number; off: number; len: number }[] = [];
      let total = 0;
      for (const [uid, slot] of this.slotOf) {
        if (this.sFileOff[slot] < 0 || this.sChunk[slot] >= 0) continue;
        wanted.push({ uid, slot, off: this.sFileOff[slot], len: this.sFileLen[slot] });
        total += this.sFileLen[slot];
      }
      if (wanted.length === 0) return;
      if (infoMemory.used + total > infoMemory.budget) infoMemory.reclaim?.(total);
      // Newest first (what clients ask for most); then read in file order.
      wanted.sort((a, b) => b.uid - a.uid);
      let room = infoMemory.budget - infoMemory.used;
      let n = 0;
      while (n < wanted.length && wanted[n].len <= room) room -= wanted[n++].len;
      const chosen = wanted.slice(0, n).sort((a, b) => a.off - b.off);
      if (n < wanted.length) this.debug(`${wanted.length - n} record(s) beyond the memory budget stay on disk`);
      if (chosen.length === 0) return;
      const fd = await fsAsync.open(this.files.data, FS.O_RDONLY);
      try {
        let buf = Buffer.allocUnsafeSlow(0);
        for (let i = 0; i < chosen.length; ) {
          const start = chosen[i].off;
          let end = start + chosen[i].len;
          let j = i + 1;
          while (j < chosen.length && chosen[j].off + chosen[j].len - start <= LOAD_WINDOW) end = Math.max(end, chosen[j].off + chosen[j++].len);
          if (buf.length < end - start) buf = Buffer.allocUnsafeSlow(Math.max(end - start, Math.min(LOAD_WINDOW, chosen[chosen.length - 1].off + chosen[chosen.length - 1].len - start)));
          let got = 0;
          while (got < end - start) {
            const r = await fsAsync.read(fd, buf, got, end - start - got, start + got);
            if (r === 0) break;
            got += r;
          }
          if (this.memEpoch !== epoch || this.closed) return;
          for (; i < j; i++) {
            const c = chosen[i];
            // Changed meanwhile (expunged, parsed again, written elsewhere)?
            if (this.slotOf.get(c.uid) !== c.slot || this.sFileOff[c.slot] !== c.off || this.sChunk[c.slot] >= 0) continue;
            const rec = c.off + c.len - start <= got ? checkRecord(buf, c.off - start, c.len) : undefined;
            if (!rec || rec.head.uid !== c.uid) {
              this.debug(`record of uid ${c.uid} unusable, parsing again`);
              this.discardFileRecord(c.slot);
              continue;
            }
            this.sHash[c.slot] = hashBase(unescapeBase(rec.head.escapedBase));
            this.sPhys[c.slot] = rec.head.physicalSize;
            if (!this.storeInMemory(c.slot, buf, rec.payload, rec.head.headerLength, rec.head.structureLength)) return;
          }
        }
      } finally {
        await fsAsync.close(fd).catch(() => {});
      }
    } catch (err) {
      this.debug(`data file unreadable (${String(err)})`);
    } finally {
      if (this.memEpoch === epoch) this.dataReady = true;
    }
  }

  /**
   * Keep a freshly parsed info (in memory if the budget allows) and queue its record for the
   * data file. Returns the info to hand out (a view of the memory copy when there is one).
   */
  putInfo(uid: number, base: string, info: MessageInfo): MessageInfo {
    const json = JSON.stringify(info.structure);
    const jsonLength = Buffer.byteLength(json, 'utf8');
    const header = info.header;
    const slot = this.slotOf.get(uid) ?? this.newSlot(uid);
    this.dropMemoryCopy(slot);
    this.sPhys[slot] = info.physicalSize;
    this.sHash[slot] = hashBase(base);
    this.recentInfos.delete(uid);
    this.unwritten.delete(uid);
    let kept: boolean;
    if (!this.disabled && this.loaded && !this.closed) {
      const head = `${uid}\t${escapeBase(base)}\t${info.physicalSize}\t${header.length}\t${jsonLength}\n`;
      const headLength = Buffer.byteLength(head, 'utf8');
      const length = headLength + header.length + jsonLength + 1;
      // Records go straight into one batch buffer (no Buffer per record).
      const at = this.reserve(length);
      let o = at + this.batch.write(head, at, 'utf8');
      o += header.copy(this.batch, o);
      o += this.batch.write(json, o, 'utf8');
      this.batch[o] = 0x0a;
      kept = this.storeInMemory(slot, this.batch, at + headLength, header.length, jsonLength);
      if (!kept) this.unwritten.set(uid, { base, info });
      this.pendingData.push({ uid, base, start: at, length });
      this.pendingBytes += length;
      this.scheduleFlush();
    } else {
      const payload = Buffer.allocUnsafe(header.length + jsonLength);
      header.copy(payload);
      payload.write(json, header.length, 'utf8');
      kept = this.storeInMemory(slot, payload, 0, header.length, jsonLength);
      if (!kept && this.sFileOff[slot] < 0) this.dropSlot(uid, slot);
    }
    let out = info;
    if (kept) {
      const at = this.sMemOff[slot];
      const end = at + header.length;
      out = new StoredInfo(this.chunks[this.sChunk[slot]], at, end, end + jsonLength, info.physicalSize, this.fallback(uid), info.structure);
    }
    this.rememberInfo(uid, base, out);
    return out;
  }

  /** Room for `length` more bytes in the batch buffer; returns where they go. */
  private reserve(length: number): number {
    if (this.batchUsed + length > this.batch.length) {
      const bigger = Buffer.allocUnsafeSlow(Math.max(BATCH_SIZE, (this.batchUsed + length) * 2));
      this.batch.copy(bigger, 0, 0, this.batchUsed);
      this.batch = bigger;
    }
    const at = this.batchUsed;
    this.batchUsed += length;
    return at;
  }

  forget(uids: Iterable<number>): void {
    for (const uid of uids) {
      const slot = this.slotOf.get(uid);
      if (slot !== undefined) this.dropSlot(uid, slot);
      this.recentInfos.delete(uid);
      this.unwritten.delete(uid);
    }
    this.compactMemoryIfNeeded();
  }

  /** Drop every memory chunk and its count in the shared budget (callers re-point the slots). */
  private releaseChunks(): void {
    infoMemory.used -= this.memBytes;
    this.memBytes = 0;
    this.memLive = 0;
    this.chunks = [];
    this.cur = undefined;
    this.curIndex = -1;
    this.curUsed = 0;
  }

  /** Give the memory back (the records stay on disk; the next info() loads them again). */
  dropInfos(): void {
    this.releaseChunks();
    for (const slot of this.slotOf.values()) this.sChunk[slot] = -1;
    this.recentInfos.clear();
    this.forgetWindow();
    this.memEpoch++;
    this.dataLoad = undefined;
    this.dataReady = false;
  }

  /** What readWindow holds of this cache's data file is no longer valid. */
  private forgetWindow(): void {
    if (readWindow.owner === this.id) readWindow.owner = 0;
  }

  /** Bytes of memory this cache holds for records (counted in infoMemory). */
  get memoryBytes(): number {
    return this.memBytes;
  }

  /** Write what is pending and give the memory back; the cache is not used afterwards. */
  async close(): Promise<void> {
    await this.flush();
    if (this.recentTimer) {
      clearTimeout(this.recentTimer);
      this.recentTimer = undefined;
    }
    await this.writeRecentNow();
    this.closed = true;
    this.dropInfos();
    this.unwritten.clear();
  }

  /** The mailbox is gone: drop everything pending without writing, and the memory. */
  abandon(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    if (this.recentTimer) clearTimeout(this.recentTimer);
    this.flushTimer = undefined;
    this.recentTimer = undefined;
    this.pendingData = [];
    this.pendingMeta = [];
    this.pendingBytes = 0;
    this.batchUsed = 0;
    this.recentDirty = false;
    this.closed = true;
    this.dropInfos();
    this.unwritten.clear();
  }

  /** Write the pending \Recent state now (tests and shutdown). */
  async flushState(): Promise<void> {
    await this.flush();
    await this.writeRecentNow();
  }

  /**
   * Rewrite both files when they are mostly garbage. `live` lists the messages of the index
   * (uid, base, mtime (NaN: unknown), vsize (-1: unknown)). The data file is rewritten in uid
   * order, so that a scan of the mailbox reads it front to back.
   */
  async compactIfNeeded(live: readonly { uid: number; base: string; mtime: number; vsize: number }[]): Promise<void> {
    if (this.disabled || !this.loaded) return;
    const metaBloated = this.metaLines > 2 * (live.length + this.slotOf.size) + 1000;
    const dataBloated = this.dataSize > 2 * this.dataLiveBytes + 512 * 1024;
    if (!metaBloated && !dataBloated) return;
    await this.flush();
    const generation = crypto.randomBytes(8).toString('hex');
    this.compacting = true;
    try {
      const liveUids = new Set(live.map((m) => m.uid));
      for (const [uid, slot] of [...this.slotOf]) if (!liveUids.has(uid)) this.dropSlot(uid, slot);
      const records: { uid: number; slot: number; off: number; len: number }[] = [];
      for (const [uid, slot] of this.slotOf) if (this.sFileOff[slot] >= 0) records.push({ uid, slot, off: this.sFileOff[slot], len: this.sFileLen[slot] });
      records.sort((a, b) => a.uid - b.uid);
      const moved: { slot: number; uid: number; off: number; len: number; newOff: number }[] = [];
      let dataSize = 0;
      let metaText = '';
      const tmpData = `${this.files.data}.${uniqueSuffix()}.tmp`;
      const src = (() => {
        try {
          return fsSync.openSync(this.files.data, FS.O_RDONLY);
        } catch {
          return undefined;
        }
      })();
      const out = fsSync.openSync(tmpData, FS.O_CREAT | FS.O_EXCL | FS.O_WRONLY, 0o600);
      try {
        this.fsx.fchownNewSync(out, path.dirname(tmpData));
        const head = Buffer.from(`H\troost-cache-data\t${VERSION}\t${this.uidValidity}\t${generation}\n`);
        await writeAll(out, head);
        dataSize = head.length;
        if (src !== undefined) {
          // Records are read in windows (usually they are in uid order already), written in batches.
          let win: { buf: Buffer; start: number; end: number } | undefined;
          const pieces: Buffer[] = [];
          let pieceBytes = 0;
          for (const r of records) {
            if (!win || r.off < win.start || r.off + r.len > win.end) {
              const want = Math.max(r.len, Math.min(LOAD_WINDOW, this.dataSize - r.off));
              const buf = Buffer.allocUnsafe(want);
              let got = 0;
              while (got < want) {
                const n = await fsAsync.read(src, buf, got, want - got, r.off + got);
                if (n === 0) break;
                got += n;
              }
              win = { buf, start: r.off, end: r.off + got };
              if (got < r.len) continue;
            }
            const at = r.off - win.start;
            if (!checkRecord(win.buf, at, r.len)) continue;
            const record = win.buf.subarray(at, at + r.len);
            pieces.push(record);
            pieceBytes += r.len;
            moved.push({ slot: r.slot, uid: r.uid, off: r.off, len: r.len, newOff: dataSize });
            metaText += `P\t${r.uid}\t${dataSize}\t${r.len}\t${escapeBase(this.baseOfRecord(record))}\n`;
            dataSize += r.len;
            if (pieceBytes >= LOAD_WINDOW) {
              await writeAll(out, Buffer.concat(pieces));
              pieces.length = 0;
              pieceBytes = 0;
            }
          }
          if (pieces.length > 0) await writeAll(out, Buffer.concat(pieces));
        }
        await fsAsync.fsync(out);
      } finally {
        closeQuietly(out);
        if (src !== undefined) closeQuietly(src);
      }
      this.generation = generation;
      let meta = this.metaHeader();
      for (const m of live) {
        if (Number.isFinite(m.mtime) || m.vsize >= 0) meta += `M\t${m.uid}\t${formatNumber(m.mtime)}\t${m.vsize >= 0 ? m.vsize : '-'}\t${escapeBase(m.base)}\n`;
      }
      meta += metaText;
      // Data first: a crash in between leaves a meta file of the old generation, which then
      // simply ignores the new data file.
      fsSync.renameSync(tmpData, this.files.data);
      // The new offsets apply at once (synchronous reads may come while the meta file is written).
      this.forgetWindow();
      this.dataLiveBytes = 0;
      for (const slot of this.slotOf.values()) this.sFileOff[slot] = -1;
      for (const m of moved) {
        if (this.slotOf.get(m.uid) === m.slot) this.setFileRecord(m.slot, m.newOff, m.len);
      }
      this.dataSize = dataSize;
      await this.fsx.writeAtomic(this.files.meta, meta);
      this.noteMetaIdentity();
      this.metaLines = live.length + moved.length + 1;
      this.debug(`compacted (${live.length} messages)`);
    } catch (err) {
      this.disable(err);
    } finally {
      this.compacting = false;
    }
  }

  private baseOfRecord(record: Buffer): string {
    const nl = record.indexOf(0x0a);
    return unescapeBase(record.toString('utf8', 0, nl).split('\t')[1] ?? '');
  }

  /** Remove the cache files (mailbox deleted). */
  static async remove(files: { meta: string; data: string }): Promise<void> {
    for (const f of [files.meta, files.data, recentPath(files)]) {
      try {
        fsSync.unlinkSync(f);
      } catch {
        // already gone
      }
    }
  }
}

function recentPath(files: { meta: string }): string {
  return files.meta + '.recent';
}

export async function writeFirstRecentUid(files: { meta: string }, uidValidity: number, uid: number, fsx: FsContext): Promise<void> {
  await fsx.mkdirp(path.dirname(files.meta));
  // Not durable: after a system crash an old or unreadable value only means \Recent starts over.
  await fsx.writeAtomic(recentPath(files), `${uidValidity} ${uid}\n`, undefined, false);
}

/** The persisted first recent uid for a mailbox with this UIDVALIDITY, if any. */
export async function readFirstRecentUid(files: { meta: string }, uidValidity: number): Promise<number | undefined> {
  try {
    const [uv, uid] = fsSync.readFileSync(recentPath(files), 'latin1').trim().split(' ').map(Number);
    return uv === uidValidity && Number.isInteger(uid) && uid > 0 ? uid : undefined;
  } catch {
    return undefined;
  }
}
