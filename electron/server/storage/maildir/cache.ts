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
// roost.cache.data   parsed messages, read when info() is first needed (into memory, see below):
//   H  roost-cache-data  2  <uidvalidity>  <generation>                first line
//   then one record per message:
//   <uid> TAB <base> TAB <physical size> TAB <header length> TAB <structure length> LF
//   <header bytes, raw> <MimePart JSON, UTF-8> LF
// roost.cache.recent `<uidvalidity> <first recent uid>\n`: UIDs >= this were never given \Recent
//                    by a Roost read-write view (written with temporary name + fsync + rename,
//                    a moment after it changes; read by STATUS without loading the mailbox).
//                    A uidlist Roost creates starts it at 1; for a mailbox found on disk it
//                    starts at the uidlist's next uid (like Dovecot building a new index:
//                    numbered messages are old, the rest and files in new/ are recent).
//
// <base> is the maildir base name with '%', TAB, CR and LF percent-encoded. Later records win
// (an M record's '-' does not replace a known value). Every record is checked against the
// message's current uid and base name before it is used; a header with another uidvalidity,
// version or a data file of another generation invalidates the cache. Corrupt lines are
// skipped (logged at debug). Both files are rewritten (temporary name, fsync, rename) when they
// hold much more than the live messages. Version 1 files (base64 headers) are simply rebuilt.
//
// In memory: parsed infos are kept for every message (so FETCH ENVELOPE/BODYSTRUCTURE and
// header SEARCH cost no I/O), within a budget shared by all mailboxes of the process
// (infoMemory); beyond it, infos are read from the data file in windows and kept in a small
// LRU. New records are appended in batches (flush()), not one write per message.

import fsSync, { constants as FS } from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import type { MessageInfo } from '../types.js';
import type { MimePart } from '../../mime/types.js';
import { FsContext, closeQuietly, fsAsync, isNotFound, uniqueSuffix, writeAll } from './fsutil.js';

export const CACHE_FILE = 'roost.cache';
const VERSION = '2';
/** Infos read from the data file beyond the memory budget, kept for repeated access. */
const SPILL_LRU = 1024;
/** Queued records are written once they reach this size (else by a timer or the operation's end). */
const FLUSH_BYTES = 256 * 1024;
/** Size of the buffer queued data records are written into. */
const BATCH_SIZE = FLUSH_BYTES + 64 * 1024;
/** Queued records wait at most this long. */
const FLUSH_DELAY_MS = 250;
/** The \Recent state is written this long after it changes (many changes, one write). */
const RECENT_DELAY_MS = 200;
/** Reads of the data file beyond the memory budget take this much at once. */
const READ_WINDOW = 256 * 1024;
/** Loading the data file into memory reads this much at once. */
const LOAD_WINDOW = 4 * 1024 * 1024;

function escapeBase(base: string): string {
  return /[%\t\r\n]/.test(base) ? base.replace(/[%\t\r\n]/g, (c) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0')) : base;
}
function unescapeBase(text: string): string {
  return text.includes('%') ? text.replace(/%([0-9a-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))) : text;
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

interface Location {
  offset: number;
  length: number;
}

interface InfoEntry {
  base: string;
  info: MessageInfo;
  /** Estimated memory (header bytes, structure objects, wrappers). */
  bytes: number;
}

/**
 * Memory for parsed infos, shared by every mailbox cache of the process. `reclaim` (set by the
 * mailbox registry) drops infos of mailboxes nobody has open when an open one needs room.
 */
export const infoMemory: { budget: number; used: number; reclaim?: (need: number) => void } = {
  budget: 64 * 1024 * 1024,
  used: 0,
};

/**
 * Header blocks kept in memory are copied into slabs that hold nothing else. (A small
 * Buffer.from() copy lands in Node's shared 8 KB pool, whose slab then stays alive with
 * whatever else was allocated there, e.g. the file chunk the header was parsed from.)
 */
const SLAB_SIZE = 256 * 1024;
let slab: Buffer = Buffer.allocUnsafeSlow(0);
let slabUsed = 0;

export function copyHeader(src: Buffer): Buffer {
  const n = src.length;
  if (n === 0) return Buffer.alloc(0);
  if (n > SLAB_SIZE / 8) {
    const own = Buffer.allocUnsafeSlow(n);
    src.copy(own);
    return own;
  }
  if (slabUsed + n > slab.length) {
    slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
    slabUsed = 0;
  }
  const out = slab.subarray(slabUsed, slabUsed + n);
  src.copy(out);
  // Keep the next header 8-byte aligned (cheap, and typed-array friendly).
  slabUsed += (n + 7) & ~7;
  return out;
}

/**
 * The same short strings ("text", "plain", "charset", "utf-8", boundaries of one sender...)
 * recur in thousands of cached structures: keep one copy of each.
 */
const interned = new Map<string, string>();
const INTERN_MAX_LENGTH = 48;
const INTERN_MAX_ENTRIES = 100_000;

function intern(s: string): string {
  const hit = interned.get(s);
  if (hit !== undefined) return hit;
  if (interned.size >= INTERN_MAX_ENTRIES) interned.clear();
  interned.set(s, s);
  return s;
}

/** Replace the short strings of a parsed structure by shared copies (in place). */
function internStrings(node: unknown): void {
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) {
      const v: unknown = node[i];
      if (typeof v === 'string') {
        if (v.length <= INTERN_MAX_LENGTH) node[i] = intern(v);
      } else if (v !== null && typeof v === 'object') internStrings(v);
    }
    return;
  }
  const obj = node as Record<string, unknown>;
  for (const key in obj) {
    const v = obj[key];
    if (typeof v === 'string') {
      if (v.length <= INTERN_MAX_LENGTH) obj[key] = intern(v);
    } else if (v !== null && typeof v === 'object') internStrings(v);
  }
}

