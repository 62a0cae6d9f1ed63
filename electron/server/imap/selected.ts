// A session's view of its selected mailbox: its own sequence numbers, and the changes other
// sessions (or the maildir itself) made that this session has not been told about yet.
// Changes are queued as they happen and announced at the points RFC 3501 allows
// (section 5.2 and 7.4.1): EXISTS/RECENT/FETCH FLAGS after any command, EXPUNGE only after
// commands that do not rely on sequence numbers staying put (not during FETCH, STORE, SEARCH).
//
// Memory: a session's numbering is normally exactly the storage's shared index, so it keeps a
// reference to that array instead of a copy (200 IDLE sessions on a 50,000-message mailbox
// would otherwise hold 200 copies). Only while this session's numbering differs from the
// index (an expunge it may not announce yet) does it keep its own compact Uint32Array.

import type { MailboxChange, MailboxView, MessageMeta } from '../storage/types.js';
import { list } from './format.js';
import { UidSet } from '../storage/uidset.js';

const NO_UIDS = new Uint32Array(0);

export class SelectedMailbox {
  /** When non-null, sequence number n is shared[n - 1].uid (the storage's index array, not copied). */
  private shared: readonly MessageMeta[] | null;
  /** Otherwise sequence number n is own[n - 1]. */
  private own: Uint32Array = NO_UIDS;
  private pending: MailboxChange[] = [];
  /** The storage index as of the last change seen: storage replaces the array on change. */
  private snapshot: readonly MessageMeta[];
  /** Facts of messages storage expunged but this session has not announced yet (RFC 2180 4.1). */
  private ghosts: Map<number, MessageMeta> | null = null;
  /** Keywords this session has announced in FLAGS/PERMANENTFLAGS. */
  readonly announcedKeywords = new Set<string>();
  private readonly knownKeywords: Set<string>;
  /** Uids this session holds \Recent for (fixed when the message enters the session's view). */
  /** Ranges, not a Set (see storage/uidset.ts): the first session of a new mailbox has every uid recent. */
  private readonly recentUids = new UidSet();
  /** Last count this session announced, to send EXISTS only when it changes. */
  private announcedExists: number;
  private announcedRecent: number;

  constructor(
    readonly view: MailboxView,
    private readonly onPending: () => void,
    /** Identifies the mailbox across sessions (maildir path): for the keywords it has shown, and IDLE's resync. */
    readonly mailboxKey = '',
  ) {
    const msgs = view.messages();
    this.shared = msgs;
    this.snapshot = msgs;
    for (let i = 0; i < msgs.length; i++) if (view.isRecent(msgs[i].uid)) this.recentUids.add(msgs[i].uid);
    this.announcedExists = msgs.length;
    this.announcedRecent = this.recentUids.size;
    // Like Dovecot's index, a mailbox keeps listing a keyword once it has been in use, even
    // after the last message carrying it lost it.
    let known = KNOWN_KEYWORDS.get(mailboxKey);
    if (!known) {
      known = new Set();
      if (mailboxKey) KNOWN_KEYWORDS.set(mailboxKey, known);
    }
    this.knownKeywords = known;
    for (const k of known) this.announcedKeywords.add(k);
    // Flag lists are interned by storage: look at each distinct list once.
    let lastFlags: readonly string[] | null = null;
    for (const m of msgs) {
      if (m.flags === lastFlags || m.flags.length === 0) continue;
      lastFlags = m.flags;
      for (const f of m.flags) if (f.charCodeAt(0) !== 0x5c) this.announcedKeywords.add(f);
    }
    for (const k of this.announcedKeywords) known.add(k);
    view.onChange((change) => {
      if (change.kind === 'expunged') this.keepGhosts(change.uids);
      this.snapshot = view.messages();
      this.pending.push(change);
      this.onPending();
    });
  }

  /** Number of messages in this session's view (EXISTS). */
  get exists(): number {
    return this.shared ? this.shared.length : this.own.length;
  }

  /** The uid of sequence number i + 1. */
  uidAt(i: number): number {
    return this.shared ? this.shared[i].uid : this.own[i];
  }

  /** Every uid in sequence order (a copy). */
  uidList(): number[] {
    const n = this.exists;
    const out = new Array<number>(n);
    for (let i = 0; i < n; i++) out[i] = this.uidAt(i);
    return out;
  }

  get recent(): number {
    return this.recentUids.size;
  }

  isRecent(uid: number): boolean {
    return this.recentUids.size > 0 && this.recentUids.has(uid);
  }

  get hasPending(): boolean {
    return this.pending.length > 0;
  }

