// The viewer and IMAP clients on the same mailboxes, in one process as in the worker: what the viewer
// does reaches an idling imapflow client at once (FETCH FLAGS, EXPUNGE, EXISTS), what the client does
// shows in the viewer's next page, folder counts equal STATUS, and the viewer's search finds exactly
// what IMAP SEARCH finds.
import fs from 'node:fs/promises';
import path from 'node:path';
import { ImapFlow } from 'imapflow';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Viewer } from '../../electron/server/viewer/index.js';
import { appendMessages } from '../../bench/corpus.js';
import { buildCorpus, makeTemp, removeTemp, TEST_PASSWORD, TEST_USER, userMaildir } from '../helpers/corpus.js';
import { startRoost, testSettings, type RoostInstance } from '../helpers/roost.js';

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<T>((_r, reject) => (timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms)))]).finally(() => clearTimeout(timer));
}

/** The next event of this name whose data passes `match`. */
function next<T>(client: ImapFlow, name: string, match: (data: T) => boolean = () => true): Promise<T> {
  return new Promise((resolve) => {
    const on = (data: T) => {
      if (!match(data)) return;
      client.off(name, on);
      resolve(data);
    };
    client.on(name, on);
  });
}

describe('viewer beside IMAP sessions', () => {
  let vmail: string;
  let roost: RoostInstance;
  let viewer: Viewer;
  const clients: ImapFlow[] = [];

  const client = async (): Promise<ImapFlow> => {
    const c = new ImapFlow({
      host: roost.host, port: roost.port, secure: false, logger: false, disableAutoIdle: true,
      auth: { user: TEST_USER, pass: TEST_PASSWORD }, clientInfo: { name: 'roost-viewer-test' },
    });
    c.on('error', () => {});
    clients.push(c);
    await c.connect();
    return c;
  };

  beforeAll(async () => {
    vmail = await makeTemp('roost-viewer-imap-');
    await buildCorpus(vmail);
    // Plenty of realistic mail for the search comparison (plain, HTML, latin1, attachments, forwards).
    const inbox = userMaildir(vmail);
    const msgs = appendMessages('viewer-search', 120);
    let n = 0;
    for (const raw of msgs) {
      const name = `${1700000000 + n}.V801I${n.toString(16)}M${n}.mx`;
      await fs.writeFile(path.join(inbox, 'new', name), raw.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
      n++;
    }
    roost = await startRoost({ vmail, password: TEST_PASSWORD });
    // The same settings the server runs with: the same maildirs, the same shared index.
    viewer = new Viewer({ settings: testSettings(vmail, TEST_PASSWORD) });
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) await c.logout().catch(() => c.close());
  });

  afterAll(async () => {
    await viewer?.close();
    await roost?.stop();
    await removeTemp(vmail);
  });

  it('folder counts equal IMAP STATUS', async () => {
    const c = await client();
    const folders = await viewer.folders(TEST_USER);
    const listed = (await c.list()).map((m) => m.path).sort();
    expect(folders.filter((f) => !f.noSelect).map((f) => f.name).sort()).toEqual(listed);
    for (const f of folders) {
      if (f.noSelect) continue;
      const s = await c.status(f.name, { messages: true, unseen: true, uidValidity: true, uidNext: true });
      if (!s) throw new Error(`STATUS ${f.name} failed`);
      expect({ messages: f.messages, unseen: f.unseen, uidValidity: f.uidValidity, uidNext: f.uidNext }, f.name).toEqual({
        messages: s.messages, unseen: s.unseen, uidValidity: Number(s.uidValidity), uidNext: s.uidNext,
      });
    }
  });

  it('viewer actions reach an idling IMAP client at once, and client changes show in the next page', async () => {
    const c = await client();
    await c.mailboxOpen('INBOX');
    const page = await viewer.page(TEST_USER, 'INBOX', 0, 10);
    const [a, b, d] = page.items;

    // Mark read in the viewer -> * n FETCH (FLAGS (\Seen)) during IDLE.
    const flagged = next<{ uid?: number; seq: number; flags: Set<string> }>(c, 'flags', (e) => e.flags.has('\\Seen'));
    void c.idle();
    await viewer.action(TEST_USER, 'INBOX', [a.uid], { action: 'seen', seen: true });
    const f = await within(flagged, 3000, 'FETCH FLAGS');
    const fetched = await c.fetchOne(String(a.uid), { uid: true }, { uid: true });
    if (!fetched) throw new Error('FETCH failed');
    const seqOfA = fetched.seq;
    expect(f.seq).toBe(seqOfA);

    // Delete to Trash in the viewer -> * n EXPUNGE.
    const expunged = next<{ seq: number }>(c, 'expunge');
    void c.idle();
    await viewer.action(TEST_USER, 'INBOX', [b.uid], { action: 'delete', mode: 'trash' });
    await within(expunged, 3000, 'EXPUNGE');
    expect((await c.search({ uid: String(b.uid) }, { uid: true })) || []).toEqual([]);

    // Move from Trash back into INBOX in the viewer -> * n EXISTS.
    const before = c.mailbox && typeof c.mailbox === 'object' ? c.mailbox.exists : 0;
    const exists = next<{ count: number }>(c, 'exists');
    void c.idle();
    const trashPage = await viewer.page(TEST_USER, 'Trash', 0, 100);
    const back = trashPage.items.find((m) => m.subject === b.subject)!;
    await viewer.action(TEST_USER, 'Trash', [back.uid], { action: 'move', target: 'INBOX' });
    expect((await within(exists, 3000, 'EXISTS')).count).toBe(before + 1);

    // The client flags a message and expunges another: the viewer's next page shows both.
    await c.messageFlagsAdd(String(d.uid), ['\\Flagged', '$Important'], { uid: true });
    await c.messageDelete(String(a.uid), { uid: true });
    const after = await viewer.page(TEST_USER, 'INBOX', 0, 1000);
    expect(after.items.find((m) => m.uid === d.uid)?.flags).toEqual(expect.arrayContaining(['\\Flagged', '$Important']));
    expect(after.items.some((m) => m.uid === a.uid)).toBe(false);
    expect(after.total).toBe(page.total - 1); // b went and came back (with a new uid), a is gone
  });

  it('search finds exactly what IMAP SEARCH finds', async () => {
    const c = await client();
    await c.mailboxOpen('INBOX');
    const queries: { from?: string; subject?: string; text?: string }[] = [
      { from: 'bob' },
      { from: 'Halvorsen' },
      { subject: 'multipart' },
      { subject: 're' },
      { text: 'needle' },
      { text: 'quetzalcoatlus' },
      { text: 'the' },
      { text: 'Grüße' },
      { from: 'example', subject: 'e' },
      { from: 'example', text: 'a' },
      { text: 'pdf' },
    ];
    let nonEmpty = 0;
    for (const q of queries) {
      const imap = ((await c.search({ ...q }, { uid: true })) || []).sort((x, y) => x - y);
      const page = await viewer.search(TEST_USER, 'INBOX', q, 0, 1000);
      const mine = page.items.map((m) => m.uid).sort((x, y) => x - y);
      expect(mine, JSON.stringify(q)).toEqual(imap);
      expect(page.total).toBe(imap.length);
      if (imap.length > 0) nonEmpty++;
      // Results come in the list's order (newest first).
      expect(page.items.map((m) => m.date)).toEqual([...page.items.map((m) => m.date)].sort((x, y) => y - x));
    }
    expect(nonEmpty).toBeGreaterThan(6);
    // Empty query: everything, like the plain page.
    expect((await viewer.search(TEST_USER, 'INBOX', {}, 0, 5)).total).toBe((await viewer.page(TEST_USER, 'INBOX', 0, 5)).total);
  });
});
