// The mail server: listens for IMAP connections and runs sessions.
// Runs inside the worker thread (worker.ts) and, for tests, in-process. Never imports electron.

import net from 'node:net';
import type { ServerSettings } from '../shared/settings-types.js';
import type { ServerEvent, ServerEventSink } from '../shared/events.js';
import { DEFAULT_LIMITS, type ImapLimits } from './imap/limits.js';
import type { ServerContext } from './imap/session.js';
import { Connection } from './net/connection.js';
import { checkUsername, verifyPassword, resolveUser, AuthError } from './auth/index.js';
import { openMailStore } from './storage/index.js';
import type { MailStore } from './storage/types.js';
import { MailboxChangeEvents } from './watch/changes.js';
import { MaildirWatcher, type WatcherOptions } from './watch/watcher.js';

export interface MailServerOptions {
  settings: ServerSettings;
  events: ServerEventSink;
  /** Override protocol limits (tests use small ones). */
  limits?: Partial<ImapLimits>;
  /**
   * The maildir watcher (live delivery): mode 'auto' (inotify, polling where unavailable; the
   * default), 'poll', or 'off'; intervals for tests. ROOST_WATCH=auto|poll|off in the
   * environment sets the mode too.
   */
  watch?: Pick<WatcherOptions, 'mode' | 'pollMs' | 'safetyMs' | 'minGapMs'>;
}

export interface MailServer {
  readonly host: string;
  readonly port: number;
  /** Number of open client connections. */
  connections(): number;
  /** The maildir watcher (tests wait for it to settle). */
  readonly watcher: MaildirWatcher;
  /** Emits 'mailbox-changed'; the viewer's views report their changes to it too. */
  readonly changes: MailboxChangeEvents;
  /** Stop listening, send `* BYE <reason>` to every session, close sockets, flush state. */
  close(reason?: string): Promise<void>;
}

/** Error with a stable code for the CLI/app to explain (EADDRINUSE, EACCES...). */
export class ListenError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ListenError';
  }
}

