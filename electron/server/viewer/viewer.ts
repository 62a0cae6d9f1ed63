// The mailbox viewer's data layer, in the worker next to the IMAP server: answers the requests of
// shared/viewer-types.ts through the same storage the IMAP sessions use.
//
// - Mail stores are opened exactly as IMAP logins open them (server.ts openUserStore), so the viewer
//   and every session on a mailbox share one in-memory index: same UIDs and flags, and what the viewer
//   changes reaches IMAP sessions at once (EXISTS / EXPUNGE / FETCH FLAGS) through MailboxView.
// - A view is opened per request and closed before answering. Reading uses a read-only view (like
//   EXAMINE: it takes no \Recent away from IMAP clients and leaves new/ alone); actions open a
//   read-write one (which, like any SELECT, moves new/ to cur/). Storage keeps a mailbox's index
//   warm for minutes after the last view closes, so reopening costs a couple of stat() calls.
// - The viewer only opens users that already have a maildir: looking must not create mail homes.
// - Live updates: the mailboxes whose list the viewer showed lately stay open in a read-only view
//   (held, see hold()) whose changes go to MailboxChangeEvents as 'mailbox-changed' events. Every
//   change to a mailbox reaches every view open on it, so this hears IMAP sessions, the viewer's own
//   actions and the watcher's syncs alike, including a MOVE into a folder nobody has selected.

import fs from 'node:fs/promises';
import path from 'node:path';
import type { ServerSettings } from '../../shared/settings-types.js';
import type {
  ViewerAction, ViewerActionResult, ViewerAttachment, ViewerAttachmentData, ViewerInlineImage, ViewerErrorCode, ViewerFolder, ViewerListItem, ViewerMessage,
  ViewerOp, ViewerPage, ViewerRaw, ViewerRequest, ViewerRequestOf, ViewerResultOf, ViewerSearchQuery, ViewerTree,
} from '../../shared/viewer-types.js';
import { VIEWER_DEFAULTS } from '../../shared/viewer-types.js';
import { AuthError, resolveUser } from '../auth/index.js';
import { bytesToText, FieldNames, fieldValue, scanNamedFields, decodeHeaderValue } from '../mime/header.js';
import { findPart } from '../mime/section.js';
import type { MimePart } from '../mime/types.js';
import { cachedInfo, prefetch } from '../imap/storage-fast.js';
import { matchMessages, type SearchCandidate, type SearchKey } from '../imap/commands/search.js';
import { openUserStore } from '../server.js';
import type { MailboxChangeEvents } from '../watch/changes.js';
import { encodeMutf7 } from '../storage/index.js';
import type { MailboxView, MailStore, MessageInfo, MessageMeta } from '../storage/types.js';
import { StorageError } from '../storage/types.js';
import {
  attachmentEntry, chooseBodies, isLfFile, decodedHeaders, filenameOf, firstAddress, firstValue, parseRfc5322Date, partBytes,
  readTextBody, receivedHops,
} from './message.js';
import { dateOrder, indexOfUid, newestByDate } from './order.js';
import { findUsers } from './tree.js';

export class ViewerError extends Error {
  constructor(
    readonly code: ViewerErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ViewerError';
  }
}

export type ViewerLog = (level: 'debug' | 'info' | 'warn' | 'error', message: string) => void;

export interface ViewerOptions {
  settings: ServerSettings;
  log?: ViewerLog;
  /** Where the changes of mailboxes the viewer looks at are reported (the running server's). */
  changes?: MailboxChangeEvents;
  /** How long a mailbox stays held after the last list request for it (default HOLD_MS). */
  holdMs?: number;
}

/** Mail stores kept open (they hold no files; the cap only bounds the map). */
const MAX_STORES = 64;
/** Folders with at least this many messages are warmed up after the tree lists them. */
const WARM_UP_MIN = 2000;
/** Messages whose info is loaded at once while building a page. */
const PAGE_PARALLEL = 16;

const LIST_FIELDS = new FieldNames(['from', 'subject']);

/**
 * A mailbox whose list was asked for stays held this long after the last such request. The viewer
 * re-reads the rows it shows at least every 15 s while visible, so an open viewer keeps its folder
 * held, and a closed or hidden one lets go within a minute.
 */
export const HOLD_MS = 60_000;
/** Mailboxes held at once (a few windows on different folders); the least recently used goes. */
const MAX_HELD = 8;

