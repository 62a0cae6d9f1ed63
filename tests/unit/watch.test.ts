// The maildir watcher (electron/server/watch/) on a real file system in a temp directory: the
// coalescing gate, the tree pattern, header facts, and a real server (in-process, 127.0.0.1)
// noticing what other programs do to the vmail tree: deliveries into new/ and cur/, a new
// user's maildir appearing, folders created by hand, a burst of 1,000 deliveries, polling
// mode, and a delivery racing with a Roost expunge.
import fs from 'node:fs/promises';
import fsSync from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ServerEvent } from '../../electron/shared/events.js';
import { startMailServer, type MailServerOptions } from '../../electron/server/server.js';
import { SyncGate } from '../../electron/server/watch/sync-gate.js';
import { treePattern } from '../../electron/server/watch/tree.js';
import { headerFacts } from '../../electron/server/watch/delivered.js';
import { openMailStore } from '../../electron/server/storage/index.js';
import { liveMailbox } from '../../electron/server/storage/maildir/mailbox.js';
import { ImapWire } from '../helpers/imap-wire.js';
import { maildirOf, startServerEnv, stopServerEnv, type ServerEnv } from '../helpers/server-env.js';
import { testSettings } from '../helpers/roost.js';
import { waitFor } from '../helpers/wait.js';

const PW = 'watch-test-pw';
type Delivered = Extract<ServerEvent, { type: 'delivered' }>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


describe('SyncGate', () => {
  it('syncs at once on the first hint, once more for hints during a sync, and not at all when every check says the index is right', async () => {
    let runs = 0;
    let release: (() => void) | null = null;
    const gate = new SyncGate(
      () => {
        runs++;
        return new Promise<void>((r) => (release = r));
      },
      0,
      () => {},
    );
    gate.hint();
    expect(runs).toBe(1); // no delay before the first sync
    for (let i = 0; i < 100; i++) gate.hint();
    expect(runs).toBe(1);
    release!();
    await waitFor('the follow-up sync', () => runs === 2);
    release!();
    await gate.settled();
    expect(runs).toBe(2);
    gate.hint(() => false);
    expect(runs).toBe(2);
    gate.hint(() => true);
    expect(runs).toBe(3);
    release!();
    await gate.settled();
    await gate.close();
  });

  it('keeps syncs minGapMs apart during a burst', async () => {
    let runs = 0;
    const gate = new SyncGate(async () => void runs++, 50, () => {});
    const start = Date.now();
    while (Date.now() - start < 300) {
      gate.hint();
      await sleep(1);
    }
    await gate.settled();
    expect(runs).toBeGreaterThanOrEqual(2);
    expect(runs).toBeLessThanOrEqual(9);
    await gate.close();
  });
});

describe('treePattern', () => {
  it("reads the seed's mail_home/mail_location as <vmail>/%d/%n/maildir", () => {
    const s = testSettings('/var/vmail', 'x');
    expect(treePattern(s)).toEqual({ vmail: '/var/vmail', segments: [{ variable: 'd' }, { variable: 'n' }, { literal: 'maildir' }] });
  });

  it('explains templates it cannot walk', () => {
    const s = { ...testSettings('/var/vmail', 'x'), mail_home: '/var/vmail/u-%n' };
    expect(treePattern(s)).toMatch(/unsupported path segment 'u-%n'/);
    const t = { ...testSettings('/var/vmail', 'x'), mail_location: 'maildir:/srv/%u' };
    expect(treePattern(t)).toMatch(/not below the home directory/);
  });
});

describe('headerFacts', () => {
  it('decodes From and Subject for display and stops at the end of the header', () => {
    const head = Buffer.from(
      'Return-Path: <bob@example.org>\nFrom: =?UTF-8?Q?Bj=C3=B6rn?= <bjorn@example.org>\nSubject: =?ISO-8859-1?Q?Caf=E9?=\n  au lait\nMessage-ID: <m1@example.org>\n\nSubject: not this\n',
    );
    expect(headerFacts(head)).toEqual({ from: 'Björn <bjorn@example.org>', subject: 'Café au lait', messageId: '<m1@example.org>' });
  });
});

// ---------------------------------------------------------------------------------------------

type Env = ServerEnv;
let env: Env | null = null;

