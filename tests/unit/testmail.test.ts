// "Send a test message" (electron/testmail): the local drop lands in the maildir the Postfix way and
// an IMAP client sees it with one UID; the relay test against a closed port and against a tiny SMTP
// server of our own (node:net) that answers like Postfix: 554 relay denied, 550 user unknown,
// 250 queued as ABC123 (then delivering, or not), each explained; waiting never hangs.
import { EventEmitter } from 'node:events';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { ImapFlow } from 'imapflow';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ServerEvent } from '../../electron/shared/events.js';
import type { ServerSettings } from '../../electron/shared/settings-types.js';
import {
  deliverToMaildir, localDrop, parseQueueId, sendViaRelay, waitForDeliveredEvent, type DeliveredEvent,
} from '../../electron/testmail/index.js';
import { makeTemp, removeTemp, userMaildir } from '../helpers/corpus.js';
import { startRoost, testSettings } from '../helpers/roost.js';

const PASSWORD = 'ThisIsABadPassword';

interface FakeSmtp {
  port: number;
  /** Messages received (DATA), with their envelope. */
  received: { from: string; to: string[]; data: string }[];
  close(): Promise<void>;
}

/**
 * A few lines of SMTP (RFC 5321): greeting, EHLO, MAIL, RCPT (answered by `rcpt`), DATA, QUIT.
 * `onData` runs when a message has been accepted.
 */
