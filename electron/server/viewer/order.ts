// The message list's order: newest first by INTERNALDATE, ties broken by the higher UID.
//
// Why INTERNALDATE (the file's mtime, i.e. when Postfix delivered it) and not the Date header: it is
// in storage's index (and Roost's cache file) for every message, so ordering 100,000 messages reads
// no message file; it cannot be forged or mangled by the sender's clock; it is what the IMAP side
// calls the arrival order; and a message that has just been delivered comes out on top, which is the
// point of the viewer's live list. The Date header is shown in the message pane.
//
// Cost: the first time a mailbox is ordered, every file is stat()ed once, in parallel (statDates; no
// file is read). The order is kept per mailbox and reused while the set of UIDs is unchanged (flag
// changes make storage hand out a new index array but do not reorder anything); messages delivered
// since are stat()ed and merged in without a sort, expunged ones dropped. Postfix delivers in time
// order, so the usual case is "dates ascend with UIDs", found in one pass.

import fsCb from 'node:fs';
import path from 'node:path';
import type { MailboxView, MessageMeta } from '../storage/types.js';

interface Ordered {
  uidValidity: number;
  /** The storage index array this was computed from (identity check first, it is the cheap one). */
  source: readonly MessageMeta[];
  /** UIDs of `source`, ascending. */
  uids: Uint32Array;
  /** UIDs newest first, and their INTERNALDATEs. */
  order: Uint32Array;
  dates: Float64Array;
}

/** Per mailbox (keyed by its maildir path): at most this many orders are kept. */
const MAX_KEPT = 16;
const kept = new Map<string, Ordered>();

function keep(key: string, o: Ordered): void {
  kept.delete(key);
  kept.set(key, o);
  while (kept.size > MAX_KEPT) kept.delete(kept.keys().next().value!);
}

/** Forget every kept order (tests). */
export function forgetOrders(): void {
  kept.clear();
}

/** Newer first: later date, or the same date and a higher UID. */
function newer(dateA: number, uidA: number, dateB: number, uidB: number): boolean {
  return dateA > dateB || (dateA === dateB && uidA > uidB);
}

/** Order of msgs (uid-sorted) given their dates (same positions). */
function fullOrder(msgs: readonly MessageMeta[], byUidDates: Float64Array): { order: Uint32Array; dates: Float64Array } {
  const n = msgs.length;
  let ascending = true;
  for (let i = 1; i < n; i++) {
    if (byUidDates[i] < byUidDates[i - 1]) {
      ascending = false;
      break;
    }
  }
  const order = new Uint32Array(n);
  const dates = new Float64Array(n);
  if (ascending) {
    for (let i = 0; i < n; i++) {
      order[i] = msgs[n - 1 - i].uid;
      dates[i] = byUidDates[n - 1 - i];
    }
    return { order, dates };
  }
  const idx = new Uint32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  idx.sort((a, b) => byUidDates[b] - byUidDates[a] || b - a); // index order is uid order
  for (let i = 0; i < n; i++) {
    order[i] = msgs[idx[i]].uid;
    dates[i] = byUidDates[idx[i]];
  }
  return { order, dates };
}

function sameUids(msgs: readonly MessageMeta[], uids: Uint32Array): boolean {
  if (msgs.length !== uids.length) return false;
  for (let i = 0; i < uids.length; i++) if (msgs[i].uid !== uids[i]) return false;
  return true;
}

/**
 * The previous order updated for the current index, when the change is additions above the old
 * highest UID and/or removals (what deliveries and expunges do); null otherwise.
 */
function updated(prev: Ordered, msgs: readonly MessageMeta[], added: readonly MessageMeta[], addedDates: Float64Array): { order: Uint32Array; dates: Float64Array } | null {
  const old = prev.uids;
  const oldMax = old.length ? old[old.length - 1] : 0;
  // Walk both ascending uid lists: every current uid up to oldMax must have been there before.
  const removed = new Set<number>();
  let j = 0;
  let i = 0;
  for (; i < msgs.length && msgs[i].uid <= oldMax; i++) {
    const uid = msgs[i].uid;
    while (j < old.length && old[j] < uid) removed.add(old[j++]);
    if (j >= old.length || old[j] !== uid) return null; // a uid appeared below the old maximum
    j++;
  }
  while (j < old.length) removed.add(old[j++]);
  if (msgs.length - i !== added.length) return null; // the index changed while dates were found out
  const addedOrder = fullOrder(added, addedDates);
  const n = msgs.length;
  const order = new Uint32Array(n);
  const dates = new Float64Array(n);
  let a = 0;
  let o = 0;
  let k = 0;
  while (k < n) {
    while (o < prev.order.length && removed.has(prev.order[o])) o++;
    const takeAdded =
      a < addedOrder.order.length &&
      (o >= prev.order.length || newer(addedOrder.dates[a], addedOrder.order[a], prev.dates[o], prev.order[o]));
    if (takeAdded) {
      order[k] = addedOrder.order[a];
      dates[k++] = addedOrder.dates[a++];
    } else if (o < prev.order.length) {
      order[k] = prev.order[o];
      dates[k++] = prev.dates[o++];
    } else {
      return null; // cannot happen: counts disagree
    }
  }
  return { order, dates };
}

