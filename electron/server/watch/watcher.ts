// The maildir watcher: notices changes other programs make to the vmail tree (Postfix delivering
// into new/, Dovecot or a person renaming, moving and deleting files and folders) and turns them
// into typed changes at once: storage syncs the mailbox, every session on it receives the
// MailboxChanges (IDLE clients get EXISTS/RECENT/EXPUNGE/FETCH immediately), and the supervisor
// receives a `delivered` event for each message that arrived from outside Roost, and a
// `mailbox-changed` event for what a sync found (changes.ts; through the views that heard it, or
// from here when no view is open on the mailbox).
//
// What is watched (one inotify watch per directory, see dir-watch.ts):
// - the vmail tree down to each user's maildir (with the seed's settings: <vmail>/, <domain>/,
//   <user>/, <user>/maildir/), so users and folders that appear later are picked up (Postfix
//   creates a new user's maildir on its first delivery);
// - in each user's maildir, the root (folders appearing, renamed, deleted) and every mailbox's
//   new/ and cur/ (deliveries, flag renames, expunges);
// - any other mailbox a session selects (users outside the tree pattern).
//
// Notifications are hints, never facts: a hint makes storage rescan the mailbox (MailboxView.sync
// compares new/ and cur/ with its index; cur/ is only read again when its mtime changed), so a
// dropped or coalesced notification loses nothing as long as some later hint, or the safety
// resync (every SAFETY_MS for mailboxes with sessions), follows. Hints are coalesced per mailbox
// by a SyncGate: the first one syncs at once, later ones during a sync cause one more sync.
// A hint whose file the index already shows as it is on disk (Roost's own renames) syncs nothing.

import fs from 'node:fs';
import path from 'node:path';
import type { ServerEvent } from '../../shared/events.js';
import type { ServerSettings } from '../../shared/settings-types.js';
import { resolveUser } from '../auth/index.js';
import type { SelectedMailbox } from '../imap/selected.js';
import type { Session } from '../imap/session.js';
import { folderNameOf } from '../storage/maildir/folders.js';
import { mapLimit } from '../storage/maildir/fsutil.js';
import { type BulkDirs, type Mailbox, forgetRemovedMailbox, liveMailbox, onArrivals, onBulkChange } from '../storage/maildir/mailbox.js';
import { MaildirView } from '../storage/maildir/view.js';
import type { MailStore, MessageMeta } from '../storage/types.js';
import type { MailboxChangeEvents } from './changes.js';
import { HEADER_PEEK_BYTES, type Delivery, deliveredEvent, deliveryLogLine, headerFacts } from './delivered.js';
import { DirWatchers, type DirWatch } from './dir-watch.js';
import { SyncGate } from './sync-gate.js';
import { type Segment, type TreePattern, treePattern, userOf } from './tree.js';

/** Polling interval where inotify is unavailable. */
export const DEFAULT_POLL_MS = 1000;
/** Safety resync of mailboxes with sessions, for notifications lost without a trace. */
export const DEFAULT_SAFETY_MS = 15_000;
/** Syncs of one mailbox start at least this far apart during a burst (the first one never waits). */
export const DEFAULT_MIN_GAP_MS = 20;
/** Header reads for `delivered` events in parallel. */
const DESCRIBE_PARALLELISM = 8;

export interface WatcherOptions {
  settings: ServerSettings;
  emit(event: ServerEvent): void;
  log(level: 'debug' | 'info' | 'warn' | 'error', service: string, message: string): void;
  /** The user's store, without side effects (no ensure(): the watcher never creates folders). */
  storeFor(user: string, root: string): MailStore;
  /**
   * Where changes found by a sync that no open view hears are reported ('mailbox-changed'); syncs
   * through a session's view are heard by that view's listener (server.ts).
   */
  changes?: MailboxChangeEvents;
  /** 'auto' (inotify, polling where it fails), 'poll' (polling only), 'off' (nothing is watched). */
  mode?: 'auto' | 'poll' | 'off';
  pollMs?: number;
  safetyMs?: number;
  minGapMs?: number;
}

interface AttachedSession {
  session: Session;
  sel: SelectedMailbox;
}

/** Per-mailbox counters (tests, the log). */
export interface MailboxWatchStats {
  syncs: number;
  hints: number;
}

