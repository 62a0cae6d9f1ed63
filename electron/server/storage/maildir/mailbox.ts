// One maildir (INBOX or a folder) as shared, in-memory state: the index of its messages,
// the sync with what other processes (Dovecot, an MDA, another MUA) did on disk, and every
// change Roost makes to it. One Mailbox per directory per process (see the registry at the
// end); sessions attach views to it and receive each change through onChange.
//
// Concurrency:
// - in the process, every operation on a mailbox runs in its queue (run()), one at a time;
//   operations on two mailboxes (COPY/MOVE) take both queues in path order;
// - towards other processes, the directory is modified only while holding the Dovecot
//   dotlock dovecot-uidlist.lock (as Dovecot does: a readdir() racing with a rename() may
//   miss a file), and a file that seems gone is looked for again before it counts as expunged.
//
// Cost (what makes SELECT of a big maildir cheap, as in Dovecot):
// - loading reads the directories and dovecot-uidlist, never a message file: RFC822.SIZE and
//   INTERNALDATE are known from ,W= in the name, W<vsize> in the uidlist or Roost's cache,
//   or else found out when first asked for (MessageRecord, prefetch());
// - a sync re-reads a directory only when its mtime says it changed (see DirStamp); changes
//   Roost makes itself to a verified cur/ keep it verified (ownCurChangeEnd);
// - when the last view closes, the index stays loaded for a while (the registry at the end),
//   so the next SELECT only checks the directories' mtimes.
//
// Persisted formats are those of filename.ts, uidlist.ts, keywords.ts and cache.ts.

import fs from 'node:fs/promises';
import fsSync, { constants as fsConstants } from 'node:fs';
import path from 'node:path';
import type { MailboxChange, MailboxStatus, MessageInfo, MessageMeta, StoreMode } from '../types.js';
import type { MimePart } from '../../mime/types.js';
import { StorageError } from '../types.js';
import { type CacheFiles, MailboxCache, cachePaths, infoMemory, readFirstRecentUid, writeFirstRecentUid } from './cache.js';
import { takeDotlock, type Dotlock } from './dotlock.js';
import {
  baseOf,
  buildFilename,
  compareForUidOrder,
  flagsToLetters,
  generateBase,
  lettersToFlags,
  sizeField,
  splitFilename,
  withSizes,
} from './filename.js';
import { applyStoreMode, parseFlagArgs } from './flags.js';
import { ensureMaildirDirs } from './folders.js';
import { FsContext, closeQuietly, dirMtimeSync, errCode, fsAsync, fsyncDir, isNotFound, mapLimit, readFullySync, statIfExists, toStorageError, yieldToLoop } from './fsutil.js';
import { type KeywordsState, emptyKeywords, ensureKeywords, keywordIndex, readKeywords } from './keywords.js';
import { measureFileFacts, measureFileSync, openMessageFile, parseMessageFile, parseMessageFileSync, statMessageFile, statMessageFileAsync } from './messagefile.js';
import {
  UIDLIST,
  UidlistError,
  type UidlistState,
  appendRecords,
  extVsize,
  newHeader,
  nextUidOf,
  readUidlist,
  rewriteUidlist,
  uidlistIdentity,
  uidlistIdentityOnDisk,
  withExtVsize,
} from './uidlist.js';
import { nextUidValidity } from './uidvalidity.js';
import { UidSet } from '../uidset.js';

export interface StoreContext {
  /** The user's root maildir (INBOX). */
  root: string;
  fsx: FsContext;
  cacheDir?: string;
}

/** What the mailbox needs from an attached view. */
export interface AttachedView {
  readonly readOnly: boolean;
  readonly closed: boolean;
  readonly recent: UidSet;
  deliver(change: MailboxChange): void;
}

interface FileRef {
  dir: 'new' | 'cur';
  filename: string;
}

/** State taken under the lock before files enter the mailbox (see beginIncoming). */
export interface IncomingContext {
  /** cur/ was verified before: after the change its mtime is Roost's own. */
  curTrusted: boolean;
  /** new/ may hold files without uids, which must get theirs first. */
  scanNew: boolean;
  /** cur/ may hold files without uids. */
  scanCur: boolean;
}

/** A message file that is about to enter this mailbox (APPEND, COPY, MOVE). */
export interface Incoming {
  /** Base name including ,S= and ,W=. */
  base: string;
  /** Final file name in cur/. */
  filename: string;
  size: number;
  internalDate: number;
}

/** Files whose size must be found out are read this many at a time (prefetch). */
const READ_PARALLELISM = 16;
/** stat() calls in flight at a time (prefetch of INTERNALDATE only). */
const STAT_PARALLELISM = 32;
/** read() of at most this many bytes reads synchronously (see read()). */
const SYNC_READ_MAX = 256 * 1024;
/** Synchronous renames/unlinks between two turns of the event loop (other sessions go on). */
const SYNC_BATCH = 256;
/** A directory scanned at least this long after its mtime need not be read again while the mtime is unchanged. */
const MTIME_TRUST_MS = 1000;
/** Mailboxes from this size on avoid re-reading cur/ after their own changes. */
const OWN_STAMP_MIN_MESSAGES = 5000;
/** Longer than a kernel clock tick (1-10 ms): the mtime of any later change differs from ours. */
const OWN_STAMP_TICK_MS = 20;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

interface DirStamp {
  mtimeNs: bigint;
  scannedAt: number;
  /** The mtime is from Roost's own change under the uidlist lock to a directory it had verified. */
  own?: boolean;
}

function trusted(mtimeNs: bigint, stamp: DirStamp | undefined): boolean {
  return !!stamp && stamp.mtimeNs === mtimeNs && (stamp.own === true || stamp.scannedAt - Number(mtimeNs / 1_000_000n) > MTIME_TRUST_MS);
}

/** Sort files into the order in which they get uids (compareForUidOrder, keys computed once). */
function sortForUidOrder<T>(items: T[], nameOf: (item: T) => string): T[] {
  if (items.length < 2) return items;
  const keyed = items.map((item) => ({ item, name: nameOf(item), secs: leadingNumber(nameOf(item)) }));
  keyed.sort((a, b) => (a.secs !== b.secs ? a.secs - b.secs : compareForUidOrder(a.name, b.name)));
  return keyed.map((k) => k.item);
}

function leadingNumber(name: string): number {
  let n = 0;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 0x30 || c > 0x39) break;
    n = n * 10 + (c - 0x30);
  }
  return n;
}

// ---- the index entries ------------------------------------------------------------------

/**
 * What is known about a message file beyond its name: found out once, shared by every
 * version of the message's record (a flag change makes a new record).
 */
class Facts {
  /** RFC822.SIZE; -1 until known. */
  vsize = -1;
  /** INTERNALDATE (mtime) in ms; NaN until known. */
  mtime = NaN;
  constructor(readonly box: Mailbox) {}
}

/**
 * One message of the index (MessageMeta). `size` and `internalDate` are computed on first
 * access when the name, the uidlist and the cache do not tell them (a synchronous stat or
 * read of the file); prefetch() finds them for many messages at once without blocking.
 */
export class MessageRecord implements MessageMeta {
  constructor(
    readonly uid: number,
    readonly filename: string,
    readonly dir: 'new' | 'cur',
    readonly flags: readonly string[],
    readonly facts: Facts,
  ) {}

  get size(): number {
    const v = this.facts.vsize;
    return v >= 0 ? v : this.facts.box.sizeSync(this);
  }

  get internalDate(): number {
    const d = this.facts.mtime;
    return d === d ? d : this.facts.box.dateSync(this);
  }

  /** The same message under another name (flags changed, moved to cur/). */
  with(filename: string, dir: 'new' | 'cur', flags: readonly string[]): MessageRecord {
    return new MessageRecord(this.uid, filename, dir, flags, this.facts);
  }

  toJSON(): MessageMeta {
    return { uid: this.uid, filename: this.filename, dir: this.dir, flags: this.flags, size: this.size, internalDate: this.internalDate };
  }
}

export class Mailbox {
  refs = 0;
  readonly views: AttachedView[] = [];
  loaded = false;
  /** Set when the mailbox was deleted or renamed away (or lost its UIDVALIDITY). */
  gone: string | undefined;
  /** When the last user let go (0 while in use); see the registry. */
  idleSince = 0;
  idleTimer: NodeJS.Timeout | undefined;
  /** Used again after being idle: check that nobody replaced its files meanwhile (run()). */
  needsValidation = false;

  uidValidity = 0;
  nextUid = 1;
  private list: readonly MessageRecord[] = [];
  /** base name -> uid of every message in the index. */
  private byBase = new Map<string, number>();
  private highestSeenUid = 0;
  private unseenBelowIncoming = false;
  private inNew = 0;
  private uidlist: UidlistState | undefined;
  private keywordsState: KeywordsState = emptyKeywords();
  private flagIntern = new Map<string, readonly string[]>();
  /** Ranges, not a Set (see uidset.ts): all 50,000 messages are pending on a first SELECT. */
  private pendingRecent = new UidSet();
  private firstRecentUid = 1;
  private cache: MailboxCache | undefined;
  readonly cacheFiles: CacheFiles;
  private stamps: { new?: DirStamp; cur?: DirStamp } = {};
  private tail: Promise<unknown> = Promise.resolve();
  /** Sizes found out for files whose name and uidlist record lack W (see compactUidlistLocked). */
  private unrecordedSizes = 0;
  /** info() parses in flight, so concurrent requests for one message parse it once. */
  private readonly parsing = new Map<number, Promise<MessageInfo>>();
  /** Bases Roost itself is placing here while noteIncoming syncs (not arrivals, see onArrivals). */
  private ownIncoming: Set<string> | undefined;

  constructor(
    public ctx: StoreContext,
    readonly dir: string,
    readonly isFolder: boolean,
  ) {
    this.cacheFiles = cachePaths(dir, ctx.cacheDir);
  }

  private get fsx(): FsContext {
    return this.ctx.fsx;
  }

  log(level: 'debug' | 'info' | 'warn' | 'error', message: string): void {
    this.fsx.log(level, `${this.dir}: ${message}`);
  }

