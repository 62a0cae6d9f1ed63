// 'mailbox-changed' events (electron/server/watch/changes.ts), as the worker wires them: the server in
// process with the viewer on its MailboxChangeEvents. An IMAP client's STORE, EXPUNGE and MOVE, the
// viewer's own actions and another program's changes on disk each produce an event at once, bursts are
// coalesced per mailbox (at most one per 100 ms, the first without delay), and a MOVE into a folder
// nobody has selected is still heard while the viewer shows that folder.
import fs from 'node:fs/promises';
import path from 'node:path';
import { ImapFlow } from 'imapflow';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ServerEvent } from '../../electron/shared/events.js';
import type { MailServer } from '../../electron/server/server.js';
import { Viewer } from '../../electron/server/viewer/index.js';
import { MailboxChangeEvents } from '../../electron/server/watch/changes.js';
import type { MailboxChange, MailboxView } from '../../electron/server/storage/types.js';
import { buildCorpus, folderDir, makeTemp, removeTemp, TEST_PASSWORD, TEST_USER, userMaildir } from '../helpers/corpus.js';
import { testSettings } from '../helpers/roost.js';

type Changed = Extract<ServerEvent, { type: 'mailbox-changed' }>;

describe("'mailbox-changed' events", () => {
  let vmail: string;
  let server: MailServer;
  let viewer: Viewer;
  const events: { at: number; event: ServerEvent }[] = [];
  const clients: ImapFlow[] = [];

  const changed = (mailbox: string, since = 0): Changed[] =>
    events.filter((e) => e.at >= since && e.event.type === 'mailbox-changed' && e.event.mailbox === mailbox).map((e) => e.event as Changed);

  /** Resolves with the time of the first matching event at or after `since`, or fails after `ms`. */
  const waitFor = async (mailbox: string, since: number, kind?: string, ms = 2000): Promise<number> => {
    const until = Date.now() + ms;
    for (;;) {
      const hit = events.find((e) => e.at >= since && e.event.type === 'mailbox-changed' && e.event.mailbox === mailbox && (!kind || e.event.kinds?.includes(kind as never)));
      if (hit) return hit.at;
      if (Date.now() > until) throw new Error(`no mailbox-changed (${kind ?? 'any'}) for ${mailbox} within ${ms} ms: ${JSON.stringify(events.slice(-5).map((e) => e.event))}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };

  const client = async (): Promise<ImapFlow> => {
    const c = new ImapFlow({ host: server.host, port: server.port, secure: false, logger: false, disableAutoIdle: true, auth: { user: TEST_USER, pass: TEST_PASSWORD } });
    c.on('error', () => {});
    clients.push(c);
    await c.connect();
    return c;
  };

  beforeAll(async () => {
    vmail = await makeTemp('roost-viewer-changes-');
    await buildCorpus(vmail);
    const { startMailServer } = await import('../../electron/server/server.js');
    const settings = testSettings(vmail, TEST_PASSWORD);
    server = await startMailServer({ settings, events: (event) => events.push({ at: Date.now(), event }), watch: { minGapMs: 0 } });
    viewer = new Viewer({ settings, changes: server.changes });
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) await c.logout().catch(() => c.close());
  });

  afterAll(async () => {
    await viewer?.close();
    await server?.close();
    await removeTemp(vmail);
  });

  it("reports an IMAP client's STORE, EXPUNGE and MOVE at once, with the count and what happened", async () => {
    const c = await client();
    const lock = await c.getMailboxLock('INBOX');
    try {
      const exists = (c.mailbox as { exists: number }).exists;
      let t0 = Date.now();
      await c.messageFlagsAdd('1', ['\\Flagged']);
      const tFlag = await waitFor('INBOX', t0, 'flags');
      expect(tFlag - t0).toBeLessThan(500);
      const flagEvent = changed('INBOX', t0).at(-1)!;
      expect(flagEvent).toMatchObject({ user: TEST_USER, mailbox: 'INBOX', exists });

      await new Promise((r) => setTimeout(r, 150));
      t0 = Date.now();
      await c.messageMove('1', 'Work');
      await waitFor('INBOX', t0, 'expunged');
      expect(changed('INBOX', t0).at(-1)!.exists).toBe(exists - 1);

      await new Promise((r) => setTimeout(r, 150));
      t0 = Date.now();
      await c.messageFlagsAdd('1', ['\\Deleted']);
      await c.messageDelete('1');
      await waitFor('INBOX', t0, 'expunged');
      await new Promise((r) => setTimeout(r, 150));
      // (EXPUNGE also removes the corpus's message that was \Deleted already.)
      expect(changed('INBOX', t0).at(-1)!.exists).toBe((c.mailbox as { exists: number }).exists);
      expect((c.mailbox as { exists: number }).exists).toBeLessThan(exists - 1);
    } finally {
      lock.release();
    }
  });

  it('hears a MOVE into a folder nobody selected while the viewer shows it', async () => {
    await viewer.page(TEST_USER, 'Sent', 0, 50);
    expect(viewer.heldMailboxes()).toContain(`${TEST_USER}\0Sent`);
    const before = (await viewer.page(TEST_USER, 'Sent', 0, 50)).total;
    const c = await client();
    const lock = await c.getMailboxLock('INBOX');
    try {
      const t0 = Date.now();
      await c.messageMove('1', 'Sent');
      await waitFor('Sent', t0, 'added');
      expect(changed('Sent', t0).at(-1)!.exists).toBe(before + 1);
    } finally {
      lock.release();
    }
  });

  it("reports the viewer's own actions and another program's changes on disk", async () => {
    // The viewer's action on a mailbox nobody holds or selects.
    const page = await viewer.page(TEST_USER, 'Work', 0, 50);
    const { uid, flags } = page.items[0];
    let t0 = Date.now();
    await viewer.action(TEST_USER, 'Work', [uid], { action: 'flag', flagged: !flags.includes('\\Flagged') });
    await waitFor('Work', t0, 'flags');

    // Another program renames a file in a folder that nobody has open: the watcher's sync reports it.
    const dir = folderDir(userMaildir(vmail), 'Work.Projects');
    const [name] = (await fs.readdir(path.join(dir, 'cur'))).filter((n) => !n.startsWith('.'));
    expect(viewer.heldMailboxes()).not.toContain(`${TEST_USER}\0Work.Projects`);
    await server.watcher.settled();
    await new Promise((r) => setTimeout(r, 150));
    t0 = Date.now();
    const base = name.replace(/:2,.*$/, '');
    await fs.rename(path.join(dir, 'cur', name), path.join(dir, 'cur', `${base}:2,FS`));
    await waitFor('Work.Projects', t0, undefined, 3000);
    t0 = Date.now();
    await new Promise((r) => setTimeout(r, 150));
    await fs.unlink(path.join(dir, 'cur', `${base}:2,FS`));
    await waitFor('Work.Projects', t0, undefined, 3000);
    await new Promise((r) => setTimeout(r, 150));
    expect(changed('Work.Projects', t0).at(-1)!.exists).toBe(0);
  });

  it('lets go of a held mailbox when nobody asked for its list for a while, and of the oldest beyond eight', async () => {
    const short = new Viewer({ settings: testSettings(vmail, TEST_PASSWORD), changes: server.changes, holdMs: 150 });
    try {
      await short.page(TEST_USER, 'Work', 0, 10);
      expect(short.heldMailboxes()).toEqual([`${TEST_USER}\0Work`]);
      await new Promise((r) => setTimeout(r, 100));
      await short.page(TEST_USER, 'Work', 0, 10);
      await new Promise((r) => setTimeout(r, 100));
      expect(short.heldMailboxes(), 'renewed by the second request').toHaveLength(1);
      await new Promise((r) => setTimeout(r, 150));
      expect(short.heldMailboxes()).toEqual([]);
    } finally {
      await short.close();
    }
    // More than eight mailboxes: the least recently listed goes first.
    const many = new Viewer({ settings: testSettings(vmail, TEST_PASSWORD), changes: server.changes });
    try {
      const names = (await many.folders(TEST_USER)).filter((f) => !f.noSelect).map((f) => f.name);
      for (let i = 0; i < 9; i++) await many.page(TEST_USER, names[i % names.length], 0, 1);
      expect(many.heldMailboxes().length).toBeLessThanOrEqual(8);
      expect(many.heldMailboxes().at(-1)).toBe(`${TEST_USER}\0${names[8 % names.length]}`);
    } finally {
      await many.close();
    }
  });

  it('coalesces a burst per mailbox: the first at once, then at most one per 100 ms', async () => {
    const c = await client();
    const lock = await c.getMailboxLock('INBOX');
    try {
      await new Promise((r) => setTimeout(r, 150));
      const t0 = Date.now();
      for (let i = 0; i < 40; i++) await c.messageFlagsAdd('1:*', [`$Burst${i % 2}`]).then(() => c.messageFlagsRemove('1:*', [`$Burst${i % 2}`]));
      const elapsed = Date.now() - t0;
      await new Promise((r) => setTimeout(r, 250));
      const burst = events.filter((e) => e.at >= t0 && e.event.type === 'mailbox-changed' && e.event.mailbox === 'INBOX');
      expect(burst.length).toBeGreaterThan(0);
      expect(burst[0].at - t0).toBeLessThan(200);
      expect(burst.length).toBeLessThanOrEqual(Math.ceil(elapsed / 100) + 2);
      for (let i = 1; i < burst.length; i++) expect(burst[i].at - burst[i - 1].at).toBeGreaterThanOrEqual(95);
    } finally {
      lock.release();
    }
  });
});

describe('MailboxChangeEvents', () => {
  it('counts a change delivered to several views once, and gathers a window into one event', async () => {
    const out: ServerEvent[] = [];
    const changes = new MailboxChangeEvents((e) => out.push(e), 50);
    const listeners: ((c: MailboxChange) => void)[] = [];
    let count = 3;
    const fakeView = (): MailboxView => ({ name: 'INBOX', messages: () => new Array(count), onChange: (l: (c: MailboxChange) => void) => listeners.push(l) }) as unknown as MailboxView;
    changes.observe('a@b', fakeView());
    changes.observe('a@b', fakeView());
    const c1: MailboxChange = { kind: 'flags', uid: 1, flags: [] };
    for (const l of listeners) l(c1);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ type: 'mailbox-changed', user: 'a@b', mailbox: 'INBOX', exists: 3, kinds: ['flags'] });
    count = 2;
    const c2: MailboxChange = { kind: 'expunged', uids: [3] };
    const c3: MailboxChange = { kind: 'flags', uid: 2, flags: ['\\Seen'] };
    for (const l of listeners) l(c2);
    for (const l of listeners) l(c3);
    expect(out).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 80));
    expect(out).toHaveLength(2);
    expect(out[1]).toMatchObject({ exists: 2, kinds: ['expunged', 'flags'] });
    // A quiet window ends without an event; the next change leaves at once again.
    await new Promise((r) => setTimeout(r, 80));
    changes.note('a@b', 'Sent', 'added', 7);
    expect(out).toHaveLength(3);
    expect(out[2]).toMatchObject({ mailbox: 'Sent', exists: 7, kinds: ['added'] });
    changes.close();
  });
});
