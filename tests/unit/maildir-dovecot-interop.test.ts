// Roost's maildir backend and real Dovecot 2.3 on the same vmail tree, in turn and
// interleaved: clients must see the same messages, UIDs, UIDVALIDITY, flags, keywords,
// folders and subscriptions through both. Also settles the Dovecot behaviours the backend
// mirrors (subscriptions file format, CREATE/DELETE/RENAME of hierarchies).
//
// A private Dovecot runs in a temp directory on a free 127.0.0.1 port, serving mail as
// uid/gid 65534 (Dovecot refuses root), driven over a raw socket.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { openMailStore } from '../../electron/server/storage/index.js';
import type { MailboxView, MailStore } from '../../electron/server/storage/types.js';
import { decodeMutf7 } from '../../electron/server/storage/mutf7.js';

const DOVECOT = '/usr/sbin/dovecot';
const OWNER = { uid: 65534, gid: 65534 };
const haveDovecot = existsSync(DOVECOT);
const isRoot = process.getuid?.() === 0;
const skipReason = !haveDovecot ? `${DOVECOT} is missing` : !isRoot ? 'needs root (Dovecot must serve mail as uid 65534)' : undefined;
if (skipReason) console.log(`skipping Dovecot interop tests: ${skipReason}`);

// ---- a private Dovecot ----------------------------------------------------------------