// ---------------------------------------------------------------------------------------------
// One mailbox: watches on new/ and cur/ (and a folder's own directory), the sessions on it, and
// the gate that turns hints into syncs.

class MailboxWatch {
  readonly sessions = new Set<AttachedSession>();
  readonly gate: SyncGate;
  /** Part of the walked tree (kept while the directory exists), or only there for sessions. */
  inTree = false;
  private selfWatch: DirWatch | undefined;
  private newWatch: DirWatch | undefined;
  private curWatch: DirWatch | undefined;
  private disposed = false;
  /** Roost itself is renaming many files of cur/ (see onBulkChange): cur/ is not watched meanwhile. */
  private curPaused = 0;
  /** The same for new/, while Roost moves many files from new/ to cur/. */
  private newPaused = 0;
  hints = 0;

  constructor(
    private readonly w: MaildirWatcher,
    readonly dir: string,
    readonly user: string,
    readonly root: string,
    readonly name: string,
  ) {
    this.gate = new SyncGate(
      () => this.sync(),
      w.minGapMs,
      (err) => w.log('warn', user, `sync of ${name} after a change on disk failed: ${String(err)}`),
    );
  }

  get isFolder(): boolean {
    return this.dir !== this.root;
  }

  /** Watch what exists of new/ and cur/ (and a folder's own directory, where they may appear). */
  ensureWatches(): void {
    if (this.disposed) return;
    if (this.isFolder && !this.selfWatch) this.selfWatch = this.w.dirs.watch(this.dir, (n) => this.onSelf(n));
    if (!this.newWatch && this.newPaused === 0) this.newWatch = this.w.dirs.watch(path.join(this.dir, 'new'), (n) => this.onSub('new', n));
    if (!this.curWatch && this.curPaused === 0) this.curWatch = this.w.dirs.watch(path.join(this.dir, 'cur'), (n) => this.onSub('cur', n));
  }

  /**
   * Around Roost's own bulk renames (in cur/, or from new/ to cur/): no watch on those
   * directories during, one sync after (it finds what others did meanwhile, deliveries included).
   */
  bulkChange(phase: 'begin' | 'end', dirs: BulkDirs): void {
    const withNew = dirs === 'new+cur';
    if (phase === 'begin') {
      this.curPaused++;
      this.curWatch?.close();
      this.curWatch = undefined;
      if (withNew) {
        this.newPaused++;
        this.newWatch?.close();
        this.newWatch = undefined;
      }
      return;
    }
    this.curPaused = Math.max(0, this.curPaused - 1);
    if (withNew) this.newPaused = Math.max(0, this.newPaused - 1);
    if (this.curPaused > 0 || this.newPaused > 0 || this.disposed) return;
    this.ensureWatches();
    this.gate.hint();
  }

  /** An event in the mailbox directory itself (INBOX: forwarded by the user root). */
  onSelf(name: string | null): void {
    if (name === null || name === 'new' || name === 'cur' || name === path.basename(this.dir)) {
      if (!fs.existsSync(this.dir)) {
        this.gone();
        return;
      }
      const had = !!this.newWatch && !!this.curWatch;
      this.ensureWatches();
      if (!had && this.newWatch) this.hint();
    }
  }

  private onSub(sub: 'new' | 'cur', name: string | null): void {
    this.hints++;
    if (name !== null && name.startsWith('.')) return; // storage ignores dot files
    const watch = sub === 'new' ? this.newWatch : this.curWatch;
    if (watch && (name === sub || name === null) && !fs.existsSync(path.join(this.dir, sub))) {
      // The directory itself went away (folder deleted or renamed): the sync reports it.
      watch.close();
      if (sub === 'new') this.newWatch = undefined;
      else this.curWatch = undefined;
      this.gate.hint();
      return;
    }
    this.gate.hint(name === null ? undefined : () => this.needsSync(sub, name));
  }

  /** Sync unless the index already shows `name` exactly as it is on disk. */
  private needsSync(sub: 'new' | 'cur', name: string): boolean {
    const mb = liveMailbox(this.dir);
    if (!mb || !mb.loaded || mb.gone) return true;
    const rec = mb.indexedFile(name);
    const here = fs.existsSync(path.join(this.dir, sub, name));
    if (here) return !(rec && rec.dir === sub && rec.filename === name);
    return rec !== undefined && !fs.existsSync(path.join(this.dir, rec.dir, rec.filename));
  }

