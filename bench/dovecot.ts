// A private Dovecot instance for the benchmark: Debian's dovecot-imapd with the seed's
// configuration (static passdb/userdb, mail_home = <vmail>/%d/%n, maildir:~/maildir,
// plaintext auth) on a loopback port, its own base_dir/state_dir/log, nothing from /etc.
//
// Dovecot refuses to serve mail as root, so mail is owned by a system user 'vmail'
// (created with useradd --system when missing; falls back to nobody).

import fs from 'node:fs';
import path from 'node:path';
import { spawn, execFileSync } from 'node:child_process';
import { ImapClient } from './imap.js';
import { LineTail, processTree, sleep, waitExit, type BenchServer } from './procs.js';

export const DOVECOT_BIN = '/usr/sbin/dovecot';

export interface MailOwner {
  name: string;
  uid: number;
  gid: number;
}

function lookup(name: string): MailOwner | null {
  try {
    const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    return Number.isInteger(uid) && Number.isInteger(gid) ? { name, uid, gid } : null;
  } catch {
    return null;
  }
}

/** The non-root owner of the benchmark's mail (Postfix's virtual_uid_maps user). */
export function mailOwner(): MailOwner {
  let owner = lookup('vmail');
  if (!owner && process.getuid?.() === 0) {
    try {
      execFileSync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', 'vmail'], { stdio: 'ignore' });
    } catch {
      // fall back below
    }
    owner = lookup('vmail');
  }
  return owner ?? { name: 'nobody', uid: 65534, gid: 65534 };
}

/** Dovecot's own unprivileged users: Debian creates 'dovecot' and 'dovenull'. */
function serviceUsers(owner: MailOwner): { internal: string; login: string } {
  return {
    internal: lookup('dovecot') ? 'dovecot' : owner.name,
    login: lookup('dovenull') ? 'dovenull' : 'nobody',
  };
}

export interface DovecotOptions {
  /** Private directory for config, run, state and log (must be traversable by the mail owner). */
  dir: string;
  /** vmail base (mail_home = <vmail>/%d/%n). */
  vmail: string;
  port: number;
  password: string;
  owner: MailOwner;
  /** Upper bound of simultaneous IMAP connections to plan for. */
  maxConnections: number;
  /** mail_max_userip_connections (the same value is given to Roost). */
  userIpLimit: number;
}

export function dovecotConfig(o: DovecotOptions): string {
  const users = serviceUsers(o.owner);
  const limit = Math.max(100, o.maxConnections + 50);
  return `# Written by bench/dovecot.ts: the seed's settings plus private paths and higher process limits.
protocols = imap
listen = 127.0.0.1
base_dir = ${o.dir}/run
state_dir = ${o.dir}/state
log_path = ${o.dir}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_home = ${o.vmail}/%d/%n
mail_location = maildir:~/maildir
first_valid_uid = 1
first_valid_gid = 1
passdb {
  driver = static
  args = password=${o.password}
}
userdb {
  driver = static
  args = uid=${o.owner.uid} gid=${o.owner.gid}
}
namespace inbox {
  inbox = yes
}
default_internal_user = ${users.internal}
default_login_user = ${users.login}
mail_max_userip_connections = ${o.userIpLimit}
# One imap process per connection (Dovecot's default): ${o.maxConnections} IDLE clients need that many processes.
default_process_limit = ${limit}
default_client_limit = ${limit * 4}
service imap {
  process_limit = ${limit}
}
service imap-login {
  inet_listener imap {
    port = ${o.port}
  }
  inet_listener imaps {
    port = 0
  }
}
`;
}

export async function startDovecot(o: DovecotOptions): Promise<BenchServer> {
  fs.mkdirSync(o.dir, { recursive: true, mode: 0o755 });
  const conf = path.join(o.dir, 'dovecot.conf');
  fs.writeFileSync(conf, dovecotConfig(o));
  const out = new LineTail();
  const child = spawn(DOVECOT_BIN, ['-F', '-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.setEncoding('utf8').on('data', (c: string) => out.push(c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => out.push(c));
  let exited: string | null = null;
  child.on('exit', (code, sig) => {
    exited = `dovecot exited (${sig ?? code})`;
  });
  const logTail = (n = 20): string => {
    let log = '';
    try {
      log = fs.readFileSync(path.join(o.dir, 'dovecot.log'), 'utf8').split('\n').slice(-n).join('\n');
    } catch {
      // no log yet
    }
    return [out.tail(n), log].filter(Boolean).join('\n');
  };
  const pid = child.pid!;
  const server: BenchServer = {
    name: 'Dovecot',
    port: o.port,
    pid,
    pids: () => processTree(pid),
    logTail,
    stop: async () => {
      const tree = processTree(pid);
      if (exited === null) child.kill('SIGTERM');
      const left = await waitExit(tree, 10_000);
      for (const p of left) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await waitExit(left, 5_000);
    },
  };
  // Ready when the login service greets us.
  const until = Date.now() + 20_000;
  for (;;) {
    if (exited) throw new Error(`${exited}: ${logTail(10)}`);
    try {
      const c = await ImapClient.connect('127.0.0.1', o.port, 2_000);
      c.destroy();
      return server;
    } catch (err) {
      if (Date.now() > until) {
        await server.stop();
        throw new Error(`dovecot did not start: ${(err as Error).message}\n${logTail(10)}`);
      }
      await sleep(50);
    }
  }
}
