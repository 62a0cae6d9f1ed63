// Starts Debian's real Dovecot (the server Roost replaces) as a child process, configured like
// the seed setup: IMAP only on 127.0.0.1, plaintext PLAIN/LOGIN allowed, static passdb (one
// password for every user), static userdb (one mail owner), mail_home = <vmail>/%d/%n,
// mail_location = maildir:~/maildir. Differential and interop tests use it as the reference.
//
// Everything Dovecot writes outside the vmail tree (base_dir sockets, state_dir, log) lives in
// a private temp directory that stop() removes, so several instances can run side by side and
// never touch /etc/dovecot, /run/dovecot or a system Dovecot on port 143.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, promises as fs, readFileSync, statSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const DOVECOT_BIN = process.env.DOVECOT_BIN ?? '/usr/sbin/dovecot';

/** True when the Dovecot binary is installed (Debian package dovecot-imapd). */
export function dovecotAvailable(): boolean {
  return existsSync(DOVECOT_BIN);
}

/** Why Dovecot-based tests cannot run here, or undefined when they can. */
export function dovecotUnavailableReason(): string | undefined {
  if (!dovecotAvailable()) return `${DOVECOT_BIN} not found (apt-get install dovecot-imapd)`;
  return undefined;
}

export interface DovecotOptions {
  /** The vmail base directory (Postfix's virtual_mailbox_base). Chowned to the mail owner. */
  vmail: string;
  /** passdb static password. */
  password: string;
  /** Port on 127.0.0.1; default: a free one. */
  port?: number;
  /** Mail owner; default: see mailOwner(). */
  uid?: number;
  gid?: number;
  /** Extra configuration appended verbatim (later settings win in Dovecot's config). */
  extraConfig?: string;
}

export interface DovecotInstance {
  host: string;
  port: number;
  /** uid/gid Dovecot serves mail as (the vmail tree is chowned to it). */
  uid: number;
  gid: number;
  logPath: string;
  /** Current contents of the log (empty after stop()). */
  readLog(): Promise<string>;
  /** SIGTERM the master, wait for it to exit, remove base_dir/state_dir/log. Idempotent. */
  stop(): Promise<void>;
}

export interface MailOwner {
  uid: number;
  gid: number;
  user: string;
  group: string;
}

function lookup(db: 'passwd' | 'group', key: string): string[] | undefined {
  const r = spawnSync('getent', [db, key], { encoding: 'utf8' });
  if (r.status !== 0 || !r.stdout) return undefined;
  return r.stdout.trim().split('\n')[0]!.split(':');
}

function nameOfUid(uid: number): string | undefined {
  return lookup('passwd', String(uid))?.[0];
}
function nameOfGid(gid: number): string | undefined {
  return lookup('group', String(gid))?.[0];
}

let cachedOwner: MailOwner | undefined;

/**
 * Masters still running in this process. If the test process ends without stop() (a crash,
 * a killed worker), they are sent SIGTERM on the way out so no Dovecot outlives its tests.
 */
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGTERM');
});

/**
 * The non-root owner Dovecot serves mail as. Dovecot refuses to run mail processes as root
 * (hardcoded, first_valid_uid cannot lower it to 0), and tests run as root, so as root we use
 * the conventional `vmail` system user (created when missing, like the seed's setup) and fall
 * back to nobody (65534). As non-root, Dovecot can only ever run as the current user.
 */
export function mailOwner(): MailOwner {
  if (cachedOwner) return cachedOwner;
  const isRoot = process.getuid?.() === 0;
  if (!isRoot) {
    const uid = process.getuid?.() ?? 65534;
    const gid = process.getgid?.() ?? 65534;
    cachedOwner = { uid, gid, user: nameOfUid(uid) ?? String(uid), group: nameOfGid(gid) ?? String(gid) };
    return cachedOwner;
  }
  let pw = lookup('passwd', 'vmail');
  if (!pw) {
    // Several test files may race here; a failed useradd is fine if the user now exists.
    spawnSync('useradd', ['--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent',
      '--shell', '/usr/sbin/nologin', '--comment', 'virtual mail owner (Roost tests)', 'vmail'], { stdio: 'ignore' });
    pw = lookup('passwd', 'vmail');
  }
  if (pw && Number(pw[2]) !== 0) {
    const uid = Number(pw[2]);
    const gid = Number(pw[3]);
    cachedOwner = { uid, gid, user: pw[0]!, group: nameOfGid(gid) ?? String(gid) };
  } else {
    cachedOwner = { uid: 65534, gid: 65534, user: nameOfUid(65534) ?? 'nobody', group: nameOfGid(65534) ?? 'nogroup' };
  }
  return cachedOwner;
}

