// A real Roost server in-process on 127.0.0.1 over a fresh vmail tree in a temp directory, for
// tests of the maildir watcher and IDLE: its events, the IMAP clients a test opened, and the
// teardown that stops and removes all of it.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ServerEvent } from '../../electron/shared/events.js';
import { startMailServer, type MailServer, type MailServerOptions } from '../../electron/server/server.js';
import { unloadIdleMailboxes } from '../../electron/server/storage/maildir/mailbox.js';
import type { ImapWire } from './imap-wire.js';
import { testSettings } from './roost.js';

export interface ServerEnv {
  dir: string;
  vmail: string;
  events: ServerEvent[];
  server: MailServer;
  /** Clients to destroy at teardown. */
  clients: ImapWire[];
}

/** Starts the server (every user's password is `password`) over `<tmp>/<prefix>XXXX/vmail`. */
export async function startServerEnv(prefix: string, password: string, watch?: MailServerOptions['watch']): Promise<ServerEnv> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  const vmail = path.join(dir, 'vmail');
  await fs.mkdir(vmail);
  const events: ServerEvent[] = [];
  const server = await startMailServer({ settings: testSettings(vmail, password), events: (e) => events.push(e), watch });
  return { dir, vmail, events, server, clients: [] };
}

/** Destroys the clients, closes the server, forgets idle mailboxes and removes the tree. */
export async function stopServerEnv(e: ServerEnv): Promise<void> {
  for (const c of e.clients) c.destroy();
  await e.server.close();
  await unloadIdleMailboxes();
  await fs.rm(e.dir, { recursive: true, force: true });
}

/** The seed's layout: <vmail>/<domain>/<name>/maildir. */
export function maildirOf(vmail: string, user: string): string {
  const [n, d] = user.split('@');
  return path.join(vmail, d!, n!, 'maildir');
}
