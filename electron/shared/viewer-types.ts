// The built-in mailbox viewer's requests and results: plain data (structured clone, JSON), shared by
// the worker (electron/server/viewer/), the supervisor (Supervisor.viewer) and, through the API, the
// renderer. Types only: no Node code, so the renderer can import it.
//
// Every request names a user by the address an IMAP client logs in with ('alice@brokkr.net') and a
// mailbox by its IMAP name ('INBOX', 'Archive.2024'), exactly as IMAP clients see them. UIDs are the
// ones IMAP clients see; a page answer carries uidValidity so the renderer can drop what it holds when
// the mailbox was recreated.

/** A user with a maildir under the vmail base, and their folders. */
export interface ViewerUser {
  /** The login name, lowercased as Roost's auth does ('alice@brokkr.net'). */
  user: string;
  /** mail_home expanded for this user. */
  home: string;
  /** The root maildir (INBOX). */
  maildir: string;
  /** Folders in LIST order (INBOX first). Absent when the tree was asked for without counts. */
  folders?: ViewerFolder[];
  /** Why the folders could not be read (permissions, a broken maildir), in plain words. */
  error?: string;
}

export interface ViewerFolder {
  /** IMAP name (UTF-8, '.'-separated). */
  name: string;
  /** RFC 6154 special use ('\\Trash', '\\Sent', ...), when the name is a well-known one. */
  specialUse?: string;
  /** A name that exists only as the parent of other folders: nothing to open. */
  noSelect?: boolean;
  messages: number;
  unseen: number;
  uidValidity: number;
  uidNext: number;
}

export interface ViewerDomain {
  /** '' for users without a domain part (mail_home without %d). */
  domain: string;
  users: ViewerUser[];
}

export interface ViewerTree {
  /** The vmail base walked (settings.vmail) and the mail_home template used to find users. */
  vmail: string;
  mailHome: string;
  domains: ViewerDomain[];
}

/** One row of the message list. */
export interface ViewerListItem {
  uid: number;
  /** Display name of the first From address (RFC 2047 decoded), or its address when it has no name. */
  from: string;
  /** The first From address (local@domain), '' when there is none. */
  fromAddress: string;
  /** Decoded Subject, '' when there is none. */
  subject: string;
  /** INTERNALDATE (delivery time, the file's mtime), ms since epoch: what the list is sorted by. */
  date: number;
  /** RFC822.SIZE (bytes with CRLF line endings), as IMAP reports it. */
  size: number;
  /** IMAP flags ('\\Seen', '\\Flagged', keywords), sorted. */
  flags: string[];
  seen: boolean;
}

export interface ViewerPage {
  /** Messages in the mailbox (for a search: messages that match). */
  total: number;
  uidValidity: number;
  uidNext: number;
  /** The requested window of the list, newest first. */
  offset: number;
  items: ViewerListItem[];
}

export interface ViewerHeader {
  /** Field name as sent. */
  name: string;
  /** Unfolded, RFC 2047-decoded value. */
  value: string;
}

/** One `Received:` hop, topmost (the last hop, nearest to this mailbox) first. */
export interface ViewerReceivedHop {
  /** The 'from' clause: the host that handed the message over, as it said and as seen. */
  from?: string;
  /** The 'by' clause: the host that received it. */
  by?: string;
  with?: string;
  id?: string;
  for?: string;
  /** The date after ';', as written, and parsed (ms since epoch) when it parses. */
  date?: string;
  time?: number;
  /** The whole decoded value. */
  raw: string;
}

export interface ViewerTextBody {
  /** Decoded to a JS (UTF-16) string from the part's charset and transfer encoding. */
  content: string;
  /** True when the part was longer than the cap and `content` is its beginning only. */
  truncated: boolean;
  /** The IMAP part number it came from ('1', '1.2'; '1' is also a single-part message's body). */
  part: string;
  charset?: string;
}

