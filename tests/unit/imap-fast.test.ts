// The session's numbering (SelectedMailbox) shares the storage index instead of copying it,
// and resolves sequence sets in O(ranges). Checked here against straightforward reference
// implementations (the previous copy-per-session SelectedMailbox, and mark-every-number set
// resolution) over random change sequences, plus the byte-level helpers the fast paths use.
import { describe, it, expect } from 'vitest';
import type { MailboxChange, MailboxView, MessageInfo, MessageMeta } from '../../electron/server/storage/types.js';
import { SelectedMailbox } from '../../electron/server/imap/selected.js';
import { list } from '../../electron/server/imap/format.js';
import { parseSequenceSet, resolveSeqNumbers, resolveUidIndexes, lowerBound } from '../../electron/server/imap/sequence.js';
import { FieldNames, headerFields, headerFieldsText, scanHeader, scanNamedFields } from '../../electron/server/mime/header.js';
import { envelope } from '../../electron/server/mime/envelope.js';
import { parseStructure } from '../../electron/server/mime/structure.js';
import { bareLfCount, imapText, nulsTo80, toCrlf } from '../../electron/server/mime/crlf.js';
import { decodeQuotedPrintable } from '../../electron/server/mime/search-text.js';
import { DOVECOT_CASES } from './mime-fixtures.js';
import { corpusMessages } from '../helpers/corpus.js';
import { appendMessages } from '../../bench/corpus.js';

