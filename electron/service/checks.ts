// Checks the wizard and settings page run before anything is saved: can Roost use this directory,
// can it listen on this address and port; and the words for a server that could not start.
import fs from 'node:fs';
import net from 'node:net';
import type { PathCheck, PortCheck } from '../shared/api.js';
import type { ServerSettings } from '../shared/settings-types.js';
import { SupervisorError } from '../supervisor/supervisor.js';

/** The user name for a uid from /etc/passwd (POSIX); undefined when unknown. */
export function userName(uid: number, passwdFile = '/etc/passwd'): string | undefined {
  try {
    for (const line of fs.readFileSync(passwdFile, 'utf8').split('\n')) {
      const parts = line.split(':');
      if (parts.length > 2 && parts[2] === String(uid)) return parts[0];
    }
  } catch {
    // No passwd file (Windows, some containers): numbers will do.
  }
  return undefined;
}

function whoAmI(): string {
  const uid = process.getuid?.();
  if (uid === undefined) return 'Roost';
  return `Roost (running as ${userName(uid) ?? `UID ${uid}`})`;
}

/** Can Roost use `p` as its vmail base: exists, is a directory, readable and writable by this process. */
export function checkPath(p: string): PathCheck {
  const out: PathCheck = { path: p, exists: false, isDirectory: false, readable: false, writable: false };
  let st: fs.Stats;
  try {
    st = fs.statSync(p);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    out.problem = code === 'ENOENT'
      ? `${p} does not exist. Create it, or choose the directory Postfix delivers to (virtual_mailbox_base in main.cf).`
      : code === 'EACCES'
        ? `${whoAmI()} may not look inside a parent directory of ${p}.`
        : `${p} cannot be examined: ${(e as Error).message}`;
    return out;
  }
  out.exists = true;
  out.isDirectory = st.isDirectory();
  if (process.platform !== 'win32') {
    out.uid = st.uid;
    out.gid = st.gid;
    const name = userName(st.uid);
    if (name) out.ownerName = name;
  }
  const can = (mode: number): boolean => {
    try {
      fs.accessSync(p, mode);
      return true;
    } catch {
      return false;
    }
  };
  out.readable = can(fs.constants.R_OK | fs.constants.X_OK);
  out.writable = can(fs.constants.W_OK);
  if (!out.isDirectory) {
    out.problem = `${p} is a file, not a directory.`;
  } else if (!out.readable || !out.writable) {
    const missing = !out.readable && !out.writable ? 'read or write' : !out.readable ? 'read' : 'write';
    const owner = out.ownerName ?? (out.uid !== undefined ? `UID ${out.uid}` : 'another user');
    // Roost creates maildirs and writes dovecot-uidlist, so it needs both; say how to get them.
    out.problem = `${whoAmI()} cannot ${missing} ${p} (it belongs to ${owner}). `
      + (process.platform === 'win32'
        ? 'Give your user full control of the folder, or choose another one.'
        : `Run Roost as ${owner}, or give your user access (e.g. sudo setfacl -R -m u:$USER:rwX -m d:u:$USER:rwX ${p}), or choose another directory.`);
  }
  return out;
}

/** Binds and closes a listener: the only reliable way to learn whether a port can be used. */
function tryBind(host: string, port: number): Promise<NodeJS.ErrnoException | null> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', (e: NodeJS.ErrnoException) => resolve(e));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(null)));
  });
}

/** The first port from `from` upwards that binds on `host` (within 50 tries). */
async function freePortFrom(host: string, from: number): Promise<number | undefined> {
  for (let p = from; p < from + 50 && p <= 65535; p++) {
    if ((await tryBind(host, p)) === null) return p;
  }
  return undefined;
}

/** What to do about a privileged port, in words for this platform. */
export function privilegedPortFix(port: number, suggestion: number): string {
  if (process.platform === 'linux') {
    return `Port ${port} needs administrator rights on this computer. Use ${suggestion} instead (mail clients can use any port), `
      + `or allow it once as root: sudo setcap 'cap_net_bind_service=+ep' ${process.execPath}, `
      + `or lower the limit for everyone: sudo sysctl net.ipv4.ip_unprivileged_port_start=${port}.`;
  }
  return `Port ${port} needs administrator rights on this computer. Use ${suggestion} instead (mail clients can use any port), or run Roost as an administrator.`;
}