async function fakeSmtp(rcpt: (address: string) => string, onData?: (msg: { to: string[]; data: string }) => void): Promise<FakeSmtp> {
  const received: FakeSmtp['received'] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffer = '';
    let inData = false;
    let from = '';
    let to: string[] = [];
    let data = '';
    const say = (line: string) => socket.write(line + '\r\n');
    say('220 fake.test ESMTP Postfix (Debian/GNU)');
    socket.on('data', (chunk) => {
      buffer += chunk.toString('latin1');
      let nl: number;
      while ((nl = buffer.indexOf('\r\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 2);
        if (inData) {
          if (line === '.') {
            inData = false;
            received.push({ from, to, data });
            say('250 2.0.0 Ok: queued as ABC123');
            onData?.({ to, data });
            to = [];
            data = '';
          } else {
            data += (line.startsWith('..') ? line.slice(1) : line) + '\n';
          }
          continue;
        }
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO') say('250-fake.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 8BITMIME');
        else if (verb === 'HELO') say('250 fake.test');
        else if (verb === 'MAIL') (from = line.slice(10).trim()), say('250 2.1.0 Ok');
        else if (verb === 'RCPT') {
          const address = /<([^>]*)>/.exec(line)?.[1] ?? '';
          const reply = rcpt(address);
          if (reply.startsWith('250')) to.push(address);
          say(reply);
        } else if (verb === 'DATA') {
          if (to.length === 0) say('554 5.5.1 Error: no valid recipients');
          else (inData = true), say('354 End data with <CR><LF>.<CR><LF>');
        } else if (verb === 'RSET') (to = []), say('250 2.0.0 Ok');
        else if (verb === 'NOOP') say('250 2.0.0 Ok');
        else if (verb === 'QUIT') say('221 2.0.0 Bye'), socket.end();
        else say('502 5.5.2 Error: command not recognized');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    received,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

function subjectOf(data: string): string {
  return /^Subject: (.*)$/m.exec(data)?.[1] ?? '';
}

describe('testmail', () => {
  let vmail: string;
  let settings: ServerSettings;
  const cleanups: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    vmail = await makeTemp('roost-testmail-');
    settings = testSettings(vmail, PASSWORD);
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  afterAll(async () => {
    await removeTemp(vmail);
  });

  it('local drop writes tmp/ then new/ under a Postfix-style name, and an IMAP client sees it with one UID', async () => {
    const dropped = await localDrop({ settings, address: 'Dana@Example.org', subject: 'Grüße from the drop', body: 'Hello\nDana\n' });
    const maildir = userMaildir(vmail, 'dana@example.org');
    expect(dropped.maildir).toBe(maildir);
    expect(dropped.path).toBe(path.join(maildir, 'new', dropped.filename));
    expect(dropped.filename).toMatch(/^\d+\.V[0-9a-f]+I[0-9a-f]+M\d+\.\S+$/);
    expect(await fs.readdir(path.join(maildir, 'tmp'))).toEqual([]);
    expect((await fs.stat(maildir)).mode & 0o777).toBe(0o700);
    const raw = await fs.readFile(dropped.path, 'utf8');
    expect(raw).not.toContain('\r');
    expect(raw).toMatch(/^Return-Path: <roost-test@localhost>\nDelivered-To: dana@example.org\nReceived: /);
    expect(raw).toContain(`Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= from the drop [${dropped.token}]`);

    const roost = await startRoost({ vmail, password: PASSWORD });
    cleanups.push(() => roost.stop());
    const c = new ImapFlow({ host: roost.host, port: roost.port, secure: false, logger: false, auth: { user: 'dana@example.org', pass: PASSWORD } });
    c.on('error', () => {});
    cleanups.push(() => c.logout().catch(() => c.close()));
    await c.connect();
    const box = await c.mailboxOpen('INBOX');
    expect(box.exists).toBe(1);
    const msg = await c.fetchOne('1', { uid: true, envelope: true, source: true });
    if (!msg) throw new Error('FETCH failed');
    expect(msg.uid).toBe(1);
    expect(msg.envelope?.subject).toBe(`Grüße from the drop [${dropped.token}]`);
    expect(msg.envelope?.messageId).toBe(dropped.messageId);
    expect(msg.source?.toString()).toContain('Hello\r\nDana');
  });

  it('relay: connection refused is explained (is Postfix running, which port)', async () => {
    const port = await closedPort();
    const started = Date.now();
    const r = await sendViaRelay({ host: '127.0.0.1', port, to: 'alice@example.org', waitForDelivery: async () => null, timeoutMs: 5000 });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r).toMatchObject({ stage: 'connect', code: 'ECONNREFUSED' });
    expect(r.explanation).toContain(`127.0.0.1:${port}`);
    expect(r.whatToCheck.join('\n')).toMatch(/Postfix running/);
    expect(r.whatToCheck.join('\n')).toContain(`:${port}`);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('relay: 554 relay access denied and 550 user unknown are explained with virtual_mailbox_maps', async () => {
    const smtp = await fakeSmtp((a) =>
      a === 'denied@elsewhere.test' ? `554 5.7.1 <${a}>: Relay access denied`
      : a === 'nobody@example.org' ? `550 5.1.1 <${a}>: Recipient address rejected: User unknown in virtual mailbox table`
      : a === 'later@example.org' ? `450 4.3.0 <${a}>: Temporary lookup failure`
      : '250 2.1.5 Ok');
    cleanups.push(() => smtp.close());
    const send = (to: string) => sendViaRelay({ host: '127.0.0.1', port: smtp.port, to, waitForDelivery: async () => null, timeoutMs: 2000 });

    const denied = await send('denied@elsewhere.test');
    expect(denied).toMatchObject({ ok: false, stage: 'smtp', code: 'RELAY_DENIED', smtpCode: 554 });
    if (denied.ok) return;
    expect(denied.smtpResponse).toContain('Relay access denied');
    expect(denied.whatToCheck.join('\n')).toMatch(/virtual_mailbox_domains[\s\S]*virtual_mailbox_maps/);

    const unknown = await send('nobody@example.org');
    expect(unknown).toMatchObject({ ok: false, stage: 'smtp', code: 'USER_UNKNOWN', smtpCode: 550 });
    if (unknown.ok) return;
    expect(unknown.explanation).toContain('virtual_mailbox_maps');
    expect(unknown.whatToCheck.join('\n')).toContain('postmap');

    const later = await send('later@example.org');
    expect(later).toMatchObject({ ok: false, stage: 'smtp', code: 'SMTP_TEMPORARY', smtpCode: 450 });
    expect(smtp.received).toHaveLength(0);
  });

  it('relay: accepted (queued as ABC123), arrived, timed, matched to its delivered event', async () => {
    const events = new EventEmitter();
    const subscribe = (listener: (e: ServerEvent) => void) => {
      events.on('event', listener);
      return () => void events.off('event', listener);
    };
    const maildir = userMaildir(vmail, 'erin@example.org');
    // The fake relay delivers like Postfix, and "Roost's watcher" reports it (an unrelated event first).
    const smtp = await fakeSmtp(() => '250 2.1.5 Ok', ({ data }) => {
      void (async () => {
        const file = await deliverToMaildir(maildir, Buffer.from(data));
        const st = await fs.stat(file);
        const noise: DeliveredEvent = { type: 'delivered', user: 'erin@example.org', mailbox: 'INBOX', uid: 7, from: 'x', subject: 'other mail', size: 1, deliveredAt: st.mtimeMs, noticedAt: Date.now() };
        events.emit('event', noise);
        events.emit('event', { ...noise, uid: 8, subject: subjectOf(data), size: st.size, noticedAt: Date.now() + 1 } satisfies DeliveredEvent);
      })();
    });
    cleanups.push(() => smtp.close());
    const r = await sendViaRelay({
      host: '127.0.0.1', port: smtp.port, to: 'Erin@example.org', from: 'tester@example.org', subject: 'Relay check', timeoutMs: 5000,
      waitForDelivery: (match) => waitForDeliveredEvent(subscribe, match),
    });
    if (!r.ok) throw new Error(`relay failed: ${r.explanation}`);
    expect(r.queueId).toBe('ABC123');
    expect(r.response).toContain('queued as ABC123');
    expect(r.accepted).toEqual(['Erin@example.org']);
    expect(r.delivered.uid).toBe(8);
    expect(r.subject).toBe(`Relay check [${r.token}]`);
    expect(r.elapsedMs).toBeGreaterThanOrEqual(0);
    expect(r.elapsedMs).toBeLessThan(5000);
    expect(smtp.received[0].data).toContain(`X-Roost-Test: ${r.token}`);
    expect(smtp.received[0].data).toContain(`Message-ID: ${r.messageId}`);
    expect(events.listenerCount('event')).toBe(0); // the wait unsubscribed
  });

  it('relay: accepted but never arrived gives the delivery failure within the timeout, with both settings and the expected path', async () => {
    const smtp = await fakeSmtp(() => '250 2.1.5 Ok');
    cleanups.push(() => smtp.close());
    const started = Date.now();
    const r = await sendViaRelay({
      host: '127.0.0.1', port: smtp.port, to: 'frank@example.org', timeoutMs: 800, settings,
      postfix: { virtual_mailbox_base: '/var/mail/vhosts', virtual_mailbox_maps: 'hash:/etc/postfix/vmailbox' },
      // A caller whose wait never ends must not hang the test.
      waitForDelivery: () => new Promise(() => {}),
    });
    const took = Date.now() - started;
    expect(took).toBeLessThan(800 + 2500);
    expect(r).toMatchObject({ ok: false, stage: 'delivery', code: 'NOT_DELIVERED', queueId: 'ABC123' });
    if (r.ok) return;
    expect(r.expectedPath).toBe(path.join(userMaildir(vmail, 'frank@example.org'), 'new') + path.sep);
    const checks = r.whatToCheck.join('\n');
    expect(checks).toContain(`mail_home = ${settings.mail_home}`);
    expect(checks).toContain('virtual_mailbox_base = /var/mail/vhosts');
    expect(checks).toContain('grep ABC123');
    expect(r.explanation).toMatch(/did not arrive[\s\S]*delivered it somewhere else/);
  });

  it('relay: on disk but not reported says that Roost did not notice it', async () => {
    const maildir = userMaildir(vmail, 'gina@example.org');
    const smtp = await fakeSmtp(() => '250 2.1.5 Ok', ({ data }) => void deliverToMaildir(maildir, Buffer.from(data)));
    cleanups.push(() => smtp.close());
    // Nobody reports the delivery: the wait ends with its timeout.
    const silent = (m: { timeoutMs: number }) => new Promise<null>((resolve) => setTimeout(() => resolve(null), m.timeoutMs));
    const r = await sendViaRelay({ host: '127.0.0.1', port: smtp.port, to: 'gina@example.org', timeoutMs: 600, settings, waitForDelivery: silent });
    expect(r).toMatchObject({ ok: false, stage: 'delivery', code: 'DELIVERED_UNNOTICED' });
    if (r.ok) return;
    expect(r.foundAt?.startsWith(path.join(maildir, 'new'))).toBe(true);
  });

  it('parses queue ids from relay replies', () => {
    expect(parseQueueId('250 2.0.0 Ok: queued as 4Xyz12AbC')).toBe('4Xyz12AbC');
    expect(parseQueueId('250 OK id=1rABCD-0001-xy')).toBe('1rABCD-0001-xy');
    expect(parseQueueId('250 Ok')).toBeUndefined();
  });
});