/** Recursively chown a tree (only possible as root; a no-op check otherwise). */
export async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  if (process.getuid?.() !== 0) return;
  const walk = async (p: string): Promise<void> => {
    await fs.lchown(p, uid, gid);
    const st = await fs.lstat(p);
    if (st.isDirectory()) {
      for (const name of await fs.readdir(p)) await walk(path.join(p, name));
    }
  };
  await walk(dir);
}

/**
 * The mail owner must be able to traverse every ancestor of the vmail tree. Test trees live
 * under mkdtemp directories (mode 0700, owned by root); open those up (o+x) but never touch
 * anything outside the OS temp directory.
 */
async function ensureTraversable(dir: string, uid: number): Promise<void> {
  if (process.getuid?.() !== 0) return;
  const tmp = await fs.realpath(os.tmpdir());
  let cur = path.dirname(await fs.realpath(dir));
  while (true) {
    const st = statSync(cur);
    if (st.uid !== uid && (st.mode & 0o001) === 0) {
      if (cur === tmp || cur.startsWith(tmp + path.sep)) {
        await fs.chmod(cur, (st.mode & 0o7777) | 0o011);
      } else {
        throw new Error(`startDovecot: mail owner uid ${uid} cannot traverse ${cur} (mode ${(st.mode & 0o777).toString(8)}); put the vmail tree elsewhere`);
      }
    }
    const parent = path.dirname(cur);
    if (parent === cur) break;
    cur = parent;
  }
}