interface Held {
  view: Promise<MailboxView | null>;
  timer: NodeJS.Timeout;
}

export class Viewer {
  private readonly settings: ServerSettings;
  private readonly log: ViewerLog;
  private readonly stores = new Map<string, Promise<MailStore>>();
  private readonly openViews = new Set<MailboxView>();
  private readonly changes: MailboxChangeEvents | undefined;
  private readonly holdMs: number;
  /** `user\0mailbox` -> a read-only view kept open for live updates (see hold()). */
  private readonly held = new Map<string, Held>();
  private closed = false;
  /** Background warm-ups (see warmUp), run one after the other. */
  private warmQueue: Promise<void> = Promise.resolve();

  constructor(options: ViewerOptions) {
    this.settings = options.settings;
    this.log = options.log ?? (() => {});
    this.changes = options.changes;
    this.holdMs = options.holdMs ?? HOLD_MS;
  }

  /** Answers one request (the worker's 'viewer' op). */
  handle<K extends ViewerOp>(request: ViewerRequestOf<K>): Promise<ViewerResultOf<K>>;
  handle(request: ViewerRequest): Promise<ViewerResultOf<ViewerOp>>;
  async handle(request: ViewerRequest): Promise<ViewerResultOf<ViewerOp>> {
    if (this.closed) throw new ViewerError('VIEWER_NOT_RUNNING', 'the viewer is closed');
    if (typeof request !== 'object' || request === null) throw new ViewerError('VIEWER_INVALID', 'not a viewer request');
    switch (request.op) {
      case 'tree': return this.tree(request.withCounts !== false);
      case 'folders': return this.folders(request.user);
      case 'page': return this.page(request.user, request.mailbox, request.offset, request.limit);
      case 'search': return this.search(request.user, request.mailbox, request.query, request.offset, request.limit);
      case 'message': return this.message(request.user, request.mailbox, request.uid, request.markSeen === true, request.maxTextChars);
      case 'raw': return this.raw(request.user, request.mailbox, request.uid, request.maxBytes);
      case 'attachment': return this.attachment(request.user, request.mailbox, request.uid, request.part);
      case 'action': return this.action(request.user, request.mailbox, request.uids, request.change);
      default: throw new ViewerError('VIEWER_INVALID', `unknown viewer op '${String((request as { op?: unknown }).op)}'`);
    }
  }

  /** Closes views still open (requests in flight fail with 'Mailbox is closed'). */
  async close(): Promise<void> {
    this.closed = true;
    const held = [...this.held.values()];
    this.held.clear();
    for (const h of held) clearTimeout(h.timer);
    const views = [...this.openViews];
    this.openViews.clear();
    await Promise.all(held.map((h) => h.view.then((v) => v?.close()).catch(() => {})));
    await Promise.all(views.map((v) => v.close().catch(() => {})));
    await this.warmQueue;
    this.stores.clear();
  }

  // ---- stores and views ------------------------------------------------------------------

  private async store(user: unknown): Promise<MailStore> {
    if (typeof user !== 'string' || !user) throw new ViewerError('VIEWER_INVALID', 'a user name is required');
    let loc: ReturnType<typeof resolveUser>;
    try {
      loc = resolveUser(this.settings, user);
    } catch (err) {
      if (err instanceof AuthError) throw new ViewerError('VIEWER_NO_USER', `${user}: ${err.message}`);
      throw err;
    }
    let p = this.stores.get(loc.user);
    if (!p) {
      try {
        await fs.stat(loc.maildir);
      } catch {
        throw new ViewerError('VIEWER_NO_USER', `${loc.user} has no maildir (${loc.maildir})`);
      }
      p = openUserStore(this.settings, loc.user, (level, message) => this.log(level, `viewer(${loc.user}): ${message}`));
      this.stores.set(loc.user, p);
      p.catch(() => this.stores.delete(loc.user));
      while (this.stores.size > MAX_STORES) this.stores.delete(this.stores.keys().next().value!);
    }
    return p;
  }

