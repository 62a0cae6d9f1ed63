// Live delivery through a real Postfix relay (the seed's "Postfix + Dovecot" setup with Roost in
// Dovecot's place): a private Postfix (tests/helpers/postfix.ts) delivers with its virtual(8)
// agent into <vmail>/brokkr.net/<user>/maildir/, Roost (in-process, 127.0.0.1) serves the same
// tree. Mail is sent over SMTP with nodemailer.
//   - an imapflow client IDLEs as alice@brokkr.net, receives EXISTS, and FETCHes the message
//     byte-identical to the file Postfix stored (LF on disk, CRLF on the wire), with Postfix's
//     Delivered-To and Return-Path;
//   - a user whose maildir does not exist yet (Postfix creates it): Roost notices it and emits
//     `delivered`, and the user then finds the message;
//   - a second program touches the maildir while two clients IDLE: they see exactly its changes.
// Skips, with the reason printed, when Postfix is not installed or cannot run here.
import fs from 'node:fs/promises';
import fsSync from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServerEvent } from '../../electron/shared/events.js';
import { startMailServer, type MailServer } from '../../electron/server/server.js';
import { unloadIdleMailboxes } from '../../electron/server/storage/maildir/mailbox.js';
import { chownTree, mailOwner } from '../helpers/dovecot.js';
import { ImapWire } from '../helpers/imap-wire.js';
import { postfixUnavailableReason, postfixVersion, startPostfix, type PostfixInstance, skipUnlessPostfixStarted } from '../helpers/postfix.js';
import { testSettings } from '../helpers/roost.js';
import { waitFor as waitForAny } from '../helpers/wait.js';

const PW = 'postfix-relay-pw';
const WAIT = 10_000;
type Delivered = Extract<ServerEvent, { type: 'delivered' }>;

const waitFor = <T>(what: string, check: () => T | undefined | false, ms = WAIT): Promise<T> => waitForAny(what, check, ms);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<T>((_, reject) => (t = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)))]);
  } finally {
    clearTimeout(t);
  }
}

const unavailable = postfixUnavailableReason();
if (unavailable) console.warn(`[postfix] skipped: ${unavailable}`);

