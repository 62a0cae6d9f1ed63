// sequence-set (RFC 3501 section 9): "1,3:5,7:*". '*' is the largest number in use.

import { ImapSyntaxError } from './parser.js';
import { MAX_NUMBER } from './grammar.js';

/** A range with '*' kept symbolic (Infinity) until resolved against a mailbox. */
export type SeqRange = [number, number];

export interface SequenceSet {
  ranges: SeqRange[];
  /** The text as sent, for error messages. */
  text: string;
}

const STAR = Infinity;

function seqNumber(s: string, text: string): number {
  if (s === '*') return STAR;
  if (!/^[1-9]\d{0,9}$/.test(s)) throw new ImapSyntaxError(`Invalid sequence set: ${clip(text)}`);
  const n = Number(s);
  if (n > MAX_NUMBER) throw new ImapSyntaxError(`Invalid sequence set: number too large: ${clip(s)}`);
  return n;
}

function clip(s: string): string {
  return s.length > 40 ? s.slice(0, 40) + '...' : s;
}

export function parseSequenceSet(text: string): SequenceSet {
  if (text.length === 0) throw new ImapSyntaxError('Empty sequence set');
  const ranges: SeqRange[] = [];
  for (const part of text.split(',')) {
    const pieces = part.split(':');
    if (pieces.length === 1) {
      const n = seqNumber(pieces[0], text);
      ranges.push([n, n]);
    } else if (pieces.length === 2) {
      let a = seqNumber(pieces[0], text);
      let b = seqNumber(pieces[1], text);
      if (a > b) [a, b] = [b, a];
      ranges.push([a, b]);
    } else {
      throw new ImapSyntaxError(`Invalid sequence set: ${clip(text)}`);
    }
  }
  return { ranges, text };
}

/** Ascending, merged [lo, hi] intervals (inclusive). */
function mergeIntervals(iv: [number, number][]): [number, number][] {
  if (iv.length <= 1) return iv;
  iv.sort((x, y) => x[0] - y[0]);
  const out: [number, number][] = [iv[0]];
  for (let k = 1; k < iv.length; k++) {
    const last = out[out.length - 1];
    const [a, b] = iv[k];
    if (a <= last[1] + 1) {
      if (b > last[1]) last[1] = b;
    } else {
      out.push([a, b]);
    }
  }
  return out;
}

/**
 * Message sequence numbers selected by the set in a mailbox of `count` messages, ascending,
 * without duplicates. Returns null when the set names a number beyond the mailbox (RFC 3501
 * 6.4.8 makes that an error for sequence numbers; '*' in an empty mailbox too).
 */
export function resolveSeqNumbers(set: SequenceSet, count: number): number[] | null {
  const iv: [number, number][] = [];
  for (const [a0, b0] of set.ranges) {
    const a = a0 === STAR ? count : a0;
    const b = b0 === STAR ? count : b0;
    const lo = Math.min(a, b);
    const hi = Math.max(a, b);
    if (lo < 1 || hi > count) return null;
    iv.push([lo, hi]);
  }
  const out: number[] = [];
  for (const [lo, hi] of mergeIntervals(iv)) for (let i = lo; i <= hi; i++) out.push(i);
  return out;
}

/** A session's numbering: `count` uids in ascending order (see SelectedMailbox). */
export interface UidIndex {
  readonly exists: number;
  uidAt(i: number): number;
  /** First index whose uid is >= uid. */
  lowerBound(uid: number): number;
}

/** A UidIndex over a plain ascending array. */
export function arrayUidIndex(uids: ArrayLike<number>): UidIndex {
  return { exists: uids.length, uidAt: (i) => uids[i], lowerBound: (v) => lowerBound(uids, v) };
}

/**
 * Indexes (0-based) into the numbering selected by a UID set. Non-existent UIDs are
 * ignored (RFC 3501 6.4.8); '*' is the largest UID, so "n:*" always includes the last message.
 * Costs O(ranges + result), not O(mailbox): a single-UID FETCH stays cheap in a big mailbox.
 */
export function resolveUidIndexes(set: SequenceSet, index: UidIndex | ArrayLike<number>): number[] {
  const uids = 'uidAt' in index ? index : arrayUidIndex(index);
  const n = uids.exists;
  if (n === 0) return [];
  const max = uids.uidAt(n - 1);
  const iv: [number, number][] = [];
  for (const [a0, b0] of set.ranges) {
    const a = a0 === STAR ? max : a0;
    const b = b0 === STAR ? max : b0;
    const lo = uids.lowerBound(Math.min(a, b));
    const hi = uids.lowerBound(Math.max(a, b) + 1) - 1;
    if (lo <= hi) iv.push([lo, hi]);
  }
  const out: number[] = [];
  for (const [lo, hi] of mergeIntervals(iv)) for (let i = lo; i <= hi; i++) out.push(i);
  return out;
}

/** First index whose uid is >= value. */
export function lowerBound(uids: ArrayLike<number>, value: number): number {
  let lo = 0;
  let hi = uids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (uids[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Compact "1:3,5" rendering of ascending numbers (for UIDPLUS COPYUID and ESEARCH-like output). */
export function formatSet(nums: readonly number[]): string {
  const parts: string[] = [];
  let i = 0;
  while (i < nums.length) {
    let j = i;
    while (j + 1 < nums.length && nums[j + 1] === nums[j] + 1) j++;
    parts.push(i === j ? String(nums[i]) : `${nums[i]}:${nums[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}