  /** Index (0-based) of the first sequence position whose uid is >= uid. */
  lowerBound(uid: number): number {
    let lo = 0;
    let hi = this.exists;
    const shared = this.shared;
    if (shared) {
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (shared[mid].uid < uid) lo = mid + 1;
        else hi = mid;
      }
    } else {
      const own = this.own;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (own[mid] < uid) lo = mid + 1;
        else hi = mid;
      }
    }
    return lo;
  }

  /** Index (0-based) of a uid in this session's numbering, or -1. */
  indexOf(uid: number): number {
    const i = this.lowerBound(uid);
    return i < this.exists && this.uidAt(i) === uid ? i : -1;
  }

  private keepGhosts(uids: readonly number[]): void {
    for (const uid of uids) {
      if (this.indexOf(uid) < 0) continue;
      const m = findMeta(this.snapshot, uid);
      if (m) (this.ghosts ??= new Map()).set(uid, m);
    }
  }

  /** Storage facts for a uid in this session's view (last known ones if expunged but not yet announced). */
  meta(uid: number): MessageMeta | undefined {
    return findMeta(this.view.messages(), uid) ?? this.ghosts?.get(uid);
  }

  /**
   * Storage facts of sequence position i (0-based), or undefined when the message is gone;
   * avoids a search when this session's numbering is the storage index itself.
   */
  metaAt(i: number): MessageMeta | undefined {
    const shared = this.shared;
    if (shared && shared === this.view.messages()) return shared[i];
    return this.meta(this.uidAt(i));
  }

  /** True when storage has expunged the uid and this session has not announced it yet. */
  isGhost(uid: number): boolean {
    return this.ghosts !== null && this.ghosts.has(uid);
  }

  /** FLAGS list as this session shows it (with \Recent when this session holds it). */
  flagsOf(uid: number, flags: readonly string[]): string {
    const recent = this.isRecent(uid);
    // Storage interns frozen flag lists: render each one once (with and without \Recent).
    if (!Object.isFrozen(flags)) return list(recent ? [...flags, '\\Recent'] : flags);
    const rendered = recent ? RENDERED_RECENT : RENDERED_FLAGS;
    let s = rendered.get(flags);
    if (s === undefined) {
      s = list(recent ? [...flags, '\\Recent'] : flags);
      rendered.set(flags, s);
    }
    return s;
  }

  /** Pending changes queued since `mark` (see pendingMark) that match a predicate are dropped. */
  pendingMark(): number {
    return this.pending.length;
  }

  dropPendingFlags(since: number, uids: ReadonlySet<number>): void {
    const kept = this.pending.slice(0, since);
    for (const c of this.pending.slice(since)) {
      if (c.kind === 'flags' && uids.has(c.uid)) continue;
      kept.push(c);
    }
    this.pending = kept;
  }

  /**
   * Announce queued changes. Returns the untagged lines (latin1 string).
   * allowExpunge=false keeps expunges queued (they stay in this session's numbering).
   */
  flush(allowExpunge: boolean, withUid: boolean): string {
    if (this.pending.length === 0) return '';
    const queue = this.pending;
    this.pending = [];
    let out = '';
    const n0 = this.exists;
    let last = n0 > 0 ? this.uidAt(n0 - 1) : 0;
    let added: number[] | null = null;
    let expunged: Set<number> | null = null;
    const flagChanges = new Map<number, readonly string[]>();
    for (const change of queue) {
      switch (change.kind) {
        case 'added': {
          // New messages always have higher uids than any this session knows.
          const lastBefore = last;
          for (const m of change.messages) {
            if (m.uid > lastBefore) (added ??= []).push(m.uid);
          }
          if (added) {
            if (!ascending(added)) added = [...new Set(added)].sort((a, b) => a - b);
            last = added[added.length - 1];
          }
          break;
        }
        case 'expunged':
          if (allowExpunge) {
            for (const uid of change.uids) (expunged ??= new Set()).add(uid);
          } else {
            this.pending.push(change);
          }
          break;
        case 'flags':
          flagChanges.set(change.uid, change.flags);
          break;
      }
    }
    if (added) for (const uid of added) if (this.view.isRecent(uid)) this.recentUids.add(uid);
    if (added || expunged) out += this.renumber(added ?? [], expunged);
    const exists = this.exists;
    if (exists !== this.announcedExists) {
      out += `* ${exists} EXISTS\r\n* ${this.recentUids.size} RECENT\r\n`;
      this.announcedExists = exists;
      this.announcedRecent = this.recentUids.size;
    } else if (this.recentUids.size !== this.announcedRecent) {
      out += `* ${this.recentUids.size} RECENT\r\n`;
      this.announcedRecent = this.recentUids.size;
    }
    out += this.announceKeywords([...flagChanges.values()]);
    for (const [uid, flags] of flagChanges) {
      const i = this.indexOf(uid);
      if (i < 0 || (expunged && expunged.has(uid))) continue;
      out += `* ${i + 1} FETCH (${withUid ? `UID ${uid} ` : ''}FLAGS ${this.flagsOf(uid, flags)})\r\n`;
    }
    return out;
  }

  /**
   * Appends `added` (ascending, above every known uid), then removes `expunged`, sending
   * EXPUNGE highest sequence number first, so no number shifts under the client. The result
   * goes back to sharing the storage index when it is equal to it.
   */
  private renumber(added: readonly number[], expunged: Set<number> | null): string {
    const n0 = this.exists;
    let out = '';
    const gone: number[] = [];
    if (expunged) {
      for (const uid of expunged) {
        const i = this.indexOf(uid);
        if (i >= 0) gone.push(i);
        else {
          const j = added.indexOf(uid);
          if (j >= 0) gone.push(n0 + j);
        }
      }
      gone.sort((a, b) => a - b);
      for (let k = gone.length - 1; k >= 0; k--) {
        const i = gone[k];
        const uid = i < n0 ? this.uidAt(i) : added[i - n0];
        out += `* ${i + 1} EXPUNGE\r\n`;
        this.recentUids.delete(uid);
        this.ghosts?.delete(uid);
      }
      if (this.ghosts && this.ghosts.size === 0) this.ghosts = null;
      // An EXPUNGE implicitly decrements EXISTS (RFC 3501 7.4.1); RECENT is sent again when it changed, as Dovecot does.
      this.announcedExists -= gone.length;
    }
    const total = n0 + added.length;
    const newLen = total - gone.length;
    const at = (i: number): number => (i < n0 ? this.uidAt(i) : added[i - n0]);
    // Does the new numbering equal the storage index? Then share it instead of copying.
    const index = this.view.messages();
    if (index.length === newLen) {
      let same = true;
      for (let i = 0, g = 0, k = 0; i < total; i++) {
        if (g < gone.length && gone[g] === i) {
          g++;
          continue;
        }
        if (index[k++].uid !== at(i)) {
          same = false;
          break;
        }
      }
      if (same) {
        this.shared = index;
        this.own = NO_UIDS;
        return out;
      }
    }
    const own = new Uint32Array(newLen);
    for (let i = 0, g = 0, k = 0; i < total; i++) {
      if (g < gone.length && gone[g] === i) {
        g++;
        continue;
      }
      own[k++] = at(i);
    }
    this.own = own;
    this.shared = null;
    return out;
  }

  /** FLAGS and PERMANENTFLAGS again when a flag list shows a keyword this session has not announced. */
  announceKeywords(flagLists: readonly (readonly string[])[]): string {
    let added = false;
    for (const flags of flagLists) {
      for (const f of flags) {
        if (!f.startsWith('\\') && !this.announcedKeywords.has(f)) {
          this.announcedKeywords.add(f);
          this.knownKeywords.add(f);
          added = true;
        }
      }
    }
    if (!added) return '';
    const flags = ['\\Answered', '\\Flagged', '\\Deleted', '\\Seen', '\\Draft', ...this.announcedKeywords];
    if (this.view.readOnly) return `* FLAGS ${list(flags)}\r\n`;
    return `* FLAGS ${list(flags)}\r\n* OK [PERMANENTFLAGS ${list([...flags, '\\*'])}] Flags permitted.\r\n`;
  }
}

/** Keywords each mailbox (by maildir path) has shown, for the life of the process. */
const KNOWN_KEYWORDS = new Map<string, Set<string>>();

/** FLAGS lists rendered once per (interned, frozen) flags array. */
const RENDERED_FLAGS = new WeakMap<readonly string[], string>();
const RENDERED_RECENT = new WeakMap<readonly string[], string>();

function ascending(a: readonly number[]): boolean {
  for (let i = 1; i < a.length; i++) if (a[i] <= a[i - 1]) return false;
  return true;
}

function findMeta(all: readonly MessageMeta[], uid: number): MessageMeta | undefined {
  let lo = 0;
  let hi = all.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (all[mid].uid < uid) lo = mid + 1;
    else hi = mid;
  }
  return lo < all.length && all[lo].uid === uid ? all[lo] : undefined;
}