  /** Run `fn` after every operation queued before it on this mailbox. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(async () => {
      if (this.needsValidation) await this.validateRetained();
      return fn();
    });
    this.tail = result.catch(() => {});
    return result;
  }

  // ---- index access -------------------------------------------------------------------

  messages(): readonly MessageMeta[] {
    return this.list;
  }

  keywordNames(): string[] {
    return this.keywordsState.names.filter((n): n is string => n !== undefined);
  }

  get(uid: number): MessageRecord | undefined {
    const i = this.indexOfUid(uid);
    return i >= 0 ? this.list[i] : undefined;
  }

  private indexOfUid(uid: number): number {
    const list = this.list;
    let lo = 0;
    let hi = list.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const u = list[mid].uid;
      if (u === uid) return mid;
      if (u < uid) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** Where the index has the message whose file name is `filename` (any flags), if it has it (the watcher's hint filter). */
  indexedFile(filename: string): { dir: 'new' | 'cur'; filename: string } | undefined {
    return this.loaded ? this.byBaseRecord(baseOf(filename)) : undefined;
  }

  private byBaseRecord(base: string): MessageRecord | undefined {
    const uid = this.byBase.get(base);
    return uid === undefined ? undefined : this.get(uid);
  }

  private pathOf(m: { dir: string; filename: string }): string {
    return `${this.dir}/${m.dir}/${m.filename}`;
  }

  private flagsFor(letters: string): readonly string[] {
    let flags = this.flagIntern.get(letters);
    if (!flags) {
      flags = Object.freeze(lettersToFlags(letters, this.keywordsState.names));
      if (this.flagIntern.size > 10_000) this.flagIntern.clear();
      this.flagIntern.set(letters, flags);
    }
    return flags;
  }

  private flagsOfName(filename: string): readonly string[] {
    return this.flagsFor(lettersOf(filename));
  }

  /** A record for a file entering the index, with every fact the name, uidlist or cache tell. */
  private newRecord(uid: number, ref: FileRef, base: string, ext?: string, known?: { vsize: number; mtime: number }): MessageRecord {
    const facts = new Facts(this);
    const vsize = sizeField(base, 'W') ?? extVsize(ext) ?? (known && known.vsize >= 0 ? known.vsize : undefined);
    if (vsize !== undefined) facts.vsize = vsize;
    if (known && Number.isFinite(known.mtime)) facts.mtime = known.mtime;
    return new MessageRecord(uid, ref.filename, ref.dir, this.flagsOfName(ref.filename), facts);
  }

  /**
   * Before changing cur/ under the uidlist lock: was cur/ unchanged since the index last
   * verified it? Then, after the change, the new mtime is ours (see ownCurChangeEnd) and the
   * next sync need not read a huge directory again. Only for big mailboxes (small ones are
   * cheap to re-read) and only cur/: MDAs deliver to new/ without any lock, while Dovecot
   * changes cur/ only under the lock. (A MUA that renames in cur/ without the lock can go
   * unnoticed until cur/ changes again; Dovecot documents the same limitation.)
   */
  private ownCurChangeBegin(): boolean {
    if (!this.loaded || this.list.length < OWN_STAMP_MIN_MESSAGES) return false;
    const mtime = dirMtimeSync(path.join(this.dir, 'cur'));
    return mtime !== undefined && trusted(mtime, this.stamps.cur);
  }

  /**
   * After Roost's own change to a verified cur/ (lock held): take its mtime as verified.
   * Returns until when the lock must be kept (Dotlock.release's lingerUntil, 0 for no
   * lingering): whoever changes cur/ after us takes the lock, and we keep it until the clock
   * has moved past our mtime's tick, so their change leaves a different mtime. Roost's own
   * next operations take the lingering lock over at once, so they do not wait for the tick.
   */
  private ownCurChangeEnd(wasTrusted: boolean): number {
    const own = this.ownCurStamp(wasTrusted);
    if (own) this.stamps.cur = own.stamp;
    return own?.lingerUntil ?? 0;
  }

  /** ownCurChangeEnd without applying the stamp (the caller applies it once the index is updated). */
  private ownCurStamp(wasTrusted: boolean): { stamp: DirStamp; lingerUntil: number } | undefined {
    if (!wasTrusted) return undefined;
    const mtime = dirMtimeSync(path.join(this.dir, 'cur'));
    // A file system with 1-second timestamps cannot tell our change from the next one.
    if (mtime === undefined || mtime % 1_000_000_000n === 0n) return undefined;
    return { stamp: { mtimeNs: mtime, scannedAt: Date.now(), own: true }, lingerUntil: Number(mtime / 1_000_000n) + OWN_STAMP_TICK_MS };
  }

  /** The index may not match the directories any more: the next sync reads them again. */
  forgetStamps(): void {
    this.stamps = {};
  }

  private ensureAlive(): void {
    if (this.gone) throw new StorageError('NONEXISTENT', `Mailbox ${this.gone}`);
  }

  // ---- events -------------------------------------------------------------------------

  private emit(change: MailboxChange): void {
    const views = this.views.length === 1 ? this.views : [...this.views];
    for (const view of views) {
      if (view.closed) continue;
      try {
        view.deliver(change);
      } catch (err) {
        this.log('error', `change listener failed: ${String(err)}`);
      }
    }
  }

  private applyUpdates(updates: Map<number, MessageRecord>): void {
    if (updates.size === 0) return;
    const changed: MessageRecord[] = [];
    const list = this.list.slice();
    const replace = (i: number, u: MessageRecord): void => {
      const m = list[i];
      if (u.flags !== m.flags && !sameFlags(u.flags, m.flags)) changed.push(u);
      if ((m.dir === 'new') !== (u.dir === 'new')) this.inNew += u.dir === 'new' ? 1 : -1;
      list[i] = u;
    };
    if (updates.size * 16 < list.length) {
      for (const [uid, u] of updates) {
        const i = this.indexOfUid(uid);
        if (i >= 0) replace(i, u);
      }
      changed.sort((a, b) => a.uid - b.uid);
    } else {
      for (let i = 0; i < list.length; i++) {
        const u = updates.get(list[i].uid);
        if (u) replace(i, u);
      }
    }
    this.list = list;
    for (const m of changed) this.emit({ kind: 'flags', uid: m.uid, flags: m.flags });
  }

  private applyExpunges(all: readonly number[]): void {
    const uids = all.filter((uid) => this.get(uid) !== undefined);
    if (uids.length === 0) return;
    const gone = new Set(uids);
    this.list = this.list.filter((m) => {
      if (!gone.has(m.uid)) return true;
      this.byBase.delete(baseOf(m.filename));
      if (m.dir === 'new') this.inNew--;
      return false;
    });
    for (const uid of uids) this.pendingRecent.delete(uid);
    for (const view of this.views) for (const uid of uids) view.recent.delete(uid);
    this.cache?.forget(uids);
    this.emit({ kind: 'expunged', uids: [...uids].sort((a, b) => a - b) });
  }

  /** Add messages with uids above every existing one; `recentEligible` get \Recent. */
  private async applyAdds(added: MessageRecord[], recentEligible: UidSet, caller?: AttachedView): Promise<void> {
    if (added.length === 0) return;
    added.sort((a, b) => a.uid - b.uid);
    const last = this.list.length > 0 ? this.list[this.list.length - 1].uid : 0;
    if (added[0].uid <= last) {
      // Cannot happen by construction; keep the index sorted anyway.
      this.log('warn', `uid ${added[0].uid} added below ${last}`);
      this.list = [...this.list, ...added].sort((a, b) => a.uid - b.uid);
    } else {
      this.list = this.list.concat(added);
    }
    for (const m of added) {
      this.byBase.set(baseOf(m.filename), m.uid);
      if (m.dir === 'new') this.inNew++;
      if (m.uid > this.highestSeenUid) this.highestSeenUid = m.uid;
      if (recentEligible.has(m.uid)) this.pendingRecent.add(m.uid);
    }
    if (this.nextUid <= added[added.length - 1].uid) this.nextUid = added[added.length - 1].uid + 1;
    await this.grantRecent(caller);
    this.emit({ kind: 'added', messages: added });
  }

  /** \Recent not yet taken by a read-write view: read-only views show it without taking it (as Dovecot's EXAMINE does). */
  isPendingRecent(uid: number): boolean {
    return this.pendingRecent.has(uid);
  }

  /**
   * Give every pending \Recent message to one read-write view: the caller if it is one, else
   * the first attached read-write view. Without one they wait (read-only views never take them).
   */
  async grantRecent(caller?: AttachedView): Promise<void> {
    const target = caller && !caller.readOnly && !caller.closed ? caller : this.views.find((v) => !v.readOnly && !v.closed);
    if (!target) return;
    for (const uid of this.pendingRecent) target.recent.add(uid);
    this.pendingRecent.clear();
    if (this.firstRecentUid < this.nextUid) {
      this.firstRecentUid = this.nextUid;
      this.cache?.setFirstRecentUid(this.nextUid);
    }
  }

  // ---- facts found out on demand ----------------------------------------------------------

  /** Record newly found facts of a message (and queue them for the cache). */
  private learnFacts(m: MessageRecord, vsize: number, mtime: number): void {
    const f = m.facts;
    let changed = false;
    if (vsize >= 0 && f.vsize < 0) {
      const base = baseOf(m.filename);
      // ,W= in the name is what Dovecot trusts; otherwise the uidlist should learn the size.
      const named = sizeField(base, 'W');
      f.vsize = named ?? vsize;
      if (named === undefined && extVsize(this.uidlist?.ext.get(base)) === undefined) this.unrecordedSizes++;
      changed = true;
    }
    if (mtime === mtime && f.mtime !== f.mtime) {
      f.mtime = mtime;
      changed = true;
    }
    if (changed) this.cache?.recordMeta(m.uid, baseOf(m.filename), f.mtime, f.vsize);
  }

  /** Where the file of a message is now, without yielding (readdir of new/ and cur/ if needed). */
  private locateSync(m: MessageRecord): string | undefined {
    const current = this.get(m.uid) ?? m;
    const file = this.pathOf(current);
    if (statMessageFile(file)) return file;
    const base = baseOf(m.filename);
    for (const sub of ['cur', 'new'] as const) {
      let names: string[];
      try {
        names = fsSync.readdirSync(path.join(this.dir, sub));
      } catch {
        continue;
      }
      const name = names.find((n) => baseOf(n) === base);
      if (name) return path.join(this.dir, sub, name);
    }
    return undefined;
  }

