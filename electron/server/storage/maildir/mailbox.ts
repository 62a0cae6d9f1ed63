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
// Persisted formats are those of filename.ts, uidlist.ts, keywords.ts and cache.ts.

import fs from 'node:fs/promises';
import { constants as fsConstants } from 'node:fs';
import path from 'node:path';
import type { MailboxChange, MailboxStatus, MessageInfo, MessageMeta, StoreMode } from '../types.js';
import { StorageError } from '../types.js';
import { type CacheFiles, MailboxCache, cachePaths, readFirstRecentUid, writeFirstRecentUid } from './cache.js';
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
import { FsContext, errCode, fsyncDir, isNotFound, mapLimit, toStorageError } from './fsutil.js';
import { type KeywordsState, emptyKeywords, ensureKeywords, keywordIndex, readKeywords } from './keywords.js';
import { measureFile, parseMessageFile } from './messagefile.js';
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
} from './uidlist.js';
import { nextUidValidity } from './uidvalidity.js';

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
  readonly recent: Set<number>;
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
  /** The directories may hold files without uids, which must get theirs first. */
  preScan: boolean;
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

const STAT_PARALLELISM = 32;
const MEASURE_PARALLELISM = 8;
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

async function dirMtime(dir: string): Promise<bigint | undefined> {
  try {
    return (await fs.stat(dir, { bigint: true })).mtimeNs;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

function trusted(mtimeNs: bigint, stamp: DirStamp | undefined): boolean {
  return !!stamp && stamp.mtimeNs === mtimeNs && (stamp.own === true || stamp.scannedAt - Number(mtimeNs / 1_000_000n) > MTIME_TRUST_MS);
}

export class Mailbox {
  refs = 0;
  readonly views: AttachedView[] = [];
  loaded = false;
  /** Set when the mailbox was deleted or renamed away (or lost its UIDVALIDITY). */
  gone: string | undefined;

  uidValidity = 0;
  nextUid = 1;
  private list: readonly MessageMeta[] = [];
  private byBase = new Map<string, MessageMeta>();
  private highestSeenUid = 0;
  private unseenBelowIncoming = false;
  private inNew = 0;
  private uidlist: UidlistState | undefined;
  private keywordsState: KeywordsState = emptyKeywords();
  private flagIntern = new Map<string, readonly string[]>();
  private pendingRecent = new Set<number>();
  private firstRecentUid = 1;
  private cache: MailboxCache | undefined;
  readonly cacheFiles: CacheFiles;
  private stamps: { new?: DirStamp; cur?: DirStamp } = {};
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    readonly ctx: StoreContext,
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
    const result = this.tail.then(fn);
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

  get(uid: number): MessageMeta | undefined {
    const list = this.list;
    let lo = 0;
    let hi = list.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const m = list[mid];
      if (m.uid === uid) return m;
      if (m.uid < uid) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  private pathOf(m: { dir: string; filename: string }): string {
    return path.join(this.dir, m.dir, m.filename);
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

  /**
   * Before changing cur/ under the uidlist lock: was cur/ unchanged since the index last
   * verified it? Then, after the change, the new mtime is ours (see ownCurChangeEnd) and the
   * next sync need not read a huge directory again. Only for big mailboxes (small ones are
   * cheap to re-read) and only cur/: MDAs deliver to new/ without any lock, while Dovecot
   * changes cur/ only under the lock. (A MUA that renames in cur/ without the lock can go
   * unnoticed until cur/ changes again; Dovecot documents the same limitation.)
   */
  private async ownCurChangeBegin(): Promise<boolean> {
    if (!this.loaded || this.list.length < OWN_STAMP_MIN_MESSAGES) return false;
    const mtime = await dirMtime(path.join(this.dir, 'cur'));
    return mtime !== undefined && trusted(mtime, this.stamps.cur);
  }

  private async ownCurChangeEnd(wasTrusted: boolean): Promise<void> {
    if (!wasTrusted) return;
    const mtime = await dirMtime(path.join(this.dir, 'cur'));
    // A file system with 1-second timestamps cannot tell our change from the next one.
    if (mtime === undefined || mtime % 1_000_000_000n === 0n) return;
    // Keep the lock until the clock has moved past our mtime's tick, so whoever changes cur/
    // after us (under the lock) leaves a different mtime.
    const wait = Number(mtime / 1_000_000n) + OWN_STAMP_TICK_MS - Date.now();
    if (wait > 0) await sleep(Math.min(wait, OWN_STAMP_TICK_MS));
    this.stamps.cur = { mtimeNs: mtime, scannedAt: Date.now(), own: true };
  }

  private ensureAlive(): void {
    if (this.gone) throw new StorageError('NONEXISTENT', `Mailbox ${this.gone}`);
  }

  // ---- events -------------------------------------------------------------------------

  private emit(change: MailboxChange): void {
    for (const view of [...this.views]) {
      if (view.closed) continue;
      try {
        view.deliver(change);
      } catch (err) {
        this.log('error', `change listener failed: ${String(err)}`);
      }
    }
  }

  private applyUpdates(updates: Map<number, MessageMeta>): void {
    if (updates.size === 0) return;
    const changed: MessageMeta[] = [];
    this.list = this.list.map((m) => {
      const u = updates.get(m.uid);
      if (!u) return m;
      if (u.flags !== m.flags && !sameFlags(u.flags, m.flags)) changed.push(u);
      if ((m.dir === 'new') !== (u.dir === 'new')) this.inNew += u.dir === 'new' ? 1 : -1;
      this.byBase.set(baseOf(u.filename), u);
      return u;
    });
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
  private async applyAdds(added: MessageMeta[], recentEligible: Set<number>, caller?: AttachedView): Promise<void> {
    if (added.length === 0) return;
    added.sort((a, b) => a.uid - b.uid);
    const last = this.list.length > 0 ? this.list[this.list.length - 1].uid : 0;
    if (added[0].uid <= last) {
      // Cannot happen by construction; keep the index sorted anyway.
      this.log('warn', `uid ${added[0].uid} added below ${last}`);
      this.list = [...this.list, ...added].sort((a, b) => a.uid - b.uid);
    } else {
      this.list = [...this.list, ...added];
    }
    for (const m of added) {
      this.byBase.set(baseOf(m.filename), m);
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
      await this.cache?.setFirstRecentUid(this.nextUid);
    }
  }

  // ---- the uidlist ----------------------------------------------------------------------

  private async lockUidlist(): Promise<Dotlock> {
    return takeDotlock(path.join(this.dir, UIDLIST), this.fsx);
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
          this.list.map((m) => ({ uid: m.uid, base: baseOf(m.filename), ext: wExt(m) })),
        );
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
    if (await fs.stat(path.join(this.dir, UIDLIST)).then(() => true, () => false)) return;
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

  /** Rewrite the uidlist from the index when it holds many records of expunged messages. */
  private async compactUidlistLocked(state: UidlistState): Promise<void> {
    if (!this.loaded) return;
    const stale = state.uids.size - this.list.length;
    if (stale <= Math.max(1000, this.list.length) && !state.needsRewrite) return;
    this.uidlist = await rewriteUidlist(
      this.dir,
      this.fsx,
      state.header,
      Math.max(this.nextUid, nextUidOf(state)),
      this.list.map((m) => {
        const base = baseOf(m.filename);
        return { uid: m.uid, base, ext: state.ext.get(base) ?? wExt(m) };
      }),
    );
  }

  // ---- scanning -------------------------------------------------------------------------

  private async scanDirs(): Promise<Map<string, FileRef>> {
    const result = new Map<string, FileRef>();
    for (const sub of ['new', 'cur'] as const) {
      let names: string[];
      try {
        names = await fs.readdir(path.join(this.dir, sub));
      } catch (err) {
        if (isNotFound(err)) continue;
        throw err;
      }
      for (const filename of names) {
        if (filename.startsWith('.')) continue;
        const base = baseOf(filename);
        const prev = result.get(base);
        if (prev) {
          // Two files with one base: keep cur/ over new/, else the first one seen.
          this.log('warn', `duplicate maildir base name ${base} (${prev.dir}/${prev.filename}, ${sub}/${filename})`);
          if (prev.dir === 'cur') continue;
        }
        result.set(base, { dir: sub, filename });
      }
    }
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
    const [newMtime, curMtime] = await Promise.all([dirMtime(path.join(this.dir, 'new')), dirMtime(path.join(this.dir, 'cur'))]);
    if (newMtime === undefined || curMtime === undefined) {
      const exists = await fs.stat(this.dir).then((s) => s.isDirectory(), () => false);
      if (!exists) {
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
    if (!clean) await this.scanLocked(caller, moveNew, newMtime, curMtime);
    await this.grantRecent(caller);
    await this.cache?.flush();
  }

  private applyKeywords(keywords: KeywordsState): void {
    this.keywordsState = keywords;
    this.flagIntern.clear();
    if (!this.loaded) return;
    const updates = new Map<number, MessageMeta>();
    for (const m of this.list) {
      const flags = this.flagsOfName(m.filename);
      if (!sameFlags(flags, m.flags)) updates.set(m.uid, { ...m, flags });
    }
    this.applyUpdates(updates);
  }

  private async scanLocked(caller: AttachedView | undefined, moveNew: boolean, newMtime: bigint, curMtime: bigint): Promise<void> {
    const scanStart = Date.now();
    const initial = !this.loaded;
    const lock = await this.lockUidlist();
    const updates = new Map<number, MessageMeta>();
    const expunged: number[] = [];
    const added: MessageMeta[] = [];
    const recentEligible = new Set<number>();
    try {
      const state = await this.readUidlistLocked();
      if (initial) {
        this.uidValidity = state.header.uidValidity;
        this.cache = new MailboxCache(this.dir, this.cacheFiles, this.fsx);
        await this.cache.load(this.uidValidity);
        this.firstRecentUid = (await this.cache.loadFirstRecentUid()) ?? (await this.firstSight(state));
      } else if (state.header.uidValidity !== this.uidValidity) {
        this.markGone(`changed its UIDVALIDITY from ${this.uidValidity} to ${state.header.uidValidity}`);
        throw new StorageError('NONEXISTENT', 'Mailbox was recreated; select it again');
      }
      const files = await this.scanDirs();
      const missing = initial ? [...state.uids.keys()].some((base) => !files.has(base)) : this.list.some((m) => !files.has(baseOf(m.filename)));
      if (missing) {
        // A file renamed while readdir() ran can be missed: look once more before expunging.
        await sleep(5);
        const again = await this.scanDirs();
        for (const [base, ref] of again) if (!files.has(base)) files.set(base, ref);
      }

      // A read-write sync moves new/ to cur/ (adding the ':2,' info).
      const wasNew = new Set<string>();
      for (const [base, ref] of files) if (ref.dir === 'new') wasNew.add(base);
      if (moveNew && wasNew.size > 0) {
        for (const base of wasNew) {
          const ref = files.get(base);
          if (!ref) continue;
          const moved = await this.moveToCur(base, ref, files);
          if (moved) files.set(base, moved);
          else files.delete(base);
        }
        await fsyncDir(path.join(this.dir, 'cur'));
      }

      for (const m of this.list) {
        const ref = files.get(baseOf(m.filename));
        if (!ref) expunged.push(m.uid);
        else if (ref.filename !== m.filename || ref.dir !== m.dir) {
          updates.set(m.uid, { ...m, filename: ref.filename, dir: ref.dir, flags: this.flagsOfName(ref.filename) });
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
      needUid.sort((a, b) => compareForUidOrder(a.filename, b.filename));
      let next = Math.max(nextUidOf(state), this.nextUid);
      for (const n of needUid) fresh.push({ base: n.base, uid: next++, known: false });

      // INTERNALDATE and RFC822.SIZE of new files: cache, else name/uidlist + stat, else reading.
      const metas = await this.fileMetas(fresh, files);

      const records: { uid: number; base: string; ext?: string }[] = [];
      for (const f of fresh) {
        const meta = metas.get(f.base);
        const ref = files.get(f.base);
        if (!meta || !ref) continue; // vanished meanwhile
        const message: MessageMeta = {
          uid: f.uid,
          filename: ref.filename,
          dir: ref.dir,
          flags: this.flagsOfName(ref.filename),
          size: meta.vsize,
          internalDate: meta.mtime,
        };
        added.push(message);
        if (!f.known) records.push({ uid: f.uid, base: f.base, ext: wExt(message) });
        if (f.uid >= this.firstRecentUid || wasNew.has(f.base)) recentEligible.add(f.uid);
      }
      await this.recordUids(state, records, next);
      this.nextUid = Math.max(this.nextUid, next, nextUidOf(this.uidlist ?? state));

      this.stamps = {
        new: { mtimeNs: newMtime, scannedAt: scanStart },
        cur: { mtimeNs: curMtime, scannedAt: scanStart },
      };
      if (initial) {
        this.loaded = true;
        this.cache?.releaseMeta();
      }
      this.applyUpdates(updates);
      this.applyExpunges(expunged);
      await this.applyAdds(added, recentEligible, caller);
      await this.compactUidlistLocked(this.uidlist ?? state);
    } finally {
      await lock.release();
    }
  }

  /** mtime and CRLF size for new files (relocating ones renamed meanwhile). */
  private async fileMetas(
    fresh: { base: string; uid: number; ext?: string }[],
    files: Map<string, FileRef>,
  ): Promise<Map<string, { mtime: number; vsize: number }>> {
    const result = new Map<string, { mtime: number; vsize: number }>();
    const toStat: { base: string; uid: number; vsize?: number }[] = [];
    for (const f of fresh) {
      const cached = this.cache?.lookupMeta(f.base, f.uid);
      if (cached) result.set(f.base, { mtime: cached.mtime, vsize: cached.vsize });
      else toStat.push({ base: f.base, uid: f.uid, vsize: sizeField(f.base, 'W') ?? extVsize(f.ext) });
    }
    if (toStat.length === 0) return result;
    const scans: { map?: Map<string, FileRef> } = { map: files };
    const measured = await mapLimit(toStat, STAT_PARALLELISM, async (item) => {
      for (let attempt = 0; attempt < 3; attempt++) {
        const ref = files.get(item.base);
        if (!ref) return undefined;
        try {
          const st = await fs.stat(this.pathOf(ref));
          return { item, mtime: Math.round(st.mtimeMs), size: st.size };
        } catch (err) {
          if (!isNotFound(err)) throw err;
          const moved = await this.locate(item.base, scans, true);
          if (!moved) {
            files.delete(item.base);
            return undefined;
          }
          files.set(item.base, moved);
        }
      }
      return undefined;
    });
    const needMeasure: { base: string; uid: number; mtime: number }[] = [];
    for (const m of measured) {
      if (!m) continue;
      if (m.item.vsize !== undefined) {
        result.set(m.item.base, { mtime: m.mtime, vsize: m.item.vsize });
        this.cache?.recordMeta(m.item.uid, m.item.base, m.mtime, m.item.vsize);
      } else {
        needMeasure.push({ base: m.item.base, uid: m.item.uid, mtime: m.mtime });
      }
    }
    await mapLimit(needMeasure, MEASURE_PARALLELISM, async (item) => {
      for (let attempt = 0; attempt < 3; attempt++) {
        const ref = files.get(item.base);
        if (!ref) return;
        try {
          const { vsize } = await measureFile(this.pathOf(ref));
          result.set(item.base, { mtime: item.mtime, vsize });
          this.cache?.recordMeta(item.uid, item.base, item.mtime, vsize);
          return;
        } catch (err) {
          if (!isNotFound(err)) throw err;
          const moved = await this.locate(item.base, scans, true);
          if (!moved) {
            files.delete(item.base);
            return;
          }
          files.set(item.base, moved);
        }
      }
    });
    return result;
  }

  /** Move one file from new/ to cur/; returns where it is now, or undefined if it is gone. */
  private async moveToCur(base: string, ref: FileRef, files: Map<string, FileRef>): Promise<FileRef | undefined> {
    let current: FileRef = ref;
    const scans: { map?: Map<string, FileRef> } = {};
    for (let attempt = 0; attempt < 3; attempt++) {
      if (current.dir === 'cur') return current;
      const target = splitFilename(current.filename).hasInfo ? current.filename : current.filename + ':2,';
      try {
        await fs.rename(this.pathOf(current), path.join(this.dir, 'cur', target));
        return { dir: 'cur', filename: target };
      } catch (err) {
        if (!isNotFound(err)) throw err;
        // Someone else moved or renamed it first: find it again.
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
    if (registry.get(this.dir) === this) registry.delete(this.dir);
  }

  /** Flush and shrink the cache; called when the last user lets go. */
  async unload(): Promise<void> {
    if (!this.cache) return;
    await this.cache.flush();
    if (this.gone) return;
    await this.cache.compactIfNeeded(
      this.list.map((m) => ({ uid: m.uid, base: baseOf(m.filename), mtime: m.internalDate, vsize: m.size })),
    );
  }

  // ---- reading messages ---------------------------------------------------------------

  private async currentRef(m: MessageMeta): Promise<{ ref: FileRef; meta: MessageMeta }> {
    const ref = await this.locate(baseOf(m.filename));
    if (!ref) throw new StorageError('EXPUNGEISSUED', `Message ${m.uid} was expunged`);
    return { ref, meta: m };
  }

  private messageOrThrow(uid: number): MessageMeta {
    this.ensureAlive();
    const m = this.get(uid);
    if (!m) throw new StorageError('EXPUNGEISSUED', `Message ${uid} was expunged`);
    return m;
  }

  async info(uid: number): Promise<MessageInfo> {
    const m = this.messageOrThrow(uid);
    const base = baseOf(m.filename);
    const cached = await this.cache?.getInfo(uid, base);
    if (cached) return cached;
    let info: MessageInfo;
    try {
      info = await parseMessageFile(this.pathOf(m));
    } catch (err) {
      if (!isNotFound(err)) throw toStorageError(err, `parse ${m.filename}`);
      const { ref } = await this.currentRef(m);
      try {
        info = await parseMessageFile(this.pathOf(ref));
      } catch (err2) {
        if (isNotFound(err2)) throw new StorageError('EXPUNGEISSUED', `Message ${uid} was expunged`);
        throw toStorageError(err2, `parse ${ref.filename}`);
      }
    }
    await this.cache?.putInfo(uid, base, info);
    await this.cache?.flush();
    return info;
  }

  async read(uid: number, start = 0, end?: number): Promise<Buffer> {
    const m = this.messageOrThrow(uid);
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(this.pathOf(m), 'r');
    } catch (err) {
      if (!isNotFound(err)) throw toStorageError(err, `open ${m.filename}`);
      const { ref } = await this.currentRef(m);
      try {
        handle = await fs.open(this.pathOf(ref), 'r');
      } catch (err2) {
        if (isNotFound(err2)) throw new StorageError('EXPUNGEISSUED', `Message ${uid} was expunged`);
        throw toStorageError(err2, `open ${ref.filename}`);
      }
    }
    try {
      const size = (await handle.stat()).size;
      const from = Math.max(0, Math.min(start, size));
      const to = Math.max(from, Math.min(end ?? size, size));
      const buf = Buffer.allocUnsafe(to - from);
      let got = 0;
      while (got < buf.length) {
        const { bytesRead } = await handle.read(buf, got, buf.length - got, from + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return buf.subarray(0, got);
    } finally {
      await handle.close();
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
    const updates = new Map<number, MessageMeta>();
    if (!uids.some((uid) => this.get(uid))) return results;
    const scans: { map?: Map<string, FileRef> } = {};
    let renamed = false;
    const lock = await this.lockUidlist();
    try {
      const curTrusted = (await this.ownCurChangeBegin()) && uids.every((uid) => this.get(uid)?.dir !== 'new');
      for (const uid of uids) {
        const original = this.get(uid);
        if (!original) continue;
        let m = updates.get(uid) ?? original;
        for (let attempt = 0; ; attempt++) {
          const split = splitFilename(m.filename);
          const wanted = applyStoreMode(mode, m.flags, flags);
          const letters = flagsToLetters(wanted, (k) => keywordIndex(names, k), split.letters, names);
          const filename = buildFilename(split.base, letters, split.extra);
          if (filename === m.filename && m.dir === 'cur') {
            results.set(uid, m.flags);
            if (m !== original) updates.set(uid, m);
            break;
          }
          try {
            await fs.rename(this.pathOf(m), path.join(this.dir, 'cur', filename));
            renamed = true;
            m = { ...m, filename, dir: 'cur', flags: this.flagsFor(letters) };
            updates.set(uid, m);
            results.set(uid, m.flags);
            break;
          } catch (err) {
            if (!isNotFound(err)) throw toStorageError(err, `rename ${m.filename}`);
            // Renamed by another process (its flags changed): start from what it has now.
            const ref = attempt < 3 ? await this.locate(split.base, scans, attempt > 0) : undefined;
            if (!ref) break; // gone (or hidden by a rename in flight): the next sync tells
            m = { ...m, filename: ref.filename, dir: ref.dir, flags: this.flagsOfName(ref.filename) };
          }
        }
      }
      if (renamed) await fsyncDir(path.join(this.dir, 'cur'));
      await this.ownCurChangeEnd(curTrusted && !scans.map);
    } finally {
      await lock.release();
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
    const updates = new Map<number, MessageMeta>();
    const scans: { map?: Map<string, FileRef> } = {};
    const lock = await this.lockUidlist();
    try {
      const curTrusted = (await this.ownCurChangeBegin()) && targets.every((m) => m.dir === 'cur');
      for (const m of targets) {
        const base = baseOf(m.filename);
        let current: FileRef = { dir: m.dir, filename: m.filename };
        for (let attempt = 0; attempt < 4; attempt++) {
          if (!splitFilename(current.filename).letters.includes('T')) {
            // Another process took \Deleted away meanwhile: the message stays.
            updates.set(m.uid, { ...m, filename: current.filename, dir: current.dir, flags: this.flagsOfName(current.filename) });
            break;
          }
          try {
            await fs.unlink(this.pathOf(current));
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
      await this.ownCurChangeEnd(curTrusted && !scans.map);
      done.sort((a, b) => a - b);
      this.applyUpdates(updates);
      this.applyExpunges(done);
      if (done.length > 0) await this.compactUidlistLocked(await this.readUidlistLocked());
    } finally {
      await lock.release();
      await this.cache?.flush();
    }
    return done;
  }

  // ---- messages entering the mailbox ---------------------------------------------------

  /**
   * Assign UIDs to files just placed in cur/ (caller holds this mailbox's uidlist lock and
   * queue) and record them in the uidlist. Returns the uids in order.
   */
  async assignUidsLocked(incoming: readonly Incoming[], ctx: IncomingContext): Promise<{ uidValidity: number; uids: number[] }> {
    const state = await this.readUidlistLocked();
    // Before the first uids Roost gives out here, fix which ones are old (see firstSight).
    if (!this.loaded && (await readFirstRecentUid(this.cacheFiles, state.header.uidValidity)) === undefined) await this.firstSight(state);
    let next = Math.max(nextUidOf(state), this.nextUid);
    // Files already here without a uid are older than these: they get theirs first, as Dovecot
    // syncs before it saves (unless the index just verified there are none).
    const earlier: { uid: number; base: string }[] = [];
    if (ctx.preScan) {
      const incomingBases = new Set(incoming.map((f) => f.base));
      const unknown = [...(await this.scanDirs())].filter(([base]) => !state.uids.has(base) && !incomingBases.has(base));
      unknown.sort((a, b) => compareForUidOrder(a[1].filename, b[1].filename));
      for (const [base] of unknown) earlier.push({ uid: next++, base });
    }
    // Uids between what the index has seen and these were given out by someone else: the
    // index must pick those up first (noteIncoming then syncs instead of appending).
    this.unseenBelowIncoming = this.loaded && next > this.highestSeenUid + 1;
    const records = incoming.map((f) => ({ uid: next++, base: f.base }));
    await this.recordUids(state, [...earlier, ...records], next);
    this.nextUid = Math.max(this.nextUid, next);
    if (!this.unseenBelowIncoming) await this.ownCurChangeEnd(ctx.curTrusted);
    return { uidValidity: state.header.uidValidity, uids: records.map((r) => r.uid) };
  }

  /** After assignUidsLocked (and the lock released): put the messages into a loaded index. */
  async noteIncoming(incoming: readonly Incoming[], uids: readonly number[]): Promise<void> {
    if (!this.loaded || this.gone) return;
    if (this.unseenBelowIncoming) {
      // Announcing these first would put other processes' lower uids after them.
      await this.syncLocked(undefined, { force: true, moveNew: false });
      return;
    }
    const added: MessageMeta[] = [];
    const eligible = new Set<number>();
    incoming.forEach((f, i) => {
      const uid = uids[i];
      if (this.byBase.has(f.base)) return;
      added.push({ uid, filename: f.filename, dir: 'cur', flags: this.flagsOfName(f.filename), size: f.size, internalDate: f.internalDate });
      this.cache?.recordMeta(uid, f.base, f.internalDate, f.size);
      eligible.add(uid);
    });
    await this.applyAdds(added, eligible);
    await this.cache?.flush();
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
  async beginIncoming(): Promise<IncomingContext> {
    let preScan = true;
    if (this.loaded) {
      const [n, c] = await Promise.all([dirMtime(path.join(this.dir, 'new')), dirMtime(path.join(this.dir, 'cur'))]);
      preScan = !(n !== undefined && c !== undefined && trusted(n, this.stamps.new) && trusted(c, this.stamps.cur));
    }
    return { curTrusted: await this.ownCurChangeBegin(), preScan };
  }

  /**
   * COPY/MOVE `uids` from this mailbox into `dest` (both queues held by the caller).
   * Files are hard-linked (copy) or renamed (move) into dest/cur under new base names;
   * when that is impossible (another file system) the bytes are copied.
   */
  async transferLocked(uids: readonly number[], dest: Mailbox, move: boolean): Promise<{ uidValidity: number; pairs: [number, number][] }> {
    this.ensureAlive();
    if (dest.gone) throw new StorageError('TRYCREATE', 'Target mailbox does not exist');
    const sources: MessageMeta[] = [];
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
    const letters = await dest.lettersForIncoming(
      sources.map((m) => m.flags),
      sources.map((m) => splitFilename(m.filename).letters),
    );
    // Locks in path order (one lock when source and destination are the same maildir).
    const order = move && dest !== this ? [this, dest].sort((a, b) => (a.dir < b.dir ? -1 : 1)) : [dest];
    const locks: Dotlock[] = [];
    const placed: { incoming: Incoming; src: MessageMeta; srcPath: string; destPath: string }[] = [];
    const scans: { map?: Map<string, FileRef> } = {};
    let result: { uidValidity: number; uids: number[] };
    try {
      for (const mb of order) locks.push(await mb.lockForChange());
      const destCtx = await dest.beginIncoming();
      try {
        for (let i = 0; i < sources.length; i++) {
          let m = sources[i];
          for (let attempt = 0; ; attempt++) {
            const srcPath = this.pathOf(m);
            try {
              let physical = sizeField(baseOf(m.filename), 'S');
              if (physical === undefined) physical = (await fs.stat(srcPath)).size;
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
              m = { ...m, filename: ref.filename, dir: ref.dir };
            }
          }
        }
        await fsyncDir(path.join(dest.dir, 'cur'));
        if (move && dest !== this) {
          await fsyncDir(path.join(this.dir, 'cur'));
          await fsyncDir(path.join(this.dir, 'new'));
        }
        result = await dest.assignUidsLocked(placed.map((p) => p.incoming), {
          preScan: destCtx.preScan,
          curTrusted: destCtx.curTrusted && (dest !== this || !move) && !scans.map,
        });
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
      for (const lock of locks.reverse()) await lock.release();
    }
    // Committed: a failure to update the in-memory index now is caught up by the next sync.
    await dest.noteIncoming(
      placed.map((p) => p.incoming),
      result.uids,
    ).catch((err: unknown) => dest.log('warn', String(err)));
    if (move) {
      this.applyExpunges(placed.map((p) => p.src.uid));
      await this.cache?.flush();
    }
    return { uidValidity: result.uidValidity, pairs: placed.map((p, i) => [p.src.uid, result.uids[i]]) };
  }

  private async linkFile(srcPath: string, destPath: string, dest: Mailbox, mtime: number): Promise<void> {
    try {
      await fs.link(srcPath, destPath);
    } catch (err) {
      const code = errCode(err);
      if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'EMLINK' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw err;
      await this.copyBytes(srcPath, destPath, dest, mtime);
    }
  }

  private async moveFile(srcPath: string, destPath: string, dest: Mailbox, mtime: number): Promise<void> {
    try {
      await fs.rename(srcPath, destPath);
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
            await fs.rename(this.pathOf(e.ref), path.join(dest.dir, e.ref.dir, e.ref.filename));
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
      return {
        messages: this.list.length,
        recent,
        uidNext: this.nextUid,
        uidValidity: this.uidValidity,
        unseen: this.list.reduce((n, m) => (m.flags.includes('\\Seen') ? n : n + 1), 0),
      };
    }
    const exists = await fs.stat(this.dir).then((s) => s.isDirectory(), () => false);
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
        if (!splitFilename(ref.filename).letters.includes('S')) unseen++;
        const uid = state.uids.get(base);
        if (uid === undefined) needUid.push({ base, ref });
        else if (uid >= firstRecent || ref.dir === 'new') recent++;
      }
      needUid.sort((a, b) => compareForUidOrder(a.ref.filename, b.ref.filename));
      let next = nextUidOf(state);
      const records = needUid.map((n) => ({ uid: next++, base: n.base }));
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

/** W<vsize> for the uidlist when the name does not carry W= (as Dovecot writes it). */
function wExt(m: { filename: string; size: number }): string | undefined {
  return sizeField(baseOf(m.filename), 'W') === undefined ? `W${m.size}` : undefined;
}

// ---- the registry: one Mailbox per directory per process ------------------------------

const registry = new Map<string, Mailbox>();

export function acquireMailbox(ctx: StoreContext, dir: string, isFolder: boolean): Mailbox {
  const key = path.resolve(dir);
  let mb = registry.get(key);
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
      await mb.unload();
    } catch (err) {
      mb.ctx.fsx.log('debug', `${mb.dir}: cache maintenance failed: ${String(err)}`);
    }
    if (mb.refs === 0 && registry.get(mb.dir) === mb) registry.delete(mb.dir);
  });
}

/** The live instance for a directory, if any (for DELETE/RENAME). */
export function liveMailbox(dir: string): Mailbox | undefined {
  return registry.get(path.resolve(dir));
}

/** Live instances at or below a directory prefix (RENAME of a hierarchy). */
export function liveMailboxes(): Mailbox[] {
  return [...registry.values()];
}

/** Run `fn` holding the queues of two mailboxes, in path order (no deadlock). */
export function runPair<T>(a: Mailbox, b: Mailbox, fn: () => Promise<T>): Promise<T> {
  if (a === b) return a.run(fn);
  const [first, second] = a.dir < b.dir ? [a, b] : [b, a];
  return first.run(() => second.run(fn));
}

export { baseOf };
