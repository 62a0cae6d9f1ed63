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

/**
 * Message sequence numbers selected by the set in a mailbox of `count` messages, ascending,
 * without duplicates. Returns null when the set names a number beyond the mailbox (RFC 3501
 * 6.4.8 makes that an error for sequence numbers; '*' in an empty mailbox too).
 */
export function resolveSeqNumbers(set: SequenceSet, count: number): number[] | null {
  const marks = new Uint8Array(count + 1);
  for (const [a0, b0] of set.ranges) {
    const a = a0 === STAR ? count : a0;
    const b = b0 === STAR ? count : b0;
    const lo = Math.min(a, b);
    const hi = Math.max(a, b);
    if (lo < 1 || hi > count) return null;
    for (let i = lo; i <= hi; i++) marks[i] = 1;
  }
  const out: number[] = [];
  for (let i = 1; i <= count; i++) if (marks[i]) out.push(i);
  return out;
}

/**
 * Indexes (0-based) into `uids` (ascending) selected by a UID set. Non-existent UIDs are
 * ignored (RFC 3501 6.4.8); '*' is the largest UID, so "n:*" always includes the last message.
 */
export function resolveUidIndexes(set: SequenceSet, uids: readonly number[]): number[] {
  const n = uids.length;
  if (n === 0) return [];
  const max = uids[n - 1];
  const marks = new Uint8Array(n);
  for (const [a0, b0] of set.ranges) {
    const a = a0 === STAR ? max : a0;
    const b = b0 === STAR ? max : b0;
    const lo = Math.min(a, b);
    const hi = Math.max(a, b);
    for (let i = lowerBound(uids, lo); i < n && uids[i] <= hi; i++) marks[i] = 1;
  }
  const out: number[] = [];
  for (let i = 0; i < n; i++) if (marks[i]) out.push(i);
  return out;
}

/** First index whose uid is >= value. */
export function lowerBound(uids: readonly number[], value: number): number {
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