  /** RFC822.SIZE needed right now (MessageRecord.size): read the file. 0 if it is gone. */
  sizeSync(m: MessageRecord): number {
    if (m.facts.vsize >= 0) return m.facts.vsize;
    const named = sizeField(baseOf(m.filename), 'W');
    if (named !== undefined) {
      m.facts.vsize = named;
      return named;
    }
    for (let attempt = 0; attempt < 2; attempt++) {
      const file = this.locateSync(m);
      if (!file) break;
      try {
        const f = measureFileSync(file);
        this.learnFacts(m, f.vsize, f.mtime);
        return m.facts.vsize;
      } catch (err) {
        if (!isNotFound(err)) {
          this.log('warn', `cannot read ${file}: ${String(err)}`);
          break;
        }
      }
    }
    this.log('debug', `uid ${m.uid} is gone; size unknown`);
    return 0;
  }

  /** INTERNALDATE needed right now (MessageRecord.internalDate): stat the file. 0 if it is gone. */
  dateSync(m: MessageRecord): number {
    if (m.facts.mtime === m.facts.mtime) return m.facts.mtime;
    for (let attempt = 0; attempt < 2; attempt++) {
      const file = this.locateSync(m);
      if (!file) break;
      const st = statMessageFile(file);
      if (st) {
        this.learnFacts(m, -1, Math.round(st.mtimeMs));
        return m.facts.mtime;
      }
    }
    this.log('debug', `uid ${m.uid} is gone; date unknown`);
    return 0;
  }

  /**
   * Find out RFC822.SIZE and INTERNALDATE of these messages where not known yet, in
   * parallel (see MailboxView.prefetch). Messages that vanished are skipped.
   */
  async prefetch(uids: readonly number[]): Promise<void> {
    const needRead: MessageRecord[] = [];
    const needStat: MessageRecord[] = [];
    for (const uid of uids) {
      const m = this.get(uid);
      if (!m) continue;
      const f = m.facts;
      if (f.vsize < 0) {
        const named = sizeField(baseOf(m.filename), 'W');
        if (named !== undefined) f.vsize = named;
      }
      if (f.vsize < 0) needRead.push(m);
      else if (f.mtime !== f.mtime) needStat.push(m);
    }
    const work = async (m: MessageRecord, read: boolean): Promise<void> => {
      const scans: { map?: Map<string, FileRef> } = {};
      let current: { dir: string; filename: string } = this.get(m.uid) ?? m;
      for (let attempt = 0; attempt < 3; attempt++) {
        if (m.facts.vsize >= 0 && m.facts.mtime === m.facts.mtime) return; // found out meanwhile
        try {
          if (read) {
            const f = await measureFileFacts(this.pathOf(current));
            this.learnFacts(m, f.vsize, f.mtime);
          } else {
            const st = await statMessageFileAsync(this.pathOf(current));
            this.learnFacts(m, -1, Math.round(st.mtimeMs));
          }
          return;
        } catch (err) {
          if (!isNotFound(err)) {
            this.log('warn', `cannot read ${current.filename}: ${String(err)}`);
            return;
          }
          const ref = await this.locate(baseOf(m.filename), scans, attempt > 0);
          if (!ref) return;
          current = ref;
        }
      }
    };
    await Promise.all([
      mapLimit(needRead, READ_PARALLELISM, (m) => work(m, true)),
      mapLimit(needStat, STAT_PARALLELISM, (m) => work(m, false)),
    ]);
  }

  // ---- the uidlist ----------------------------------------------------------------------

  private async lockUidlist(): Promise<Dotlock> {
    return takeDotlock(path.join(this.dir, UIDLIST), this.fsx, { reuseLingering: true });
  }

  /** The ext field to write for a message: W<vsize> added when the size is known and not in the name. */
  private extFor(base: string, ext: string | undefined, vsize: number): string | undefined {
    if (vsize < 0 || sizeField(base, 'W') !== undefined || extVsize(ext) !== undefined) return ext;
    return withExtVsize(ext, vsize);
  }

  /** Current uidlist (caller holds the lock); creates it when missing or unusable. */
  async readUidlistLocked(): Promise<UidlistState> {
    let state: UidlistState | undefined;
    try {
      state = await readUidlist(this.dir, this.uidlist);
    } catch (err) {
      if (!(err instanceof UidlistError)) throw err;
      this.log('warn', `${UIDLIST} is broken (${err.message}); recreating it`);
    }
    if (!state) {
      if (this.loaded) {
        // Keep the UIDs clients know: write the index back with the same UIDVALIDITY.
        state = await rewriteUidlist(
          this.dir,
          this.fsx,
          { ...newHeader(this.uidValidity), nextUid: this.nextUid },
          this.nextUid,
          this.list.map((m) => {
            const base = baseOf(m.filename);
            return { uid: m.uid, base, ext: this.extFor(base, undefined, m.facts.vsize) };
          }),
        );
        this.unrecordedSizes = 0;
      } else {
        const uidValidity = await nextUidValidity(this.fsx, this.ctx.root);
        state = await rewriteUidlist(this.dir, this.fsx, newHeader(uidValidity), 1, []);
        // A new uidlist: every message is new to every session.
        await this.persistFirstRecent(uidValidity, 1);
      }
    }
    this.uidlist = state;
    return state;
  }

  /**
   * \Recent of a mailbox Roost has no state for, like Dovecot building a new index: messages
   * the uidlist already numbers are old, the ones that get their uid now (and files in new/)
   * are recent. Remembered, so a later first look does not count them as old.
   */
  private async firstSight(state: UidlistState): Promise<number> {
    const first = nextUidOf(state);
    await this.persistFirstRecent(state.header.uidValidity, first);
    return first;
  }

  private async persistFirstRecent(uidValidity: number, uid: number): Promise<void> {
    await writeFirstRecentUid(this.cacheFiles, uidValidity, uid, this.fsx).catch((err: unknown) =>
      this.log('debug', `cannot write the recent state: ${String(err)}`),
    );
  }

  /** Make sure the uidlist exists (CREATE, ensure()). */
  async initUidlist(): Promise<void> {
    // Cheap at every login: only a missing file needs the lock (and a new UIDVALIDITY).
    if (statIfExists(path.join(this.dir, UIDLIST))) return;
    await this.run(async () => {
      const lock = await this.lockUidlist();
      try {
        await this.readUidlistLocked();
      } finally {
        await lock.release();
      }
    });
  }

  /** Write records for new uids: append, or rewrite when the file asks for it. */
  private async recordUids(state: UidlistState, records: { uid: number; base: string; ext?: string }[], nextUid: number): Promise<void> {
    if (records.length === 0 && !state.needsRewrite) return;
    if (records.length > 0 && (await appendRecords(this.dir, state, records))) return;
    const all = new Map<string, { uid: number; base: string; ext?: string }>();
    for (const [base, uid] of state.uids) all.set(base, { uid, base, ext: state.ext.get(base) });
    for (const r of records) all.set(r.base, r);
    // A base may carry an old uid that was replaced: keep one record per base, the given one.
    this.uidlist = await rewriteUidlist(this.dir, this.fsx, state.header, Math.max(nextUid, nextUidOf(state)), [...all.values()]);
  }

  /**
   * Rewrite the uidlist from the index when it holds many records of expunged messages, or
   * when many sizes were found out that it should carry as W<vsize> (as Dovecot records them
   * for names without ,W=), so that Dovecot and the next load need not read those files.
   */
  private async compactUidlistLocked(state: UidlistState): Promise<void> {
    if (!this.loaded) return;
    const stale = state.uids.size - this.list.length;
    const sizes = this.unrecordedSizes > 0 && (this.unrecordedSizes * 16 >= this.list.length || this.unrecordedSizes >= 1000);
    if (stale <= Math.max(1000, this.list.length) && !state.needsRewrite && !sizes) return;
    this.uidlist = await rewriteUidlist(
      this.dir,
      this.fsx,
      state.header,
      Math.max(this.nextUid, nextUidOf(state)),
      this.list.map((m) => {
        const base = baseOf(m.filename);
        return { uid: m.uid, base, ext: this.extFor(base, state.ext.get(base), m.facts.vsize) };
      }),
    );
    this.unrecordedSizes = 0;
  }

  // ---- scanning -------------------------------------------------------------------------

  /** File names in new/ and/or cur/ by base (cur/ wins over new/ for a duplicate base). */
  private async scanDirs(which: { new: boolean; cur: boolean } = { new: true, cur: true }): Promise<Map<string, FileRef>> {
    const subs = (['new', 'cur'] as const).filter((s) => which[s]);
    const lists = await Promise.all(
      subs.map((sub) =>
        fsAsync.readdir(path.join(this.dir, sub)).catch((err: unknown) => {
          if (isNotFound(err)) return [] as string[];
          throw err;
        }),
      ),
    );
    const result = new Map<string, FileRef>();
    subs.forEach((sub, k) => {
      for (const filename of lists[k]) {
        if (filename.charCodeAt(0) === 0x2e) continue; // '.'
        const base = baseOf(filename);
        const prev = result.get(base);
        if (prev) {
          // Two files with one base: keep cur/ over new/, else the first one seen.
          this.log('warn', `duplicate maildir base name ${base} (${prev.dir}/${prev.filename}, ${sub}/${filename})`);
          if (prev.dir === 'cur') continue;
        }
        result.set(base, { dir: sub, filename });
      }
    });
    return result;
  }

  /**
   * Where is the file with this base now? Uses the scan in `scans` unless `fresh`; a new scan
   * is made (twice, a moment apart, as a rename may be in flight) when needed.
   */
  private async locate(base: string, scans?: { map?: Map<string, FileRef> }, fresh = false): Promise<FileRef | undefined> {
    if (scans?.map && !fresh) {
      const ref = scans.map.get(base);
      if (ref) return ref;
    }
    for (let attempt = 0; attempt < 2; attempt++) {
      if (attempt > 0) await sleep(5);
      const map = await this.scanDirs();
      if (scans) scans.map = map;
      const ref = map.get(base);
      if (ref) return ref;
    }
    return undefined;
  }