/** Deterministic pseudo-random numbers. */
function rng(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

/** An in-memory mailbox with storage's contract: the index array is replaced on every change. */
class MemoryMailbox {
  list: MessageMeta[] = [];
  nextUid = 1;
  readonly recent = new Set<number>();
  private listeners: ((c: MailboxChange) => void)[] = [];

  view(readOnly = false): MailboxView {
    const mb = this;
    return {
      name: 'INBOX',
      readOnly,
      uidValidity: 1,
      messages: () => mb.list,
      uidNext: () => mb.nextUid,
      keywords: () => [],
      isRecent: (uid: number) => mb.recent.has(uid),
      sync: async () => {},
      onChange: (l: (c: MailboxChange) => void) => void mb.listeners.push(l),
      info: async () => ({}) as MessageInfo,
      read: async () => Buffer.alloc(0),
      store: async () => new Map(),
      expunge: async () => [],
      copyTo: async () => ({ uidValidity: 1, pairs: [] }),
      moveTo: async () => ({ uidValidity: 1, pairs: [] }),
      close: async () => {},
    } as MailboxView;
  }

  add(n: number, recent: boolean): void {
    const added: MessageMeta[] = [];
    for (let i = 0; i < n; i++) {
      const m = { uid: this.nextUid++, filename: 'f', dir: 'cur', flags: Object.freeze([]) as readonly string[], size: 10, internalDate: 0 } as MessageMeta;
      added.push(m);
      if (recent) this.recent.add(m.uid);
    }
    this.list = [...this.list, ...added];
    this.emit({ kind: 'added', messages: added });
  }

  expunge(uids: number[]): void {
    const gone = new Set(uids);
    this.list = this.list.filter((m) => !gone.has(m.uid));
    this.emit({ kind: 'expunged', uids });
  }

  flag(uid: number, flags: string[]): void {
    this.list = this.list.map((m) => (m.uid === uid ? { ...m, flags } : m));
    this.emit({ kind: 'flags', uid, flags });
  }

  private emit(c: MailboxChange): void {
    for (const l of this.listeners) l(c);
  }
}

/** The SelectedMailbox before numbering was shared: one uid array per session (reference). */
class ReferenceSelected {
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

/** Keywords each mailbox has shown (the reference's module state). */
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

describe('SelectedMailbox numbering', () => {
  it('announces and numbers exactly like one uid array per session, over random changes', () => {
    for (let seed = 1; seed <= 60; seed++) {
      const r = rng(seed);
      const mb = new MemoryMailbox();
      mb.add(r(40), r(2) === 0);
      const fast = new SelectedMailbox(mb.view(), () => {});
      const ref = new ReferenceSelected(mb.view(), () => {});
      for (let step = 0; step < 80; step++) {
        const op = r(10);
        if (op < 3) mb.add(1 + r(4), r(2) === 0);
        else if (op < 5 && mb.list.length > 0) mb.expunge([...new Set(Array.from({ length: 1 + r(3) }, () => mb.list[r(mb.list.length)].uid))]);
        else if (op < 7 && mb.list.length > 0) mb.flag(mb.list[r(mb.list.length)].uid, r(2) ? ['\\Seen'] : ['Work']);
        else {
          const allow = r(3) !== 0;
          const withUid = r(2) === 0;
          expect(fast.flush(allow, withUid), `seed ${seed} step ${step}`).toBe(ref.flush(allow, withUid));
        }
        expect(fast.exists).toBe(ref.uids.length);
        expect(fast.uidList()).toEqual(ref.uids);
        expect(fast.recent).toBe(ref.recent);
        for (let k = 0; k < 5; k++) {
          const uid = 1 + r(mb.nextUid);
          expect(fast.indexOf(uid)).toBe(ref.indexOf(uid));
          expect(fast.meta(uid)).toBe(ref.meta(uid));
          expect(fast.isGhost(uid)).toBe(ref.isGhost(uid));
          const i = fast.indexOf(uid);
          if (i >= 0) expect(fast.metaAt(i)).toBe(ref.meta(uid));
        }
      }
    }
  });

  it('shares the storage index instead of copying it; keeps its own list only while it must', () => {
    const mb = new MemoryMailbox();
    mb.add(1000, false);
    const sel = new SelectedMailbox(mb.view(), () => {});
    const shared = () => (sel as unknown as { shared: unknown }).shared; // private: the array in use
    mb.add(5, true);
    sel.flush(true, false);
    expect(shared()).toBe(mb.list);
    const before = mb.list;
    mb.expunge([3]);
    sel.flush(false, false); // during FETCH: the expunge stays pending, uid 3 keeps its number
    expect(shared()).toBe(before); // the index as it was, still not copied
    expect(sel.indexOf(3)).toBe(2);
    mb.add(1, false); // a new message while the expunge is still pending: only now a private list
    sel.flush(false, false);
    expect(shared()).toBe(null);
    expect(sel.exists).toBe(1006);
    expect(sel.flush(true, false)).toBe('* 3 EXPUNGE\r\n');
    expect(shared()).toBe(mb.list);
  });
});

describe('sequence sets', () => {
  it('resolve like marking every number, for random sets', () => {
    const r = rng(7);
    for (let k = 0; k < 500; k++) {
      const count = r(60);
      const uids = [...new Set(Array.from({ length: count }, () => 1 + r(200)))].sort((a, b) => a - b);
      const parts = Array.from({ length: 1 + r(4) }, () => {
        const a = r(5) === 0 ? '*' : String(1 + r(220));
        return r(2) ? a : `${a}:${r(5) === 0 ? '*' : String(1 + r(220))}`;
      });
      const set = parseSequenceSet(parts.join(','));
      // reference: mark every number
      const max = uids.length ? uids[uids.length - 1] : 0;
      const want: number[] = [];
      for (let i = 0; i < uids.length; i++) {
        if (set.ranges.some(([a, b]) => { const lo = Math.min(a === Infinity ? max : a, b === Infinity ? max : b); const hi = Math.max(a === Infinity ? max : a, b === Infinity ? max : b); return uids[i] >= lo && uids[i] <= hi; })) want.push(i);
      }
      expect(resolveUidIndexes(set, uids)).toEqual(want);
      const seqs = resolveSeqNumbers(set, uids.length);
      const inRange = set.ranges.every(([a, b]) => { const x = a === Infinity ? uids.length : a; const y = b === Infinity ? uids.length : b; return Math.min(x, y) >= 1 && Math.max(x, y) <= uids.length; });
      if (!inRange) expect(seqs).toBeNull();
      else {
        const wantSeq: number[] = [];
        for (let n = 1; n <= uids.length; n++) {
          if (set.ranges.some(([a, b]) => { const x = a === Infinity ? uids.length : a; const y = b === Infinity ? uids.length : b; return n >= Math.min(x, y) && n <= Math.max(x, y); })) wantSeq.push(n);
        }
        expect(seqs).toEqual(wantSeq);
      }
    }
  });
});

/** Every message the tests know: fixtures, the test corpus, benchmark-style mail (LF and CRLF). */
function sampleMessages(): Buffer[] {
  const out = [...DOVECOT_CASES.map((c) => Buffer.from(c.message, 'latin1')), ...corpusMessages().map((m) => m.raw)];
  for (const m of appendMessages('imap-fast', 80)) out.push(m, Buffer.from(m.toString('latin1').replace(/\r\n/g, '\n'), 'latin1'));
  out.push(Buffer.from('FROM :x\nfrom: a@b\n to: c@d\nReply-To\n: bad\nX: lone\rcr\nSubject: no end', 'latin1'));
  return out;
}

function headerOf(msg: Buffer): Buffer {
  const root = parseStructure(msg);
  return msg.subarray(0, root.bodyStart);
}

describe('header helpers', () => {
  it('HEADER.FIELDS as text equals the Buffer version, and scanNamedFields finds what scanHeader does', () => {
    const sets = [['From', 'To', 'Subject', 'Date', 'Message-ID'], ['content-type'], ['X', 'reply-to', 'FROM'], ['nothing-here']];
    for (const msg of sampleMessages()) {
      const h = headerOf(msg);
      for (const names of sets) {
        const fn = new FieldNames(names);
        expect(headerFieldsText(h, fn)).toBe(headerFields(h, names, false).toString('latin1'));
        const lower = new Set(names.map((n) => n.toLowerCase()));
        const want = scanHeader(h).fields.filter((f) => f.colon && lower.has(h.toString('latin1', f.start, f.nameEnd).toLowerCase()));
        expect(scanNamedFields(h, fn).fields).toEqual(want);
      }
    }
  });

  it('the ENVELOPE rendered while parsing equals the one rendered from the header', () => {
    let rendered = 0;
    for (const msg of sampleMessages()) {
      const root = parseStructure(msg);
      if (root.headerEnvelope !== undefined) {
        rendered++;
        expect(root.headerEnvelope).toBe(envelope(msg.subarray(0, root.bodyStart)));
      }
    }
    expect(rendered).toBeGreaterThan(100);
    // a header line too long to keep whole: no pre-rendered envelope (rendered from the header instead)
    const long = Buffer.from(`Subject: ${'x'.repeat(70 * 1024)}\nFrom: a@b\n\nbody\n`);
    expect(parseStructure(long).headerEnvelope).toBeUndefined();
  });
});

describe('byte helpers', () => {
  /** toCrlf as it was: one copy per line. */
  function refToCrlf(buf: Buffer, prevCr = false): Buffer {
    const extra = bareLfCount(buf, prevCr);
    if (extra === 0) return buf;
    const out = Buffer.allocUnsafe(buf.length + extra);
    let o = 0;
    for (let i = 0; i < buf.length; i++) {
      if (buf[i] === 0x0a && (i === 0 ? !prevCr : buf[i - 1] !== 0x0d)) out[o++] = 0x0d;
      out[o++] = buf[i];
    }
    return out;
  }

  it('toCrlf and imapText agree with the byte-by-byte definitions', () => {
    const r = rng(11);
    const alphabet = [0x0a, 0x0d, 0x00, 0x41, 0x20, 0xe9, 0x3d];
    for (let k = 0; k < 2000; k++) {
      const buf = Buffer.from(Array.from({ length: r(40) }, () => alphabet[r(alphabet.length)]));
      const prevCr = r(2) === 0;
      expect(toCrlf(buf, prevCr).equals(refToCrlf(buf, prevCr))).toBe(true);
      expect(imapText(buf)).toBe(nulsTo80(refToCrlf(buf)).toString('latin1'));
    }
  });

  /** Quoted-printable as it was: byte by byte. */
  function refQp(buf: Buffer): Buffer {
    const hex = (c: number | undefined) => (c === undefined ? -1 : c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x41 && c <= 0x46 ? c - 0x37 : c >= 0x61 && c <= 0x66 ? c - 0x57 : -1);
    const out: number[] = [];
    for (let i = 0; i < buf.length; i++) {
      const c = buf[i];
      if (c !== 0x3d) {
        out.push(c);
        continue;
      }
      let j = i + 1;
      while (j < buf.length && (buf[j] === 0x20 || buf[j] === 0x09)) j++;
      if (j < buf.length && buf[j] === 0x0d) j++;
      if (j < buf.length && buf[j] === 0x0a) {
        i = j;
        continue;
      }
      if (j >= buf.length) break;
      const h = hex(buf[i + 1]);
      const l = hex(buf[i + 2]);
      if (h >= 0 && l >= 0) {
        out.push((h << 4) | l);
        i += 2;
      } else out.push(c);
    }
    return Buffer.from(out);
  }

  it('decodeQuotedPrintable agrees with the byte-by-byte decoder', () => {
    const r = rng(13);
    const alphabet = Buffer.from('==  \t\r\n\nAaF3g9zZ_x-', 'latin1');
    for (let k = 0; k < 3000; k++) {
      const buf = Buffer.from(Array.from({ length: r(60) }, () => alphabet[r(alphabet.length)]));
      expect(decodeQuotedPrintable(buf).equals(refQp(buf)), JSON.stringify(buf.toString('latin1'))).toBe(true);
    }
    const long = Buffer.from(`${'abc=3D'.repeat(50)}=\n${'y'.repeat(100)}=C3=A9`);
    expect(decodeQuotedPrintable(long).equals(refQp(long))).toBe(true);
  });
});