export interface ViewerAttachment {
  /** IMAP part number ('2', '1.3'), for ViewerRequest 'attachment'. */
  part: string;
  /** Decoded file name (RFC 2231 / RFC 2047), or a name made up from the type when there is none. */
  filename: string;
  /** 'image/png' (lowercase). */
  contentType: string;
  /**
   * Size of the file once saved, in bytes, found without reading the part: exact for 7bit/8bit/binary
   * bodies, computed from the encoded length for base64 (exact for the usual evenly wrapped lines),
   * an upper bound for quoted-printable. `encodedSize` is the part's size inside the message.
   */
  size: number;
  encodedSize: number;
  /** Content-Disposition: inline (e.g. an image the HTML shows through cid:). */
  inline: boolean;
  /** Content-ID without angle brackets, for resolving cid: references in the HTML part. */
  contentId?: string;
}

/**
 * An image the HTML part shows through `cid:` (RFC 2392), sent along with the message so the
 * renderer can put it in as a data: URL: only image/* parts whose Content-ID the HTML references,
 * each at most VIEWER_DEFAULTS.inlineImageMaxBytes decoded, all of them together at most
 * inlineImagesMaxBytes (bigger ones stay attachments only and show as missing images).
 */
export interface ViewerInlineImage {
  /** Content-ID without angle brackets, as in the message. */
  contentId: string;
  /** The part number (also listed in `attachments`). */
  part: string;
  /** 'image/png' (lowercase, image/* only). */
  contentType: string;
  /** The decoded bytes, base64. */
  data: string;
}

/** Where and how the message is stored, for the curious. */
export interface ViewerFacts {
  uid: number;
  /** The maildir file name (with ':2,<letters>'). */
  filename: string;
  /** 'new' (not yet seen by any IMAP client's SELECT) or 'cur'. */
  dir: 'new' | 'cur';
  /** Absolute path of the file as of this answer. */
  path: string;
  /** Maildir info letters after ':2,' ('FS' = flagged, seen), '' when none. */
  flagLetters: string;
  flags: string[];
  /** RFC822.SIZE (CRLF) and the file's size on disk (Postfix writes LF). */
  size: number;
  physicalSize: number;
  /** INTERNALDATE (file mtime), ms. */
  internalDate: number;
}

export interface ViewerMessage {
  uid: number;
  uidValidity: number;
  /** Every header field of the message, in order, decoded. */
  headers: ViewerHeader[];
  /** The fields a reader wants first, decoded (also present in `headers`). */
  subject: string;
  from: string;
  to: string;
  cc: string;
  /** The Date header as written, and parsed (ms) when it parses. */
  date: string;
  sentTime?: number;
  receivedHops: ViewerReceivedHop[];
  /** The text/plain body (the one a multipart/alternative offers), if any. */
  text?: ViewerTextBody;
  /**
   * The text/html body, decoded, NOT sanitized: the renderer must sanitize it (DOMPurify) and show it
   * in a sandboxed iframe with remote content blocked.
   */
  html?: ViewerTextBody;
  attachments: ViewerAttachment[];
  /** Images the HTML references by cid: (see ViewerInlineImage); absent when there are none. */
  inlineImages?: ViewerInlineImage[];
  facts: ViewerFacts;
}

export interface ViewerRaw {
  uid: number;
  /** The message bytes as text (UTF-8 when valid, else latin1), as stored (LF line endings usually). */
  source: string;
  /** Bytes of the file returned, and its total size: truncated when less than all was returned. */
  returnedBytes: number;
  totalBytes: number;
  truncated: boolean;
}

export interface ViewerAttachmentData {
  part: string;
  filename: string;
  contentType: string;
  /** Transfer encoding undone; for a message/rfc822 part, the attached message as stored. */
  data: Uint8Array;
}

/**
 * SEARCH through the server's own matcher, case-insensitively: all given terms must match (AND), or
 * with match 'any' at least one of them (OR: "all fields" in the viewer gives the same word for each).
 */
export interface ViewerSearchQuery {
  /** Like IMAP SEARCH FROM: a substring of the decoded From header. */
  from?: string;
  /** Like IMAP SEARCH SUBJECT. */
  subject?: string;
  /** Like IMAP SEARCH TEXT: headers and decoded text parts. */
  text?: string;
  /** 'all' (the default): every given term must match, as IMAP ANDs keys; 'any': one of them (SEARCH OR). */
  match?: 'all' | 'any';
}