/**
 * Can the server listen on listen:port? Binds a test listener. `ownServer` is where Roost's own server
 * listens now: that port is "in use" only by the server it would restart, so it counts as free.
 */
export async function checkPort(listen: string, port: number, ownServer?: { host?: string; port?: number }): Promise<PortCheck> {
  const host = listen.trim() === '*' ? '0.0.0.0' : listen.trim().replace(/^\[(.*)\]$/, '$1');
  const base = { listen, port };
  if (!net.isIP(host) && !/^[A-Za-z0-9.-]{1,253}$/.test(host)) {
    return { ...base, status: 'bad-address', message: `'${listen}' is not an address (use 127.0.0.1 for this computer only, or 0.0.0.0 for the local network).` };
  }
  if (ownServer?.port === port && ownServer.host !== undefined && (ownServer.host === host || ownServer.host === listen)) {
    return { ...base, status: 'free', message: `Roost's own server listens on port ${port} now; it can keep using it.` };
  }
  if (port === 0) return { ...base, status: 'free', message: 'Port 0 picks a free port at each start; mail clients need a fixed port, so choose one (e.g. 1143).' };
  const err = await tryBind(host, port);
  if (!err) return { ...base, status: 'free', message: `Port ${port} is free.` };
  switch (err.code) {
    case 'EADDRINUSE': {
      const suggestion = await freePortFrom(host, port === 1143 ? 1144 : port < 1024 ? 1143 : port + 1);
      return {
        ...base, status: 'in-use',
        message: `Port ${port} is already in use by another program (Dovecot, or another Roost?). Stop it, or use ${suggestion ?? 'another port'}.`,
        ...(suggestion ? { suggestion } : {}),
      };
    }
    case 'EACCES': {
      const suggestion = (await freePortFrom(host, 1143)) ?? 1143;
      return { ...base, status: 'needs-privileges', message: privilegedPortFix(port, suggestion), suggestion };
    }
    case 'EADDRNOTAVAIL':
      return { ...base, status: 'bad-address', message: `${listen} is not an address of this computer. Use 127.0.0.1 (this computer only) or 0.0.0.0 (the local network).` };
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return { ...base, status: 'bad-address', message: `The name ${listen} does not resolve to an address of this computer.` };
    default:
      return { ...base, status: 'error', message: `Port ${port} cannot be used: ${err.message}` };
  }
}

/** Why the server could not start, and what to do, as Dovecot's master would log it plus a hint. */
export function explainStartError(e: unknown, s: ServerSettings): string[] {
  const code = e instanceof SupervisorError ? e.causeCode : (e as NodeJS.ErrnoException).code;
  const message = e instanceof Error ? e.message : String(e);
  const where = `${s.listen}:${s.port}`;
  switch (code) {
    case 'EADDRINUSE':
      return [
        `can't listen on ${where}: bind(${s.listen}, ${s.port}) failed: Address already in use.`,
        `Another server (Dovecot, or another Roost) uses port ${s.port}: stop it, or use another port, e.g. --port ${s.port === 1143 ? 1144 : 1143}.`,
      ];
    case 'EACCES':
      if (s.port < 1024) {
        return [
          `can't listen on ${where}: bind(${s.listen}, ${s.port}) failed: Permission denied.`,
          `Port ${s.port} needs root or CAP_NET_BIND_SERVICE: run with --port 1143, or allow Node to bind low ports: sudo setcap 'cap_net_bind_service=+ep' $(which node)`,
        ];
      }
      return [`can't listen on ${where}: bind(${s.listen}, ${s.port}) failed: Permission denied.`];
    case 'EADDRNOTAVAIL':
      return [`can't listen on ${where}: ${s.listen} is not an address of this machine (check --listen).`];
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return [`can't listen on ${where}: the name ${s.listen} does not resolve (check --listen).`];
    default:
      return [`the server could not start: ${message}`];
  }
}