async function setup(watch?: MailServerOptions['watch']): Promise<Env> {
  env = await startServerEnv('roost-watch-', PW, watch);
  return env;
}

afterEach(async () => {
  const e = env;
  env = null;
  if (e) await stopServerEnv(e);
});

/** What Postfix's virtual(8) does for a maildir: make the directories, write tmp/, link into new/. */
async function makeMaildir(dir: string): Promise<void> {
  for (const sub of ['tmp', 'cur', 'new']) await fs.mkdir(path.join(dir, sub), { recursive: true });
}

let seq = 0;
/** Delivers like an MDA: write into tmp/, rename into new/ (or straight into cur/ with info). Returns the final path. */
async function deliver(mailbox: string, text: string, into: 'new' | 'cur' = 'new', info = ''): Promise<string> {
  const name = `${Math.floor(Date.now() / 1000)}.M${Date.now() % 1_000_000}P${process.pid}Q${++seq}.test.example`;
  const tmp = path.join(mailbox, 'tmp', name);
  await fs.writeFile(tmp, text);
  const final = path.join(mailbox, into, into === 'cur' ? `${name}:2,${info}` : name);
  await fs.rename(tmp, final);
  return final;
}

function message(subject: string, from = 'Sender <sender@example.org>'): string {
  return `Return-Path: <sender@example.org>\nDelivered-To: alice@brokkr.net\nFrom: ${from}\nTo: alice@brokkr.net\nSubject: ${subject}\nMessage-ID: <${subject.replace(/\W/g, '')}.${seq}@example.org>\n\nHello, ${subject}.\n`;
}

function delivered(e: Env): Delivered[] {
  return e.events.filter((x): x is Delivered => x.type === 'delivered');
}