/**
 * The mailbox's UIDs newest first (see the top of the file). `key` identifies the mailbox across
 * views (its maildir path).
 */
/** stat() calls in flight at once while finding out dates (they run on libuv's thread pool). */
const STAT_PARALLEL = 64;

/**
 * INTERNALDATE (mtime) of each message, by stat() in parallel, without reading any file and without
 * blocking the event loop. Storage's own prefetch() would also read every file whose name carries no
 * size (to count its lines for RFC822.SIZE): far more than ordering needs. A file renamed meanwhile
 * (its flags changed) is asked of storage instead, which knows its current name.
 */
function statDates(view: MailboxView, dir: string, msgs: readonly MessageMeta[]): Promise<Float64Array> {
  const out = new Float64Array(msgs.length);
  const prefix = dir + path.sep;
  let next = 0;
  let running = 0;
  return new Promise((resolve) => {
    const fallback = (i: number) => {
      const uid = msgs[i].uid;
      const now = view.messages();
      const k = indexOfUid(now, uid);
      out[i] = k >= 0 ? now[k].internalDate : msgs[i].internalDate;
    };
    const pump = (): void => {
      while (running < STAT_PARALLEL && next < msgs.length) {
        const i = next++;
        const m = msgs[i];
        running++;
        fsCb.stat(prefix + m.dir + path.sep + m.filename, (err, st) => {
          running--;
          if (err) {
            try {
              fallback(i);
            } catch {
              out[i] = 0;
            }
          } else {
            out[i] = Math.round(st.mtimeMs);
          }
          if (next >= msgs.length && running === 0) resolve(out);
          else pump();
        });
      }
      if (msgs.length === 0) resolve(out);
    };
    pump();
  });
}

/**
 * The mailbox's UIDs newest first (see the top of the file). `dir` is the mailbox's maildir (also the
 * key it is kept under).
 */
export async function dateOrder(view: MailboxView, dir: string): Promise<{ order: Uint32Array; dates: Float64Array; msgs: readonly MessageMeta[] }> {
  // One pass per mailbox at a time: a request arriving while the dates are being found out (e.g.
  // the warm-up the folder tree starts) waits for that pass and then finds its result kept.
  for (let running = inflight.get(dir); running; running = inflight.get(dir)) await running;
  const pass = computeOrder(view, dir);
  const done = pass.then(() => undefined, () => undefined);
  inflight.set(dir, done);
  try {
    return await pass;
  } finally {
    if (inflight.get(dir) === done) inflight.delete(dir);
  }
}

const inflight = new Map<string, Promise<void>>();

async function computeOrder(view: MailboxView, dir: string): Promise<{ order: Uint32Array; dates: Float64Array; msgs: readonly MessageMeta[] }> {
  const kept0 = kept.get(dir);
  const prev = kept0 && kept0.uidValidity === view.uidValidity ? kept0 : undefined;
  let msgs = view.messages();
  if (prev && (prev.source === msgs || sameUids(msgs, prev.uids))) {
    prev.source = msgs;
    return { order: prev.order, dates: prev.dates, msgs };
  }
  let result: { order: Uint32Array; dates: Float64Array } | null = null;
  if (prev) {
    const oldMax = prev.uids.length ? prev.uids[prev.uids.length - 1] : 0;
    let first = msgs.length;
    while (first > 0 && msgs[first - 1].uid > oldMax) first--;
    const added = msgs.slice(first);
    result = updated(prev, msgs, added, await statDates(view, dir, added));
  }
  if (!result) {
    msgs = view.messages();
    result = fullOrder(msgs, await statDates(view, dir, msgs));
  }
  const uids = new Uint32Array(msgs.length);
  for (let i = 0; i < msgs.length; i++) uids[i] = msgs[i].uid;
  keep(dir, { uidValidity: view.uidValidity, source: msgs, uids, order: result.order, dates: result.dates });
  return { order: result.order, dates: result.dates, msgs };
}