  /** Runs fn with a view of the mailbox, closing it afterwards whatever happens. */
  private async withView<T>(user: string, mailbox: unknown, readOnly: boolean, fn: (view: MailboxView, store: MailStore) => Promise<T>): Promise<T> {
    if (typeof mailbox !== 'string' || !mailbox) throw new ViewerError('VIEWER_INVALID', 'a mailbox name is required');
    const store = await this.store(user);
    const view = await store.open(mailbox, { readOnly });
    this.openViews.add(view);
    // The viewer's own changes are heard here even when nothing holds the mailbox.
    if (!readOnly) this.changes?.observe(store.user, view);
    try {
      return await fn(view, store);
    } finally {
      this.openViews.delete(view);
      await view.close();
    }
  }

  /**
   * Keeps a read-only view of this mailbox open for holdMs (renewed by every call), listening for
   * changes (see the top of the file). Costs nothing but memory: storage keeps the index of a mailbox
   * with a view loaded, and only read-write views take \Recent or move new/ to cur/.
   */
  private hold(store: MailStore, name: string): void {
    if (!this.changes || this.closed) return;
    const key = `${store.user}\0${name}`;
    const existing = this.held.get(key);
    if (existing) {
      existing.timer.refresh();
      // Most recently used last, so that the first entry is the one to let go of.
      this.held.delete(key);
      this.held.set(key, existing);
      return;
    }
    const changes = this.changes;
    const view = store.open(name, { readOnly: true }).then(
      (v) => {
        if (this.closed || this.held.get(key)?.view !== view) {
          void v.close().catch(() => {});
          return null;
        }
        changes.observe(store.user, v);
        return v;
      },
      (err: unknown) => {
        this.log('debug', `viewer: holding ${store.user} ${name}: ${String(err)}`);
        if (this.held.get(key)?.view === view) this.release(key);
        return null;
      },
    );
    const timer = setTimeout(() => this.release(key), this.holdMs);
    timer.unref?.();
    this.held.set(key, { view, timer });
    while (this.held.size > MAX_HELD) this.release(this.held.keys().next().value!);
  }

  private release(key: string): void {
    const h = this.held.get(key);
    if (!h) return;
    this.held.delete(key);
    clearTimeout(h.timer);
    void h.view.then((v) => v?.close()).catch(() => {});
  }

  /** Mailboxes held for live updates, as `user\0mailbox` (tests). */
  heldMailboxes(): string[] {
    return [...this.held.keys()];
  }

  private mailboxDir(store: MailStore, name: string): string {
    // Maildir++ (as storage/maildir lays it out): INBOX is the root, a folder is '.' + its mUTF-7 name.
    return name.toUpperCase() === 'INBOX' ? store.root : path.join(store.root, '.' + encodeMutf7(name));
  }

  // ---- tree ----------------------------------------------------------------------------

  /**
   * Finds out, in the background and one folder at a time, the dates of the big folders the tree has
   * just listed, so that the first page of a 100,000-message folder is ready by the time a person has
   * clicked it (a first look otherwise stat()s every file: about a second per 100,000 messages).
   */
  private warmUp(user: string, folders: readonly ViewerFolder[]): void {
    for (const f of folders) {
      if (f.noSelect || f.messages < WARM_UP_MIN) continue;
      this.warmQueue = this.warmQueue.then(async () => {
        if (this.closed) return;
        try {
          await this.withView(user, f.name, true, async (view, store) => void (await dateOrder(view, this.mailboxDir(store, view.name))));
        } catch (err) {
          this.log('debug', `viewer: warming up ${user} ${f.name}: ${String(err)}`);
        }
      });
    }
  }

  async tree(withCounts: boolean): Promise<ViewerTree> {
    const users = await findUsers(this.settings);
    const domains = new Map<string, ViewerTree['domains'][number]>();
    for (const u of users) {
      let d = domains.get(u.domain);
      if (!d) domains.set(u.domain, (d = { domain: u.domain, users: [] }));
      const entry: ViewerTree['domains'][number]['users'][number] = { user: u.user, home: u.home, maildir: u.maildir };
      if (withCounts) {
        try {
          entry.folders = await this.folders(u.user);
          this.warmUp(u.user, entry.folders);
        } catch (err) {
          entry.error = err instanceof Error ? err.message : String(err);
        }
      }
      d.users.push(entry);
    }
    return { vmail: this.settings.vmail, mailHome: this.settings.mail_home, domains: [...domains.values()] };
  }

