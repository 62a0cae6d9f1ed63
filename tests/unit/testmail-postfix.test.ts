// The relay test through a real Postfix (tests/helpers/postfix.ts: the seed's virtual mailbox setup,
// private instance on a free port) delivering into the tree Roost serves (in-process server, whose
// maildir watcher emits `delivered`): accepted with Postfix's queue id, arrived, timed, and then
// readable through the viewer; "User unknown in virtual mailbox table" explained; a message Postfix
// accepts for a domain it relays elsewhere reported as not arrived, with both sides' settings.
// Skips, with the reason printed, when Postfix is not installed or cannot run here.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServerEvent } from '../../electron/shared/events.js';
import { startMailServer, type MailServer } from '../../electron/server/server.js';
import { unloadIdleMailboxes } from '../../electron/server/storage/maildir/mailbox.js';
import { Viewer } from '../../electron/server/viewer/index.js';
import { sendViaRelay, waitForDeliveredEvent } from '../../electron/testmail/index.js';
import { chownTree, mailOwner } from '../helpers/dovecot.js';
import { postfixUnavailableReason, postfixVersion, startPostfix, type PostfixInstance, skipUnlessPostfixStarted } from '../helpers/postfix.js';
import { testSettings } from '../helpers/roost.js';

const PW = 'relay-test-pw';
const unavailable = postfixUnavailableReason();
if (unavailable) console.warn(`[testmail-postfix] skipped: ${unavailable}`);

describe.skipIf(!!unavailable)(`relay test through a real Postfix (${unavailable ?? postfixVersion()})`, () => {
  let dir: string;
  let vmail: string;
  let server: MailServer | undefined;
  let postfix: PostfixInstance | undefined;
  let viewer: Viewer | undefined;
  let startError: string | undefined;
  const listeners = new Set<(e: ServerEvent) => void>();
  const subscribe = (l: (e: ServerEvent) => void) => {
    listeners.add(l);
    return () => void listeners.delete(l);
  };

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'roost-testmail-postfix-'));
    await fs.chmod(dir, 0o755);
    vmail = path.join(dir, 'vmail');
    await fs.mkdir(path.join(vmail, 'brokkr.net'), { recursive: true });
    const owner = mailOwner();
    await chownTree(vmail, owner.uid, owner.gid);
    const settings = testSettings(vmail, PW);
    server = await startMailServer({ settings, events: (e) => listeners.forEach((l) => l(e)) });
    viewer = new Viewer({ settings });
    try {
      postfix = await startPostfix({ vmail, domains: ['brokkr.net'], mailboxes: { 'alice@brokkr.net': 'brokkr.net/alice/maildir/' }, uid: owner.uid, gid: owner.gid });
    } catch (err) {
      startError = `Postfix cannot start here: ${(err as Error).message}`;
      console.warn(`[testmail-postfix] ${startError}`);
    }
  }, 60_000);

  afterAll(async () => {
    await viewer?.close();
    await postfix?.stop();
    await server?.close();
    await unloadIdleMailboxes();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  }, 60_000);

  const skipUnlessStarted = (ctx: { skip: (note?: string) => void }): void => skipUnlessPostfixStarted(ctx, startError);

  it('reports accepted (queue id), arrived, the time between, and the message', async (ctx) => {
    skipUnlessStarted(ctx);
    const r = await sendViaRelay({
      host: postfix!.host, port: postfix!.port, to: 'alice@brokkr.net', timeoutMs: 15_000, settings: testSettings(vmail, PW),
      waitForDelivery: (match) => waitForDeliveredEvent(subscribe, match),
    });
    if (!r.ok) throw new Error(`relay test failed: ${r.code}: ${r.explanation}\n${postfix!.readLog().split('\n').slice(-10).join('\n')}`);
    expect(r.queueId).toMatch(/^[0-9A-Za-z]+$/);
    expect(postfix!.readLog()).toContain(`${r.queueId}: to=<alice@brokkr.net>`);
    expect(r.delivered).toMatchObject({ user: 'alice@brokkr.net', mailbox: 'INBOX', subject: r.subject });
    expect(r.elapsedMs).toBeGreaterThanOrEqual(0);
    expect(r.elapsedMs).toBeLessThan(15_000);
    const m = await viewer!.message('alice@brokkr.net', 'INBOX', r.delivered.uid, false);
    expect(m.subject).toBe(r.subject);
    expect(m.receivedHops[0].id).toBe(r.queueId);
    expect(m.text?.content).toContain(r.token);
  });

  it('explains 550 user unknown in the virtual mailbox table', async (ctx) => {
    skipUnlessStarted(ctx);
    const r = await sendViaRelay({ host: postfix!.host, port: postfix!.port, to: 'nobody@brokkr.net', timeoutMs: 2000, waitForDelivery: async () => null });
    expect(r).toMatchObject({ ok: false, stage: 'smtp', code: 'USER_UNKNOWN', smtpCode: 550 });
  });

  it('reports a message accepted for elsewhere as not arrived, with mail_home beside virtual_mailbox_base', async (ctx) => {
    skipUnlessStarted(ctx);
    const settings = testSettings(vmail, PW);
    // 127.0.0.1 is in mynetworks: Postfix accepts and queues it for a domain that is not its own.
    const r = await sendViaRelay({
      host: postfix!.host, port: postfix!.port, to: 'someone@elsewhere.invalid', timeoutMs: 1500, settings,
      postfix: { virtual_mailbox_base: vmail }, waitForDelivery: (match) => waitForDeliveredEvent(subscribe, match),
    });
    expect(r).toMatchObject({ ok: false, stage: 'delivery', code: 'NOT_DELIVERED' });
    if (r.ok) return;
    expect(r.queueId).toMatch(/^[0-9A-Za-z]+$/);
    expect(r.whatToCheck.join('\n')).toContain(`virtual_mailbox_base = ${vmail}`);
  });
});