  /**
   * Bring the index up to date with the directory. `caller` is the view that asked (gets
   * \Recent for new messages if read-write, and a read-write caller moves new/ to cur/).
   */
  async syncLocked(caller?: AttachedView, options: { force?: boolean; moveNew?: boolean } = {}): Promise<void> {
    this.ensureAlive();
    const moveNew = options.moveNew ?? (!!caller && !caller.readOnly);
    const newMtime = dirMtimeSync(path.join(this.dir, 'new'));
    const curMtime = dirMtimeSync(path.join(this.dir, 'cur'));
    if (newMtime === undefined || curMtime === undefined) {
      const exists = statIfExists(this.dir)?.isDirectory() ?? false;
      // Only a read-write view (a client's SELECT, the viewer changing mail) repairs a mailbox
      // whose cur/ or new/ is missing. A read-only look (EXAMINE, the maildir watcher, the
      // viewer, a retained index being checked) must not create anything: while a maildir is
      // being deleted (rm -r), recreating cur/new/tmp in it made the deletion fail with
      // ENOTEMPTY (seen in the benchmark, deleting users Roost no longer served).
      if (!exists || !caller || caller.readOnly) {
        if (!this.loaded) throw new StorageError('NONEXISTENT', 'Mailbox does not exist');
        this.markGone('was deleted');
        throw new StorageError('NONEXISTENT', 'Mailbox was deleted');
      }
      await ensureMaildirDirs(this.fsx, this.dir, this.isFolder);
      return this.syncLocked(caller, options);
    }
    const keywords = await readKeywords(this.dir, this.keywordsState);
    if (keywords !== this.keywordsState) this.applyKeywords(keywords);
    const clean =
      this.loaded &&
      !options.force &&
      trusted(newMtime, this.stamps.new) &&
      trusted(curMtime, this.stamps.cur) &&
      !(moveNew && this.inNew > 0);
    if (!clean) await this.scanLocked(caller, moveNew, newMtime, curMtime, !!options.force);
    await this.grantRecent(caller);
  }

  private applyKeywords(keywords: KeywordsState): void {
    this.keywordsState = keywords;
    this.flagIntern.clear();
    if (!this.loaded) return;
    const updates = new Map<number, MessageRecord>();
    for (const m of this.list) {
      const flags = this.flagsOfName(m.filename);
      if (!sameFlags(flags, m.flags)) updates.set(m.uid, m.with(m.filename, m.dir, flags));
    }
    this.applyUpdates(updates);
  }

  private async scanLocked(caller: AttachedView | undefined, moveNew: boolean, newMtime: bigint, curMtime: bigint, force: boolean): Promise<void> {
    const scanStart = Date.now();
    const initial = !this.loaded;
    const lock = await this.lockUidlist();
    let lingerUntil = 0;
    let ownCur: { stamp: DirStamp; lingerUntil: number } | undefined;
    const updates = new Map<number, MessageRecord>();
    const expunged: number[] = [];
    const added: MessageRecord[] = [];
    const recentEligible = new UidSet();
    try {
      const state = await this.readUidlistLocked();
      if (initial) {
        this.uidValidity = state.header.uidValidity;
        this.cache = this.newCache();
        await this.cache.load(this.uidValidity);
        this.firstRecentUid = (await this.cache.loadFirstRecentUid()) ?? (await this.firstSight(state));
      } else if (state.header.uidValidity !== this.uidValidity) {
        this.markGone(`changed its UIDVALIDITY from ${this.uidValidity} to ${state.header.uidValidity}`);
        throw new StorageError('NONEXISTENT', 'Mailbox was recreated; select it again');
      }
      // cur/ still as the index verified it (checked under the lock): only new/ is read.
      const stampsBefore = this.stamps;
      const curNow = dirMtimeSync(path.join(this.dir, 'cur'));
      const curKnown = !initial && !force && curNow === curMtime && trusted(curMtime, this.stamps.cur);
      const files = await this.scanDirs({ new: true, cur: !curKnown });
      if (curKnown) {
        // A file in new/ whose base the index has in cur/: keep cur/ (as scanDirs does).
        for (const [base, ref] of files) {
          const known = this.byBaseRecord(base);
          if (known && known.dir === 'cur') {
            this.log('warn', `duplicate maildir base name ${base} (cur/${known.filename}, new/${ref.filename})`);
            files.delete(base);
          }
        }
      }
      /** Where a base is on disk: scanned, or (cur/ not read) where the index has it in cur/. */
      const lookup = (base: string): FileRef | undefined => {
        const ref = files.get(base);
        if (ref || !curKnown) return ref;
        const known = this.byBaseRecord(base);
        return known && known.dir === 'cur' ? known : undefined;
      };
      const checkIndex = !curKnown || this.inNew > 0;
      const missing = initial
        ? [...state.uids.keys()].some((base) => !files.has(base))
        : checkIndex && this.list.some((m) => !lookup(baseOf(m.filename)));
      if (missing) {
        // A file renamed while readdir() ran can be missed: look once more before expunging.
        await sleep(5);
        const again = await this.scanDirs({ new: true, cur: !curKnown });
        for (const [base, ref] of again) if (!files.has(base) && !(curKnown && this.byBaseRecord(base)?.dir === 'cur')) files.set(base, ref);
      }

      // A read-write sync moves new/ to cur/ (adding the ':2,' info).
      const wasNew = new Set<string>();
      for (const [base, ref] of files) if (ref.dir === 'new') wasNew.add(base);
      if (moveNew && wasNew.size > 0) {
        // cur/ unchanged since it was read (or since the index verified it): after the moves,
        // the index knows cur/ exactly, so its new mtime can be Roost's own (big mailboxes).
        const curVerified = dirMtimeSync(path.join(this.dir, 'cur')) === curMtime;
        const race = { hit: false };
        // Each move is two inotify notifications (new/ and cur/) of what this sync already knows.
        const bulk = wasNew.size >= BULK_CHANGE_MIN && bulkChange(this, 'begin', 'new+cur');
        try {
          let n = 0;
          for (const base of wasNew) {
            if (++n % SYNC_BATCH === 0) await yieldToLoop();
            const ref = files.get(base);
            if (!ref) continue;
            const moved = await this.moveToCur(base, ref, files, race);
            if (moved) files.set(base, moved);
            else files.delete(base);
          }
        } finally {
          if (bulk) bulkChange(this, 'end', 'new+cur');
        }
        await fsyncDir(path.join(this.dir, 'cur'));
        const size = this.list.length + wasNew.size;
        // (Not when another process moved files meanwhile: it may have changed more.)
        if (curVerified && !race.hit && size >= OWN_STAMP_MIN_MESSAGES) ownCur = this.ownCurStamp(true);
        lingerUntil = ownCur?.lingerUntil ?? 0;
      }

      if (checkIndex) {
        for (const m of this.list) {
          if (curKnown && m.dir === 'cur') continue;
          const ref = lookup(baseOf(m.filename));
          if (!ref) expunged.push(m.uid);
          else if (ref.filename !== m.filename || ref.dir !== m.dir) {
            updates.set(m.uid, m.with(ref.filename, ref.dir, this.flagsOfName(ref.filename)));
          }
        }
      }

      // New files keep the uid another process gave them, unless it is not above what was
      // already announced (a file that reappeared): then they get a new one, like in Dovecot.
      const fresh: { base: string; uid: number; known: boolean; ext?: string }[] = [];
      const needUid: { base: string; filename: string }[] = [];
      const used = new Set<number>();
      for (const [base, ref] of files) {
        if (this.byBase.has(base)) continue;
        const uid = state.uids.get(base);
        if (uid !== undefined && (initial || uid > this.highestSeenUid) && !used.has(uid)) {
          used.add(uid);
          fresh.push({ base, uid, known: true, ext: state.ext.get(base) });
        } else {
          if (uid !== undefined) state.needsRewrite = true;
          needUid.push({ base, filename: ref.filename });
        }
      }
      let next = Math.max(nextUidOf(state), this.nextUid);
      for (const n of sortForUidOrder(needUid, (x) => x.filename)) fresh.push({ base: n.base, uid: next++, known: false });

      // No message file is read or stat()ed here: sizes and dates come from the name, the
      // uidlist or the cache, or are found out when asked for.
      const records: { uid: number; base: string; ext?: string }[] = [];
      for (const f of fresh) {
        const ref = files.get(f.base);
        if (!ref) continue; // vanished meanwhile
        const message = this.newRecord(f.uid, ref, f.base, f.ext, this.cache?.lookupMeta(f.base, f.uid));
        added.push(message);
        if (!f.known) {
          records.push({ uid: f.uid, base: f.base, ext: this.extFor(f.base, undefined, message.facts.vsize) });
        } else if (message.facts.vsize >= 0 && sizeField(f.base, 'W') === undefined && extVsize(f.ext) === undefined) {
          this.unrecordedSizes++;
        }
        if (f.uid >= this.firstRecentUid || wasNew.has(f.base)) recentEligible.add(f.uid);
      }
      await this.recordUids(state, records, next);
      this.nextUid = Math.max(this.nextUid, next, nextUidOf(this.uidlist ?? state));

      if (initial) {
        this.loaded = true;
        this.cache?.releaseMeta();
      }
      // A stamp may only say "verified" once the index holds what was read.
      this.stamps = {};
      this.applyUpdates(updates);
      this.applyExpunges(expunged);
      await this.applyAdds(added, recentEligible, caller);
      // Arrivals from outside Roost; on a first load only the files that got their uid just now.
      const assignedNow = initial ? new Set(records.map((r) => r.uid)) : undefined;
      reportArrivals(this, assignedNow ? added.filter((m) => assignedNow.has(m.uid)) : added, initial, this.ownIncoming);
      const newStamp: DirStamp = { mtimeNs: newMtime, scannedAt: scanStart };
      if (ownCur) this.stamps = { new: newStamp, cur: ownCur.stamp };
      else if (curKnown) this.stamps = { new: newStamp, cur: stampsBefore.cur };
      else this.stamps = { new: newStamp, cur: { mtimeNs: curMtime, scannedAt: scanStart } };
      await this.compactUidlistLocked(this.uidlist ?? state);
    } finally {
      await lock.release({ lingerUntil });
    }
  }