/** A port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves once a connection to host:port yields a line starting with `* OK` (an IMAP greeting). */
export async function waitForGreeting(host: string, port: number, timeoutMs: number, isDead?: () => string | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  while (Date.now() < deadline) {
    const dead = isDead?.();
    if (dead) throw new Error(dead);
    const ok = await new Promise<boolean>((resolve) => {
      const sock = net.connect({ host, port });
      let buf = '';
      const done = (v: boolean, err?: string) => {
        if (err) lastError = err;
        sock.destroy();
        resolve(v);
      };
      sock.setTimeout(1000, () => done(false, 'timeout waiting for greeting'));
      sock.on('data', (d) => {
        buf += d.toString('latin1');
        if (buf.includes('\r\n')) done(buf.startsWith('* OK'), `unexpected greeting ${JSON.stringify(buf)}`);
      });
      sock.on('error', (e) => done(false, e.message));
      sock.on('close', () => done(false, 'closed'));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no IMAP greeting on ${host}:${port} within ${timeoutMs} ms (${lastError})`);
}

function quoteConf(v: string): string {
  return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function buildConfig(o: { dir: string; vmail: string; password: string; port: number; owner: MailOwner; login: { user: string }; internal: { user: string; group: string }; extra?: string }): string {
  // Not root: every process runs as ourselves and chroot() is impossible.
  const nonRoot = process.getuid?.() !== 0
    ? `service anvil {\n  chroot =\n}\nservice imap-login {\n  chroot =\n}\n`
    : '';
  return `# Generated by tests/helpers/dovecot.ts: the seed's Dovecot setup, private to one test run.
base_dir = ${o.dir}/run
state_dir = ${o.dir}/state
log_path = ${o.dir}/dovecot.log
info_log_path = ${o.dir}/dovecot.log
debug_log_path = ${o.dir}/dovecot.log
instance_name = roost-test-${o.port}
protocols = imap
listen = 127.0.0.1
ssl = no
# Seed: plaintext PLAIN (and LOGIN for older clients) without TLS.
disable_plaintext_auth = no
auth_mechanisms = plain login
# Tests try wrong passwords; Dovecot's default 2 s penalty only slows them down.
auth_failure_delay = 0
default_internal_user = ${o.internal.user}
default_internal_group = ${o.internal.group}
default_login_user = ${o.login.user}
# vmail is a system user (uid < 500); lower the floor like the seed tells you to.
first_valid_uid = 1
first_valid_gid = 1
mail_home = ${o.vmail}/%d/%n
mail_location = maildir:~/maildir
passdb {
  driver = static
  args = password=${o.password}
}
userdb {
  driver = static
  args = uid=${o.owner.uid} gid=${o.owner.gid} allow_all_users=yes
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = ${o.port}
  }
  inet_listener imaps {
    port = 0
  }
}
${nonRoot}# Debian's 10-mail.conf + 15-mailboxes.conf, except that the five folders Roost always
# provides are auto-created here too (Debian ships them without 'auto'), so that
# differential tests compare like with like.
namespace inbox {
  inbox = yes
  mailbox Drafts {
    auto = create
    special_use = \\Drafts
  }
  mailbox Junk {
    auto = create
    special_use = \\Junk
  }
  mailbox Trash {
    auto = create
    special_use = \\Trash
  }
  mailbox Sent {
    auto = create
    special_use = \\Sent
  }
  mailbox ${quoteConf('Sent Messages')} {
    special_use = \\Sent
  }
  mailbox Archive {
    special_use = \\Archive
  }
}
${o.extra ?? ''}
`;
}

/** Start a private Dovecot serving opts.vmail. Rejects (with the log) if it does not come up. */
export async function startDovecot(opts: DovecotOptions): Promise<DovecotInstance> {
  if (!dovecotAvailable()) throw new Error(dovecotUnavailableReason());
  const owner: MailOwner = opts.uid !== undefined
    ? { uid: opts.uid, gid: opts.gid ?? opts.uid, user: nameOfUid(opts.uid) ?? String(opts.uid), group: nameOfGid(opts.gid ?? opts.uid) ?? String(opts.gid ?? opts.uid) }
    : mailOwner();
  const isRoot = process.getuid?.() === 0;
  // Login/internal users: the Debian package's own unprivileged users when present; otherwise the
  // mail owner (as non-root every service must run as ourselves anyway).
  const login = isRoot && lookup('passwd', 'dovenull') ? { user: 'dovenull' } : { user: isRoot ? 'nobody' : owner.user };
  const internal = isRoot && lookup('passwd', 'dovecot')
    ? { user: 'dovecot', group: nameOfGid(Number(lookup('passwd', 'dovecot')![3])) ?? 'dovecot' }
    : isRoot ? { user: 'nobody', group: nameOfGid(65534) ?? 'nogroup' } : { user: owner.user, group: owner.group };

  const vmail = path.resolve(opts.vmail);
  await fs.mkdir(vmail, { recursive: true });
  await ensureTraversable(vmail, owner.uid);
  await chownTree(vmail, owner.uid, owner.gid);

  let lastError: unknown;
  for (let attempt = 0; attempt < 4; attempt++) {
    const port = opts.port ?? (await freePort());
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'roost-dovecot-'));
    // Login processes (dovenull) must reach base_dir's sockets.
    await fs.chmod(dir, 0o755);
    const logPath = path.join(dir, 'dovecot.log');
    const confPath = path.join(dir, 'dovecot.conf');
    await fs.writeFile(confPath, buildConfig({ dir, vmail, password: opts.password, port, owner, login, internal, extra: opts.extraConfig }));
    await fs.writeFile(logPath, '');

    const child: ChildProcess = spawn(DOVECOT_BIN, ['-F', '-c', confPath], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env },
    });
    let output = '';
    child.stdout!.on('data', (d) => (output += d.toString()));
    child.stderr!.on('data', (d) => (output += d.toString()));
    live.add(child);
    let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    const exitPromise = new Promise<void>((resolve) => {
      child.on('exit', (code, signal) => {
        exited = { code, signal };
        live.delete(child);
        resolve();
      });
      child.on('error', (e) => {
        output += String(e);
        exited = { code: -1, signal: null };
        live.delete(child);
        resolve();
      });
    });
    const readLog = async () => fs.readFile(logPath, 'utf8').catch(() => '');
    const readLogSync = () => {
      try {
        return readFileSync(logPath, 'utf8');
      } catch {
        return '';
      }
    };

    let stopped = false;
    const stop = async () => {
      if (stopped) return;
      stopped = true;
      if (!exited) {
        child.kill('SIGTERM');
        const t = setTimeout(() => { if (!exited) child.kill('SIGKILL'); }, 5000);
        await exitPromise;
        clearTimeout(t);
      }
      await fs.rm(dir, { recursive: true, force: true });
    };

    try {
      await waitForGreeting('127.0.0.1', port, 15_000, () => {
        if (exited) return `dovecot exited during startup (code ${exited.code}, signal ${exited.signal})`;
        // A service that cannot start makes the master retry with growing delays: give up at once.
        const fatal = /^.*(Fatal|Error: service\(\S+\): command startup failed).*$/m.exec(readLogSync());
        return fatal ? `dovecot could not start: ${fatal[0]}` : undefined;
      });
      return { host: '127.0.0.1', port, uid: owner.uid, gid: owner.gid, logPath, readLog, stop };
    } catch (e) {
      const log = await readLog();
      await stop();
      lastError = new Error(`${(e as Error).message}\n--- dovecot output ---\n${output}\n--- ${logPath} ---\n${log}`);
      // Someone else grabbed the port between freePort() and bind: try another one.
      if (opts.port === undefined && /in use|EADDRINUSE/i.test(output + log)) continue;
      throw lastError;
    }
  }
  throw lastError;
}