  hint(): void {
    this.gate.hint();
  }

  /** The mailbox directory is gone: sessions find out through a sync; the watches go. */
  private gone(): void {
    this.closeWatches();
    this.inTree = false;
    forgetRemovedMailbox(this.dir);
    if (this.sessions.size > 0) this.gate.hint();
    else if (!this.disposed) this.w.forget(this);
  }

  /** Bring the index up to date: through a session's view (so it takes \Recent and moves new/ to cur/), else on its own. */
  private async sync(): Promise<void> {
    if (!fs.existsSync(path.join(this.dir, 'new')) && fs.existsSync(this.dir) && this.sessions.size === 0) return; // not a maildir (yet)
    const order = [...this.sessions].filter((a) => a.session.selected === a.sel && !(a.sel.view as MaildirView).closed);
    // A read-write view of an IDLE session first, then any read-write one, then read-only.
    const rank = (a: AttachedSession): number => (a.sel.view.readOnly ? 2 : a.session.idleNotify ? 0 : 1);
    order.sort((a, b) => rank(a) - rank(b));
    for (const a of order) {
      try {
        await a.sel.view.sync();
        return;
      } catch (err) {
        if ((a.sel.view as MaildirView).closed) continue; // closed meanwhile: try the next one
        if ((err as { code?: string }).code === 'NONEXISTENT') return; // deleted: its sessions saw everything expunged
        throw err;
      }
    }
    if (!fs.existsSync(this.dir)) {
      forgetRemovedMailbox(this.dir);
      return;
    }
    // No session: open and close a read-only view (leaves new/ alone, takes no \Recent). Opening
    // syncs before we could listen on the view, so what changed is told apart here: another view
    // that heard it (the viewer's) moved the change count; else the index's list was replaced
    // (storage replaces it on every change) or was not loaded at all (this load follows a change
    // on disk, since the hint passed needsSync).
    const changes = this.w.changes;
    const before = liveMailbox(this.dir);
    const listBefore = before?.loaded && !before.gone ? before.messages() : undefined;
    const heardBefore = changes?.changeCount(this.user, this.name) ?? 0;
    const view = await this.w.storeFor(this.user, this.root).open(this.name, { readOnly: true }).catch((err: { code?: string }) => {
      if (err.code === 'NONEXISTENT') return undefined;
      throw err;
    });
    if (view && changes && changes.changeCount(this.user, this.name) === heardBefore) {
      const list = view.messages();
      if (list !== listBefore) {
        const kind = listBefore === undefined || list.length > listBefore.length ? 'added' : list.length < listBefore.length ? 'expunged' : 'flags';
        changes.note(this.user, view.name, kind, list.length);
      }
    }
    await view?.close();
  }

  closeWatches(): void {
    this.selfWatch?.close();
    this.newWatch?.close();
    this.curWatch?.close();
    this.selfWatch = this.newWatch = this.curWatch = undefined;
  }

  dispose(): void {
    this.disposed = true;
    this.closeWatches();
    void this.gate.close();
  }
}

// ---------------------------------------------------------------------------------------------
// One user's maildir root: its own watch (folders and INBOX's new/ cur/ appearing) and mailboxes.

class UserRoot {
  private watch: DirWatch | undefined;
  readonly folders = new Map<string, MailboxWatch>();
  inbox: MailboxWatch | undefined;

  constructor(
    private readonly w: MaildirWatcher,
    readonly user: string,
    readonly root: string,
  ) {}

  open(announce: boolean): void {
    this.watch = this.w.dirs.watch(this.root, (n) => this.onEvent(n));
    if (!this.watch) return;
    this.inbox = this.w.mailboxFor(this.root, this.user, this.root, 'INBOX', true);
    this.inbox.ensureWatches();
    if (announce) this.inbox.hint();
    this.rescanFolders(announce);
  }

  private onEvent(name: string | null): void {
    if (name === null || name.startsWith('.')) {
      if (!fs.existsSync(this.root)) {
        this.w.dropUser(this);
        return;
      }
      this.rescanFolders(true);
    }
    if (name === null || name === 'new' || name === 'cur' || name === path.basename(this.root)) this.inbox?.onSelf(name);
  }

