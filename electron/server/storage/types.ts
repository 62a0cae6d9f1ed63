// The storage contract between the IMAP engine and a mail store backend.
// Maildir (storage/maildir/) is the only backend; the IMAP layer talks to this file only.
//
// Naming conventions:
// - Mailbox names are IMAP names in UTF-8 (not modified UTF-7), hierarchy separator '.',
//   exactly as a Dovecot Maildir++ namespace shows them. 'INBOX' is case-insensitive.
// - Flags are IMAP flag atoms: system flags with a backslash ('\\Seen', '\\Answered',
//   '\\Flagged', '\\Deleted', '\\Draft') and keywords without ('$Forwarded', 'Junk').
//   '\\Recent' is never stored; it is a per-view property (see MailboxView.isRecent).

export type StorageErrorCode =
  | 'NONEXISTENT' // mailbox does not exist
  | 'ALREADYEXISTS' // CREATE/RENAME target exists
  | 'TRYCREATE' // APPEND/COPY/MOVE target does not exist
  | 'NOPERM' // e.g. deleting INBOX
  | 'CANNOT' // the operation cannot be done (invalid name, INBOX has children...)
  | 'LIMIT' // a size or count limit
  | 'INUSE' // a lock could not be taken in time
  | 'EXPUNGEISSUED' // some requested messages were expunged meanwhile
  | 'SERVERBUG'; // internal failure: logged in full, answered generically

/** Errors a user can cause carry a code; the IMAP layer maps it to `NO [CODE] text`. */
export class StorageError extends Error {
  constructor(
    readonly code: StorageErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StorageError';
  }
}

export interface MailboxListEntry {
  /** UTF-8 IMAP name, '.'-separated; 'INBOX' for the root maildir. */
  name: string;
  /** RFC 6154 special-use attribute, e.g. '\\Sent', when the name is a well-known one. */
  specialUse?: string;
  /** True when the folder directory has child folders (for CHILDREN). */
  hasChildren: boolean;
  /** True for a name that exists only as a parent of other folders (no maildir of its own). */
  noSelect?: boolean;
}

/**
 * One message as the mailbox index knows it; cheap to have 100,000 of these.
 *
 * `size` and `internalDate` may be computed lazily: opening a mailbox reads no message file,
 * so for a file whose name has no ,W= (and whose size Roost has not recorded yet) the first
 * read of `size` reads the file, and the first read of `internalDate` stat()s it,
 * synchronously. Both are always correct (0 only for a file that vanished meanwhile; the
 * next sync reports its expunge). Before reading them for many messages, call
 * MailboxView.prefetch(uids) so the work is done in parallel without blocking. Do not copy
 * a MessageMeta with object spread: `size` and `internalDate` may be accessors.
 */
export interface MessageMeta {
  uid: number;
  /** Current file name (with ':2,flags' info), in cur/ or new/. */
  filename: string;
  dir: 'new' | 'cur';
  /** System flags and keywords, see naming conventions above; sorted, no '\\Recent'. */
  flags: readonly string[];
  /** RFC822.SIZE: message size with CRLF line endings (from ,W= when present, else computed). */
  size: number;
  /** INTERNALDATE: the file's mtime, in milliseconds. */
  internalDate: number;
}

/** Parsed facts of one message, from the disposable cache or by parsing the file once. */
export interface MessageInfo {
  /** The raw header block (everything before the empty line), as on disk. */
  header: Buffer;
  /** MIME tree with byte offsets into the file (see mime/types.ts). */
  structure: import('../mime/types.js').MimePart;
  /** Physical size of the file in bytes. */
  physicalSize: number;
}

/** A change to a mailbox, delivered to every attached view. */
export type MailboxChange =
  | { kind: 'added'; messages: readonly MessageMeta[] }
  | { kind: 'expunged'; uids: readonly number[] }
  | { kind: 'flags'; uid: number; flags: readonly string[] };

export interface MailboxStatus {
  messages: number;
  recent: number;
  uidNext: number;
  uidValidity: number;
  unseen: number;
}

export type StoreMode = 'set' | 'add' | 'remove';

export interface AppendInput {
  /**
   * The message bytes as the client sent them. The maildir backend stores them like Dovecot's
   * default (mail_save_crlf=no): CRLF becomes LF on disk; FETCH sizes stay CRLF-based.
   */
  data: Buffer;
  flags?: readonly string[];
  /** INTERNALDATE in ms; becomes the file's mtime. Defaults to now. */
  internalDate?: number;
}