describe.skipIf(!!unavailable)(`live delivery through a real Postfix (${unavailable ?? postfixVersion()})`, () => {
  let dir: string;
  let vmail: string;
  let postfix: PostfixInstance | undefined;
  let server: MailServer | undefined;
  const events: ServerEvent[] = [];
  const clients: ImapFlow[] = [];
  const wires: ImapWire[] = [];
  let startError: string | undefined;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'roost-postfix-e2e-'));
    await fs.chmod(dir, 0o755);
    vmail = path.join(dir, 'vmail');
    await fs.mkdir(path.join(vmail, 'brokkr.net'), { recursive: true });
    // All mail is owned by one non-root user, as in the seed (virtual_uid_maps / userdb uid=vmail).
    const owner = mailOwner();
    await chownTree(vmail, owner.uid, owner.gid);
    server = await startMailServer({ settings: testSettings(vmail, PW), events: (e) => events.push(e) });
    try {
      postfix = await startPostfix({
        vmail,
        domains: ['brokkr.net'],
        mailboxes: {
          'alice@brokkr.net': 'brokkr.net/alice/maildir/',
          'bob@brokkr.net': 'brokkr.net/bob/maildir/',
          'carol@brokkr.net': 'brokkr.net/carol/maildir/',
        },
        uid: owner.uid,
        gid: owner.gid,
      });
    } catch (err) {
      startError = `Postfix cannot start here: ${(err as Error).message}`;
      console.warn(`[postfix] ${startError}`);
    }
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) await c.logout().catch(() => c.close());
    for (const w of wires) w.destroy();
    await postfix?.stop();
    await server?.close();
    await unloadIdleMailboxes();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  }, 60_000);

  const skipUnlessStarted = (ctx: { skip: (note?: string) => void }): void => skipUnlessPostfixStarted(ctx, startError);

  const imapflow = async (user: string): Promise<ImapFlow> => {
    const c = new ImapFlow({ host: '127.0.0.1', port: server!.port, secure: false, auth: { user, pass: PW }, logger: false, disableAutoIdle: true });
    c.on('error', () => {});
    clients.push(c);
    await c.connect();
    return c;
  };

  const send = async (to: string, subject: string, text: string): Promise<void> => {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: postfix!.port, secure: false, ignoreTLS: true, tls: { rejectUnauthorized: false } });
    try {
      await transport.sendMail({ from: 'Sender Example <sender@example.org>', to, subject, text, messageId: `<${subject.replace(/\W+/g, '-')}.${Date.now()}@example.org>` });
    } finally {
      transport.close();
    }
  };

  /** The one message file Postfix (and then Roost) left in a maildir, with the given subject. */
  const storedFile = (maildir: string, subject: string): string => {
    for (const sub of ['cur', 'new']) {
      for (const name of fsSync.readdirSync(path.join(maildir, sub))) {
        const file = path.join(maildir, sub, name);
        if (fsSync.readFileSync(file, 'latin1').includes(`Subject: ${subject}`)) return file;
      }
    }
    throw new Error(`no file with Subject: ${subject} in ${maildir}`);
  };

  it('pushes EXISTS to an IDLE imapflow client, which FETCHes the message byte-identical to what Postfix stored', async (ctx) => {
    skipUnlessStarted(ctx);
    const c = await imapflow('alice@brokkr.net');
    await c.mailboxOpen('INBOX');
    const exists = new Promise<{ count: number; prevCount: number }>((resolve) => c.on('exists', resolve));
    const idling = c.idle();
    await withTimeout((async () => { while (!c.idling) await sleep(20); })(), 5000, 'IDLE to start');
    await send('alice@brokkr.net', 'Through Postfix', 'Hello Alice,\nthis came through a real Postfix.\n');
    const ev = await withTimeout(exists, WAIT, 'EXISTS while IDLE after the Postfix delivery');
    expect(ev).toMatchObject({ count: 1, prevCount: 0 });
    await c.noop(); // ends IDLE
    await withTimeout(idling, 5000, 'IDLE to end');
    const m = await c.fetchOne('1', { source: true, uid: true, size: true });
    if (!m) throw new Error('FETCH 1 failed');
    const stored = fsSync.readFileSync(storedFile(path.join(vmail, 'brokkr.net/alice/maildir'), 'Through Postfix'));
    // Postfix writes LF line endings; IMAP sends CRLF (as Dovecot does). Otherwise byte for byte.
    const expected = Buffer.from(stored.toString('latin1').replace(/\n/g, '\r\n'), 'latin1');
    expect(m.source!.equals(expected)).toBe(true);
    expect(m.size).toBe(expected.length);
    const head = m.source!.toString('latin1');
    expect(head).toMatch(/^Return-Path: <sender@example\.org>\r\n/);
    expect(head).toMatch(/\r\nDelivered-To: alice@brokkr\.net\r\n/);
    expect(head).toMatch(/\r\nReceived: from .*\r\n\tby mail\.roost-test\.example \(Postfix\)/);
    // ... and the supervisor-bound event for the app.
    const d = await waitFor('delivered for alice', () => events.find((e): e is Delivered => e.type === 'delivered' && e.user === 'alice@brokkr.net'));
    expect(d).toMatchObject({ mailbox: 'INBOX', uid: m.uid, from: 'Sender Example <sender@example.org>', subject: 'Through Postfix', size: expected.length });
  });

  it('notices a user whose maildir Postfix creates on the first delivery', async (ctx) => {
    skipUnlessStarted(ctx);
    expect(fsSync.existsSync(path.join(vmail, 'brokkr.net/bob'))).toBe(false);
    await send('bob@brokkr.net', 'Welcome Bob', 'Your first mail.\n');
    await postfix!.waitDelivered('bob@brokkr.net');
    const d = await waitFor('delivered for bob', () => events.find((e): e is Delivered => e.type === 'delivered' && e.user === 'bob@brokkr.net'));
    const file = storedFile(path.join(vmail, 'brokkr.net/bob/maildir'), 'Welcome Bob');
    const st = fsSync.statSync(file);
    expect(d).toMatchObject({ mailbox: 'INBOX', uid: 1, from: 'Sender Example <sender@example.org>', subject: 'Welcome Bob' });
    expect(d.deliveredAt).toBe(Math.round(st.mtimeMs));
    expect(d.noticedAt).toBeGreaterThanOrEqual(d.deliveredAt);
    // Postfix's directories: owned by the mail owner, and Roost left the file in new/ for Bob's first session.
    expect(path.basename(path.dirname(file))).toBe('new');
    const stored = fsSync.readFileSync(file, 'latin1');
    const c = await imapflow('bob@brokkr.net');
    const box = await c.mailboxOpen('INBOX');
    expect(box.exists).toBe(1);
    const m = await c.fetchOne('1', { source: true, flags: true, uid: true });
    if (!m) throw new Error('FETCH 1 failed');
    expect(m.uid).toBe(1);
    expect(m.flags!.has('\\Recent')).toBe(true);
    expect(m.source!.equals(Buffer.from(stored.replace(/\n/g, '\r\n'), 'latin1'))).toBe(true);
    expect(d.size).toBe(m.source!.length);
  });

  it('shows two IDLE clients exactly what a second program does to the delivered file: move to cur/ with flags, flag change, delete', async (ctx) => {
    skipUnlessStarted(ctx);
    const user = 'carol@brokkr.net';
    const a = await ImapWire.connect('127.0.0.1', server!.port, { timeoutMs: WAIT });
    const b = await ImapWire.connect('127.0.0.1', server!.port, { timeoutMs: WAIT });
    wires.push(a, b);
    for (const w of [a, b]) {
      await w.ok(`LOGIN ${user} ${PW}`);
      // Read-only sessions leave new/ alone, so the other program finds the file where Postfix put it.
      await w.ok('EXAMINE INBOX');
      w.sendLine('i1 IDLE');
      await w.waitContinuation();
    }
    const next = (w: ImapWire, what: string) => w.readUntil(() => true, WAIT, what).then((l) => l[0]);
    await send(user, 'For Carol', 'Hi Carol.\n');
    for (const w of [a, b]) expect([await next(w, 'EXISTS'), await next(w, 'RECENT')]).toEqual(['* 1 EXISTS', '* 1 RECENT']);
    const maildir = path.join(vmail, 'brokkr.net/carol/maildir');
    const file = storedFile(maildir, 'For Carol');
    expect(path.basename(path.dirname(file))).toBe('new');
    // A MUA reading the maildir directly: new/ -> cur/ with \Seen.
    const seen = path.join(maildir, 'cur', `${path.basename(file)}:2,S`);
    await fs.rename(file, seen);
    for (const w of [a, b]) expect(await next(w, 'FETCH after the move')).toBe('* 1 FETCH (FLAGS (\\Seen \\Recent))');
    const flagged = seen.replace(/:2,S$/, ':2,FS');
    await fs.rename(seen, flagged);
    for (const w of [a, b]) expect(await next(w, 'FETCH after the flag change')).toBe('* 1 FETCH (FLAGS (\\Flagged \\Seen \\Recent))');
    await fs.unlink(flagged);
    for (const w of [a, b]) expect([await next(w, 'EXPUNGE'), await next(w, 'RECENT')]).toEqual(['* 1 EXPUNGE', '* 0 RECENT']);
    await sleep(300);
    for (const w of [a, b]) {
      expect(w.drain()).toEqual([]);
      w.sendLine('DONE');
      expect(await next(w, 'IDLE completion')).toBe('i1 OK Idle completed.');
    }
  });
});