  /** Move one file from new/ to cur/; returns where it is now, or undefined if it is gone. */
  private async moveToCur(base: string, ref: FileRef, files: Map<string, FileRef>, race: { hit: boolean }): Promise<FileRef | undefined> {
    let current: FileRef = ref;
    const scans: { map?: Map<string, FileRef> } = {};
    const newDir = this.dir + '/new/';
    const curDir = this.dir + '/cur/';
    for (let attempt = 0; attempt < 3; attempt++) {
      if (current.dir === 'cur') return current;
      const name = current.filename;
      const colon = name.indexOf(':');
      const hasInfo = colon >= 0 && name.charCodeAt(colon + 1) === 0x32 && name.charCodeAt(colon + 2) === 0x2c;
      const target = hasInfo ? name : name + ':2,';
      try {
        fsSync.renameSync(newDir + name, curDir + target);
        return { dir: 'cur', filename: target };
      } catch (err) {
        if (!isNotFound(err)) throw err;
        // Someone else moved or renamed it first: find it again.
        race.hit = true;
        const moved = await this.locate(base, scans, true);
        if (!moved) return undefined;
        current = moved;
        files.set(base, moved);
      }
    }
    return current;
  }

  // ---- opening and closing ------------------------------------------------------------

  attach(view: AttachedView): void {
    this.views.push(view);
  }

  detach(view: AttachedView): void {
    const i = this.views.indexOf(view);
    if (i >= 0) this.views.splice(i, 1);
  }

  /** Deleted or renamed away: every view sees all messages expunged; later calls fail. */
  markGone(reason: string): void {
    if (this.gone) return;
    this.gone = reason;
    const uids = this.list.map((m) => m.uid);
    if (uids.length > 0) {
      this.list = [];
      this.byBase.clear();
      this.pendingRecent.clear();
      this.emit({ kind: 'expunged', uids });
    }
    this.cache?.abandon();
    if (this.idleTimer) clearTimeout(this.idleTimer);
    if (registry.get(this.dir) === this) registry.delete(this.dir);
  }

  /** The last user let go: write what is pending and shrink the cache if it is mostly garbage. */
  async maintain(): Promise<void> {
    if (!this.cache) return;
    await this.cache.flushState();
    if (this.gone) return;
    await this.cache.compactIfNeeded(
      this.list.map((m) => ({ uid: m.uid, base: baseOf(m.filename), mtime: m.facts.mtime, vsize: m.facts.vsize })),
    );
  }

  /** Forget the index (nobody uses the mailbox): the next use loads it again. */
  async unload(): Promise<void> {
    const cache = this.cache;
    this.cache = undefined;
    await cache?.close();
    this.loaded = false;
    this.list = [];
    this.byBase = new Map();
    this.highestSeenUid = 0;
    this.unseenBelowIncoming = false;
    this.inNew = 0;
    this.uidlist = undefined;
    this.keywordsState = emptyKeywords();
    this.flagIntern.clear();
    this.pendingRecent.clear();
    this.firstRecentUid = 1;
    this.stamps = {};
    this.unrecordedSizes = 0;
    this.uidValidity = 0;
    this.nextUid = 1;
  }

  /** Memory of parsed infos this mailbox holds (the registry frees idle ones first). */
  dropInfos(): void {
    this.cache?.dropInfos();
  }

  /**
   * Kept loaded while nobody used it: if dovecot-uidlist or the cache was replaced, removed
   * or changed by anyone else meanwhile, load everything again rather than trust the index.
   * (Changes to the directories are found by the next sync as usual.)
   */
  private async validateRetained(): Promise<void> {
    this.needsValidation = false;
    if (!this.loaded || this.gone) return;
    const uidlistSame = !!this.uidlist && uidlistIdentity(this.uidlist) === uidlistIdentityOnDisk(this.dir);
    const cacheSame = !this.cache || (await this.cache.unchangedOnDisk());
    if (uidlistSame && cacheSame) return;
    this.log('debug', `${uidlistSame ? 'cache' : UIDLIST} changed while the mailbox was not in use; loading it again`);
    await this.unload();
  }

  // ---- reading messages ---------------------------------------------------------------

  private async currentRef(m: MessageMeta): Promise<{ ref: FileRef; meta: MessageMeta }> {
    const ref = await this.locate(baseOf(m.filename));
    if (!ref) throw new StorageError('EXPUNGEISSUED', `Message ${m.uid} was expunged`);
    return { ref, meta: m };
  }

  private messageOrThrow(uid: number): MessageRecord {
    this.ensureAlive();
    const m = this.get(uid);
    if (!m) throw new StorageError('EXPUNGEISSUED', `Message ${uid} was expunged`);
    return m;
  }

  /** The parsed info if it is in memory (no I/O, no Promise). */
  infoCached(uid: number): MessageInfo | undefined {
    if (!this.cache) return undefined;
    const m = this.get(uid);
    return m ? this.cache.peekInfo(uid, baseOf(m.filename)) : undefined;
  }

  /** infoCached() for synchronous use only (see MailboxCache.peekInfo's borrow). */
  infoBorrowed(uid: number): MessageInfo | undefined {
    if (!this.cache) return undefined;
    const m = this.get(uid);
    return m ? this.cache.peekInfo(uid, baseOf(m.filename), true) : undefined;
  }

  async info(uid: number): Promise<MessageInfo> {
    const m = this.messageOrThrow(uid);
    const base = baseOf(m.filename);
    const hit = this.cache?.peekInfo(uid, base);
    if (hit) return hit;
    let p = this.parsing.get(uid);
    if (!p) {
      p = this.loadInfo(m, base);
      this.parsing.set(uid, p);
      const done = (): void => {
        if (this.parsing.get(uid) === p) this.parsing.delete(uid);
      };
      p.then(done, done);
    }
    return p;
  }

  private async loadInfo(m: MessageRecord, base: string): Promise<MessageInfo> {
    const cache = this.cache;
    const cached = await cache?.getInfo(m.uid, base);
    if (cached) return cached;
    let parsed: Awaited<ReturnType<typeof parseMessageFile>>;
    try {
      parsed = await parseMessageFile(this.pathOf(this.get(m.uid) ?? m));
    } catch (err) {
      if (!isNotFound(err)) throw toStorageError(err, `parse ${m.filename}`);
      const { ref } = await this.currentRef(m);
      try {
        parsed = await parseMessageFile(this.pathOf(ref));
      } catch (err2) {
        if (isNotFound(err2)) throw new StorageError('EXPUNGEISSUED', `Message ${m.uid} was expunged`);
        throw toStorageError(err2, `parse ${ref.filename}`);
      }
    }
    const info: MessageInfo = { header: parsed.header, structure: parsed.structure, physicalSize: parsed.physicalSize };
    this.learnFacts(m, parsed.facts.vsize, parsed.facts.mtime);
    return cache && cache === this.cache ? cache.putInfo(m.uid, base, info) : info;
  }

  /**
   * Not created inline in scanLocked: V8 gives all closures of a function one shared context,
   * so an arrow function there would keep scanLocked's locals (the scan's Map of 50,000
   * FileRefs, the Set of recent uids: ~5 MB at 50,000 messages) alive as long as the cache.
   */
  private newCache(): MailboxCache {
    const cache = new MailboxCache(this.dir, this.cacheFiles, this.fsx);
    cache.reparse = (uid) => this.reparseSync(uid);
    return cache;
  }

  /**
   * The MIME structure of a message parsed synchronously: the cache's fallback when a record
   * it has handed out turns out damaged (see MailboxCache.reparse).
   */
  private reparseSync(uid: number): MimePart {
    const m = this.messageOrThrow(uid);
    try {
      return parseMessageFileSync(this.pathOf(m)).structure;
    } catch (err) {
      if (isNotFound(err)) throw new StorageError('EXPUNGEISSUED', `Message ${uid} was expunged`);
      throw toStorageError(err, `parse ${m.filename}`);
    }
  }

  /**
   * The whole file read into `into`, synchronously, when its indexed name opens at once and it
   * is shorter than `into`; undefined otherwise (read() then also finds a file renamed
   * meanwhile). Spares a small FETCH BODY[] the promise chain of read().
   */
  readWholeSync(uid: number, into: Buffer): Buffer | undefined {
    const m = this.messageOrThrow(uid);
    // RFC822.SIZE (when known) is at least the file's size: no read for what cannot fit.
    if (m.facts.vsize >= into.length) return undefined;
    const fd = this.openIndexedSync(m);
    if (fd === undefined) return undefined;
    try {
      // Read to the end of the file rather than fstat() it first: one system call and one
      // Stats object fewer per message. A file that fills `into` may be longer: not read here.
      const got = readFullySync(fd, into, 0);
      return got.length < into.length ? got : undefined;
    } finally {
      closeQuietly(fd);
    }
  }

  /**
   * The whole file, synchronously, `into.length` bytes at a time: `each` gets a view of `into`
   * per piece (valid until it returns). False, with nothing more read, when the file does not
   * open at once under its indexed name or turns out longer than `max` bytes (then read()).
   */
  readChunksSync(uid: number, into: Buffer, max: number, each: (chunk: Buffer) => void): boolean {
    const fd = this.openIndexedSync(this.messageOrThrow(uid));
    if (fd === undefined) return false;
    try {
      let pos = 0;
      for (;;) {
        const got = readFullySync(fd, into, pos);
        if (got.length === 0) return true;
        if (pos + got.length > max) return false;
        each(got);
        pos += got.length;
        if (got.length < into.length) return true;
      }
    } finally {
      closeQuietly(fd);
    }
  }

  /** The message's file opened under its indexed name, or undefined when it is not there now (read() looks for it). */
  private openIndexedSync(m: MessageRecord): number | undefined {
    try {
      return openMessageFile(this.pathOf(m));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw toStorageError(err, `open ${m.filename}`);
    }
  }