/**
 * A mailbox opened by one session. Several views on one mailbox share one in-memory index;
 * each view sees the other views' changes through onChange, which the session queues and
 * flushes when the protocol allows.
 */
export interface MailboxView {
  readonly name: string;
  readonly readOnly: boolean;
  readonly uidValidity: number;
  /** The shared index, sorted by uid. Reflects every change already announced to listeners. */
  messages(): readonly MessageMeta[];
  uidNext(): number;
  /** Keywords defined in this mailbox (for FLAGS / PERMANENTFLAGS). */
  keywords(): readonly string[];
  /**
   * True if this view holds \Recent for the uid (exactly one read-write view gets each new
   * message). A read-only view takes none but, like Dovecot's EXAMINE, shows those that no
   * read-write view has taken yet.
   */
  isRecent(uid: number): boolean;

  /**
   * Re-read the maildir (new/, cur/, dovecot-uidlist) and apply what changed outside Roost.
   * Changes are delivered through onChange to every view, this one included.
   * A read-write view moves new/ to cur/.
   */
  sync(): Promise<void>;
  onChange(listener: (change: MailboxChange) => void): void;

  /** Parsed header + MIME structure (from cache when present). */
  info(uid: number): Promise<MessageInfo>;
  /**
   * Optional fast path: the parsed info when it is in memory, synchronously (no I/O, no
   * Promise); undefined when it is not (then call info(), which loads or parses it). Once a
   * mailbox's infos have been loaded (the first info() call loads the whole cache) or parsed,
   * this answers for every message within the storage's memory budget. Returns the same
   * object info() would; never throws.
   */
  infoCached?(uid: number): MessageInfo | undefined;
  /**
   * Optional: find out RFC822.SIZE and INTERNALDATE (MessageMeta.size / internalDate) of these
   * messages in parallel, with bounded concurrency, so that reading them afterwards costs no
   * I/O. Call it before FETCH RFC822.SIZE / INTERNALDATE or SEARCH LARGER / SMALLER /
   * BEFORE / ON / SINCE over many messages (awaiting it is enough; it need not run in the
   * mailbox's order of operations). Messages already known cost nothing; uids that are not
   * (or no longer) in the mailbox are ignored. Best effort: a message file that vanished or
   * cannot be read is skipped (its value is then found, or reported as 0, on access).
   */
  prefetch?(uids: readonly number[]): Promise<void>;
  /** Bytes [start, end) of the message file; reads only that range. */
  read(uid: number, start?: number, end?: number): Promise<Buffer>;

  /**
   * Change flags; returns the new flags per uid (messages that vanished are left out).
   * Throws StorageError('CANNOT') on a read-only view.
   */
  store(uids: readonly number[], mode: StoreMode, flags: readonly string[]): Promise<Map<number, readonly string[]>>;
  /** Remove \Deleted messages (all, or only those in uids); returns the expunged uids. */
  expunge(uids?: readonly number[]): Promise<number[]>;
  /** Copy to another mailbox of the same store; returns [sourceUid, destUid] pairs (UIDPLUS). */
  copyTo(uids: readonly number[], target: string): Promise<{ uidValidity: number; pairs: [number, number][] }>;
  /** Move = copy + expunge, atomically per message where the file system allows (rename). */
  moveTo(uids: readonly number[], target: string): Promise<{ uidValidity: number; pairs: [number, number][] }>;

  /** Detach from the shared mailbox (CLOSE/UNSELECT/SELECT elsewhere/LOGOUT). */
  close(): Promise<void>;
}

/** Every mailbox of one user. */
export interface MailStore {
  readonly user: string;
  /** Absolute path of the user's root maildir (INBOX). */
  readonly root: string;

  /**
   * Create the maildir and the auto folders (INBOX, Sent, Drafts, Trash, Junk), like Dovecot's
   * `auto = create` (not subscribed unless the backend is configured for `auto = subscribe`).
   */
  ensure(): Promise<void>;
  list(): Promise<MailboxListEntry[]>;
  create(name: string): Promise<void>;
  delete(name: string): Promise<void>;
  /** RENAME; renaming INBOX moves its messages to the new folder and leaves INBOX empty. */
  rename(from: string, to: string): Promise<void>;
  subscriptions(): Promise<string[]>;
  subscribe(name: string): Promise<void>;
  unsubscribe(name: string): Promise<void>;
  status(name: string): Promise<MailboxStatus>;
  append(name: string, messages: readonly AppendInput[]): Promise<{ uidValidity: number; uids: number[] }>;
  open(name: string, options: { readOnly: boolean }): Promise<MailboxView>;
}
