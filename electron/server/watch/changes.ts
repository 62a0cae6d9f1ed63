// 'mailbox-changed' events: tell the app (the mailbox viewer, mainly) that a mailbox's index changed —
// messages added or expunged, flags changed — whoever changed it: an IMAP session, the viewer, or the
// watcher's sync of something another program did on disk.
//
// Storage reports changes per view (MailboxView.onChange), and every change is delivered to every view
// open on the mailbox, as one and the same object. So this module listens on the views that are open
// anyway (each IMAP session's selected mailbox, the viewer's views) and recognises a change it has
// already counted by its identity: N sessions on INBOX still make one event. The watcher reports
// changes it found with no view to listen on (a mailbox nobody has open) through note().
//
// Events are coalesced per mailbox: the first one leaves at once, later ones within `intervalMs` are
// gathered into one event at the end of that window (with the count as it is then), so a client
// flagging 10,000 messages makes ten events a second, not 10,000.
import type { ServerEvent } from '../../shared/events.js';
import type { MailboxChange, MailboxView } from '../storage/types.js';

export type MailboxChangeKind = MailboxChange['kind'];

/** At most one event per mailbox per this many ms (the first of a burst is not delayed). */
export const DEFAULT_CHANGE_INTERVAL_MS = 100;

interface Window {
  user: string;
  mailbox: string;
  /** Kinds seen since the last event; empty when nothing is waiting. */
  kinds: Set<MailboxChangeKind>;
  exists: () => number;
  timer: NodeJS.Timeout;
}

export class MailboxChangeEvents {
  private readonly windows = new Map<string, Window>();
  /** Changes already counted (the same object reaches every view of the mailbox). */
  private readonly seen = new WeakSet<object>();
  /** Changes counted per mailbox, ever (see changeCount). */
  private readonly counts = new Map<string, number>();
  private closed = false;

  constructor(
    private readonly emit: (event: ServerEvent) => void,
    private readonly intervalMs = DEFAULT_CHANGE_INTERVAL_MS,
  ) {}

  /** Reports every change this view receives, for as long as it is open (storage drops listeners on close). */
  observe(user: string, view: MailboxView): void {
    if (this.closed) return;
    const mailbox = view.name;
    view.onChange((change) => {
      if (this.seen.has(change)) return;
      this.seen.add(change);
      this.note(user, mailbox, change.kind, () => view.messages().length);
    });
  }

  /** A change found without a view to hear it (the watcher's sync of a mailbox nobody has open). */
  note(user: string, mailbox: string, kind: MailboxChangeKind, exists: number | (() => number)): void {
    if (this.closed) return;
    const key = `${user}\0${mailbox}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    if (this.counts.size > 10_000) this.counts.clear();
    const current = typeof exists === 'number' ? () => exists : exists;
    const w = this.windows.get(key);
    if (w) {
      // Inside the window of the last event: wait for its end.
      w.kinds.add(kind);
      w.exists = current;
      return;
    }
    this.send(user, mailbox, new Set([kind]), current);
    this.openWindow(key, user, mailbox, current);
  }

  /**
   * How many changes of this mailbox were counted so far: the watcher compares it before and after a
   * sync to tell whether a listening view already reported what the sync found.
   */
  changeCount(user: string, mailbox: string): number {
    return this.counts.get(`${user}\0${mailbox}`) ?? 0;
  }

  /** Drops waiting events (the server is stopping). */
  close(): void {
    this.closed = true;
    for (const w of this.windows.values()) clearTimeout(w.timer);
    this.windows.clear();
  }

  private openWindow(key: string, user: string, mailbox: string, exists: () => number): void {
    const w: Window = { user, mailbox, kinds: new Set(), exists, timer: setTimeout(() => this.endWindow(key, w), this.intervalMs) };
    w.timer.unref?.();
    this.windows.set(key, w);
  }

  private endWindow(key: string, w: Window): void {
    if (this.windows.get(key) !== w) return;
    this.windows.delete(key);
    if (this.closed || w.kinds.size === 0) return;
    this.send(w.user, w.mailbox, w.kinds, w.exists);
    this.openWindow(key, w.user, w.mailbox, w.exists);
  }

  private send(user: string, mailbox: string, kinds: Set<MailboxChangeKind>, exists: () => number): void {
    let n = -1;
    try {
      n = exists();
    } catch {
      // A view closed meanwhile still answers messages(); anything else: the count is unknown.
    }
    this.emit({ type: 'mailbox-changed', user, mailbox, exists: n, kinds: [...kinds].sort(), time: Date.now() });
  }
}
