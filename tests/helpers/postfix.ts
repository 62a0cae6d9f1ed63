// A private, real Postfix (Debian's package) for the live-delivery tests: the seed's Postfix
// series setup for virtual mailboxes,
//
//   virtual_mailbox_domains = brokkr.net
//   virtual_mailbox_base    = <temp vmail>
//   virtual_mailbox_maps    = alice@brokkr.net  brokkr.net/alice/maildir/
//   virtual_uid_maps        = static:<uid>     virtual_gid_maps = static:<gid>
//
// with its own config directory (`postfix -c DIR start`), queue and data directories, log file
// (maillog_file, through postlogd) and an SMTP listener on 127.0.0.1 and a free high port only.
// Nothing in /etc/postfix or /var/spool/postfix is touched, and no system Postfix is needed.
//
// Postfix insists on running its master as root and on owning its queue: the tests run as root
// (CI, this machine); otherwise postfixUnavailableReason() says why they skip. `postfix check`
// runs before the start and its complaints are part of the error. stop() runs `postfix stop`,
// then kills the master and any process of this instance left over (found by the MAIL_CONFIG
// environment Postfix gives its children), and removes the directories.
import { spawnSync } from 'node:child_process';
import { existsSync, promises as fs, readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './dovecot.js';

export const POSTFIX_BIN = process.env.POSTFIX_BIN ?? '/usr/sbin/postfix';
const POSTCONF_BIN = path.join(path.dirname(POSTFIX_BIN), 'postconf');

/** Why Postfix-based tests cannot run here, or undefined when they can. */
export function postfixUnavailableReason(): string | undefined {
  if (!existsSync(POSTFIX_BIN)) return `${POSTFIX_BIN} not found (apt-get install postfix; tests/run-all.sh does it)`;
  if (process.getuid?.() !== 0) return 'a private Postfix needs root (its master runs as root and owns the queue)';
  for (const [db, name] of [['passwd', 'postfix'], ['group', 'postdrop']] as const) {
    if (spawnSync('getent', [db, name]).status !== 0) return `the ${db === 'passwd' ? 'user' : 'group'} '${name}' is missing (reinstall postfix)`;
  }
  return undefined;
}

/**
 * For tests that need the Postfix their beforeAll tried to start: when it could not start,
 * print why and skip the test (never a silent skip).
 */
export function skipUnlessPostfixStarted(ctx: { skip: (note?: string) => void }, startError: string | undefined): void {
  if (startError) {
    console.log(`skipped: ${startError}`);
    ctx.skip(startError);
  }
}

export interface PostfixOptions {
  /** virtual_mailbox_base. Must be writable by uid/gid (Postfix creates new users' maildirs as that owner). */
  vmail: string;
  /** virtual_mailbox_domains. */
  domains: string[];
  /** virtual_mailbox_maps: address -> maildir relative to vmail, ending in '/' (maildir format). */
  mailboxes: Record<string, string>;
  /** virtual_uid_maps / virtual_gid_maps = static:uid / static:gid. */
  uid: number;
  gid: number;
  /** SMTP port on 127.0.0.1; default a free one. */
  port?: number;
}

export interface PostfixInstance {
  host: string;
  port: number;
  /** The private config directory (main.cf, master.cf, vmailbox). */
  configDir: string;
  /** Postfix's log (maillog_file). */
  readLog(): string;
  /** Waits until the log shows a delivery to `address` (status=sent ... delivered to maildir); returns the log line. */
  waitDelivered(address: string, timeoutMs?: number): Promise<string>;
  /** postfix stop, kill what is left, remove the directories. Idempotent. */
  stop(): Promise<void>;
}

function mainCf(o: { dir: string; vmail: string; domains: string[]; uid: number; gid: number }): string {
  return `# Written by tests/helpers/postfix.ts: a private instance for Roost's live-delivery tests.
compatibility_level = 3.6
config_directory = ${o.dir}/etc
queue_directory = ${o.dir}/queue
data_directory = ${o.dir}/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
shlib_directory = /usr/lib/postfix
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
syslog_name = postfix-roost-test
maillog_file = ${o.dir}/log/maillog
maillog_file_prefixes = ${o.dir}/log
myhostname = mail.roost-test.example
mydomain = roost-test.example
myorigin = $myhostname
mydestination =
local_recipient_maps =
local_transport = error:local delivery is disabled
alias_maps =
alias_database =
relayhost =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_banner = $myhostname ESMTP
biff = no
append_dot_mydomain = no
smtputf8_enable = no
# The seed's virtual mailbox setup (Postfix series, part 4).
virtual_mailbox_domains = ${o.domains.join(', ')}
virtual_mailbox_base = ${o.vmail}
virtual_mailbox_maps = texthash:${o.dir}/etc/vmailbox
virtual_uid_maps = static:${o.uid}
virtual_gid_maps = static:${o.gid}
virtual_minimum_uid = 1
`;
}

function masterCf(port: number): string {
  // chroot = n everywhere: the queue is a temp directory without a chroot environment.
  return `# service type  private unpriv  chroot  wakeup  maxproc command
127.0.0.1:${port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`;
}

function run(args: string[]): { ok: boolean; out: string } {
  const r = spawnSync(POSTFIX_BIN, args, { encoding: 'utf8', timeout: 60_000 });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}`.trim() };
}

/** Processes of this instance: Postfix passes MAIL_CONFIG=<config dir> to everything it starts. */
function instancePids(configDir: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const env = readFileSync(`/proc/${name}/environ`, 'latin1').split('\0');
      if (env.includes(`MAIL_CONFIG=${configDir}`)) pids.push(Number(name));
    } catch {
      // gone, or not ours to read
    }
  }
  return pids;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Instances still running in this process: stopped on the way out if a test forgot (or crashed). */
const running = new Set<PostfixInstance>();
process.once('exit', () => {
  for (const p of running) {
    for (const pid of instancePids(p.configDir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
});

export async function startPostfix(opts: PostfixOptions): Promise<PostfixInstance> {
  const why = postfixUnavailableReason();
  if (why) throw new Error(why);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'roost-postfix-'));
  // Postfix's unprivileged daemons must reach the queue below it.
  await fs.chmod(dir, 0o755);
  const configDir = path.join(dir, 'etc');
  for (const sub of ['etc', 'queue', 'data', 'log']) await fs.mkdir(path.join(dir, sub), { mode: 0o755 });
  await fs.chown(path.join(dir, 'data'), Number(spawnSync('id', ['-u', 'postfix'], { encoding: 'utf8' }).stdout.trim()), 0);
  const vmail = path.resolve(opts.vmail);
  const port = opts.port ?? (await freePort());
  await fs.writeFile(path.join(configDir, 'main.cf'), mainCf({ dir, vmail, domains: opts.domains, uid: opts.uid, gid: opts.gid }));
  await fs.writeFile(path.join(configDir, 'master.cf'), masterCf(port));
  await fs.writeFile(path.join(configDir, 'vmailbox'), Object.entries(opts.mailboxes).map(([a, m]) => `${a}  ${m}\n`).join(''));

  const logPath = path.join(dir, 'log', 'maillog');
  const readLog = (): string => {
    try {
      return readFileSync(logPath, 'utf8');
    } catch {
      return '';
    }
  };
  let stopped = false;
  const instance: PostfixInstance = {
    host: '127.0.0.1',
    port,
    configDir,
    readLog,
    async waitDelivered(address, timeoutMs = 15_000) {
      const until = Date.now() + timeoutMs;
      const re = new RegExp(`to=<${address.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}>.*status=sent`);
      for (;;) {
        const line = readLog().split('\n').find((l) => re.test(l));
        if (line) return line;
        const bounced = readLog().split('\n').find((l) => l.includes(`to=<${address}>`) && /status=(bounced|deferred)/.test(l));
        if (bounced) throw new Error(`Postfix did not deliver to ${address}: ${bounced}`);
        if (Date.now() > until) throw new Error(`Postfix did not log a delivery to ${address} within ${timeoutMs} ms; log:\n${readLog().split('\n').slice(-15).join('\n')}`);
        await sleep(50);
      }
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      running.delete(instance);
      run(['-c', configDir, 'stop']);
      const until = Date.now() + 10_000;
      while (Date.now() < until && instancePids(configDir).some(alive)) await sleep(50);
      for (const pid of instancePids(configDir)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      await fs.rm(dir, { recursive: true, force: true });
    },
  };

  // `postfix check` creates the queue's subdirectories with the right owners and reports what it dislikes.
  const check = run(['-c', configDir, 'check']);
  const fatal = check.out.split('\n').filter((l) => /fatal|error/i.test(l));
  if (!check.ok || fatal.length > 0) {
    await instance.stop();
    throw new Error(`postfix check failed for ${configDir}:\n${check.out}`);
  }
  const start = run(['-c', configDir, 'start']);
  if (!start.ok) {
    const log = readLog();
    await instance.stop();
    throw new Error(`postfix -c ${configDir} start failed:\n${start.out}\n${log}`);
  }
  running.add(instance);
  // Ready when smtpd greets on the port.
  const until = Date.now() + 20_000;
  for (;;) {
    const greeting = await smtpGreeting(port).catch((err: Error) => err.message);
    if (greeting.startsWith('220')) return instance;
    if (Date.now() > until) {
      const log = readLog();
      await instance.stop();
      throw new Error(`Postfix did not greet on 127.0.0.1:${port} (${greeting}); log:\n${log}`);
    }
    await sleep(100);
  }
}

async function smtpGreeting(port: number): Promise<string> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error('no greeting'));
    }, 2000);
    s.once('data', (d) => {
      clearTimeout(timer);
      s.end('QUIT\r\n');
      resolve(d.toString('latin1'));
    });
    s.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** Postfix's version (postconf -h mail_version), for the test output. */
export function postfixVersion(): string {
  const r = spawnSync(POSTCONF_BIN, ['-d', '-h', 'mail_version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : 'unknown';
}