  async folders(user: string): Promise<ViewerFolder[]> {
    const store = await this.store(user);
    const out: ViewerFolder[] = [];
    for (const entry of await store.list()) {
      const base = { name: entry.name, ...(entry.specialUse ? { specialUse: entry.specialUse } : {}) };
      if (entry.noSelect) {
        out.push({ ...base, noSelect: true, messages: 0, unseen: 0, uidValidity: 0, uidNext: 0 });
        continue;
      }
      try {
        const s = await store.status(entry.name);
        out.push({ ...base, messages: s.messages, unseen: s.unseen, uidValidity: s.uidValidity, uidNext: s.uidNext });
      } catch (err) {
        // Deleted between LIST and STATUS: leave it out.
        if (!(err instanceof StorageError && err.code === 'NONEXISTENT')) throw err;
      }
    }
    return out;
  }

  // ---- list ----------------------------------------------------------------------------

  async page(user: string, mailbox: string, offset: number, limit: number): Promise<ViewerPage> {
    const window = checkWindow(offset, limit);
    return this.withView(user, mailbox, true, async (view, store) => {
      this.hold(store, view.name);
      const dir = this.mailboxDir(store, view.name);
      const end = window.offset + window.limit;
      // The first look at a big folder: the newest rows without dating every file (order.ts), then
      // the full order in the background for scrolling further.
      const newest = await newestByDate(view, dir, end);
      if (newest) {
        this.warmUp(user, [{ name: view.name, messages: newest.msgs.length, unseen: 0, uidValidity: view.uidValidity, uidNext: view.uidNext() }]);
        return {
          total: newest.msgs.length,
          uidValidity: view.uidValidity,
          uidNext: view.uidNext(),
          offset: window.offset,
          items: await this.items(view, newest.msgs, newest.order.subarray(window.offset, end), newest.dates.subarray(window.offset, end)),
        };
      }
      const { order, dates, msgs } = await dateOrder(view, dir);
      return {
        total: order.length,
        uidValidity: view.uidValidity,
        uidNext: view.uidNext(),
        offset: window.offset,
        items: await this.items(view, msgs, order.subarray(window.offset, end), dates.subarray(window.offset, end)),
      };
    });
  }

  async search(user: string, mailbox: string, query: ViewerSearchQuery, offset: number, limit: number): Promise<ViewerPage> {
    const window = checkWindow(offset, limit);
    const key = searchKey(query);
    return this.withView(user, mailbox, true, async (view, store) => {
      this.hold(store, view.name);
      const { order, dates, msgs } = await dateOrder(view, this.mailboxDir(store, view.name));
      let matching: Uint32Array = order;
      let matchingDates: Float64Array = dates;
      if (key) {
        // The server's own SEARCH matcher over the whole mailbox (sequence numbers are the index's).
        const candidates: SearchCandidate[] = msgs.map((meta, i) => ({ seq: i + 1, uid: meta.uid, meta }));
        const maxUid = msgs.length ? msgs[msgs.length - 1].uid : 0;
        const hits = await matchMessages(view, key, candidates, NO_RECENT, msgs.length, maxUid);
        const hitUids = new Set<number>();
        for (let i = 0; i < hits.length; i++) if (hits[i]) hitUids.add(candidates[i].uid);
        const positions: number[] = [];
        for (let i = 0; i < order.length; i++) if (hitUids.has(order[i])) positions.push(i);
        matching = Uint32Array.from(positions, (i) => order[i]);
        matchingDates = Float64Array.from(positions, (i) => dates[i]);
      }
      const end = window.offset + window.limit;
      return {
        total: matching.length,
        uidValidity: view.uidValidity,
        uidNext: view.uidNext(),
        offset: window.offset,
        items: await this.items(view, view.messages(), matching.subarray(window.offset, end), matchingDates.subarray(window.offset, end)),
      };
    });
  }