describe('the maildir watcher, on a real file system', () => {
  it('emits `delivered` with decoded fields for a delivery into new/ of a user with no session', async () => {
    const e = await setup();
    const inbox = maildirOf(e.vmail, 'alice@brokkr.net');
    await makeMaildir(inbox);
    // Users that exist before the server starts are found by the tree walk.
    await e.server.close();
    e.server = await startMailServer({ settings: testSettings(e.vmail, PW), events: (x) => e.events.push(x) });
    const before = Date.now();
    const file = await deliver(inbox, message('Hello =?UTF-8?Q?w=C3=B6rld?=', '=?UTF-8?Q?J=C3=BCrgen?= <j@example.org>'));
    const [ev] = await waitFor('a delivered event', () => delivered(e).length > 0 && delivered(e));
    const st = fsSync.statSync(file);
    expect(ev).toMatchObject({ user: 'alice@brokkr.net', mailbox: 'INBOX', uid: 1, from: 'Jürgen <j@example.org>', subject: 'Hello wörld' });
    // RFC822.SIZE counts CRLF line endings.
    const text = fsSync.readFileSync(file, 'latin1');
    expect(ev!.size).toBe(Buffer.byteLength(text, 'latin1') + (text.match(/\n/g)?.length ?? 0));
    expect(ev!.deliveredAt).toBe(Math.round(st.mtimeMs));
    expect(ev!.noticedAt).toBeGreaterThanOrEqual(before);
    // No session: the file stays in new/ for the first IMAP session to take as \Recent.
    expect(fsSync.existsSync(file)).toBe(true);
    expect(e.events.some((x) => x.type === 'log' && /msgid=<.*>: new mail in INBOX: box=INBOX, uid=1, size=\d+/.test(x.record.message))).toBe(true);
  });

  it('notices a new user whose maildir Postfix creates on first delivery, and deliveries straight into cur/ of a folder made by hand', async () => {
    const e = await setup();
    const bob = maildirOf(e.vmail, 'bob@brokkr.net');
    // The domain and user directories do not exist yet when the server starts.
    await fs.mkdir(path.join(bob, 'tmp'), { recursive: true });
    const name = `${Math.floor(Date.now() / 1000)}.V1I2M3.test.example`;
    await fs.writeFile(path.join(bob, 'tmp', name), message('first mail for bob'));
    await fs.mkdir(path.join(bob, 'cur'));
    await fs.mkdir(path.join(bob, 'new'));
    await fs.link(path.join(bob, 'tmp', name), path.join(bob, 'new', name));
    await fs.unlink(path.join(bob, 'tmp', name));
    const first = await waitFor('delivered for bob', () => delivered(e).find((d) => d.user === 'bob@brokkr.net'));
    expect(first).toMatchObject({ mailbox: 'INBOX', uid: 1, subject: 'first mail for bob' });

    // A folder created by hand (Maildir++), then a message put straight into its cur/ with flags.
    const folder = path.join(bob, '.Lists.Roost');
    await makeMaildir(folder);
    await fs.writeFile(path.join(folder, 'maildirfolder'), '');
    await sleep(50);
    await deliver(folder, message('into cur'), 'cur', 'S');
    const second = await waitFor('delivered into the folder', () => delivered(e).find((d) => d.mailbox === 'Lists.Roost'));
    expect(second).toMatchObject({ user: 'bob@brokkr.net', uid: 1, subject: 'into cur' });
  });

  it('turns a burst of 1,000 deliveries into few syncs, every message with its own uid, exactly once', async () => {
    const e = await setup();
    const user = 'burst@brokkr.net';
    const w = await ImapWire.connect(e.server.host, e.server.port);
    e.clients.push(w);
    await w.ok(`LOGIN ${user} ${PW}`);
    await w.ok('SELECT INBOX');
    const inbox = maildirOf(e.vmail, user);
    const names: string[] = [];
    for (let i = 0; i < 1000; i++) {
      const name = `${Math.floor(Date.now() / 1000)}.B${i}.test.example`;
      fsSync.writeFileSync(path.join(inbox, 'tmp', name), message(`burst ${i}`));
      names.push(name);
    }
    for (const name of names) fsSync.renameSync(path.join(inbox, 'tmp', name), path.join(inbox, 'new', name));
    await waitFor('1,000 delivered events', () => delivered(e).length >= 1000, 10_000);
    await e.server.watcher.settled();
    const uids = delivered(e).map((d) => d.uid);
    expect(uids.length).toBe(1000);
    expect(new Set(uids).size).toBe(1000);
    expect(Math.min(...uids)).toBe(1);
    expect(Math.max(...uids)).toBe(1000);
    const stats = e.server.watcher.statsOf(inbox)!;
    expect(stats.hints).toBeGreaterThanOrEqual(1000);
    expect(stats.syncs).toBeLessThan(100);
    // The session learns of them at its next command (it is not idling): NOOP, then search.
    const noop = await w.ok('NOOP');
    expect(noop.untagged).toEqual(['* 1000 EXISTS', '* 1000 RECENT']);
    const r = await w.ok('UID SEARCH ALL');
    const search = r.untagged.find((l) => l.startsWith('* SEARCH'))!;
    expect(search.split(' ').slice(2).map(Number)).toEqual(Array.from({ length: 1000 }, (_v, i) => i + 1));
    // The session moved them to cur/ (it holds \Recent for all of them).
    expect(fsSync.readdirSync(path.join(inbox, 'new'))).toEqual([]);
    expect(fsSync.readdirSync(path.join(inbox, 'cur'))).toHaveLength(1000);
  });

  it('falls back to polling and says so in the log, with the interval', async () => {
    const e = await setup({ mode: 'poll', pollMs: 100 });
    const logs = e.events.filter((x) => x.type === 'log').map((x) => (x.type === 'log' ? x.record.message : ''));
    expect(logs.some((m) => /maildir watcher: watching \d+ directories .*polling every 100 ms/.test(m))).toBe(true);
    const inbox = maildirOf(e.vmail, 'carol@brokkr.net');
    await makeMaildir(inbox);
    await deliver(inbox, message('polled'));
    const ev = await waitFor('delivered while polling', () => delivered(e).find((d) => d.user === 'carol@brokkr.net'));
    expect(ev.subject).toBe('polled');
  });

  it('gives a file renamed into new/ while a Roost session expunges exactly one uid', async () => {
    const e = await setup();
    const user = 'race@brokkr.net';
    const inbox = maildirOf(e.vmail, user);
    const a = await ImapWire.connect(e.server.host, e.server.port);
    const b = await ImapWire.connect(e.server.host, e.server.port);
    e.clients.push(a, b);
    await a.ok(`LOGIN ${user} ${PW}`);
    await b.ok(`LOGIN ${user} ${PW}`);
    for (let i = 0; i < 200; i++) await a.ok(`APPEND INBOX (\\Deleted) {${message(`old ${i}`).length}+}\r\n${message(`old ${i}`)}`);
    await a.ok('SELECT INBOX');
    await b.ok('SELECT INBOX');
    const rounds = 20;
    for (let i = 0; i < rounds; i++) {
      // Another Roost session syncs (NOOP) and this one expunges while files land in new/.
      const p = Promise.all([a.ok('EXPUNGE'), b.ok('NOOP'), deliver(inbox, message(`racing ${i}`))]);
      await p;
      await a.ok('UID STORE 1:* +FLAGS.SILENT (\\Deleted)');
    }
    await e.server.watcher.settled();
    await a.ok('EXPUNGE');
    await b.ok('NOOP');
    await waitFor('20 delivered events', () => delivered(e).length >= rounds);
    await e.server.watcher.settled();
    const ev = delivered(e);
    expect(ev).toHaveLength(rounds);
    expect(new Set(ev.map((d) => d.uid)).size).toBe(rounds);
    // Every racing file got exactly one uid: the uidlist has one record per base name.
    const uidlist = fsSync.readFileSync(path.join(inbox, 'dovecot-uidlist'), 'utf8').split('\n').slice(1).filter(Boolean);
    const bases = uidlist.map((l) => l.slice(l.indexOf(':') + 1));
    expect(new Set(bases).size).toBe(bases.length);
    for (let i = 0; i < rounds; i++) expect(ev.filter((d) => d.subject === `racing ${i}`)).toHaveLength(1);
  });

  it('does not emit `delivered` for APPEND or COPY by Roost itself', async () => {
    const e = await setup();
    const user = 'own@brokkr.net';
    const w = await ImapWire.connect(e.server.host, e.server.port);
    e.clients.push(w);
    await w.ok(`LOGIN ${user} ${PW}`);
    await w.ok('SELECT INBOX');
    await w.ok(`APPEND INBOX {${message('appended').length}+}\r\n${message('appended')}`);
    await w.ok('COPY 1 Trash');
    // An outside delivery afterwards is reported (and only it).
    await deliver(maildirOf(e.vmail, user), message('from outside'));
    await waitFor('the outside delivery', () => delivered(e).length > 0);
    await sleep(200);
    await e.server.watcher.settled();
    expect(delivered(e).map((d) => d.subject)).toEqual(['from outside']);
  });

  it('forgets the index of a mailbox nobody has open as soon as its maildir is deleted, and serves a new one made in its place', async () => {
    const e = await setup();
    const user = 'gone@brokkr.net';
    const inbox = maildirOf(e.vmail, user);
    const w = await ImapWire.connect(e.server.host, e.server.port);
    e.clients.push(w);
    await w.ok(`LOGIN ${user} ${PW}`);
    await w.ok(`APPEND INBOX {${message('kept idle').length}+}\r\n${message('kept idle')}`);
    await w.ok('SELECT INBOX');
    await w.ok('LOGOUT');
    // Closed: the index stays in memory for a while, for the next login.
    await waitFor('the mailbox to go idle', () => liveMailbox(inbox)?.refs === 0);
    await fs.rm(path.dirname(inbox), { recursive: true, force: true });
    await waitFor('the deleted mailbox to be forgotten', () => liveMailbox(inbox) === undefined);
    // The user comes back: a fresh maildir, numbered from 1 again.
    const again = await ImapWire.connect(e.server.host, e.server.port);
    e.clients.push(again);
    await again.ok(`LOGIN ${user} ${PW}`);
    const sel = await again.ok('SELECT INBOX');
    expect(sel.untagged).toContain('* 0 EXISTS');
  });

  it("leaves the store usable when its maildir is opened without a session (the watcher's own store creates no folders)", async () => {
    const e = await setup();
    const inbox = maildirOf(e.vmail, 'dave@brokkr.net');
    await makeMaildir(inbox);
    await deliver(inbox, message('no folders please'));
    await waitFor('delivered', () => delivered(e).length > 0);
    const store = openMailStore({ user: 'dave@brokkr.net', root: inbox });
    expect((await store.list()).map((m) => m.name)).toEqual(['INBOX']);
  });
});
