// Events the mail server worker reports to its supervisor (and, through it, to the app).
// Plain data only: they cross a worker_threads MessagePort and, later, IPC/WebSocket.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface LogRecord {
  level: LogLevel;
  /** Dovecot-style service prefix: 'imap-login', 'imap', 'master', 'auth', 'roost'. */
  service: string;
  /** The line in Dovecot's words, e.g. 'Login: user=<bob@brokkr.net>, method=PLAIN, ...'. Never contains a password. */
  message: string;
  time: number;
}

export type ServerEvent =
  | { type: 'listening'; host: string; port: number }
  | { type: 'connection-opened'; session: string; remote: string; local: string; time: number }
  | { type: 'connection-closed'; session: string; user?: string; reason: string; time: number }
  | { type: 'login'; session: string; user: string; method: string; remote: string; time: number }
  | { type: 'login-failed'; session: string; user?: string; method: string; remote: string; reason: string; time: number }
  | { type: 'mailbox-selected'; session: string; user: string; mailbox: string | null; time: number }
  /**
   * A mailbox's index changed: messages added or expunged, flags changed, by an IMAP session, the
   * viewer, or another program (noticed by the maildir watcher). Coalesced: at most one per mailbox
   * per 100 ms, the first of a burst at once. `exists` is the message count afterwards (-1 if
   * unknown); `kinds` what happened since the previous event of this mailbox.
   */
  | { type: 'mailbox-changed'; user: string; mailbox: string; exists: number; kinds?: ('added' | 'expunged' | 'flags')[]; time: number }
  /**
   * A message arrived from outside Roost (Postfix's delivery into new/, or a file put into cur/),
   * noticed by the maildir watcher. `deliveredAt` is the file's mtime (when it was written),
   * `noticedAt` when Roost saw it; both ms since epoch. `from`/`subject` are decoded for display.
   */
  | {
      type: 'delivered'; user: string; mailbox: string; uid: number; from: string; subject: string; size: number;
      deliveredAt: number; noticedAt: number;
    }
  | { type: 'error'; message: string; code?: string; time: number }
  | { type: 'log'; record: LogRecord };

export type ServerEventSink = (event: ServerEvent) => void;