interface Dovecot {
  dir: string;
  vmail: string;
  port: number;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

async function startDovecot(): Promise<Dovecot> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'roost-maildir-interop-'));
  const vmail = path.join(dir, 'vmail');
  for (const d of ['run', 'state', 'vmail']) await fs.mkdir(path.join(dir, d));
  const port = await freePort();
  const conf = `protocols = imap
listen = 127.0.0.1
base_dir = ${dir}/run
state_dir = ${dir}/state
log_path = ${dir}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_home = ${vmail}/%d/%n
mail_location = maildir:~/maildir
first_valid_uid = 1
passdb {
  driver = static
  args = password=pw
}
userdb {
  driver = static
  args = uid=${OWNER.uid} gid=${OWNER.gid}
}
service imap-login {
  inet_listener imap {
    port = ${port}
  }
}
default_internal_user = nobody
default_login_user = nobody
# Debian's 15-mailboxes.conf (special-use only, no auto-creation).
namespace inbox {
  inbox = yes
  mailbox Drafts {
    special_use = \\Drafts
  }
  mailbox Junk {
    special_use = \\Junk
  }
  mailbox Trash {
    special_use = \\Trash
  }
  mailbox Sent {
    special_use = \\Sent
  }
}
`;
  await fs.writeFile(path.join(dir, 'dovecot.conf'), conf);
  await fs.chown(dir, OWNER.uid, OWNER.gid);
  await fs.chown(vmail, OWNER.uid, OWNER.gid);
  const child: ChildProcess = spawn(DOVECOT, ['-F', '-c', path.join(dir, 'dovecot.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 15_000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGTERM');
      const log = await fs.readFile(path.join(dir, 'dovecot.log'), 'utf8').catch(() => '');
      throw new Error(`Dovecot did not start: ${output}\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    dir,
    vmail,
    port,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

// ---- a minimal IMAP client ------------------------------------------------------------

class Imap {
  private buf = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  private tag = 0;
  private constructor(private readonly sock: net.Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static async login(port: number, user: string): Promise<Imap> {
    const sock = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    });
    const c = new Imap(sock);
    await c.line();
    await c.ok(`LOGIN ${user} pw`);
    return c;
  }

  private async more(): Promise<void> {
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  /** One response line, with literals inlined (as latin1). */
  private async line(): Promise<string> {
    let out = '';
    for (;;) {
      let nl = this.buf.indexOf('\r\n');
      while (nl < 0) {
        await this.more();
        nl = this.buf.indexOf('\r\n');
      }
      const text = this.buf.subarray(0, nl).toString('latin1');
      this.buf = this.buf.subarray(nl + 2);
      out += text;
      const lit = /\{(\d+)\}$/.exec(text);
      if (!lit) return out;
      const n = Number(lit[1]);
      while (this.buf.length < n) await this.more();
      out += '\r\n' + this.buf.subarray(0, n).toString('latin1');
      this.buf = this.buf.subarray(n);
    }
  }

  /** Run a command; `literal` is sent as a LITERAL+ argument at the end. */
  async cmd(command: string, literal?: Buffer): Promise<{ lines: string[]; status: string }> {
    const tag = `t${++this.tag}`;
    if (literal) {
      this.sock.write(Buffer.concat([Buffer.from(`${tag} ${command} {${literal.length}+}\r\n`), literal, Buffer.from('\r\n')]));
    } else {
      this.sock.write(`${tag} ${command}\r\n`);
    }
    const lines: string[] = [];
    for (;;) {
      const l = await this.line();
      if (l.startsWith(tag + ' ')) return { lines, status: l.slice(tag.length + 1) };
      lines.push(l);
    }
  }

  async ok(command: string, literal?: Buffer): Promise<string[]> {
    const r = await this.cmd(command, literal);
    if (!r.status.startsWith('OK')) throw new Error(`${command} -> ${r.status}`);
    return r.lines;
  }

  async logout(): Promise<void> {
    await this.cmd('LOGOUT');
    this.sock.destroy();
  }

  /** UID FETCH 1:* as a map uid -> parsed items. */
  async fetchAll(): Promise<Map<number, { flags: string[]; size: number; date: string; body?: string }>> {
    const lines = await this.ok('UID FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE BODY.PEEK[])');
    const out = new Map<number, { flags: string[]; size: number; date: string; body?: string }>();
    for (const l of lines) {
      const m = /^\* \d+ FETCH \(.*?UID (\d+)/.exec(l);
      if (!m) continue;
      const flags = /FLAGS \(([^)]*)\)/.exec(l)![1].split(' ').filter((f) => f !== '' && f !== '\\Recent');
      const size = Number(/RFC822\.SIZE (\d+)/.exec(l)![1]);
      const date = /INTERNALDATE "([^"]+)"/.exec(l)![1];
      const body = /BODY\[\] \{\d+\}\r\n([\s\S]*)\)$/.exec(l)?.[1];
      out.set(Number(m[1]), { flags: flags.sort(), size, date, body });
    }
    return out;
  }

  async select(mailbox: string): Promise<{ uidValidity: number; uidNext: number; exists: number }> {
    const lines = await this.ok(`SELECT ${mailbox}`);
    const find = (re: RegExp) => Number(lines.map((l) => re.exec(l)?.[1]).find((x) => x !== undefined));
    return { uidValidity: find(/UIDVALIDITY (\d+)/), uidNext: find(/UIDNEXT (\d+)/), exists: find(/^\* (\d+) EXISTS/) };
  }

  async list(command = 'LIST "" "*"'): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    for (const l of await this.ok(command)) {
      const m = /^\* (?:LIST|LSUB) \(([^)]*)\) "\." (.*)$/.exec(l);
      if (!m) continue;
      const raw = m[2].startsWith('"') ? m[2].slice(1, -1).replace(/\\(.)/g, '$1') : m[2];
      out.set(decodeMutf7(raw), m[1].split(' ').filter((a) => a !== ''));
    }
    return out;
  }
}

/** INTERNALDATE as Dovecot prints it, for a time in ms. */
function imapDate(ms: number): string {
  const d = new Date(ms);
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const off = -d.getTimezoneOffset();
  const local = new Date(ms + off * 60_000);
  const pad = (n: number) => String(n).padStart(2, '0');
  const sign = off >= 0 ? '+' : '-';
  return (
    `${pad(local.getUTCDate())}-${months[local.getUTCMonth()]}-${local.getUTCFullYear()} ` +
    `${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}:${pad(local.getUTCSeconds())} ` +
    `${sign}${pad(Math.floor(Math.abs(off) / 60))}${pad(Math.abs(off) % 60)}`
  );
}

function crlf(text: string): Buffer {
  return Buffer.from(text.replace(/\r?\n/g, '\r\n'));
}

/** Flags as the Roost view has them, sorted like fetchAll(). */
function roostFlags(view: MailboxView): Map<number, string[]> {
  return new Map(view.messages().map((m) => [m.uid, [...m.flags].sort()]));
}

// ---- the tests ---------------------------------------------------------------------------

describe.skipIf(!!skipReason)('Dovecot 2.3 interop', () => {
  let dovecot: Dovecot;
  let user = 0;
  let login: string;
  let root: string;
  const open: MailboxView[] = [];

  beforeAll(async () => {
    dovecot = await startDovecot();
  });
  afterAll(async () => {
    for (const v of open.splice(0)) await v.close();
    await dovecot?.stop();
  });
  beforeEach(() => {
    user++;
    login = `user${user}@brokkr.net`;
    root = path.join(dovecot.vmail, 'brokkr.net', `user${user}`, 'maildir');
  });

  function store(): MailStore {
    return openMailStore({ user: login, root, owner: OWNER, log: () => {} });
  }
  async function view(s: MailStore, name: string, readOnly = false): Promise<MailboxView> {
    const v = await s.open(name, { readOnly });
    open.push(v);
    return v;
  }

  it('a tree written by Roost reads the same through Dovecot', async () => {
    const s = store();
    await s.ensure();
    await s.create('Work.Projects');
    await s.create('Käse');
    await s.subscribe('Work.Projects');
    await s.subscribe('Käse');
    const date = Date.UTC(2021, 4, 6, 7, 8, 9);
    const bodies = [
      'Subject: one\r\nFrom: a@example.org\r\n\r\nfirst message\r\n',
      'Subject: two\n\nsecond, sent with bare LF\n',
      'Subject: three\r\n\r\nthird\r\n',
      'Subject: four\r\n\r\nfour\r\n',
    ];
    const app = await s.append('INBOX', [
      { data: Buffer.from(bodies[0]), flags: ['\\Seen', '$Forwarded', 'Junk'], internalDate: date },
      { data: Buffer.from(bodies[1]), internalDate: date + 1000 },
      { data: Buffer.from(bodies[2]), flags: ['\\Flagged', '\\Deleted'] },
      { data: Buffer.from(bodies[3]), flags: ['\\Draft'] },
    ]);
    const inbox = await view(s, 'INBOX');
    await inbox.store([2], 'add', ['\\Answered', 'Later']);
    await inbox.store([1], 'remove', ['Junk']);
    expect(await inbox.expunge()).toEqual([3]);
    const copied = await inbox.copyTo([1], 'Käse');
    const moved = await inbox.moveTo([4], 'Work.Projects');
    expect(copied.pairs).toEqual([[1, 1]]);
    expect(moved.pairs).toEqual([[4, 1]]);

    const c = await Imap.login(dovecot.port, login);
    const list = await c.list();
    expect([...list.keys()].sort()).toEqual(['Drafts', 'INBOX', 'Junk', 'Käse', 'Sent', 'Trash', 'Work', 'Work.Projects'].sort());
    expect(list.get('Work')).toEqual(expect.arrayContaining(['\\Noselect', '\\HasChildren']));
    expect(list.get('Sent')).toContain('\\Sent');
    const roostList = await s.list();
    for (const e of roostList) {
      const attrs = list.get(e.name)!;
      expect(attrs.includes('\\HasChildren'), e.name).toBe(e.hasChildren);
      expect(attrs.includes('\\Noselect'), e.name).toBe(!!e.noSelect);
      if (e.specialUse && e.name !== 'Archive') expect(attrs).toContain(e.specialUse);
    }
    const lsub = await c.list('LSUB "" "*"');
    expect([...lsub.keys()].sort()).toEqual((await s.subscriptions()).sort());

    // INBOX: same UIDVALIDITY, UIDNEXT, uids, flags, keywords, sizes, dates and bytes (as CRLF).
    const sel = await c.select('INBOX');
    expect(sel.uidValidity).toBe(app.uidValidity);
    expect(sel.uidNext).toBe(inbox.uidNext());
    const fetched = await c.fetchAll();
    expect([...fetched.keys()]).toEqual([1, 2]);
    expect(new Map([...fetched].map(([uid, f]) => [uid, f.flags]))).toEqual(roostFlags(inbox));
    for (const m of inbox.messages()) {
      const f = fetched.get(m.uid)!;
      expect(f.size).toBe(m.size);
      expect(f.date).toBe(imapDate(m.internalDate));
      expect(f.body).toBe(crlf(bodies[m.uid - 1]).toString('latin1'));
    }
    expect(fetched.get(1)!.date).toBe(imapDate(date));
    // Dovecot's FLAGS lists the keywords in use (its index was built from the file names).
    const flagsLine = (await c.ok('SELECT INBOX')).find((l) => l.startsWith('* FLAGS'))!;
    for (const m of inbox.messages()) for (const k of m.flags) expect(flagsLine).toContain(k);

    for (const [name, v] of [['Käse', await view(s, 'Käse')], ['Work.Projects', await view(s, 'Work.Projects')]] as const) {
      const st = await c.select(`"${name === 'Käse' ? 'K&AOQ-se' : name}"`);
      expect(st.uidValidity).toBe(v.uidValidity);
      expect(st.uidNext).toBe(v.uidNext());
      const got = await c.fetchAll();
      expect(new Map([...got].map(([uid, f]) => [uid, f.flags]))).toEqual(roostFlags(v));
    }

    // Interleaved: Dovecot changes, Roost sees them on sync; and the other way round.
    await c.select('INBOX');
    const changes: unknown[] = [];
    inbox.onChange((ch) => changes.push(ch));
    await c.ok('UID STORE 1 +FLAGS (\\Flagged NewFromDovecot)');
    await c.ok('APPEND INBOX (\\Seen) "01-Feb-2022 03:04:05 +0000"', crlf('Subject: from dovecot\n\nhi\n'));
    await inbox.sync();
    expect(inbox.messages().map((m) => [m.uid, [...m.flags].sort()])).toEqual([
      [1, ['$Forwarded', 'NewFromDovecot', '\\Flagged', '\\Seen']],
      [2, ['Later', '\\Answered']],
      [5, ['\\Seen']],
    ]);
    expect(inbox.messages()[2].internalDate).toBe(Date.UTC(2022, 1, 1, 3, 4, 5));
    expect(changes).toEqual(expect.arrayContaining([{ kind: 'added', messages: [expect.objectContaining({ uid: 5 })] }]));
    await inbox.store([5], 'add', ['RoostKw']);
    await inbox.store([1, 2], 'add', ['\\Deleted']);
    await inbox.expunge([2]);
    await c.ok('NOOP');
    const after = await c.fetchAll();
    expect(new Map([...after].map(([uid, f]) => [uid, f.flags]))).toEqual(roostFlags(inbox));
    await c.logout();
  });

  it('a tree written by Dovecot reads the same through Roost', async () => {
    const c = await Imap.login(dovecot.port, login);
    await c.ok('CREATE Folder');
    await c.ok('CREATE Folder.Child');
    await c.ok('CREATE "Entw&APw-rfe"');
    await c.ok('CREATE deep.down.here');
    await c.ok('SUBSCRIBE Folder.Child');
    await c.ok('SUBSCRIBE "Entw&APw-rfe"');
    await c.ok('SUBSCRIBE INBOX');
    await c.ok('SELECT INBOX');
    for (let i = 1; i <= 5; i++) {
      await c.ok(`APPEND INBOX (${i % 2 ? '\\Seen ' : ''}$Label${i} Shared) "0${i}-Mar-2023 10:00:0${i} +0100"`, crlf(`Subject: m${i}\nX-N: ${i}\n\nbody ${i}\n`));
    }
    await c.ok('UID STORE 2 +FLAGS (\\Answered \\Flagged)');
    await c.ok('UID STORE 3 -FLAGS ($Label3)');
    await c.ok('UID STORE 4 +FLAGS (\\Deleted)');
    await c.ok('EXPUNGE');
    await c.ok('UID COPY 1:2 Folder.Child');
    await c.ok('UID MOVE 5 "Entw&APw-rfe"');
    await c.ok('RENAME Folder Renamed');

    const dovecotList = await c.list();
    const dovecotLsub = await c.list('LSUB "" "*"');
    const expected = new Map<string, { uidValidity: number; uidNext: number; fetched: Awaited<ReturnType<Imap['fetchAll']>> }>();
    for (const name of ['INBOX', 'Renamed.Child', 'Entw&APw-rfe']) {
      const st = await c.select(`"${name}"`);
      expected.set(decodeMutf7(name), { ...st, fetched: await c.fetchAll() });
    }
    await c.logout();
    // A delivery Dovecot has not seen.
    await fs.writeFile(path.join(root, 'new', '1690000000.M1P1.mx'), 'Subject: delivered\n\nnew mail\n');
    await fs.chown(path.join(root, 'new', '1690000000.M1P1.mx'), OWNER.uid, OWNER.gid);

    const s = store();
    await s.ensure(); // creates the auto folders Dovecot (without auto=) did not
    const roostList = await s.list();
    for (const [name, attrs] of dovecotList) {
      const e = roostList.find((x) => x.name === name);
      expect(e, name).toBeTruthy();
      expect(!!e!.noSelect, name).toBe(attrs.includes('\\Noselect'));
      expect(e!.hasChildren, name).toBe(attrs.includes('\\HasChildren'));
    }
    expect(roostList.map((e) => e.name)).toEqual(expect.arrayContaining(['Renamed', 'Renamed.Child', 'Entwürfe', 'deep', 'deep.down', 'deep.down.here']));
    expect(await s.subscriptions()).toEqual(expect.arrayContaining([...dovecotLsub.keys()]));
    // Dovecot kept "Folder.Child" subscribed across the RENAME; so does Roost's reading.
    expect(await s.subscriptions()).toEqual(expect.arrayContaining(['Folder.Child', 'Entwürfe', 'INBOX']));

    for (const [name, exp] of expected) {
      const v = await view(s, name, true);
      expect(v.uidValidity, name).toBe(exp.uidValidity);
      const known = v.messages().filter((m) => exp.fetched.has(m.uid));
      expect(known.map((m) => m.uid), name).toEqual([...exp.fetched.keys()]);
      for (const m of known) {
        const f = exp.fetched.get(m.uid)!;
        expect([...m.flags].sort(), `${name} ${m.uid}`).toEqual(f.flags);
        expect(m.size).toBe(f.size);
        expect(imapDate(m.internalDate)).toBe(f.date);
        expect((await v.read(m.uid)).toString('latin1')).toBe(f.body!.replace(/\r\n/g, '\n'));
      }
      if (name === 'INBOX') {
        // The delivery Dovecot never saw gets the next uid.
        expect(v.messages().map((m) => m.uid)).toEqual([...exp.fetched.keys(), exp.uidNext]);
        expect(v.uidNext()).toBe(exp.uidNext + 1);
      } else {
        expect(v.uidNext()).toBe(exp.uidNext);
      }
    }

    // And back: Dovecot sees the uid Roost gave the delivery.
    const c2 = await Imap.login(dovecot.port, login);
    await c2.select('INBOX');
    const again = await c2.fetchAll();
    expect(again.get(expected.get('INBOX')!.uidNext)?.body).toContain('new mail');
    await c2.logout();
  });

  it('mirrors Dovecot on hierarchies, deletes and subscriptions (settling the open questions)', async () => {
    const c = await Imap.login(dovecot.port, login);
    await c.ok('CREATE a.b.c');
    await c.ok('SUBSCRIBE a.b.c');
    const sub = await fs.readFile(path.join(root, 'subscriptions'), 'utf8');
    expect(sub).toBe('V\t2\n\na\tb\tc\n');
    const dirs = (await fs.readdir(root)).filter((n) => n.startsWith('.'));
    expect(dirs).toEqual(['.a.b.c']);
    expect((await c.cmd('SUBSCRIBE nothere')).status).toMatch(/^NO/);
    expect((await c.cmd('DELETE a')).status).toMatch(/^NO \[NONEXISTENT\]/);
    expect((await c.cmd('DELETE INBOX')).status).toMatch(/^NO/);
    expect((await c.cmd('RENAME a a.x')).status).toMatch(/^NO/);
    // Dovecot refuses RENAME INBOX on maildir; Roost implements RFC 3501 6.3.5 instead (see store.ts).
    expect((await c.cmd('RENAME INBOX Old')).status).toMatch(/^NO/);
    await c.ok('CREATE a.b');
    await c.ok('DELETE a.b');
    expect((await fs.readdir(root)).filter((n) => n.startsWith('.'))).toEqual(['.a.b.c']);
    await c.logout();

    // Roost gives the same answers on a copy of the same situation.
    const s = store();
    await s.ensure();
    expect(await s.subscriptions()).toEqual(expect.arrayContaining(['a.b.c']));
    const code = async (p: Promise<unknown>) => p.then(() => 'OK', (e: { code?: string }) => e.code);
    expect(await code(s.subscribe('nothere'))).toBe('NONEXISTENT');
    expect(await code(s.delete('a'))).toBe('NONEXISTENT');
    expect(await code(s.delete('INBOX'))).toBe('NOPERM');
    expect(await code(s.rename('a', 'a.x'))).toBe('CANNOT');
    await s.create('a.b');
    await s.delete('a.b');
    expect((await fs.readdir(root)).filter((n) => n.startsWith('.') && !['.Drafts', '.Junk', '.Sent', '.Trash'].includes(n))).toEqual(['.a.b.c']);
    await s.rename('a', 'z');
    const c2 = await Imap.login(dovecot.port, login);
    const list = await c2.list();
    expect(list.get('z')).toEqual(expect.arrayContaining(['\\Noselect']));
    expect(list.has('z.b.c')).toBe(true);
    expect(list.has('a.b.c')).toBe(false);
    const lsub = await c2.list('LSUB "" "*"');
    expect([...lsub.keys()]).toEqual(['a.b.c']);
    // UIDVALIDITY of new mailboxes comes from the shared dovecot-uidvalidity counter: never reused.
    await c2.ok('CREATE FromDovecot');
    await s.create('FromRoost');
    const seen = new Set<number>();
    for (const name of ['INBOX', 'Sent', 'Trash', 'z.b.c', 'FromDovecot', 'FromRoost']) {
      const st = (await c2.ok(`STATUS ${name} (UIDVALIDITY)`)).join('');
      seen.add(Number(/UIDVALIDITY (\d+)/.exec(st)![1]));
    }
    expect(seen.size).toBe(6);
    await c2.logout();
  });

  it('Dovecot waits for a uidlist lock held by Roost', async () => {
    const s = store();
    await s.ensure();
    const { takeDotlock } = await import('../../electron/server/storage/maildir/dotlock.js');
    const { FsContext } = await import('../../electron/server/storage/maildir/fsutil.js');
    const lock = await takeDotlock(path.join(root, 'dovecot-uidlist'), new FsContext(OWNER, () => {}, 1000));
    const c = await Imap.login(dovecot.port, login);
    let done = false;
    const append = c.ok('APPEND INBOX ()', crlf('Subject: waits\n\nx\n')).then(() => (done = true));
    await new Promise((r) => setTimeout(r, 700));
    expect(done).toBe(false);
    await lock.release();
    await append;
    const v = await view(s, 'INBOX');
    expect(v.messages().map((m) => m.uid)).toEqual([1]);
    await c.logout();
  });

  it('keeps UIDs when Roost and Dovecot deliver to the same folder in turn, with a Dovecot session open', async () => {
    const s = store();
    await s.ensure();
    const c = await Imap.login(dovecot.port, login);
    await c.select('Sent');
    const v = await view(s, 'Sent');
    const uids: number[] = [];
    for (let i = 0; i < 6; i++) {
      if (i % 2 === 0) uids.push(...(await s.append('Sent', [{ data: crlf(`Subject: r${i}\n\nx\n`) }])).uids);
      else {
        const r = (await c.ok('APPEND Sent ()', crlf(`Subject: d${i}\n\ny\n`))).join('');
        const st = await c.cmd('NOOP');
        void st;
        void r;
      }
    }
    await v.sync();
    await c.ok('NOOP');
    const fetched = await c.fetchAll();
    expect([...fetched.keys()]).toEqual(v.messages().map((m) => m.uid));
    expect([...fetched.keys()]).toEqual([1, 2, 3, 4, 5, 6]);
    expect(uids).toEqual([1, 3, 5]);
    // A keyword limit Roost enforces does not break Dovecot's view.
    await v.store([1], 'add', ['\\Seen', 'A']);
    await c.ok('NOOP');
    expect((await c.fetchAll()).get(1)!.flags).toEqual(['A', '\\Seen']);
    await c.logout();
  });
});
