// A session's view of its selected mailbox: its own sequence numbers, and the changes other
// sessions (or the maildir itself) made that this session has not been told about yet.
// Changes are queued as they happen and announced at the points RFC 3501 allows
// (section 5.2 and 7.4.1): EXISTS/RECENT/FETCH FLAGS after any command, EXPUNGE only after
// commands that do not rely on sequence numbers staying put (not during FETCH, STORE, SEARCH).

import type { MailboxChange, MailboxView, MessageMeta } from '../storage/types.js';
import { lowerBound } from './sequence.js';
import { list } from './format.js';

export class SelectedMailbox {
  /** Sequence number n is uids[n - 1]. */
  uids: number[];
  private pending: MailboxChange[] = [];
  /** The storage index as of the last change seen: storage replaces the array on change. */
  private snapshot: readonly MessageMeta[];
  /** Facts of messages storage expunged but this session has not announced yet (RFC 2180 4.1). */
  private readonly ghosts = new Map<number, MessageMeta>();
  /** Keywords this session has announced in FLAGS/PERMANENTFLAGS. */
  readonly announcedKeywords = new Set<string>();
  private readonly knownKeywords: Set<string>;
  /** Uids this session holds \Recent for (fixed when the message enters the session's view). */
  private readonly recentUids = new Set<number>();
  /** Last count this session announced, to send EXISTS only when it changes. */
  private announcedExists: number;
  private announcedRecent: number;

  constructor(
    readonly view: MailboxView,
    private readonly onPending: () => void,
    /** Identifies the mailbox across sessions (maildir path), for the keywords it has shown. */
    mailboxKey = '',
  ) {
    this.uids = view.messages().map((m) => m.uid);
    for (const uid of this.uids) if (view.isRecent(uid)) this.recentUids.add(uid);
    this.announcedExists = this.uids.length;
    this.announcedRecent = this.recentUids.size;
    this.snapshot = view.messages();
    // Like Dovecot's index, a mailbox keeps listing a keyword once it has been in use, even
    // after the last message carrying it lost it.
    let known = KNOWN_KEYWORDS.get(mailboxKey);
    if (!known) {
      known = new Set();
      if (mailboxKey) KNOWN_KEYWORDS.set(mailboxKey, known);
    }
    this.knownKeywords = known;
    for (const k of known) this.announcedKeywords.add(k);
    for (const m of this.snapshot) for (const f of m.flags) if (!f.startsWith('\\')) this.announcedKeywords.add(f);
    for (const k of this.announcedKeywords) known.add(k);
    view.onChange((change) => {
      if (change.kind === 'expunged') this.keepGhosts(change.uids);
      this.snapshot = view.messages();
      this.pending.push(change);
      this.onPending();
    });
  }

  get exists(): number {
    return this.uids.length;
  }

  get recent(): number {
    return this.recentUids.size;
  }

  isRecent(uid: number): boolean {
    return this.recentUids.has(uid);
  }

  get hasPending(): boolean {
    return this.pending.length > 0;
  }

  /** Index in uids (0-based) of a uid, or -1. */
  indexOf(uid: number): number {
    const i = lowerBound(this.uids, uid);
    return i < this.uids.length && this.uids[i] === uid ? i : -1;
  }

  private keepGhosts(uids: readonly number[]): void {
    for (const uid of uids) {
      if (this.indexOf(uid) < 0) continue;
      const m = findMeta(this.snapshot, uid);
      if (m) this.ghosts.set(uid, m);
    }
  }

  /** Storage facts for a uid in this session's view (last known ones if expunged but not yet announced). */
  meta(uid: number): MessageMeta | undefined {
    return findMeta(this.view.messages(), uid) ?? this.ghosts.get(uid);
  }

  /** True when storage has expunged the uid and this session has not announced it yet. */
  isGhost(uid: number): boolean {
    return this.ghosts.has(uid);
  }
  /** FLAGS list as this session shows it (with \Recent when this session holds it). */
  flagsOf(uid: number, flags: readonly string[]): string {
    return list(this.recentUids.has(uid) ? [...flags, '\\Recent'] : [...flags]);
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
    const expunged = new Set<number>();
    const flagChanges = new Map<number, readonly string[]>();
    for (const change of queue) {
      switch (change.kind) {
        case 'added': {
          const last = this.uids.length ? this.uids[this.uids.length - 1] : 0;
          for (const m of change.messages) {
            if (m.uid > last && this.indexOf(m.uid) < 0) {
              this.uids.push(m.uid);
              if (this.view.isRecent(m.uid)) this.recentUids.add(m.uid);
            }
          }
          break;
        }
        case 'expunged':
          if (allowExpunge) {
            for (const uid of change.uids) expunged.add(uid);
          } else {
            this.pending.push(change);
          }
          break;
        case 'flags':
          flagChanges.set(change.uid, change.flags);
          break;
      }
    }
    if (expunged.size > 0) out += this.applyExpunges(expunged);
    if (this.uids.length !== this.announcedExists) {
      out += `* ${this.uids.length} EXISTS\r\n* ${this.recentUids.size} RECENT\r\n`;
      this.announcedExists = this.uids.length;
      this.announcedRecent = this.recentUids.size;
    } else if (this.recentUids.size !== this.announcedRecent) {
      out += `* ${this.recentUids.size} RECENT\r\n`;
      this.announcedRecent = this.recentUids.size;
    }
    out += this.announceKeywords([...flagChanges.values()]);
    for (const [uid, flags] of flagChanges) {
      const i = this.indexOf(uid);
      if (i < 0 || expunged.has(uid)) continue;
      out += `* ${i + 1} FETCH (${withUid ? `UID ${uid} ` : ''}FLAGS ${this.flagsOf(uid, flags)})\r\n`;
    }
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

  /** Sends EXPUNGE highest sequence number first, so no number shifts under the client. */
  private applyExpunges(expunged: Set<number>): string {
    let out = '';
    const keep: number[] = [];
    const gone: number[] = [];
    for (let i = 0; i < this.uids.length; i++) {
      if (expunged.has(this.uids[i])) gone.push(i);
      else keep.push(this.uids[i]);
    }
    for (let k = gone.length - 1; k >= 0; k--) {
      out += `* ${gone[k] + 1} EXPUNGE\r\n`;
      this.recentUids.delete(this.uids[gone[k]]);
      this.ghosts.delete(this.uids[gone[k]]);
    }
    this.uids = keep;
    // An EXPUNGE implicitly decrements EXISTS (RFC 3501 7.4.1); RECENT is sent again when it changed, as Dovecot does.
    this.announcedExists -= gone.length;
    return out;
  }
}

/** Keywords each mailbox (by maildir path) has shown, for the life of the process. */
const KNOWN_KEYWORDS = new Map<string, Set<string>>();

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