  /** List rows for these uids (with their dates), in this order; a message expunged meanwhile is left out. */
  private async items(view: MailboxView, msgs: readonly MessageMeta[], uidList: Uint32Array, dates: Float64Array): Promise<ViewerListItem[]> {
    const uids = Array.from(uidList);
    // RFC822.SIZE of messages whose name carries no ,W= may need a read: done in parallel first.
    await prefetch(view, uids);
    const rows: (ViewerListItem | null)[] = new Array(uids.length).fill(null);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < uids.length) {
        const k = next++;
        const uid = uids[k];
        const i = indexOfUid(msgs, uid);
        if (i < 0) continue;
        const meta = msgs[i];
        let info: MessageInfo | undefined = cachedInfo(view, uid);
        if (!info) {
          try {
            info = await view.info(uid);
          } catch (err) {
            this.log('debug', `viewer: info of uid ${uid}: ${String(err)}`);
          }
        }
        rows[k] = listItem(meta, info, dates[k]);
      }
    };
    await Promise.all(Array.from({ length: Math.min(PAGE_PARALLEL, uids.length) }, worker));
    return rows.filter((r): r is ViewerListItem => r !== null);
  }

  // ---- one message ---------------------------------------------------------------------

  private async meta(view: MailboxView, uid: unknown): Promise<MessageMeta> {
    if (typeof uid !== 'number' || !Number.isInteger(uid) || uid < 1) throw new ViewerError('VIEWER_INVALID', 'a message uid is required');
    const msgs = view.messages();
    const i = indexOfUid(msgs, uid);
    if (i < 0) throw new ViewerError('VIEWER_NO_MESSAGE', `no message with uid ${uid} in ${view.name}`);
    return msgs[i];
  }

  private async infoOf(view: MailboxView, uid: number): Promise<MessageInfo> {
    try {
      return await view.info(uid);
    } catch (err) {
      if (err instanceof StorageError && err.code === 'EXPUNGEISSUED') throw new ViewerError('VIEWER_NO_MESSAGE', `message ${uid} was expunged`);
      throw err;
    }
  }

  async message(user: string, mailbox: string, uid: number, markSeen: boolean, maxTextChars?: number): Promise<ViewerMessage> {
    const cap = clamp(maxTextChars ?? VIEWER_DEFAULTS.maxTextChars, 1, 50_000_000);
    // Marked first, so that the facts below show the file's name with its new S letter.
    if (markSeen) await this.action(user, mailbox, [uid], { action: 'seen', seen: true });
    return this.withView(user, mailbox, true, async (view, store) => {
      const meta = await this.meta(view, uid);
      const info = await this.infoOf(view, uid);
      const read = (s: number, e: number) => view.read(uid, s, e);
      const headers = decodedHeaders(info.header);
      const bodies = chooseBodies(info.structure);
      const date = firstValue(headers, 'date');
      const sentTime = date ? parseRfc5322Date(date) : undefined;
      const letters = meta.filename.indexOf(':2,');
      const html = bodies.html ? await readTextBody(bodies.html.part, bodies.html.number, read, cap) : undefined;
      const attachments = await Promise.all(bodies.attachments.map((a) => attachmentEntry(a.part, a.number, read, isLfFile(info.structure))));
      const inlineImages = html ? await cidImages(html.content, bodies.attachments, attachments, read) : [];
      return {
        uid,
        uidValidity: view.uidValidity,
        headers,
        subject: firstValue(headers, 'subject'),
        from: firstValue(headers, 'from'),
        to: firstValue(headers, 'to'),
        cc: firstValue(headers, 'cc'),
        date,
        ...(sentTime !== undefined ? { sentTime } : {}),
        receivedHops: receivedHops(headers),
        ...(bodies.text ? { text: await readTextBody(bodies.text.part, bodies.text.number, read, cap) } : {}),
        ...(html ? { html } : {}),
        attachments,
        ...(inlineImages.length ? { inlineImages } : {}),
        facts: {
          uid,
          filename: meta.filename,
          dir: meta.dir,
          path: path.join(this.mailboxDir(store, view.name), meta.dir, meta.filename),
          flagLetters: letters >= 0 ? meta.filename.slice(letters + 3) : '',
          flags: [...meta.flags],
          size: meta.size,
          physicalSize: info.physicalSize,
          internalDate: meta.internalDate,
        },
      };
    });
  }

  async raw(user: string, mailbox: string, uid: number, maxBytes?: number): Promise<ViewerRaw> {
    const cap = clamp(maxBytes ?? VIEWER_DEFAULTS.rawMaxBytes, 1, 256 * 1024 * 1024);
    return this.withView(user, mailbox, true, async (view) => {
      await this.meta(view, uid);
      const info = await this.infoOf(view, uid);
      const total = info.physicalSize;
      const n = Math.min(total, cap);
      const bytes = n > 0 ? await view.read(uid, 0, n) : Buffer.alloc(0);
      return { uid, source: bytesToText(bytes), returnedBytes: bytes.length, totalBytes: total, truncated: bytes.length < total };
    });
  }

  async attachment(user: string, mailbox: string, uid: number, part: string): Promise<ViewerAttachmentData> {
    if (typeof part !== 'string' || !/^[1-9]\d*(\.[1-9]\d*)*$/.test(part)) throw new ViewerError('VIEWER_INVALID', `not a part number: ${String(part)}`);
    return this.withView(user, mailbox, true, async (view) => {
      await this.meta(view, uid);
      const info = await this.infoOf(view, uid);
      const found = findPart(info.structure, part.split('.').map(Number));
      if (!found || found.parts) throw new ViewerError('VIEWER_NO_PART', `message ${uid} has no part ${part} to save`);
      const data = await partBytes(found, (s, e) => view.read(uid, s, e));
      return {
        part,
        filename: filenameOf(found, part),
        contentType: `${found.type}/${found.subtype}`.toLowerCase(),
        // A plain Uint8Array of its own: structured clone copies a view's whole ArrayBuffer, and a
        // small Buffer may be a slice of Node's shared pool (other data). 5 MB copy: about a millisecond.
        data: data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? new Uint8Array(data.buffer) : new Uint8Array(data),
      };
    });
  }

  // ---- actions -------------------------------------------------------------------------

  async action(user: string, mailbox: string, uids: number[], change: ViewerAction): Promise<ViewerActionResult> {
    if (!Array.isArray(uids) || uids.some((u) => typeof u !== 'number' || !Number.isInteger(u) || u < 1)) {
      throw new ViewerError('VIEWER_INVALID', 'uids must be positive integers');
    }
    if (typeof change !== 'object' || change === null) throw new ViewerError('VIEWER_INVALID', 'no action given');
    return this.withView(user, mailbox, false, async (view, store) => {
      const msgs = view.messages();
      const present = [...new Set(uids)].filter((u) => indexOfUid(msgs, u) >= 0).sort((a, b) => a - b);
      if (present.length === 0) return { uids: [] };
      switch (change.action) {
        case 'seen':
        case 'flag': {
          const flag = change.action === 'seen' ? '\\Seen' : '\\Flagged';
          const on = change.action === 'seen' ? change.seen : change.flagged;
          const updated = await view.store(present, on ? 'add' : 'remove', [flag]);
          return { uids: [...updated.keys()], flags: [...updated].map(([uid, flags]) => ({ uid, flags: [...flags] })) };
        }
        case 'delete': {
          const trash = change.mode === 'trash' ? await trashName(store) : null;
          if (trash && trash !== view.name) {
            const moved = await view.moveTo(present, trash).catch(async (err: unknown) => {
              // The user deleted their Trash: make it again, as login would (auto = create).
              if (!(err instanceof StorageError && err.code === 'TRYCREATE')) throw err;
              await store.create(trash).catch(() => {});
              return view.moveTo(present, trash);
            });
            return { uids: moved.pairs.map((p) => p[0]), moved: { mailbox: trash, uidValidity: moved.uidValidity, pairs: moved.pairs } };
          }
          // Expunge only these messages (UID EXPUNGE, RFC 4315): others marked \Deleted stay.
          await view.store(present, 'add', ['\\Deleted']);
          const expunged = await view.expunge(present);
          return { uids: expunged, expunged };
        }
        case 'move': {
          if (typeof change.target !== 'string' || !change.target) throw new ViewerError('VIEWER_INVALID', 'a target folder is required');
          const moved = await view.moveTo(present, change.target);
          return { uids: moved.pairs.map((p) => p[0]), moved: { mailbox: change.target, uidValidity: moved.uidValidity, pairs: moved.pairs } };
        }
        default:
          throw new ViewerError('VIEWER_INVALID', `unknown action '${String((change as { action?: unknown }).action)}'`);
      }
    });
  }
}

