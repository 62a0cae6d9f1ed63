// Optional storage fast paths. A backend may offer a synchronous look-up of parsed message
// info it already holds in memory (infoCached) and a hint that a batch of messages is about
// to be needed (prefetch); storage/types.ts may or may not declare them. The IMAP layer uses
// them when present and behaves the same without them: info() and read() remain the source
// of truth, and their errors (e.g. EXPUNGEISSUED) are the ones reported.

import type { MailboxView, MessageInfo } from '../storage/types.js';

interface FastPaths {
  infoCached?: (uid: number) => MessageInfo | null | undefined;
  prefetch?: (uids: readonly number[]) => unknown;
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
