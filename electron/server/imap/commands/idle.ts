// IDLE (RFC 2177): the client waits for changes; the server pushes EXISTS, RECENT, EXPUNGE
// and FETCH FLAGS as they happen, until the client sends DONE.

import type { CommandSpec } from '../session.js';
import { ImapSyntaxError } from '../parser.js';

/** Dovecot's imap_idle_notify_interval: "* OK Still here" keeps NAT and firewalls open. */
const STILL_HERE_MS = 2 * 60_000;
/** Look at the maildir for changes made outside Roost this often while idling. */
const RESYNC_MS = 5_000;

export const IDLE: CommandSpec = {
  states: ['auth', 'selected'],
  async run({ session, args, tag }) {
    args.end();
    if (session.selected) await session.selected.view.sync();
    session.flushChanges(true, false);
    session.write('+ idling\r\n');
    const push = () => {
      if (session.state === 'logout') return;
      session.flushChanges(true, false);
    };
    // Changes queued by other sessions arrive synchronously from storage; send them on the
    // next tick so a burst (e.g. a 1,000-message expunge) goes out as one write.
    let scheduled = false;
    session.idleNotify = () => {
      if (scheduled) return;
      scheduled = true;
      setImmediate(() => {
        scheduled = false;
        push();
      });
    };
    const still = setInterval(() => session.write('* OK Still here\r\n'), STILL_HERE_MS);
    const resync = setInterval(() => {
      session.selected?.view.sync().catch((err) => session.server.log('warn', session.logService(), `IDLE resync failed: ${String(err)}`));
    }, RESYNC_MS);
    still.unref?.();
    resync.unref?.();
    try {
      const line = await session.io.readLine();
      if (line === null) return 'Idle completed.';
      const text = line.toString('latin1');
      if (text.toUpperCase() !== 'DONE') throw new ImapSyntaxError('Expected DONE.');
      return 'Idle completed.';
    } finally {
      clearInterval(still);
      clearInterval(resync);
      session.idleNotify = null;
      void tag;
    }
  },
};
