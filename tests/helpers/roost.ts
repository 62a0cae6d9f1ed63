// Starts Roost's mail server in-process (the same startMailServer the worker thread runs), on
// 127.0.0.1 and a kernel-chosen port, with settings equivalent to tests/helpers/dovecot.ts's
// Dovecot configuration so the two can be compared.
import type { ServerEvent } from '../../electron/shared/events.js';
import { defaultSettings } from '../../electron/shared/settings.js';
import type { ServerSettings } from '../../electron/shared/settings-types.js';

export interface RoostOptions {
  vmail: string;
  password: string;
  /** Default 0: let the kernel choose; the actual port is read back from the server. */
  port?: number;
  settings?: Partial<ServerSettings>;
}

export interface RoostInstance {
  host: string;
  port: number;
  /** Every event the server emitted, in order. */
  events: ServerEvent[];
  /** Close the server (sends BYE to sessions, flushes state). Idempotent. */
  stop(): Promise<void>;
}

/**
 * The seed's configuration expressed as Roost settings: the app's defaults (settings.ts), with
 * every value that shapes what a client sees pinned explicitly to the seed's Dovecot setup
 * (tests/helpers/dovecot.ts), so a change of app defaults cannot silently change what the
 * differential tests compare.
 */
export function testSettings(vmail: string, password: string, port = 0): ServerSettings {
  return {
    ...defaultSettings(vmail, password),
    mail_home: `${vmail}/%d/%n`,
    mail_location: 'maildir:~/maildir',
    passdb: { driver: 'static', password },
    // Owner of the vmail base directory (see fileOwner() in settings.ts).
    userdb: { driver: 'static' },
    // Tests run as root in CI, on trees owned by root or by the `vmail` system user; the seed
    // lowers first_valid_uid for exactly this reason.
    first_valid_uid: 0,
    last_valid_uid: 0,
    first_valid_gid: 0,
    last_valid_gid: 0,
    // Seed: plaintext PLAIN without TLS; LOGIN too, as in the Dovecot reference config.
    auth_mechanisms: ['plain', 'login'],
    disable_plaintext_auth: false,
    // Dovecot's default is 2 s (the reference config sets 0 too): tests try wrong passwords.
    auth_failure_delay: 0,
    listen: '127.0.0.1',
    port,
    // Tests open several connections per user at once (IDLE + a second client, sync tools).
    mail_max_userip_connections: 50,
  };
}

export async function startRoost(opts: RoostOptions): Promise<RoostInstance> {
  const events: ServerEvent[] = [];
  const settings: ServerSettings = { ...testSettings(opts.vmail, opts.password, opts.port ?? 0), ...opts.settings };
  // Imported on use so that test files which only *may* target Roost (TARGET=dovecot) still
  // load while the server is under construction, and a broken import fails the test that
  // needs it with the import error rather than the whole file.
  const { startMailServer } = await import('../../electron/server/server.js');
  const server = await startMailServer({ settings, events: (e) => events.push(e) });
  let stopped = false;
  return {
    host: server.host,
    port: server.port,
    events,
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.close('Server shutting down');
    },
  };
}