const NO_RECENT = { isRecent: () => false };

/** `cid:<id>` references in HTML (src="cid:...", url(cid:...)), lowercased and %-decoded (RFC 2392). */
export function cidReferences(html: string): Set<string> {
  const out = new Set<string>();
  for (const m of html.matchAll(/cid:<?([^\s"'()<>]+)/gi)) {
    let id = m[1];
    try {
      id = decodeURIComponent(id);
    } catch {
      // Not %-encoded properly: take it as written.
    }
    out.add(id.replace(/^<|>$/g, '').toLowerCase());
  }
  return out;
}

/**
 * The image parts the HTML shows through cid:, with their bytes (see ViewerInlineImage for the caps).
 * Sizes are known from the attachment entries before anything is read.
 */
async function cidImages(
  html: string,
  parts: readonly { part: MimePart; number: string }[],
  entries: readonly ViewerAttachment[],
  read: (s: number, e: number) => Promise<Buffer>,
): Promise<ViewerInlineImage[]> {
  if (!/cid:/i.test(html)) return [];
  const wanted = cidReferences(html);
  const out: ViewerInlineImage[] = [];
  let total = 0;
  for (let i = 0; i < entries.length; i++) {
    const a = entries[i];
    if (!a.contentId || !wanted.has(a.contentId.toLowerCase())) continue;
    if (!/^image\/[a-z0-9][a-z0-9.+-]*$/.test(a.contentType)) continue;
    if (a.size > VIEWER_DEFAULTS.inlineImageMaxBytes || total + a.size > VIEWER_DEFAULTS.inlineImagesMaxBytes) continue;
    const data = await partBytes(parts[i].part, read);
    if (data.length > VIEWER_DEFAULTS.inlineImageMaxBytes || total + data.length > VIEWER_DEFAULTS.inlineImagesMaxBytes) continue;
    total += data.length;
    wanted.delete(a.contentId.toLowerCase());
    out.push({ contentId: a.contentId, part: a.part, contentType: a.contentType, data: data.toString('base64') });
  }
  return out;
}

/** The user's Trash: the folder with \Trash special use (ensure() creates 'Trash'). */
async function trashName(store: MailStore): Promise<string> {
  const list = await store.list();
  return list.find((e) => e.specialUse === '\\Trash' && !e.noSelect)?.name ?? 'Trash';
}

function clamp(n: number, lo: number, hi: number): number {
  if (!Number.isFinite(n)) return hi;
  return Math.min(hi, Math.max(lo, Math.floor(n)));
}

function checkWindow(offset: unknown, limit: unknown): { offset: number; limit: number } {
  if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0) throw new ViewerError('VIEWER_INVALID', 'offset must be an integer >= 0');
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 0) throw new ViewerError('VIEWER_INVALID', 'limit must be an integer >= 0');
  return { offset, limit: Math.min(limit, VIEWER_DEFAULTS.maxLimit) };
}

/**
 * The viewer's search as the SEARCH key IMAP would send: FROM x SUBJECT y TEXT z (AND), or with
 * match 'any' OR FROM x OR SUBJECT y TEXT z (OR takes two keys: nested). Null: match all.
 */
export function searchKey(query: ViewerSearchQuery | undefined): SearchKey | null {
  if (typeof query !== 'object' || query === null) throw new ViewerError('VIEWER_INVALID', 'a search query is required');
  const keys: SearchKey[] = [];
  if (typeof query.from === 'string' && query.from.trim()) keys.push({ k: 'header', field: 'from', value: query.from.trim() });
  if (typeof query.subject === 'string' && query.subject.trim()) keys.push({ k: 'header', field: 'subject', value: query.subject.trim() });
  if (typeof query.text === 'string' && query.text.trim()) keys.push({ k: 'text', value: query.text.trim() });
  if (keys.length === 0) return null;
  if (keys.length === 1) return keys[0];
  if (query.match === 'any') return keys.reduceRight((b, a) => ({ k: 'or', a, b }));
  return { k: 'and', keys };
}

/** One list row from the index facts and the cached header (From/Subject only are decoded). */
function listItem(meta: MessageMeta, info: MessageInfo | undefined, date: number): ViewerListItem {
  let from = '';
  let fromAddress = '';
  let subject = '';
  if (info) {
    const header = info.header;
    const { fields, ids } = scanNamedFields(header, LIST_FIELDS);
    let fromRaw: Buffer | undefined;
    for (let k = 0; k < fields.length; k++) {
      if (ids[k] === 0 && fromRaw === undefined) fromRaw = fieldValue(header, fields[k]);
      // Like ENVELOPE, the last Subject wins when there are several.
      else if (ids[k] === 1) subject = decodeHeaderValue(fieldValue(header, fields[k])).trim();
    }
    const a = firstAddress(fromRaw);
    from = a.name || a.address;
    fromAddress = a.address;
  }
  const flags = [...meta.flags];
  return { uid: meta.uid, from, fromAddress, subject, date, size: meta.size, flags, seen: flags.includes('\\Seen') };
}