  /** Folders added since the last look get watched (and synced: a new folder may hold mail already); vanished ones go. */
  rescanFolders(announce: boolean): void {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(this.root, { withFileTypes: true });
    } catch {
      return;
    }
    const seen = new Set<string>();
    for (const e of entries) {
      if (!e.name.startsWith('.') || !(e.isDirectory() || e.isSymbolicLink())) continue;
      const name = folderNameOf(e.name);
      if (name === undefined) continue;
      seen.add(e.name);
      if (this.folders.has(e.name)) continue;
      const mw = this.w.mailboxFor(path.join(this.root, e.name), this.user, this.root, name, true);
      this.folders.set(e.name, mw);
      mw.ensureWatches();
      if (announce) mw.hint();
    }
    for (const [dirName, mw] of this.folders) {
      if (seen.has(dirName)) continue;
      this.folders.delete(dirName);
      mw.onSelf(null);
    }
  }

  close(): void {
    this.watch?.close();
    this.watch = undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// A directory of the tree above the users' maildirs (<vmail>, <domain>, <user>, ...).

class LevelNode {
  private watch: DirWatch | undefined;
  private readonly children = new Map<string, LevelNode | UserRoot>();

  constructor(
    private readonly w: MaildirWatcher,
    readonly dir: string,
    private readonly depth: number,
    private readonly captures: ReadonlyMap<'u' | 'n' | 'd', string>,
  ) {}

  open(announce: boolean): void {
    this.watch = this.w.dirs.watch(this.dir, () => this.rescan(true));
    if (this.watch) this.rescan(announce);
  }

  /** False when the directory did not exist when it was to be watched. */
  get watching(): boolean {
    return this.watch !== undefined;
  }

  private rescan(announce: boolean): void {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(this.dir, { withFileTypes: true });
    } catch {
      entries = [];
    }
    const seg = this.w.pattern!.segments[this.depth];
    const seen = new Set<string>();
    for (const e of entries) {
      if (!(e.isDirectory() || e.isSymbolicLink())) continue;
      if ('literal' in seg ? e.name !== seg.literal : e.name.startsWith('.')) continue;
      seen.add(e.name);
      if (this.children.has(e.name)) continue;
      const child = this.w.childNode(path.join(this.dir, e.name), this.depth + 1, withCapture(this.captures, seg, e.name), announce);
      if (child) this.children.set(e.name, child);
    }
    for (const [name, child] of this.children) {
      if (seen.has(name)) continue;
      this.children.delete(name);
      if (child instanceof UserRoot) this.w.dropUser(child);
      else child.close();
    }
  }

  close(): void {
    this.watch?.close();
    this.watch = undefined;
    for (const child of this.children.values()) {
      if (child instanceof UserRoot) this.w.dropUser(child);
      else child.close();
    }
    this.children.clear();
  }
}

function withCapture(captures: ReadonlyMap<'u' | 'n' | 'd', string>, seg: Segment, name: string): ReadonlyMap<'u' | 'n' | 'd', string> {
  if ('literal' in seg) return captures;
  const next = new Map(captures);
  next.set(seg.variable, name);
  return next;
}

// ---------------------------------------------------------------------------------------------

export class MaildirWatcher {
  readonly dirs: DirWatchers;
  readonly pattern: TreePattern | undefined;
  readonly minGapMs: number;
  readonly changes: MailboxChangeEvents | undefined;
  private readonly mailboxes = new Map<string, MailboxWatch>();
  private readonly users = new Map<string, UserRoot>();
  private top: LevelNode | undefined;
  private readonly startedAt = Date.now();
  private safetyTimer: NodeJS.Timeout | null = null;
  private stopArrivals: (() => void) | null = null;
  private stopBulk: (() => void) | null = null;
  /** `delivered` events are built one batch after the other, so they leave in arrival order. */
  private describing: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly mode: 'auto' | 'poll' | 'off';

  constructor(private readonly opts: WatcherOptions) {
    this.mode = opts.mode ?? 'auto';
    this.minGapMs = opts.minGapMs ?? DEFAULT_MIN_GAP_MS;
    this.changes = opts.changes;
    this.dirs = new DirWatchers({
      mode: this.mode === 'poll' ? 'poll' : 'auto',
      pollMs: opts.pollMs ?? DEFAULT_POLL_MS,
      log: (level, message) => opts.log(level, 'roost', message),
    });
    const pattern = treePattern(opts.settings);
    if (typeof pattern === 'string') {
      opts.log('info', 'roost', `maildir watcher: not walking the vmail tree (${pattern}); watching the maildirs of users who log in`);
      this.pattern = undefined;
    } else {
      this.pattern = pattern;
    }
  }

