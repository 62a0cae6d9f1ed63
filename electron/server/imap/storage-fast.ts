// Optional storage fast paths. A backend may offer a synchronous look-up of parsed message
// info it already holds in memory (infoCached) and a hint that a batch of messages is about
// to be needed (prefetch); storage/types.ts may or may not declare them. The IMAP layer uses
// them when present and behaves the same without them: info() and read() remain the source
// of truth, and their errors (e.g. EXPUNGEISSUED) are the ones reported.

import type { MailboxView, MessageInfo } from '../storage/types.js';

interface FastPaths {
  infoCached?: (uid: number) => MessageInfo | null | undefined;
  infoBorrowed?: (uid: number) => MessageInfo | null | undefined;
  prefetch?: (uids: readonly number[]) => unknown;
  readInto?: (uid: number, into: Buffer, start?: number, end?: number) => Promise<Buffer>;
  readWholeSync?: (uid: number, into: Buffer) => Buffer | undefined;
  readChunksSync?: (uid: number, into: Buffer, max: number, each: (chunk: Buffer) => void) => boolean;
}

/**
 * The whole message read synchronously into `into` (a view of it), or undefined when the
 * backend cannot do that now (no such fast path, too big, file renamed meanwhile): then use
 * view.read(). Errors (EXPUNGEISSUED...) are thrown as view.read() would report them.
 */
export function readWholeSync(view: MailboxView, uid: number, into: Buffer): Buffer | undefined {
  const f = (view as unknown as FastPaths).readWholeSync;
  return typeof f === 'function' ? f.call(view, uid, into) : undefined;
}

/**
 * The whole message read synchronously, `into.length` bytes at a time, each piece handed to
 * `each` as a view of `into`. False when the backend cannot do that now (no such fast path,
 * longer than `max`, file renamed meanwhile): then use view.read(), and drop whatever `each`
 * was given. Errors are thrown as view.read() would report them.
 */
export function readChunksSync(view: MailboxView, uid: number, into: Buffer, max: number, each: (chunk: Buffer) => void): boolean {
  const f = (view as unknown as FastPaths).readChunksSync;
  return typeof f === 'function' ? f.call(view, uid, into, max, each) : false;
}

/**
 * view.read(), into `into` when the bytes fit and the backend can (the result is then a view
 * of `into`, overwritten by the caller's next use of it). For passes over many messages whose
 * bytes are dropped once looked at (SEARCH TEXT), so they do not allocate a Buffer each.
 */
export function readInto(view: MailboxView, uid: number, into: Buffer, start?: number, end?: number): Promise<Buffer> {
  const f = (view as unknown as FastPaths).readInto;
  return typeof f === 'function' ? f.call(view, uid, into, start, end) : view.read(uid, start, end);
}

/** Parsed info the backend already holds in memory, or undefined (then await view.info()). */
export function cachedInfo(view: MailboxView, uid: number): MessageInfo | undefined {
  const f = (view as unknown as FastPaths).infoCached;
  if (typeof f !== 'function') return undefined;
  try {
    return f.call(view, uid) ?? undefined;
  } catch {
    return undefined; // info() will say what is wrong
  }
}

/**
 * cachedInfo() for a caller that uses the info synchronously and keeps no reference to it
 * (nor to its header or structure) past its current turn: the backend may hand out a view of
 * a buffer it reuses, instead of a copy. Falls back to cachedInfo().
 */
export function borrowedInfo(view: MailboxView, uid: number): MessageInfo | undefined {
  const f = (view as unknown as FastPaths).infoBorrowed;
  if (typeof f !== 'function') return cachedInfo(view, uid);
  try {
    return f.call(view, uid) ?? undefined;
  } catch {
    return undefined;
  }
}

/** True when the backend can answer infoCached() at all. */
export function hasInfoCache(view: MailboxView): boolean {
  return typeof (view as unknown as FastPaths).infoCached === 'function';
}

/** Tells the backend these messages are needed next; waits for it when it returns a promise. */
export async function prefetch(view: MailboxView, uids: readonly number[]): Promise<void> {
  const f = (view as unknown as FastPaths).prefetch;
  if (typeof f !== 'function' || uids.length === 0) return;
  try {
    await f.call(view, uids);
  } catch {
    // Only a hint: the reads that follow report real errors.
  }
}
