// The mailbox viewer's state: the tree (domains -> users -> folders with counts), the open folder's
// message list as a sparse cache of pages (fetched on demand as the list scrolls, so 100,000 messages
// cost what the visible rows cost), the search, the open message, and live updates.
//
// Live: the server reports every change to a mailbox's index as `mailbox-changed` (messages added or
// expunged, flags changed: by IMAP clients, by this viewer, or by another program on disk; at most
// one event per mailbox per 100 ms). For the open folder it re-reads the rows on screen and the
// counts at once; for another folder of a listed user, the counts. A `delivered` event also
// highlights the new message. Refreshes are coalesced: one runs at a time, and events that arrive
// meanwhile cause one more. While the viewer is visible it also re-reads rows and counts every
// POLL_MS, a safety net only (the server holds the open folder for events as long as the viewer
// keeps asking for it, see electron/server/viewer/viewer.ts), and at once when it becomes visible.
import type { ApiEvent } from '../../../electron/shared/api';
import type { ServerEvent } from '../../../electron/shared/events';
import type { ViewerAction, ViewerFolder, ViewerListItem, ViewerSearchQuery, ViewerTree } from '../../../electron/shared/viewer-types';
import { api, errorText } from './api';
import { appState } from './app.svelte';

export const PAGE_SIZE = 100;
/** Pages kept in memory; far-away pages are dropped and fetched again when scrolled back to. */
const MAX_PAGES = 40;
export const POLL_MS = 15_000;

export interface OpenFolder {
  user: string;
  mailbox: string;
}

export class ViewerState {
  tree = $state<ViewerTree | null>(null);
  treeError = $state<string | null>(null);
  folder = $state<OpenFolder | null>(null);
  /** Messages in the list (for a search: matches). -1 until the first page answered. */
  total = $state(-1);
  listError = $state<string | null>(null);
  query = $state<ViewerSearchQuery>({});
  /** Bumped whenever cached pages change, so rows re-read them. */
  version = $state(0);
  /** UIDs delivered while the viewer was open: highlighted until opened. */
  fresh = $state<Set<number>>(new Set());
  /** Set by a delivery into the open folder: the list keeps its visible rows where they are. */
  shiftBy = $state(0);
  /** Bumped when messages left the open folder (expunged or moved away by anyone): the open message checks it is still there. */
  expunges = $state(0);

  private pages = new Map<number, ViewerListItem[]>();
  private loading = new Map<number, Promise<void>>();
  private uidValidity = 0;
  private generation = 0;
  private unsubscribe: (() => void) | null = null;
  private pollTimer: ReturnType<typeof setInterval> | undefined;
  /** Pages the list shows right now (the poll re-reads these). */
  visiblePages: number[] = [];
  /** Coalesced refreshes: the rows on screen, and each user's folder counts. */
  private readonly visibleRefresh = new Coalesced(() => this.refreshVisible());
  private readonly folderRefresh = new Map<string, Coalesced>();
  private readonly onVisibility = (): void => {
    if (document.visibilityState === 'visible') void this.poll();
  };

  open(): void {
    this.unsubscribe ??= appState.subscribe((e) => this.onEvent(e));
    this.pollTimer ??= setInterval(() => { if (document.visibilityState === 'visible') void this.poll(); }, POLL_MS);
    document.addEventListener('visibilitychange', this.onVisibility);
  }

  close(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
    clearInterval(this.pollTimer);
    this.pollTimer = undefined;
    document.removeEventListener('visibilitychange', this.onVisibility);
  }

  async loadTree(): Promise<void> {
    try {
      this.tree = await api().call('viewerTree', undefined);
      this.treeError = null;
    } catch (e) {
      this.treeError = errorText(e);
    }
  }

  folders(user: string): ViewerFolder[] {
    for (const d of this.tree?.domains ?? []) for (const u of d.users) if (u.user === user) return u.folders ?? [];
    return [];
  }

  /** Opens a folder (or re-opens it with the current query): forgets cached pages, loads the first. */
  async openFolder(user: string, mailbox: string): Promise<void> {
    const same = this.folder?.user === user && this.folder?.mailbox === mailbox;
    this.folder = { user, mailbox };
    if (!same) this.fresh = new Set();
    this.reset();
    await this.ensurePage(0);
  }

  async search(query: ViewerSearchQuery): Promise<void> {
    this.query = query;
    if (this.folder) await this.openFolder(this.folder.user, this.folder.mailbox);
  }

  get searching(): boolean {
    return !!(this.query.from || this.query.subject || this.query.text);
  }

  private reset(): void {
    this.generation++;
    this.pages.clear();
    this.loading.clear();
    this.total = -1;
    this.listError = null;
    this.version++;
  }

  /** The row at `index` (newest first), or undefined while its page loads. */
  row(index: number): ViewerListItem | undefined {
    return this.pages.get(Math.floor(index / PAGE_SIZE))?.[index % PAGE_SIZE];
  }