  log(level: 'debug' | 'info' | 'warn' | 'error', user: string, message: string): void {
    this.opts.log(level, `watch(${user})`, message);
  }

  storeFor(user: string, root: string): MailStore {
    return this.opts.storeFor(user, root);
  }

  /** Walk the vmail tree and start watching; resolves once every existing directory is watched. */
  async start(): Promise<void> {
    if (this.mode === 'off') return;
    this.stopArrivals = onArrivals((mb, messages, firstLoad) => this.onArrival(mb, messages, firstLoad));
    this.stopBulk = onBulkChange((mb, phase, dirs) => this.mailboxes.get(mb.dir)?.bulkChange(phase, dirs));
    if (this.pattern) {
      if (this.pattern.segments.length === 0) this.childNode(this.pattern.vmail, 0, new Map(), false);
      else {
        this.top = new LevelNode(this, this.pattern.vmail, 0, new Map());
        this.top.open(false);
      }
    }
    const safetyMs = this.opts.safetyMs ?? DEFAULT_SAFETY_MS;
    this.safetyTimer = setInterval(() => {
      for (const mw of this.mailboxes.values()) if (mw.sessions.size > 0) mw.hint();
      // A vmail base that did not exist at start (created later by Roost or the admin).
      if (this.top && !this.top.watching) this.top.open(true);
    }, safetyMs);
    this.safetyTimer.unref();
    const polled = this.dirs.pollingCount;
    this.opts.log(
      'info',
      'roost',
      `maildir watcher: watching ${this.dirs.watching} directories under ${this.pattern?.vmail ?? '(users who log in)'}` +
        (this.mode === 'poll' ? `, polling every ${this.opts.pollMs ?? DEFAULT_POLL_MS} ms` : polled > 0 ? ` (${polled} polled every ${this.opts.pollMs ?? DEFAULT_POLL_MS} ms)` : ' (inotify)'),
    );
  }

  /** A directory at `depth` below vmail: another level, or (at the end of the pattern) a user's maildir. */
  childNode(dir: string, depth: number, captures: ReadonlyMap<'u' | 'n' | 'd', string>, announce: boolean): LevelNode | UserRoot | undefined {
    const pattern = this.pattern!;
    if (depth < pattern.segments.length) {
      const node = new LevelNode(this, dir, depth, captures);
      node.open(announce);
      return node;
    }
    const name = userOf(captures);
    if (name === undefined) return undefined;
    let user: string;
    try {
      const r = resolveUser(this.opts.settings, name);
      // Only directories Roost would serve this user from (e.g. not 'Alice' for alice).
      if (path.resolve(r.maildir) !== path.resolve(dir)) return undefined;
      user = r.user;
    } catch {
      return undefined;
    }
    return this.addUser(user, path.resolve(dir), announce);
  }

  private addUser(user: string, root: string, announce: boolean): UserRoot {
    const existing = this.users.get(root);
    if (existing) return existing;
    const u = new UserRoot(this, user, root);
    this.users.set(root, u);
    u.open(announce);
    return u;
  }

  /** A user logged in: make sure their maildir is watched (users outside the tree pattern). */
  noteUser(user: string, root: string): void {
    if (this.closed || this.mode === 'off') return;
    const r = path.resolve(root);
    if (!this.users.has(r)) this.addUser(user, r, false);
  }

  dropUser(u: UserRoot): void {
    if (this.users.get(u.root) !== u) return;
    this.users.delete(u.root);
    u.close();
    if (u.inbox) u.inbox.onSelf(null);
    for (const mw of u.folders.values()) mw.onSelf(null);
  }

  mailboxFor(dir: string, user: string, root: string, name: string, inTree: boolean): MailboxWatch {
    const key = path.resolve(dir);
    let mw = this.mailboxes.get(key);
    if (!mw) {
      mw = new MailboxWatch(this, key, user, path.resolve(root), name);
      this.mailboxes.set(key, mw);
    }
    if (inTree) mw.inTree = true;
    return mw;
  }

  forget(mw: MailboxWatch): void {
    if (this.mailboxes.get(mw.dir) === mw) this.mailboxes.delete(mw.dir);
    mw.dispose();
  }