  /** `into`: a buffer to read into when the bytes fit (the result is then a view of it). */
  async read(uid: number, start = 0, end?: number, into?: Buffer): Promise<Buffer> {
    const m = this.messageOrThrow(uid);
    let fd: number;
    try {
      fd = openMessageFile(this.pathOf(m));
    } catch (err) {
      if (!isNotFound(err)) throw toStorageError(err, `open ${m.filename}`);
      const { ref } = await this.currentRef(m);
      try {
        fd = openMessageFile(this.pathOf(ref));
      } catch (err2) {
        if (isNotFound(err2)) throw new StorageError('EXPUNGEISSUED', `Message ${uid} was expunged`);
        throw toStorageError(err2, `open ${ref.filename}`);
      }
    }
    try {
      const size = fsSync.fstatSync(fd).size;
      const from = Math.max(0, Math.min(start, size));
      const to = Math.max(from, Math.min(end ?? size, size));
      const buf = into && to - from <= into.length ? into.subarray(0, to - from) : Buffer.allocUnsafe(to - from);
      // Small reads are made synchronously: a thread-pool round trip costs far more than
      // copying a few KB from the page cache, and this thread serves nothing but IMAP.
      if (buf.length <= SYNC_READ_MAX) return readFullySync(fd, buf, from);
      let got = 0;
      while (got < buf.length) {
        const bytesRead = await fsAsync.read(fd, buf, got, buf.length - got, from + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return buf.subarray(0, got);
    } finally {
      closeQuietly(fd);
    }
  }

  // ---- changing flags ------------------------------------------------------------------

  async storeLocked(uids: readonly number[], mode: StoreMode, input: readonly string[]): Promise<Map<number, readonly string[]>> {
    this.ensureAlive();
    const { flags, keywords } = parseFlagArgs(input);
    if (keywords.length > 0 && mode !== 'remove') {
      const before = await readKeywords(this.dir, this.keywordsState);
      const after = await ensureKeywords(this.dir, this.fsx, keywords, before);
      if (after !== this.keywordsState) this.applyKeywords(after);
    }
    const names = this.keywordsState.names;
    const results = new Map<number, readonly string[]>();
    const updates = new Map<number, MessageRecord>();
    if (!uids.some((uid) => this.get(uid))) return results;
    // The new letters depend only on the old ones (flags are a function of the letters).
    const lettersMemo = new Map<string, string>();
    const newLetters = (m: MessageRecord, old: string): string => {
      let letters = lettersMemo.get(old);
      if (letters === undefined) {
        const wanted = applyStoreMode(mode, m.flags, flags);
        letters = flagsToLetters(wanted, (k) => keywordIndex(names, k), old, names);
        lettersMemo.set(old, letters);
      }
      return letters;
    };
    const curDir = path.join(this.dir, 'cur') + '/';
    const scans: { map?: Map<string, FileRef> } = {};
    let lingerUntil = 0;
    const lock = await this.lockUidlist();
    const bulk = uids.length >= BULK_CHANGE_MIN && bulkChange(this, 'begin');
    try {
      const curTrusted = this.ownCurChangeBegin() && uids.every((uid) => this.get(uid)?.dir !== 'new');
      let n = 0;
      for (const uid of uids) {
        const original = this.get(uid);
        if (!original) continue;
        if (++n % SYNC_BATCH === 0) await yieldToLoop();
        let m = updates.get(uid) ?? original;
        for (let attempt = 0; ; attempt++) {
          // Common case: '<base>:2,<letters>' with flags as the letters say.
          const name = m.filename;
          const colon = name.indexOf(':');
          let filename: string;
          let letters: string;
          if (colon > 0 && name.charCodeAt(colon + 1) === 0x32 && name.charCodeAt(colon + 2) === 0x2c && name.indexOf(',', colon + 3) < 0) {
            const old = name.slice(colon + 3);
            letters = m.flags === this.flagsFor(old) ? newLetters(m, old) : flagsToLetters(applyStoreMode(mode, m.flags, flags), (k) => keywordIndex(names, k), old, names);
            filename = name.slice(0, colon + 3) + letters;
          } else {
            const split = splitFilename(name);
            letters = flagsToLetters(applyStoreMode(mode, m.flags, flags), (k) => keywordIndex(names, k), split.letters, names);
            filename = buildFilename(split.base, letters, split.extra);
          }
          if (filename === name && m.dir === 'cur') {
            results.set(uid, m.flags);
            if (m !== original) updates.set(uid, m);
            break;
          }
          try {
            fsSync.renameSync(this.pathOf(m), curDir + filename);
            m = m.with(filename, 'cur', this.flagsFor(letters));
            updates.set(uid, m);
            results.set(uid, m.flags);
            break;
          } catch (err) {
            if (!isNotFound(err)) throw toStorageError(err, `rename ${m.filename}`);
            // Renamed by another process (its flags changed): start from what it has now.
            const ref = attempt < 3 ? await this.locate(baseOf(name), scans, attempt > 0) : undefined;
            if (!ref) break; // gone (or hidden by a rename in flight): the next sync tells
            m = m.with(ref.filename, ref.dir, this.flagsOfName(ref.filename));
          }
        }
      }
      // No directory fsync for flag renames, as Dovecot's default mail_fsync = optimized: the
      // message itself is never at risk, and a crash can at worst undo a flag change.
      lingerUntil = this.ownCurChangeEnd(curTrusted && !scans.map);
    } finally {
      await lock.release({ lingerUntil });
      if (bulk) bulkChange(this, 'end');
    }
    this.applyUpdates(updates);
    return results;
  }

  async expungeLocked(uids?: readonly number[]): Promise<number[]> {
    this.ensureAlive();
    const only = uids ? new Set(uids) : undefined;
    const targets = this.list.filter((m) => m.flags.includes('\\Deleted') && (!only || only.has(m.uid)));
    if (targets.length === 0) return [];
    const done: number[] = [];
    const updates = new Map<number, MessageRecord>();
    const scans: { map?: Map<string, FileRef> } = {};
    let lingerUntil = 0;
    const lock = await this.lockUidlist();
    try {
      const curTrusted = this.ownCurChangeBegin() && targets.every((m) => m.dir === 'cur');
      let n = 0;
      for (const m of targets) {
        if (++n % SYNC_BATCH === 0) await yieldToLoop();
        const base = baseOf(m.filename);
        let current: FileRef = { dir: m.dir, filename: m.filename };
        for (let attempt = 0; attempt < 4; attempt++) {
          if (!splitFilename(current.filename).letters.includes('T')) {
            // Another process took \Deleted away meanwhile: the message stays.
            updates.set(m.uid, m.with(current.filename, current.dir, this.flagsOfName(current.filename)));
            break;
          }
          try {
            fsSync.unlinkSync(this.pathOf(current));
            done.push(m.uid);
            break;
          } catch (err) {
            if (!isNotFound(err)) throw toStorageError(err, `unlink ${current.filename}`);
          }
          // Renamed meanwhile; if it cannot be found, a later sync reports it (not claimed here).
          const ref = await this.locate(base, scans, attempt > 0);
          if (!ref) break;
          current = ref;
        }
      }
      if (done.length > 0) {
        await fsyncDir(path.join(this.dir, 'cur'));
        await fsyncDir(path.join(this.dir, 'new'));
      }
      lingerUntil = this.ownCurChangeEnd(curTrusted && !scans.map);
      done.sort((a, b) => a - b);
      this.applyUpdates(updates);
      this.applyExpunges(done);
      if (done.length > 0) await this.compactUidlistLocked(await this.readUidlistLocked());
    } finally {
      await lock.release({ lingerUntil });
    }
    return done;
  }

  // ---- messages entering the mailbox ---------------------------------------------------

  /**
   * Assign UIDs to files just placed in cur/ (caller holds this mailbox's uidlist lock and
   * queue) and record them in the uidlist. Returns the uids in order, and until when the
   * caller should keep the lock (Dotlock.release's lingerUntil).
   */
  async assignUidsLocked(incoming: readonly Incoming[], ctx: IncomingContext): Promise<{ uidValidity: number; uids: number[]; lingerUntil: number }> {
    const state = await this.readUidlistLocked();
    // Before the first uids Roost gives out here, fix which ones are old (see firstSight).
    if (!this.loaded && (await readFirstRecentUid(this.cacheFiles, state.header.uidValidity)) === undefined) await this.firstSight(state);
    let next = Math.max(nextUidOf(state), this.nextUid);
    // Files already here without a uid are older than these: they get theirs first, as Dovecot
    // syncs before it saves (unless the index just verified there are none).
    const earlier: { uid: number; base: string }[] = [];
    if (ctx.scanNew || ctx.scanCur) {
      const incomingBases = new Set(incoming.map((f) => f.base));
      const unknown = [...(await this.scanDirs({ new: ctx.scanNew, cur: ctx.scanCur }))].filter(
        ([base]) => !state.uids.has(base) && !incomingBases.has(base),
      );
      for (const [base] of sortForUidOrder(unknown, (u) => u[1].filename)) earlier.push({ uid: next++, base });
    }
    // Uids between what the index has seen and these were given out by someone else: the
    // index must pick those up first (noteIncoming then syncs instead of appending).
    this.unseenBelowIncoming = this.loaded && next > this.highestSeenUid + 1;
    const records = incoming.map((f) => ({ uid: next++, base: f.base }));
    await this.recordUids(state, [...earlier, ...records], next);
    this.nextUid = Math.max(this.nextUid, next);
    const lingerUntil = this.unseenBelowIncoming ? 0 : this.ownCurChangeEnd(ctx.curTrusted);
    return { uidValidity: state.header.uidValidity, uids: records.map((r) => r.uid), lingerUntil };
  }

  /** After assignUidsLocked (and the lock released): put the messages into a loaded index. */
  async noteIncoming(incoming: readonly Incoming[], uids: readonly number[]): Promise<void> {
    if (!this.loaded || this.gone) return;
    if (this.unseenBelowIncoming) {
      // Announcing these first would put other processes' lower uids after them.
      this.ownIncoming = new Set(incoming.map((f) => f.base));
      try {
        await this.syncLocked(undefined, { force: true, moveNew: false });
      } finally {
        this.ownIncoming = undefined;
      }
      return;
    }
    const added: MessageRecord[] = [];
    const eligible = new UidSet();
    incoming.forEach((f, i) => {
      const uid = uids[i];
      if (this.byBase.has(f.base)) return;
      const m = this.newRecord(uid, { dir: 'cur', filename: f.filename }, f.base, undefined, { vsize: f.size, mtime: f.internalDate });
      added.push(m);
      this.cache?.recordMeta(uid, f.base, f.internalDate, f.size);
      eligible.add(uid);
    });
    await this.applyAdds(added, eligible);
  }

  /** Keyword letters of this mailbox for `flags` (adding keywords as needed; LIMIT beyond 26). */
  async lettersForIncoming(flagLists: readonly (readonly string[])[], keepLetters: readonly string[] = []): Promise<string[]> {
    const keywords = new Set<string>();
    for (const flags of flagLists) for (const f of flags) if (!f.startsWith('\\')) keywords.add(f);
    if (keywords.size > 0) {
      const before = await readKeywords(this.dir, this.keywordsState);
      const after = await ensureKeywords(this.dir, this.fsx, [...keywords], before);
      if (after !== this.keywordsState) this.applyKeywords(after);
    }
    const names = this.keywordsState.names;
    return flagLists.map((flags, i) => {
      // Letters no IMAP flag controls (P, other upper-case ones) travel with the message.
      const keep = (keepLetters[i] ?? '').replace(/[^A-Z]/g, '');
      return flagsToLetters(flags, (k) => keywordIndex(names, k), keep, names);
    });
  }

  async lockForChange(): Promise<Dotlock> {
    return this.lockUidlist();
  }

  /** For APPEND/COPY/MOVE into this mailbox: call before placing files in cur/ (lock held). */
  beginIncoming(): IncomingContext {
    if (!this.loaded) return { curTrusted: false, scanNew: true, scanCur: true };
    const n = dirMtimeSync(path.join(this.dir, 'new'));
    const c = dirMtimeSync(path.join(this.dir, 'cur'));
    return {
      curTrusted: this.ownCurChangeBegin(),
      scanNew: !(n !== undefined && trusted(n, this.stamps.new)),
      scanCur: !(c !== undefined && trusted(c, this.stamps.cur)),
    };
  }

  /**
   * COPY/MOVE `uids` from this mailbox into `dest` (both queues held by the caller).
   * Files are hard-linked (copy) or renamed (move) into dest/cur under new base names;
   * when that is impossible (another file system) the bytes are copied.
   */
  async transferLocked(uids: readonly number[], dest: Mailbox, move: boolean): Promise<{ uidValidity: number; pairs: [number, number][] }> {
    this.ensureAlive();
    if (dest.gone) throw new StorageError('TRYCREATE', 'Target mailbox does not exist');
    const sources: MessageRecord[] = [];
    for (const uid of uids) {
      const m = this.get(uid);
      if (!m) throw new StorageError('EXPUNGEISSUED', 'Some of the requested messages no longer exist');
      sources.push(m);
    }
    if (sources.length === 0) {
      const lock = await dest.lockForChange();
      try {
        const state = await dest.readUidlistLocked();
        return { uidValidity: state.header.uidValidity, pairs: [] };
      } finally {
        await lock.release();
      }
    }
    // The copies' names carry ,W= and keep the mtime: find out what is not known yet.
    await this.prefetch(uids);
    const letters = await dest.lettersForIncoming(
      sources.map((m) => m.flags),
      sources.map((m) => splitFilename(m.filename).letters),
    );
    // Locks in path order (one lock when source and destination are the same maildir).
    const order = move && dest !== this ? [this, dest].sort((a, b) => (a.dir < b.dir ? -1 : 1)) : [dest];
    const locks: Dotlock[] = [];
    const placed: { incoming: Incoming; src: MessageRecord; srcPath: string; destPath: string }[] = [];
    const scans: { map?: Map<string, FileRef> } = {};
    let result: { uidValidity: number; uids: number[]; lingerUntil: number } | undefined;
    let srcLinger = 0;
    try {
      for (const mb of order) locks.push(await mb.lockForChange());
      const destCtx = dest.beginIncoming();
      const srcCurTrusted = move && dest !== this && this.ownCurChangeBegin() && sources.every((m) => m.dir === 'cur');
      try {
        for (let i = 0; i < sources.length; i++) {
          if (i > 0 && i % SYNC_BATCH === 0) await yieldToLoop();
          let m = sources[i];
          for (let attempt = 0; ; attempt++) {
            const srcPath = this.pathOf(m);
            try {
              let physical = sizeField(baseOf(m.filename), 'S');
              if (physical === undefined) {
                const st = statMessageFile(srcPath);
                if (!st) throw Object.assign(new Error(`${srcPath} vanished`), { code: 'ENOENT' });
                physical = st.size;
              }
              const base = withSizes(generateBase(), physical, m.size);
              const filename = buildFilename(base, letters[i]);
              const destPath = path.join(dest.dir, 'cur', filename);
              if (move) await this.moveFile(srcPath, destPath, dest, m.internalDate);
              else await this.linkFile(srcPath, destPath, dest, m.internalDate);
              placed.push({ incoming: { base, filename, size: m.size, internalDate: m.internalDate }, src: m, srcPath, destPath });
              break;
            } catch (err) {
              if (!isNotFound(err) || attempt >= 2) throw err;
              const ref = await this.locate(baseOf(m.filename), scans, attempt > 0);
              if (!ref) throw new StorageError('EXPUNGEISSUED', 'Some of the requested messages no longer exist');
              m = m.with(ref.filename, ref.dir, m.flags);
            }
          }
        }
        await fsyncDir(path.join(dest.dir, 'cur'));
        if (move && dest !== this) {
          await fsyncDir(path.join(this.dir, 'cur'));
          await fsyncDir(path.join(this.dir, 'new'));
        }
        result = await dest.assignUidsLocked(
          placed.map((p) => p.incoming),
          { ...destCtx, curTrusted: destCtx.curTrusted && (dest !== this || !move) && !scans.map },
        );
        srcLinger = this.ownCurChangeEnd(srcCurTrusted && !scans.map);
      } catch (err) {
        // Undo: nothing may stay half copied or half moved.
        for (const p of placed.reverse()) {
          if (move) await fs.rename(p.destPath, p.srcPath).catch((e: unknown) => this.log('error', `cannot move back ${p.destPath}: ${String(e)}`));
          else await fs.unlink(p.destPath).catch(() => {});
        }
        throw err;
      }
    } catch (err) {
      throw toStorageError(err, move ? 'move' : 'copy');
    } finally {
      for (let k = locks.length - 1; k >= 0; k--) {
        const lingerUntil = order[k] === dest ? (result?.lingerUntil ?? 0) : srcLinger;
        await locks[k].release({ lingerUntil });
      }
    }
    const done = result;
    if (!done) throw new StorageError('SERVERBUG', 'copy: no result');
    // Committed: a failure to update the in-memory index now is caught up by the next sync.
    await dest.noteIncoming(
      placed.map((p) => p.incoming),
      done.uids,
    ).catch((err: unknown) => {
      dest.forgetStamps();
      dest.log('warn', String(err));
    });
    if (move) this.applyExpunges(placed.map((p) => p.src.uid));
    return { uidValidity: done.uidValidity, pairs: placed.map((p, i) => [p.src.uid, done.uids[i]]) };
  }

  private async linkFile(srcPath: string, destPath: string, dest: Mailbox, mtime: number): Promise<void> {
    try {
      fsSync.linkSync(srcPath, destPath);
    } catch (err) {
      const code = errCode(err);
      if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'EMLINK' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw err;
      await this.copyBytes(srcPath, destPath, dest, mtime);
    }
  }

  private async moveFile(srcPath: string, destPath: string, dest: Mailbox, mtime: number): Promise<void> {
    try {
      fsSync.renameSync(srcPath, destPath);
      return;
    } catch (err) {
      if (errCode(err) !== 'EXDEV') throw err;
    }
    await this.copyBytes(srcPath, destPath, dest, mtime);
    await fs.unlink(srcPath);
  }

  /** Copy through dest/tmp (fsync, mtime kept), then rename into place. */
  private async copyBytes(srcPath: string, destPath: string, dest: Mailbox, mtime: number): Promise<void> {
    const tmp = path.join(dest.dir, 'tmp', baseOf(path.basename(destPath)));
    await fs.copyFile(srcPath, tmp, fsConstants.COPYFILE_EXCL);
    try {
      const handle = await fs.open(tmp, 'r+');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
      await this.fsx.chownNew(tmp);
      await fs.utimes(tmp, new Date(), new Date(mtime));
      await fs.rename(tmp, destPath);
    } catch (err) {
      await fs.unlink(tmp).catch(() => {});
      throw err;
    }
  }

  /**
   * RENAME INBOX: move every message file, names unchanged, into the new, empty folder `dest`
   * (both queues held by the caller). The folder gets INBOX's keyword letters and its
   * messages in INBOX's uid order; INBOX keeps its UIDVALIDITY and next uid, and is empty.
   */
  async moveAllToLocked(dest: Mailbox): Promise<void> {
    this.ensureAlive();
    const [first, second] = this.dir < dest.dir ? [this, dest] : [dest, this];
    const lockA = await first.lockForChange();
    try {
      const lockB = await second.lockForChange();
      try {
        const state = await this.readUidlistLocked();
        const destState = await dest.readUidlistLocked();
        if (destState.uids.size > 0) throw new StorageError('ALREADYEXISTS', 'Target mailbox is not empty');
        const keywordsFile = path.join(this.dir, 'dovecot-keywords');
        const keywordsText = await fs.readFile(keywordsFile, 'utf8').catch(() => '');
        if (keywordsText !== '') {
          const kwLock = await takeDotlock(path.join(dest.dir, 'dovecot-keywords'), this.fsx, { forReplace: true });
          await kwLock.replace(path.join(dest.dir, 'dovecot-keywords'), keywordsText);
        }
        const files = await this.scanDirs();
        const entries = [...files].map(([base, ref]) => ({ base, ref, uid: state.uids.get(base) }));
        entries.sort((a, b) =>
          a.uid !== undefined && b.uid !== undefined
            ? a.uid - b.uid
            : a.uid !== undefined
              ? -1
              : b.uid !== undefined
                ? 1
                : compareForUidOrder(a.ref.filename, b.ref.filename),
        );
        const records: { uid: number; base: string; ext?: string }[] = [];
        for (const e of entries) {
          try {
            fsSync.renameSync(this.pathOf(e.ref), path.join(dest.dir, e.ref.dir, e.ref.filename));
          } catch (err) {
            if (isNotFound(err)) continue; // expunged meanwhile
            throw err;
          }
          records.push({ uid: records.length + 1, base: e.base, ext: state.ext.get(e.base) });
        }
        for (const d of [dest.dir, this.dir]) {
          await fsyncDir(path.join(d, 'cur'));
          await fsyncDir(path.join(d, 'new'));
        }
        dest.uidlist = await rewriteUidlist(dest.dir, this.fsx, destState.header, records.length + 1, records);
        dest.nextUid = records.length + 1;
      } finally {
        await lockB.release();
      }
    } finally {
      await lockA.release();
    }
    if (this.loaded) await this.syncLocked(undefined, { force: true, moveNew: false });
  }

  // ---- STATUS without loading the index -------------------------------------------------

  async statusLocked(): Promise<MailboxStatus> {
    this.ensureAlive();
    if (this.loaded) {
      await this.syncLocked(undefined, { moveNew: false });
      let recent = this.pendingRecent.size;
      for (const v of this.views) if (!v.closed) recent += v.recent.size;
      let unseen = 0;
      for (const m of this.list) if (!m.flags.includes('\\Seen')) unseen++;
      return { messages: this.list.length, recent, uidNext: this.nextUid, uidValidity: this.uidValidity, unseen };
    }
    const exists = statIfExists(this.dir)?.isDirectory() ?? false;
    if (!exists) throw new StorageError('NONEXISTENT', 'Mailbox does not exist');
    const lock = await this.lockUidlist();
    try {
      const state = await this.readUidlistLocked();
      const firstRecent = (await readFirstRecentUid(this.cacheFiles, state.header.uidValidity)) ?? (await this.firstSight(state));
      const files = await this.scanDirs();
      const needUid: { base: string; ref: FileRef }[] = [];
      let unseen = 0;
      let recent = 0;
      for (const [base, ref] of files) {
        if (!lettersOf(ref.filename).includes('S')) unseen++;
        const uid = state.uids.get(base);
        if (uid === undefined) needUid.push({ base, ref });
        else if (uid >= firstRecent || ref.dir === 'new') recent++;
      }
      let next = nextUidOf(state);
      const records = sortForUidOrder(needUid, (n) => n.ref.filename).map((n) => ({ uid: next++, base: n.base }));
      recent += records.length;
      await this.recordUids(state, records, next);
      return { messages: files.size, recent, uidNext: next, uidValidity: state.header.uidValidity, unseen };
    } finally {
      await lock.release();
    }
  }
}

/** The flag letters of a file name (fast path of splitFilename). */
function lettersOf(filename: string): string {
  const at = filename.indexOf(':');
  if (at < 0 || filename[at + 1] !== '2' || filename[at + 2] !== ',') return '';
  const comma = filename.indexOf(',', at + 3);
  return comma < 0 ? filename.slice(at + 3) : filename.slice(at + 3, comma);
}

function sameFlags(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// ---- the registry: one Mailbox per directory per process ------------------------------
//
// When its last user lets go, a loaded mailbox stays in memory for IDLE_KEEP_MS (Dovecot keeps
// its index in files; Roost keeps it here), so a client that logs in again, or STATUS, finds
// it warm. Before it is used again it is checked (Mailbox.validateRetained) and synced as
// usual. At most IDLE_MAX_MAILBOXES stay; idle ones give their parsed infos back first when
// an open mailbox needs the memory (infoMemory.reclaim).

const registry = new Map<string, Mailbox>();
const IDLE_KEEP_MS = 10 * 60_000;
const IDLE_MAX_MAILBOXES = 32;

infoMemory.reclaim = (need: number): void => {
  const idle = [...registry.values()].filter((mb) => mb.refs === 0 && mb.idleSince > 0).sort((a, b) => a.idleSince - b.idleSince);
  for (const mb of idle) {
    if (infoMemory.used + need <= infoMemory.budget) return;
    mb.dropInfos();
  }
};

export function acquireMailbox(ctx: StoreContext, dir: string, isFolder: boolean): Mailbox {
  const key = path.resolve(dir);
  let mb = registry.get(key);
  if (mb && mb.refs === 0 && mb.idleSince > 0) {
    clearTimeout(mb.idleTimer);
    mb.idleTimer = undefined;
    mb.idleSince = 0;
    if (mb.ctx.cacheDir !== ctx.cacheDir) {
      // Another configuration: start afresh.
      registry.delete(key);
      const old = mb;
      void old.run(() => old.unload());
      mb = undefined;
    } else {
      mb.ctx = ctx;
      mb.needsValidation = true;
    }
  }
  if (!mb) {
    mb = new Mailbox(ctx, key, isFolder);
    registry.set(key, mb);
  }
  mb.refs++;
  return mb;
}

export async function releaseMailbox(mb: Mailbox): Promise<void> {
  mb.refs--;
  if (mb.refs > 0) return;
  await mb.run(async () => {
    if (mb.refs > 0) return;
    try {
      await mb.maintain();
    } catch (err) {
      mb.ctx.fsx.log('debug', `${mb.dir}: cache maintenance failed: ${String(err)}`);
    }
    if (mb.refs > 0 || registry.get(mb.dir) !== mb) return;
    if (!mb.loaded || mb.gone) {
      registry.delete(mb.dir);
      return;
    }
    keepIdle(mb);
  });
}

function keepIdle(mb: Mailbox): void {
  mb.idleSince = Date.now();
  mb.idleTimer = setTimeout(() => expire(mb), IDLE_KEEP_MS);
  mb.idleTimer.unref();
  const idle = [...registry.values()].filter((m) => m.refs === 0 && m.idleSince > 0);
  if (idle.length > IDLE_MAX_MAILBOXES) {
    idle.sort((a, b) => a.idleSince - b.idleSince);
    for (const old of idle.slice(0, idle.length - IDLE_MAX_MAILBOXES)) expire(old);
  }
}

function expire(mb: Mailbox): void {
  if (mb.refs > 0 || mb.idleSince === 0) return;
  clearTimeout(mb.idleTimer);
  mb.idleTimer = undefined;
  mb.idleSince = 0;
  if (registry.get(mb.dir) === mb) registry.delete(mb.dir);
  void mb.run(() => mb.unload()).catch((err: unknown) => mb.ctx.fsx.log('debug', `${mb.dir}: unload failed: ${String(err)}`));
}

/** Forget every idle mailbox now (tests; shutting down). Pending cache writes are made. */
export async function unloadIdleMailboxes(): Promise<void> {
  const idle = [...registry.values()].filter((mb) => mb.refs === 0 && mb.idleSince > 0);
  for (const mb of idle) expire(mb);
  await Promise.all(idle.map((mb) => mb.run(async () => {})));
}

/**
 * A mailbox directory was removed from disk (the maildir watcher saw it go): if nobody has the
 * mailbox open, forget it now instead of keeping its index in memory for IDLE_KEEP_MS. Open
 * ones find out on their next sync, as before.
 */
export function forgetRemovedMailbox(dir: string): void {
  const mb = registry.get(path.resolve(dir));
  if (!mb || mb.refs > 0 || fsSync.existsSync(mb.dir)) return;
  mb.markGone('was deleted');
}

/** The live instance for a directory, if any (for DELETE/RENAME). */
export function liveMailbox(dir: string): Mailbox | undefined {
  return registry.get(path.resolve(dir));
}

/** Live instances at or below a directory prefix (RENAME of a hierarchy). */
export function liveMailboxes(): Mailbox[] {
  return [...registry.values()];
}

// ---- bulk changes: many files renamed by Roost itself ------------------------------------
//
// STORE 1:* renames every file of cur/: as many inotify notifications, twice over, each
// telling the maildir watcher only what the index already knows; the first SELECT of a
// mailbox Postfix filled moves every file from new/ to cur/, the same. Around such a change the
// watcher stops watching the directories involved and, after it, syncs once (cheap when cur/ changed only by
// Roost: its mtime is then trusted), which also picks up anything another program did meanwhile.

/** Own renames from this many files on are announced as a bulk change. */
const BULK_CHANGE_MIN = 256;
/** Which directories a bulk change renames in: cur/ (STORE), or new/ to cur/ (a sync's moves). */
export type BulkDirs = 'cur' | 'new+cur';
export type BulkChangeListener = (mailbox: Mailbox, phase: 'begin' | 'end', dirs: BulkDirs) => void;
const bulkListeners = new Set<BulkChangeListener>();

/** Hear begin/end around bulk changes of every mailbox; returns the function that stops listening. */
export function onBulkChange(listener: BulkChangeListener): () => void {
  bulkListeners.add(listener);
  return () => void bulkListeners.delete(listener);
}

/** Tells the listeners; true when there were any (so 'end' must follow). */
function bulkChange(mb: Mailbox, phase: 'begin' | 'end', dirs: BulkDirs = 'cur'): boolean {
  for (const listener of bulkListeners) {
    try {
      listener(mb, phase, dirs);
    } catch (err) {
      mb.log('error', `bulk change listener failed: ${String(err)}`);
    }
  }
  return bulkListeners.size > 0;
}

// ---- arrivals: messages that entered a mailbox from outside Roost ----------------------
//
// A sync (scanLocked) reports the messages it found that Roost did not put there itself
// (Postfix's delivery into new/, a file moved into cur/ by hand or by Dovecot); APPEND, COPY
// and MOVE by Roost enter through assignUidsLocked/noteIncoming and are not reported. On a
// mailbox's first load (`firstLoad`) only files that had no uid yet are reported. The maildir
// watcher (server/watch/) turns them into `delivered` events.

export type ArrivalListener = (mailbox: Mailbox, messages: readonly MessageMeta[], firstLoad: boolean) => void;
const arrivalListeners = new Set<ArrivalListener>();

/** Listen for arrivals in every mailbox of this process; returns the function that stops listening. */
export function onArrivals(listener: ArrivalListener): () => void {
  arrivalListeners.add(listener);
  return () => void arrivalListeners.delete(listener);
}

function reportArrivals(mb: Mailbox, messages: readonly MessageRecord[], firstLoad: boolean, own: Set<string> | undefined): void {
  if (arrivalListeners.size === 0 || messages.length === 0) return;
  const list = own ? messages.filter((m) => !own.has(baseOf(m.filename))) : messages;
  if (list.length === 0) return;
  for (const listener of arrivalListeners) {
    try {
      listener(mb, list, firstLoad);
    } catch (err) {
      mb.log('error', `arrival listener failed: ${String(err)}`);
    }
  }
}

/** Run `fn` holding the queues of two mailboxes, in path order (no deadlock). */
export function runPair<T>(a: Mailbox, b: Mailbox, fn: () => Promise<T>): Promise<T> {
  if (a === b) return a.run(fn);
  const [first, second] = a.dir < b.dir ? [a, b] : [b, a];
  return first.run(() => second.run(fn));
}

export { baseOf };