function estimateBytes(headerLength: number, structureLength: number): number {
  // Measured: the structure objects take about 1.2 times their JSON; plus the Buffer view,
  // the info and the entry objects.
  return headerLength + Math.ceil(structureLength * 1.2) + 300;
}

export function cachePaths(mailboxDir: string, cacheDir?: string): { meta: string; data: string } {
  if (!cacheDir) return { meta: path.join(mailboxDir, CACHE_FILE), data: path.join(mailboxDir, CACHE_FILE + '.data') };
  const hash = crypto.createHash('sha256').update(path.resolve(mailboxDir)).digest('hex').slice(0, 32);
  return { meta: path.join(cacheDir, `${hash}.cache`), data: path.join(cacheDir, `${hash}.cache.data`) };
}

function formatNumber(n: number): string {
  return Number.isFinite(n) && n >= -8.64e15 ? String(n) : '-';
}

export class MailboxCache {
  private generation = '';
  private uidValidity = 0;
  /** base -> meta, only while the mailbox index is being built (see releaseMeta). */
  private meta = new Map<string, MetaEntry>();
  /** Where each uid's info is in the data file. */
  private locations = new Map<number, Location>();
  /** Infos in memory (counted in infoMemory). */
  private infos = new Map<number, InfoEntry>();
  /** Infos read from the data file beyond the budget (not counted; bounded). */
  private readonly spill = new Map<number, InfoEntry>();
  /** Infos whose records are queued but not written yet (over the budget only). */
  private readonly unwritten = new Map<number, InfoEntry>();
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
  private flushing: Promise<void> = Promise.resolve();
  private metaLines = 0;
  private dataSize = 0;
  private dataLiveBytes = 0;
  private disabled = false;
  private loaded = false;
  private closed = false;
  /** The data file read into memory (once). */
  private dataLoad: Promise<void> | undefined;
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
      text = fsSync.readFileSync(this.files.meta, 'utf8');
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
    this.generation = head[4];
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
          if (dataOk && offset + length <= this.dataSize) {
            const old = this.locations.get(uid);
            if (old) this.dataLiveBytes -= old.length;
            this.locations.set(uid, { offset, length });
            this.dataLiveBytes += length;
          }
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
    const dataHead = `H\troost-cache-data\t${VERSION}\t${this.uidValidity}\t${this.generation}\n`;
    try {
      await this.fsx.writeAtomic(this.files.data, dataHead);
      this.dataSize = Buffer.byteLength(dataHead);
    } catch (err) {
      this.disable(err);
    }
  }

  /** Start new, empty cache files. */
  private async reset(): Promise<void> {
    this.generation = crypto.randomBytes(8).toString('hex');
    this.meta.clear();
    this.locations.clear();
    this.dropInfos();
    this.firstRecent = undefined;
    this.pendingMeta = [];
    this.pendingData = [];
    this.pendingBytes = 0;
    this.metaLines = 0;
    this.dataLiveBytes = 0;
    try {
      if (path.dirname(this.files.meta) !== this.mailboxDir) await this.fsx.mkdirp(path.dirname(this.files.meta));
      await this.newDataFile();
      await this.fsx.writeAtomic(this.files.meta, this.metaHeader());
      this.noteMetaIdentity();
    } catch (err) {
      this.disable(err);
    }
  }

  private metaHeader(): string {
    return `H\troost-cache\t${VERSION}\t${this.uidValidity}\t${this.generation}\t${escapeBase(this.mailboxDir)}\n`;
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
    if (this.disabled || (this.pendingMeta.length === 0 && this.pendingData.length === 0)) return this.flushing;
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
    }
    const records = this.pendingData;
    const meta = this.pendingMeta;
    // The data bytes are copied out now: the batch buffer takes new records at once.
    const data = records.length > 0 ? Buffer.from(this.batch.subarray(0, this.batchUsed)) : undefined;
    this.pendingData = [];
    this.pendingMeta = [];
    this.pendingBytes = 0;
    this.batchUsed = 0;
    if (this.batch.length > BATCH_SIZE) this.batch = Buffer.alloc(0);
    // Writes are chained so records keep their order.
    this.flushing = this.flushing.then(async () => {
      if (this.disabled) return;
      try {
        let lines = meta.join('');
        if (data) lines += await this.writeData(records, data);
        if (lines !== '') {
          fsSync.appendFileSync(this.files.meta, lines);
          this.noteMetaIdentity();
        }
      } catch (err) {
        this.disable(err);
      }
    });
    return this.flushing;
  }

  /** Append data records (`data` holds them back to back); returns the P lines for them. */
  private async writeData(records: { uid: number; base: string; start: number; length: number }[], data: Buffer): Promise<string> {
    const fd = fsSync.openSync(this.files.data, FS.O_WRONLY | FS.O_APPEND);
    let lines = '';
    try {
      // Appends are ours alone (the file is Roost's); the offset is the size before them.
      const offset = fsSync.fstatSync(fd).size;
      await writeAll(fd, data);
      for (const r of records) {
        const old = this.locations.get(r.uid);
        if (old) this.dataLiveBytes -= old.length;
        this.locations.set(r.uid, { offset: offset + r.start, length: r.length });
        this.dataLiveBytes += r.length;
        lines += `P\t${r.uid}\t${offset + r.start}\t${r.length}\t${escapeBase(r.base)}\n`;
        this.metaLines++;
        this.unwritten.delete(r.uid);
      }
      this.dataSize = offset + data.length;
    } finally {
      closeQuietly(fd);
    }
    return lines;
  }

  // ---- parsed infos ----------------------------------------------------------------------

  /** The info of uid/base if it is in memory (no I/O). */
  peekInfo(uid: number, base: string): MessageInfo | undefined {
    const hit = this.infos.get(uid) ?? this.unwritten.get(uid);
    if (hit) return hit.base === base ? hit.info : undefined;
    const spilled = this.spill.get(uid);
    if (spilled && spilled.base === base) {
      this.spill.delete(uid);
      this.spill.set(uid, spilled);
      return spilled.info;
    }
    return undefined;
  }

  /** Parsed info of uid/base from memory or the data file; undefined when the cache lacks it. */
  async getInfo(uid: number, base: string): Promise<MessageInfo | undefined> {
    const hit = this.peekInfo(uid, base);
    if (hit) return hit;
    if (this.disabled || !this.locations.has(uid)) return undefined;
    await this.loadData();
    const loaded = this.peekInfo(uid, base);
    if (loaded) return loaded;
    const loc = this.locations.get(uid);
    if (!loc) return undefined;
    // Beyond the memory budget: read a window of records from this one on.
    try {
      await this.readWindow(loc.offset, Math.max(loc.length, READ_WINDOW), (e, u) => this.remember(this.spill, u, e));
    } catch (err) {
      this.debug(`data file unreadable (${String(err)})`);
    }
    const spilled = this.peekInfo(uid, base);
    if (!spilled) {
      this.debug(`info of uid ${uid} unusable, parsing again`);
      this.locations.delete(uid);
    }
    return spilled;
  }

  private remember(map: Map<number, InfoEntry>, uid: number, entry: InfoEntry): void {
    map.set(uid, entry);
    if (map.size > SPILL_LRU) map.delete(map.keys().next().value as number);
  }

  /** Read the data file into memory (within the budget), once. */
  private loadData(): Promise<void> {
    this.dataLoad ??= (async () => {
      if (this.locations.size === 0) return;
      const byOffset = new Map<number, number>();
      for (const [uid, loc] of this.locations) if (!this.infos.has(uid)) byOffset.set(loc.offset, uid);
      if (byOffset.size === 0) return;
      let skipped = 0;
      try {
        await this.readWindow(0, this.dataSize, (entry, uid, offset) => {
          // Garbage (superseded or expunged), or parsed meanwhile.
          if (byOffset.get(offset) !== uid || this.infos.has(uid)) return true;
          if (!this.admit(uid, entry)) {
            skipped++;
            return false;
          }
          return true;
        });
      } catch (err) {
        this.debug(`data file unreadable (${String(err)})`);
      }
      if (skipped > 0) this.debug(`${skipped} info(s) beyond the memory budget stay on disk`);
    })();
    return this.dataLoad;
  }

  /**
   * Decode the records in [start, start + length) of the data file, LOAD_WINDOW at a time;
   * `take` returns false to stop.
   */
  private async readWindow(start: number, length: number, take: (entry: InfoEntry, uid: number, offset: number) => boolean | void): Promise<void> {
    const fd = await fsAsync.open(this.files.data, FS.O_RDONLY);
    try {
      let pos = start;
      const end = Math.min(start + length, this.dataSize);
      while (pos < end) {
        const want = Math.min(Math.max(end - pos, 0), LOAD_WINDOW);
        const buf = Buffer.allocUnsafe(want);
        const got = await fsAsync.read(fd, buf, 0, want, pos);
        if (got === 0) return;
        const view = buf.subarray(0, got);
        let at = 0;
        if (pos === 0) {
          at = view.indexOf(0x0a) + 1; // the header line
          if (at === 0) return;
        }
        for (;;) {
          const rec = decodeRecord(view, at, got);
          if (rec === 'partial') break;
          if (rec === 'bad') return;
          if (take(rec.entry, rec.uid, pos + at) === false) return;
          at = rec.next;
        }
        if (at === 0) {
          // One record bigger than the window: read exactly it.
          const nl = view.indexOf(0x0a);
          const head = nl > 0 ? parseRecordHead(view.toString('utf8', 0, nl)) : undefined;
          if (!head) return;
          const whole = Buffer.allocUnsafe(nl + 1 + head.headerLength + head.structureLength + 1);
          if ((await fsAsync.read(fd, whole, 0, whole.length, pos)) !== whole.length) return;
          const rec = decodeRecord(whole, 0, whole.length);
          if (typeof rec === 'string') return;
          if (take(rec.entry, rec.uid, pos) === false) return;
          at = rec.next;
        }
        pos += at;
      }
    } finally {
      await fsAsync.close(fd).catch(() => {});
    }
  }

  /** Keep an info in memory if the budget allows (asking idle mailboxes to make room). */
  private admit(uid: number, entry: InfoEntry): boolean {
    const old = this.infos.get(uid);
    if (old) {
      infoMemory.used -= old.bytes;
      this.infos.delete(uid);
    }
    if (infoMemory.used + entry.bytes > infoMemory.budget) infoMemory.reclaim?.(entry.bytes);
    if (infoMemory.used + entry.bytes > infoMemory.budget || this.closed) return false;
    this.infos.set(uid, entry);
    infoMemory.used += entry.bytes;
    return true;
  }

  /** Keep a freshly parsed info (memory) and queue its record for the data file. */
  putInfo(uid: number, base: string, info: MessageInfo): void {
    const json = JSON.stringify(info.structure);
    internStrings(info.structure);
    const jsonLength = Buffer.byteLength(json, 'utf8');
    const entry: InfoEntry = { base, info, bytes: estimateBytes(info.header.length, jsonLength) };
    const kept = this.admit(uid, entry);
    if (!kept) this.remember(this.spill, uid, entry);
    if (this.disabled || !this.loaded || this.closed) return;
    const head = `${uid}\t${escapeBase(base)}\t${info.physicalSize}\t${info.header.length}\t${jsonLength}\n`;
    const length = Buffer.byteLength(head, 'utf8') + info.header.length + jsonLength + 1;
    // Records go straight into one batch buffer (no Buffer per record).
    const at = this.reserve(length);
    let o = at + this.batch.write(head, at, 'utf8');
    o += info.header.copy(this.batch, o);
    o += this.batch.write(json, o, 'utf8');
    this.batch[o] = 0x0a;
    if (!kept) this.unwritten.set(uid, entry);
    this.pendingData.push({ uid, base, start: at, length });
    this.pendingBytes += length;
    this.scheduleFlush();
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
      const loc = this.locations.get(uid);
      if (loc) {
        this.dataLiveBytes -= loc.length;
        this.locations.delete(uid);
      }
      const entry = this.infos.get(uid);
      if (entry) {
        infoMemory.used -= entry.bytes;
        this.infos.delete(uid);
      }
      this.spill.delete(uid);
      this.unwritten.delete(uid);
    }
  }

  /** Give the memory of every info back (the records stay on disk). */
  dropInfos(): void {
    for (const entry of this.infos.values()) infoMemory.used -= entry.bytes;
    this.infos.clear();
    this.spill.clear();
    this.dataLoad = undefined;
  }

  /** Memory the infos of this cache take (counted in infoMemory). */
  get infoBytes(): number {
    let n = 0;
    for (const e of this.infos.values()) n += e.bytes;
    return n;
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
   * (uid, base, mtime (NaN: unknown), vsize (-1: unknown)).
   */
  async compactIfNeeded(live: readonly { uid: number; base: string; mtime: number; vsize: number }[]): Promise<void> {
    if (this.disabled || !this.loaded) return;
    const metaBloated = this.metaLines > 2 * (live.length + this.locations.size) + 1000;
    const dataBloated = this.dataSize > 2 * this.dataLiveBytes + 512 * 1024;
    if (!metaBloated && !dataBloated) return;
    await this.flush();
    await this.flushing;
    const generation = crypto.randomBytes(8).toString('hex');
    try {
      const liveUids = new Set(live.map((m) => m.uid));
      const newLocations = new Map<number, Location>();
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
          const chunks: Buffer[] = [];
          let chunkBytes = 0;
          for (const [uid, loc] of [...this.locations].sort((a, b) => a[1].offset - b[1].offset)) {
            if (!liveUids.has(uid)) continue;
            const buf = Buffer.allocUnsafe(loc.length);
            const bytesRead = await fsAsync.read(src, buf, 0, loc.length, loc.offset);
            if (bytesRead !== loc.length) continue;
            chunks.push(buf);
            chunkBytes += buf.length;
            newLocations.set(uid, { offset: dataSize, length: loc.length });
            metaText += `P\t${uid}\t${dataSize}\t${loc.length}\t${escapeBase(this.baseOfRecord(buf))}\n`;
            dataSize += loc.length;
            if (chunkBytes >= LOAD_WINDOW) {
              await writeAll(out, Buffer.concat(chunks));
              chunks.length = 0;
              chunkBytes = 0;
            }
          }
          if (chunks.length > 0) await writeAll(out, Buffer.concat(chunks));
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
      await this.fsx.writeAtomic(this.files.meta, meta);
      this.noteMetaIdentity();
      this.locations = newLocations;
      this.dataSize = dataSize;
      this.dataLiveBytes = dataSize;
      this.metaLines = live.length + newLocations.size + 1;
      this.debug(`compacted (${live.length} messages)`);
    } catch (err) {
      this.disable(err);
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

function parseRecordHead(line: string): { uid: number; base: string; physicalSize: number; headerLength: number; structureLength: number } | undefined {
  const f = line.split('\t');
  if (f.length !== 5) return undefined;
  const uid = Number(f[0]);
  const physicalSize = Number(f[2]);
  const headerLength = Number(f[3]);
  const structureLength = Number(f[4]);
  if (!(uid > 0) || !(physicalSize >= 0) || !(headerLength >= 0) || !(structureLength > 0)) return undefined;
  return { uid, base: unescapeBase(f[1]), physicalSize, headerLength, structureLength };
}

/** One data record at `at` in buf[0, end): the entry, or whether it is cut off or broken. */
function decodeRecord(buf: Buffer, at: number, end: number): { entry: InfoEntry; uid: number; next: number } | 'partial' | 'bad' {
  if (at >= end) return 'partial';
  const nl = buf.indexOf(0x0a, at);
  if (nl < 0 || nl >= end) return end - at > 4096 ? 'bad' : 'partial';
  const head = parseRecordHead(buf.toString('utf8', at, nl));
  if (!head) return 'bad';
  const headerStart = nl + 1;
  const structureStart = headerStart + head.headerLength;
  const next = structureStart + head.structureLength + 1;
  if (next > end) return 'partial';
  if (buf[next - 1] !== 0x0a) return 'bad';
  let structure: MimePart;
  try {
    structure = JSON.parse(buf.toString('utf8', structureStart, next - 1)) as MimePart;
  } catch {
    return 'bad';
  }
  internStrings(structure);
  const info: MessageInfo = {
    // A copy, so the window buffer can go.
    header: copyHeader(buf.subarray(headerStart, structureStart)),
    structure,
    physicalSize: head.physicalSize,
  };
  return { entry: { base: head.base, info, bytes: estimateBytes(head.headerLength, head.structureLength) }, uid: head.uid, next };
}

function recentPath(files: { meta: string }): string {
  return files.meta + '.recent';
}

export async function writeFirstRecentUid(files: { meta: string }, uidValidity: number, uid: number, fsx: FsContext): Promise<void> {
  await fsx.mkdirp(path.dirname(files.meta));
  await fsx.writeAtomic(recentPath(files), `${uidValidity} ${uid}\n`);
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
