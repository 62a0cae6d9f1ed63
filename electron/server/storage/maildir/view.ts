// A session's view of a shared Mailbox (SELECT/EXAMINE). Holds the session's \Recent set
// and listeners; everything else is the shared index.

import type { MailboxChange, MailboxView, MessageInfo, MessageMeta, StoreMode } from '../types.js';
import { StorageError } from '../types.js';
import { toStorageError } from './fsutil.js';
import { AttachedView, Mailbox, releaseMailbox } from './mailbox.js';
import { UidSet } from '../uidset.js';

export interface TransferTarget {
  transfer(view: MaildirView, uids: readonly number[], target: string, move: boolean): Promise<{ uidValidity: number; pairs: [number, number][] }>;
}

async function guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toStorageError(err, what);
  }
}

export class MaildirView implements MailboxView, AttachedView {
  /** Ranges, not a Set (see uidset.ts: ~1.3 MB less heap at 50,000 recent messages). */
  readonly recent = new UidSet();
  closed = false;
  private readonly listeners: ((change: MailboxChange) => void)[] = [];

  constructor(
    readonly mailbox: Mailbox,
    readonly name: string,
    readonly readOnly: boolean,
    private readonly transfers: TransferTarget,
  ) {}

  get uidValidity(): number {
    return this.mailbox.uidValidity;
  }

  messages(): readonly MessageMeta[] {
    return this.mailbox.messages();
  }

  uidNext(): number {
    return this.mailbox.nextUid;
  }

  keywords(): readonly string[] {
    return this.mailbox.keywordNames();
  }

  isRecent(uid: number): boolean {
    // A read-write view holds its own \Recent messages; a read-only one never takes any but,
    // like Dovecot's EXAMINE, shows those no read-write view has taken yet.
    return this.readOnly ? this.mailbox.isPendingRecent(uid) : this.recent.has(uid);
  }

  onChange(listener: (change: MailboxChange) => void): void {
    this.listeners.push(listener);
  }

  deliver(change: MailboxChange): void {
    if (this.closed) return;
    for (const listener of this.listeners) listener(change);
  }

  private checkOpen(): void {
    if (this.closed) throw new StorageError('CANNOT', 'Mailbox is closed');
  }

  private checkWritable(): void {
    this.checkOpen();
    if (this.readOnly) throw new StorageError('CANNOT', 'Mailbox is read-only');
  }

  sync(): Promise<void> {
    this.checkOpen();
    return guard('sync', () => this.mailbox.run(() => this.mailbox.syncLocked(this)));
  }

  info(uid: number): Promise<MessageInfo> {
    this.checkOpen();
    return guard('info', () => this.mailbox.info(uid));
  }

  infoCached(uid: number): MessageInfo | undefined {
    if (this.closed) return undefined;
    return this.mailbox.infoCached(uid);
  }

  /** infoCached() whose result is valid only until the next storage call (see storage-fast.ts). */
  infoBorrowed(uid: number): MessageInfo | undefined {
    if (this.closed) return undefined;
    return this.mailbox.infoBorrowed(uid);
  }

  prefetch(uids: readonly number[]): Promise<void> {
    this.checkOpen();
    return guard('prefetch', () => this.mailbox.prefetch(uids));
  }

  read(uid: number, start?: number, end?: number): Promise<Buffer> {
    this.checkOpen();
    return guard('read', () => this.mailbox.read(uid, start, end));
  }

  /** read() into the caller's buffer when the bytes fit (see storage-fast.ts readInto). */
  readInto(uid: number, into: Buffer, start?: number, end?: number): Promise<Buffer> {
    this.checkOpen();
    return guard('read', () => this.mailbox.read(uid, start, end, into));
  }

  /** The whole message, synchronously, when storage can (see Mailbox.readWholeSync); else undefined. */
  readWholeSync(uid: number, into: Buffer): Buffer | undefined {
    this.checkOpen();
    try {
      return this.mailbox.readWholeSync(uid, into);
    } catch (err) {
      throw toStorageError(err, 'read');
    }
  }

  /** The whole message in pieces, synchronously, when storage can (see Mailbox.readChunksSync). */
  readChunksSync(uid: number, into: Buffer, max: number, each: (chunk: Buffer) => void): boolean {
    this.checkOpen();
    try {
      return this.mailbox.readChunksSync(uid, into, max, each);
    } catch (err) {
      throw toStorageError(err, 'read');
    }
  }

  async store(uids: readonly number[], mode: StoreMode, flags: readonly string[]): Promise<Map<number, readonly string[]>> {
    this.checkWritable();
    return guard('store', () => this.mailbox.run(() => this.mailbox.storeLocked(uids, mode, flags)));
  }

  async expunge(uids?: readonly number[]): Promise<number[]> {
    this.checkWritable();
    return guard('expunge', () => this.mailbox.run(() => this.mailbox.expungeLocked(uids)));
  }

  async copyTo(uids: readonly number[], target: string): Promise<{ uidValidity: number; pairs: [number, number][] }> {
    this.checkOpen();
    return guard('copy', () => this.transfers.transfer(this, uids, target, false));
  }

  async moveTo(uids: readonly number[], target: string): Promise<{ uidValidity: number; pairs: [number, number][] }> {
    this.checkWritable();
    return guard('move', () => this.transfers.transfer(this, uids, target, true));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.mailbox.detach(this);
    this.recent.clear();
    this.listeners.length = 0;
    await releaseMailbox(this.mailbox);
  }
}
