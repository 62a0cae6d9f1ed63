// IDLE (RFC 2177): the client waits for changes; the server pushes EXISTS, RECENT, EXPUNGE
// and FETCH FLAGS as they happen, until the client sends DONE.
//
// Changes made through Roost reach every session at once (storage calls each view's
// listener). Changes made outside Roost (Postfix delivering into new/, another IMAP server,
// a person with mv) are noticed by the maildir watcher (server/watch/), which syncs the
// mailbox as soon as inotify hints at a change; the sync's changes reach every session the
// same way, and idleNotify pushes them out at once. One shared timer sends "* OK Still here"
// (so an idle connection costs no timer of its own) and, as a slow safety net for a watcher
// that is off or missed something, re-reads idle mailboxes every SAFETY_RESYNC_MS.

import type { CommandSpec, Session } from '../session.js';
import { ImapSyntaxError } from '../parser.js';

/** Dovecot's imap_idle_notify_interval: "* OK Still here" keeps NAT and firewalls open. */
const STILL_HERE_MS = 2 * 60_000;
/** Safety resync of idle mailboxes (the watcher normally syncs within milliseconds of a change). */
const SAFETY_RESYNC_MS = 30_000;
/** How often the shared timer runs (for "Still here" and the safety resync). */
const TICK_MS = 5_000;

/** Idling sessions -> when each last got "* OK Still here" (or started idling). */
const idlers = new Map<Session, number>();
/** Mailboxes (SelectedMailbox.mailboxKey) with a resync in progress. */
const syncing = new Set<string>();
let ticker: NodeJS.Timeout | null = null;
let lastResync = 0;

function tick(): void {
  const now = Date.now();
  const resync = now - lastResync >= SAFETY_RESYNC_MS;
  if (resync) lastResync = now;
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
  if (!resync) return;
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
    lastResync = Date.now();
    ticker = setInterval(tick, TICK_MS);
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