  /**
   * A session selected a mailbox: watch it (if the tree does not already) and let its view sync
   * it. Returns the function to call when the session lets go of it.
   */
  attachSession(session: Session, sel: SelectedMailbox): () => void {
    if (this.closed || this.mode === 'off' || !(sel.view instanceof MaildirView) || !session.user || !session.store) return () => {};
    const mailbox = sel.view.mailbox;
    const mw = this.mailboxFor(mailbox.dir, session.user, session.store.root, sel.view.name, false);
    const entry: AttachedSession = { session, sel };
    mw.sessions.add(entry);
    mw.ensureWatches();
    return () => {
      mw.sessions.delete(entry);
      if (mw.sessions.size === 0 && !mw.inTree) this.forget(mw);
    };
  }

  /** Counters of the mailbox in `dir` (tests). */
  statsOf(dir: string): MailboxWatchStats | undefined {
    const mw = this.mailboxes.get(path.resolve(dir));
    return mw ? { syncs: mw.gate.syncs, hints: mw.hints } : undefined;
  }

  /** Resolves when no sync runs or waits and every `delivered` event so far has been emitted (tests). */
  async settled(): Promise<void> {
    for (let round = 0; round < 3; round++) {
      await Promise.all([...this.mailboxes.values()].map((mw) => mw.gate.settled()));
      await this.describing;
    }
  }

  // ---- delivered events -----------------------------------------------------------------

  private ownerOf(dir: string): { user: string; name: string } | undefined {
    const mw = this.mailboxes.get(dir);
    if (mw) return { user: mw.user, name: mw.name };
    const u = this.users.get(dir) ?? this.users.get(path.dirname(dir));
    if (!u) return undefined;
    if (u.root === dir) return { user: u.user, name: 'INBOX' };
    const name = folderNameOf(path.basename(dir));
    return name === undefined ? undefined : { user: u.user, name };
  }

  private onArrival(mb: Mailbox, messages: readonly MessageMeta[], firstLoad: boolean): void {
    if (this.closed) return;
    const owner = this.ownerOf(mb.dir);
    if (!owner) return;
    const noticedAt = Date.now();
    // On a first load, files that were there before Roost started are old mail, not deliveries.
    const list = firstLoad ? messages.filter((m) => this.arrivedSinceStart(m)) : [...messages];
    if (list.length === 0) return;
    this.describing = this.describing
      .then(() => this.describe(mb, owner.user, owner.name, list, noticedAt))
      .catch((err: unknown) => this.log('warn', owner.user, `describing new mail in ${owner.name} failed: ${String(err)}`));
  }

  private arrivedSinceStart(m: MessageMeta): boolean {
    const secs = /^\d+/.exec(m.filename);
    // Maildir names start with the delivery time in seconds (Postfix: <time>.V<dev>I<ino>M<usec>.<host>).
    if (secs) return Number(secs[0]) * 1000 >= this.startedAt - 2000;
    return m.internalDate >= this.startedAt - 2000;
  }

  private async describe(mb: Mailbox, user: string, mailbox: string, list: MessageMeta[], noticedAt: number): Promise<void> {
    await mb.prefetch(list.map((m) => m.uid)).catch(() => undefined);
    const deliveries = await mapLimit(list, DESCRIBE_PARALLELISM, async (m): Promise<Delivery> => {
      let head: Buffer = Buffer.alloc(0);
      try {
        head = await mb.read(m.uid, 0, HEADER_PEEK_BYTES);
      } catch {
        // Gone again already: still a delivery, without header facts.
      }
      return { user, mailbox, uid: m.uid, size: m.size, deliveredAt: m.internalDate, noticedAt, facts: headerFacts(head) };
    });
    for (const d of deliveries) {
      this.log('info', user, deliveryLogLine(d));
      this.opts.emit(deliveredEvent(d));
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.safetyTimer) clearInterval(this.safetyTimer);
    this.stopArrivals?.();
    this.stopBulk?.();
    this.top?.close();
    for (const u of this.users.values()) u.close();
    this.users.clear();
    const all = [...this.mailboxes.values()];
    this.mailboxes.clear();
    for (const mw of all) mw.closeWatches();
    await Promise.all(all.map((mw) => mw.gate.close()));
    this.dirs.close();
    await this.describing;
  }
}
