// IDLE (RFC 2177): the client waits for changes; the server pushes EXISTS, RECENT, EXPUNGE
// and FETCH FLAGS as they happen, until the client sends DONE.
//
// Changes made through Roost reach every session at once (storage calls each view's
// listener). Changes made outside Roost (Postfix delivering into new/, another IMAP server)
// are found by re-reading the maildir: once per RESYNC_MS per mailbox, however many sessions
// idle on it (the sync's changes are delivered to all of them), from one shared timer that
// also sends "* OK Still here" - so an idle connection costs no timer of its own.

import type { CommandSpec, Session } from '../session.js';
import { ImapSyntaxError } from '../parser.js';

/** Dovecot's imap_idle_notify_interval: "* OK Still here" keeps NAT and firewalls open. */
const STILL_HERE_MS = 2 * 60_000;
/** Look at the maildir for changes made outside Roost this often while idling. */
const RESYNC_MS = 5_000;

/** Idling sessions -> when each last got "* OK Still here" (or started idling). */
const idlers = new Map<Session, number>();
/** Mailboxes (SelectedMailbox.mailboxKey) with a resync in progress. */
const syncing = new Set<string>();
let ticker: NodeJS.Timeout | null = null;

function tick(): void {
  const now = Date.now();
  // One idling session per mailbox syncs it (a read-write one if any: it moves new/ to cur/
  // and takes \Recent, as a session's own sync would).
  const chosen = new Map<string, Session>();
  for (const [session, last] of idlers) {
    if (now - last >= STILL_HERE_MS) {
      idlers.set(session, now);
      session.write('* OK Still here\r\n');
    }
    const sel = session.selected;
    if (!sel) continue;
    const prev = chosen.get(sel.mailboxKey);
    if (!prev || (prev.selected?.view.readOnly && !sel.view.readOnly)) chosen.set(sel.mailboxKey, session);
  }
  for (const [key, session] of chosen) {
    if (syncing.has(key)) continue;
    const sel = session.selected!;
    syncing.add(key);
    sel.view
      .sync()
      .catch((err) => session.server.log('warn', session.logService(), `IDLE resync failed: ${String(err)}`))
      .finally(() => syncing.delete(key));
  }
}

function startIdling(session: Session): void {
  idlers.set(session, Date.now());
  if (!ticker) {
    ticker = setInterval(tick, RESYNC_MS);
    ticker.unref();
  }
}

function stopIdling(session: Session): void {
  idlers.delete(session);
  if (idlers.size === 0 && ticker) {
    clearInterval(ticker);
    ticker = null;
  }
}

export const IDLE: CommandSpec = {
  states: ['auth', 'selected'],
  async run({ session, args }) {
    args.end();
    if (session.selected) await session.selected.view.sync();
    session.flushChanges(true, false);
    session.write('+ idling\r\n');
    // Changes queued by other sessions arrive synchronously from storage; send them on the
    // next tick so a burst (e.g. a 1,000-message expunge) goes out as one write.
    let scheduled = false;
    session.idleNotify = () => {
      if (scheduled) return;
      scheduled = true;
      setImmediate(() => {
        scheduled = false;
        if (session.state !== 'logout') session.flushChanges(true, false);
      });
    };
    startIdling(session);
    try {
      const line = await session.io.readLine();
      if (line === null) return 'Idle completed.';
      const text = line.toString('latin1');
      if (text.toUpperCase() !== 'DONE') throw new ImapSyntaxError('Expected DONE.');
      return 'Idle completed.';
    } finally {
      stopIdling(session);
      session.idleNotify = null;
    }
  },
};
