// The mail server: listens for IMAP connections and runs sessions.
// Runs inside the worker thread (worker.ts) and, for tests, in-process. Never imports electron.
import type { ServerSettings } from '../shared/settings-types.js';
import type { ServerEventSink } from '../shared/events.js';

export interface MailServerOptions {
  settings: ServerSettings;
  events: ServerEventSink;
}

export interface MailServer {
  readonly host: string;
  readonly port: number;
  /** Number of open client connections. */
  connections(): number;
  /** Stop listening, send `* BYE <reason>` to every session, close sockets, flush state. */
  close(reason?: string): Promise<void>;
}

export async function startMailServer(_options: MailServerOptions): Promise<MailServer> {
  throw new Error('not implemented yet');
}