  /** Loads page `n` unless it is cached or on its way. */
  ensurePage(n: number, force = false): Promise<void> {
    if (!this.folder || n < 0) return Promise.resolve();
    if (!force && this.pages.has(n)) return Promise.resolve();
    const pending = this.loading.get(n);
    if (pending) return pending;
    const { user, mailbox } = this.folder;
    const gen = this.generation;
    const p = (async () => {
      try {
        const page = await api().call('viewerPage', {
          user, mailbox, offset: n * PAGE_SIZE, limit: PAGE_SIZE, ...(this.searching ? { query: { ...this.query } } : {}),
        });
        if (gen !== this.generation) return;
        if (this.uidValidity && page.uidValidity !== this.uidValidity) {
          // The folder was recreated: nothing cached is true any more.
          this.uidValidity = page.uidValidity;
          this.pages.clear();
        }
        this.uidValidity = page.uidValidity;
        if (page.total !== this.total && this.total >= 0) {
          // Messages came or went: other cached pages are shifted; keep only this one.
          this.pages.clear();
        }
        this.pages.set(n, page.items);
        this.total = page.total;
        this.listError = null;
        this.trim(n);
        this.version++;
      } catch (e) {
        if (gen === this.generation) this.listError = errorText(e);
      } finally {
        if (gen === this.generation) this.loading.delete(n);
      }
    })();
    this.loading.set(n, p);
    return p;
  }

  private trim(keep: number): void {
    if (this.pages.size <= MAX_PAGES) return;
    const far = [...this.pages.keys()].sort((a, b) => Math.abs(b - keep) - Math.abs(a - keep));
    for (const k of far.slice(0, this.pages.size - MAX_PAGES)) this.pages.delete(k);
  }

  /** Replaces one row in the cache (after an action changed its flags). */
  patchRow(uid: number, patch: Partial<ViewerListItem>): void {
    for (const items of this.pages.values()) {
      const i = items.findIndex((r) => r.uid === uid);
      if (i >= 0) items[i] = { ...items[i], ...patch };
    }
    this.version++;
  }

  /** Runs an action on messages of the open folder; refreshes counts and the rows on screen. */
  async act(uids: number[], change: ViewerAction): Promise<boolean> {
    if (!this.folder) return false;
    const { user, mailbox } = this.folder;
    const r = await appState.attempt(() => api().call('viewerAction', { user, mailbox, uids, change }), 'The action failed');
    if (!r) return false;
    for (const f of r.flags ?? []) this.patchRow(f.uid, { flags: f.flags, seen: f.flags.includes('\\Seen') });
    if (r.moved || r.expunged) await this.refreshVisible();
    await this.refreshFolders(user);
    return true;
  }

  async refreshFolders(user: string): Promise<void> {
    try {
      const folders = await api().call('viewerFolders', { user });
      if (!this.tree) return;
      for (const d of this.tree.domains) for (const u of d.users) if (u.user === user) u.folders = folders;
    } catch {
      // The next poll tries again; the list shows its own errors.
    }
  }

  /** Re-reads the pages on screen (all of them when `all`: the cache is dropped). */
  async refreshVisible(all = false): Promise<void> {
    if (!this.folder) return;
    const pages = this.visiblePages.length ? this.visiblePages : [0];
    if (all) {
      this.generation++;
      this.pages.clear();
      this.loading.clear();
    }
    await Promise.all(pages.map((n) => this.ensurePage(n, true)));
  }

  /** The flags of a message as the cached rows have them (kept current by events), if it is cached. */
  flagsOf(uid: number): string[] | undefined {
    void this.version;
    for (const items of this.pages.values()) {
      const row = items.find((r) => r.uid === uid);
      if (row) return row.flags;
    }
    return undefined;
  }

  private async poll(): Promise<void> {
    if (!this.folder || appState.status?.state !== 'running') return;
    await Promise.all([this.visibleRefresh.run(), this.foldersSoon(this.folder.user)]);
  }

  private foldersSoon(user: string): Promise<void> {
    let c = this.folderRefresh.get(user);
    if (!c) this.folderRefresh.set(user, (c = new Coalesced(() => this.refreshFolders(user))));
    return c.run();
  }

  private knowsUser(user: string): boolean {
    return !!this.tree && this.tree.domains.some((d) => d.users.some((u) => u.user === user));
  }

  private onEvent(event: ApiEvent): void {
    if (event.type === 'status' && event.status.state === 'running' && (!this.tree || this.treeError)) void this.loadTree();
    if (event.type !== 'server') return;
    const e: ServerEvent = event.event;
    if (e.type === 'mailbox-changed') {
      if (this.knowsUser(e.user)) void this.foldersSoon(e.user);
      if (this.folder && this.folder.user === e.user && this.folder.mailbox === e.mailbox) {
        void this.visibleRefresh.run();
        if (e.kinds?.includes('expunged')) this.expunges++;
      }
      return;
    }
    if (e.type !== 'delivered') return;
    if (!this.knowsUser(e.user)) {
      // A user's first delivery: Postfix just made their maildir.
      void this.loadTree();
    } else {
      void this.foldersSoon(e.user);
    }
    if (this.folder && this.folder.user === e.user && this.folder.mailbox === e.mailbox) {
      this.fresh = new Set([...this.fresh, e.uid]);
      if (!this.searching) this.shiftBy++;
      void this.visibleRefresh.run();
    }
  }

  markOpened(uid: number): void {
    if (!this.fresh.has(uid)) return;
    const next = new Set(this.fresh);
    next.delete(uid);
    this.fresh = next;
  }
}

/**
 * Runs `task` at once when idle; calls while it runs make it run once more afterwards (so what
 * changed during a refresh is not missed), however many calls there were.
 */
class Coalesced {
  private running: Promise<void> | null = null;
  private again = false;

  constructor(private readonly task: () => Promise<void>) {}

  run(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    const loop = async (): Promise<void> => {
      try {
        do {
          this.again = false;
          await this.task().catch(() => undefined);
        } while (this.again);
      } finally {
        this.running = null;
      }
    };
    this.running = loop();
    return this.running;
  }
}