/** Index of uid in the uid-sorted index, or -1. */
export function indexOfUid(msgs: readonly MessageMeta[], uid: number): number {
  let lo = 0;
  let hi = msgs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (msgs[mid].uid < uid) lo = mid + 1;
    else hi = mid;
  }
  return lo < msgs.length && msgs[lo].uid === uid ? lo : -1;
}

// ---- the first look at a big folder ----------------------------------------------------------
//
// Ordering a never-seen 100,000-message folder stat()s every file (about a second cold). The first
// page needs only the newest few, and maildir file names say roughly when each file was written:
// Postfix, Dovecot and Roost all name a file `<seconds since 1970>.<unique part>.<host>` when they
// create it, and its mtime (INTERNALDATE) is set then or, for an APPEND or a copy, to an earlier date.
// So a file whose name time is older than the newest `count` dates found so far, by more than
// NAME_SLACK_MS, cannot be among them, and the search stops there: a few hundred stat()s instead of
// 100,000. A file whose name carries no time is always stat()ed. What this cannot see is a file
// given an mtime in the future of its name (a client APPENDing with a future INTERNALDATE, `touch`):
// such a message may be missing from this first answer; the full order, computed right after in the
// background, has it, and the next refresh of the list shows it.

/** How much later than its name's time a file's mtime may be and still be found (writing takes time). */
const NAME_SLACK_MS = 10 * 60_000;
/** Below this many messages the full order is cheap enough: no shortcut. */
const TOP_MIN_MESSAGES = 2000;
/** Files stat()ed per round while looking for the newest. */
const TOP_BATCH = 256;

/** Milliseconds since 1970 from a maildir name's leading `<seconds>.`; NaN when it has none. */
export function nameTimeMs(filename: string): number {
  let secs = 0;
  let i = 0;
  for (; i < filename.length && i < 12; i++) {
    const c = filename.charCodeAt(i);
    if (c < 48 || c > 57) break;
    secs = secs * 10 + (c - 48);
  }
  // 9 to 11 digits: from 2001 to far ahead; anything else is not a time.
  if (i < 9 || i > 11 || filename.charCodeAt(i) !== 46 /* . */) return NaN;
  return secs * 1000;
}

/**
 * The newest `count` messages (UIDs and dates, newest first) when the full order is not known yet and
 * the folder is big; null when the caller should use dateOrder() (small folder, order already kept, or
 * too many names without a time). See the comment above for what it relies on.
 */
export async function newestByDate(view: MailboxView, dir: string, count: number): Promise<{ order: Uint32Array; dates: Float64Array; msgs: readonly MessageMeta[] } | null> {
  const msgs = view.messages();
  const n = msgs.length;
  if (n < TOP_MIN_MESSAGES || count <= 0 || count > 1000) return null;
  const prev = kept.get(dir);
  if (prev && prev.uidValidity === view.uidValidity && (prev.source === msgs || sameUids(msgs, prev.uids))) return null;
  const timed: number[] = [];
  const untimed: number[] = [];
  const nameTimes = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t = nameTimeMs(msgs[i].filename);
    nameTimes[i] = t;
    if (Number.isNaN(t)) untimed.push(i);
    else timed.push(i);
  }
  if (untimed.length > 4 * TOP_BATCH) return null;
  // Newest name first (usually the uid order reversed: a cheap sort of an almost sorted array).
  timed.sort((a, b) => nameTimes[b] - nameTimes[a] || b - a);
  const found: { i: number; date: number }[] = [];
  const statSome = async (indices: number[]): Promise<void> => {
    const subset = indices.map((i) => msgs[i]);
    const dates = await statDates(view, dir, subset);
    for (let k = 0; k < indices.length; k++) found.push({ i: indices[k], date: dates[k] });
  };
  /** The count-th newest date found so far (-Infinity while fewer were found). */
  const threshold = (): number => {
    if (found.length < count) return -Infinity;
    found.sort((a, b) => b.date - a.date || msgs[b.i].uid - msgs[a.i].uid);
    found.length = Math.max(count, Math.min(found.length, count * 4));
    return found[count - 1].date;
  };
  await statSome(untimed);
  let next = 0;
  while (next < timed.length) {
    const limit = threshold();
    if (nameTimes[timed[next]] + NAME_SLACK_MS < limit) break; // nothing older can be newer than what we have
    const batch = timed.slice(next, next + TOP_BATCH);
    next += batch.length;
    await statSome(batch);
  }
  found.sort((a, b) => b.date - a.date || msgs[b.i].uid - msgs[a.i].uid);
  const top = found.slice(0, count);
  return {
    order: Uint32Array.from(top, (f) => msgs[f.i].uid),
    dates: Float64Array.from(top, (f) => f.date),
    msgs,
  };
}