export type ViewerAction =
  /** Set or clear \Seen. */
  | { action: 'seen'; seen: boolean }
  /** Set or clear \Flagged. */
  | { action: 'flag'; flagged: boolean }
  /**
   * Delete: 'trash' moves to the user's Trash folder (in Trash itself it expunges, as mail clients do);
   * 'expunge' sets \Deleted and expunges these messages at once.
   */
  | { action: 'delete'; mode: 'trash' | 'expunge' }
  /** Move to another folder of the same user (MOVE, RFC 6851). */
  | { action: 'move'; target: string };

export interface ViewerActionResult {
  /** UIDs the action applied to (vanished ones left out). */
  uids: number[];
  /** New flags per UID, for seen/flag. */
  flags?: { uid: number; flags: string[] }[];
  /** For move and delete-to-trash: where they went, with their new UIDs (UIDPLUS COPYUID). */
  moved?: { mailbox: string; uidValidity: number; pairs: [number, number][] };
  /** For expunge (and delete inside Trash). */
  expunged?: number[];
}

/** Limits a request may lower or raise (the worker clamps them). */
export interface ViewerCaps {
  /** Characters of each text/html body returned (default 1,000,000). */
  maxTextChars?: number;
}

/** Operation name -> request parameters and result. */
export interface ViewerOps {
  /** Domains -> users -> folders with counts. withCounts: false lists users only (no mailbox opened). */
  tree: { params: { withCounts?: boolean }; result: ViewerTree };
  /** Folders of one user with counts (to refresh one user after an event). */
  folders: { params: { user: string }; result: ViewerFolder[] };
  /** A window of the list, newest first (offset 0 = newest). */
  page: { params: { user: string; mailbox: string; offset: number; limit: number }; result: ViewerPage };
  /** The same, of the messages matching a search. */
  search: { params: { user: string; mailbox: string; query: ViewerSearchQuery; offset: number; limit: number }; result: ViewerPage };
  /** One message, for the message pane. markSeen sets \Seen (as opening a message in a mail client does). */
  message: { params: { user: string; mailbox: string; uid: number; markSeen?: boolean } & ViewerCaps; result: ViewerMessage };
  /** The raw source, capped (default 2 MB). */
  raw: { params: { user: string; mailbox: string; uid: number; maxBytes?: number }; result: ViewerRaw };
  /** One attachment's bytes, to save. */
  attachment: { params: { user: string; mailbox: string; uid: number; part: string }; result: ViewerAttachmentData };
  /** mark read/unread, flag, delete, move. */
  action: { params: { user: string; mailbox: string; uids: number[] } & { change: ViewerAction }; result: ViewerActionResult };
}

export type ViewerOp = keyof ViewerOps;

/** A request: { op: 'page', user, mailbox, offset, limit }, ... */
export type ViewerRequestOf<K extends ViewerOp> = { op: K } & ViewerOps[K]['params'];
export type ViewerRequest = { [K in ViewerOp]: ViewerRequestOf<K> }[ViewerOp];
export type ViewerResultOf<K extends ViewerOp> = ViewerOps[K]['result'];
export type ViewerResult = ViewerOps[ViewerOp]['result'];

/** Error codes the viewer answers with (in WorkerErrorInfo.code / SupervisorError.causeCode). */
export type ViewerErrorCode =
  /** A malformed request (unknown op, bad uid, offset, limit). */
  | 'VIEWER_INVALID'
  /** The user name is refused by the username rules, or has no maildir. */
  | 'VIEWER_NO_USER'
  /** The message is not (or no longer) in the mailbox. */
  | 'VIEWER_NO_MESSAGE'
  /** The part number names no attachment of the message. */
  | 'VIEWER_NO_PART'
  /** The viewer needs the server's settings: the server is not running. */
  | 'VIEWER_NOT_RUNNING';
// Storage errors pass through with their StorageError code (NONEXISTENT, TRYCREATE, CANNOT, ...).

export const VIEWER_DEFAULTS = {
  maxTextChars: 1_000_000,
  rawMaxBytes: 2 * 1024 * 1024,
  /** One cid: image sent with a message, decoded. */
  inlineImageMaxBytes: 2 * 1024 * 1024,
  /** All cid: images of one message together, decoded. */
  inlineImagesMaxBytes: 8 * 1024 * 1024,
  /** A page is at most this long. */
  maxLimit: 1000,
} as const;