export async function startMailServer(options: MailServerOptions): Promise<MailServer> {
  const { settings, events } = options;
  const limits: ImapLimits = {
    ...DEFAULT_LIMITS,
    maxLineLength: settings.imap_max_line_length || DEFAULT_LIMITS.maxLineLength,
    maxLiteralSize: settings.max_literal_size || DEFAULT_LIMITS.maxLiteralSize,
    ...options.limits,
  };
  const conns = new Set<Connection>();
  const perUserIp = new Map<string, number>();
  let closing = false;

  const emit = (event: ServerEvent) => {
    try {
      events(event);
    } catch {
      // A failing listener must not take the server down.
    }
  };
  const log = (level: 'debug' | 'info' | 'warn' | 'error', service: string, message: string) =>
    emit({ type: 'log', record: { level, service, message, time: Date.now() } });

  // Stores for the watcher: like openUserStore, but without ensure() (noticing a new user's
  // maildir must not create folders in it).
  const watcherStores = new Map<string, MailStore>();
  const storeFor = (user: string, root: string): MailStore => {
    let store = watcherStores.get(root);
    if (!store) {
      const loc = resolveUser(settings, user);
      const owner = loc.uid !== undefined && loc.gid !== undefined ? { uid: loc.uid, gid: loc.gid } : undefined;
      store = openMailStore({ user, root, owner, cacheDir: settings.cache_dir, log: (level, message) => log(level, `imap(${user})`, message) });
      watcherStores.set(root, store);
    }
    return store;
  };
  const changes = new MailboxChangeEvents(emit);
  const envMode = process.env.ROOST_WATCH;
  const watcher = new MaildirWatcher({
    settings,
    emit,
    log,
    storeFor,
    changes,
    mode: envMode === 'poll' || envMode === 'off' || envMode === 'auto' ? envMode : undefined,
    ...options.watch,
  });

  const ctx: ServerContext = {
    settings,
    limits,
    emit,
    log,
    get closing() {
      return closing;
    },
    async authenticate(username, password) {
      // Dovecot's default auth_username_format is %Lu: user names are compared lowercased.
      const problem = checkUsername(settings, username);
      if (problem) return { ok: false, reason: problem };
      if (!verifyPassword(settings, password)) return { ok: false, reason: 'Password mismatch' };
      try {
        // Refuse here, not at mailbox-open time, anything that would leave the vmail base.
        return { ok: true, user: resolveUser(settings, username).user };
      } catch (err) {
        if (err instanceof AuthError) return { ok: false, reason: err.message };
        throw err;
      }
    },
    acquireUserIp(user, ip) {
      const key = `${user}\0${ip}`;
      const n = perUserIp.get(key) ?? 0;
      const max = settings.mail_max_userip_connections;
      if (max > 0 && n >= max) return false;
      perUserIp.set(key, n + 1);
      return true;
    },
    releaseUserIp(user, ip) {
      const key = `${user}\0${ip}`;
      const n = (perUserIp.get(key) ?? 1) - 1;
      if (n <= 0) perUserIp.delete(key);
      else perUserIp.set(key, n);
    },
    openStore: async (user) => {
      const store = await openUserStore(settings, user, (level, message) => log(level, `imap(${user})`, message));
      watcher.noteUser(store.user, store.root);
      return store;
    },
    watchSelected: (session, selected) => {
      // Every change to a selected mailbox reaches the session's view, whoever made it: listening
      // there reports sessions' own changes and those of everyone else on the mailbox.
      if (session.user) changes.observe(session.user, selected.view);
      return watcher.attachSession(session, selected);
    },
  };

  const server = net.createServer((socket) => {
    if (closing) {
      socket.end('* BYE Server shutting down.\r\n');
      return;
    }
    const conn = new Connection(socket, ctx, (c) => conns.delete(c));
    conns.add(conn);
    emit({
      type: 'connection-opened',
      session: conn.session.id,
      remote: conn.remoteAddress,
      local: conn.localAddress,
      time: Date.now(),
    });
    conn.start();
  });
  server.maxConnections = 10_000;

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      reject(new ListenError(err.code ?? 'ELISTEN', listenProblem(err, settings.listen, settings.port)));
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ host: settings.listen, port: settings.port, exclusive: true });
  });
  server.on('error', (err) => emit({ type: 'error', message: `listener: ${err.message}`, time: Date.now() }));

  try {
    await watcher.start();
  } catch (err) {
    // Live delivery is a convenience on top of IMAP: without it, IDLE's safety resync still finds new mail.
    log('error', 'roost', `maildir watcher failed to start: ${String(err)}`);
  }

  const addr = server.address() as net.AddressInfo;
  log('info', 'master', `Roost v${process.env.ROOST_VERSION ?? '0'} starting up for imap on ${addr.address}:${addr.port}`);
  emit({ type: 'listening', host: addr.address, port: addr.port });

  return {
    host: addr.address,
    port: addr.port,
    connections: () => conns.size,
    watcher,
    changes,
    async close(reason = 'Server shutting down.') {
      if (closing) return;
      closing = true;
      await watcher.close();
      changes.close();
      const stopped = new Promise<void>((r) => server.close(() => r()));
      const all = [...conns];
      await Promise.all(
        all.map(
          (c) =>
            new Promise<void>((resolve) => {
              if (!conns.has(c)) return resolve();
              const check = setInterval(() => {
                if (!conns.has(c)) {
                  clearInterval(check);
                  resolve();
                }
              }, 10);
              c.shutdown(reason);
              setTimeout(() => {
                clearInterval(check);
                resolve();
              }, 3000).unref();
            }),
        ),
      );
      await stopped;
      log('info', 'master', 'Roost stopped');
    },
  };
}

/**
 * Opens a user's MailStore the way IMAP sessions do (settings -> mail_home/mail_location -> maildir,
 * userdb owner, cache_dir) and ensures the maildir and auto folders exist. Shared with the mailbox
 * viewer (server/viewer/), so both reach the same maildir and the same in-memory index.
 */
export async function openUserStore(
  settings: ServerSettings,
  user: string,
  log: (level: 'debug' | 'info' | 'warn' | 'error', message: string) => void,
): Promise<MailStore> {
  const loc = resolveUser(settings, user);
  // resolveUser applies the userdb uid/gid, or the vmail base's owner when running as root.
  const owner = loc.uid !== undefined && loc.gid !== undefined ? { uid: loc.uid, gid: loc.gid } : undefined;
  const store = openMailStore({ user, root: loc.maildir, owner, cacheDir: settings.cache_dir, log });
  await store.ensure();
  return store;
}

/** A listen failure in words a user can act on. */
export function listenProblem(err: NodeJS.ErrnoException, host: string, port: number): string {
  switch (err.code) {
    case 'EADDRINUSE':
      return `port ${port} on ${host} is already in use by another program (is Dovecot or another Roost running?). Stop it, or choose another port with --port.`;
    case 'EACCES':
      return port < 1024
        ? `port ${port} is a privileged port: binding it needs root or the CAP_NET_BIND_SERVICE capability. Use --port 1143, or grant the capability: sudo setcap 'cap_net_bind_service=+ep' "$(command -v node)"`
        : `permission denied binding ${host}:${port}`;
    case 'EADDRNOTAVAIL':
      return `address ${host} is not an address of this computer (listen). Use 127.0.0.1 for this computer only, or 0.0.0.0 for every network.`;
    default:
      return `cannot listen on ${host}:${port}: ${err.message}`;
  }
}
