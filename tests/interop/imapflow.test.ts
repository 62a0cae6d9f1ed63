// imapflow (a widely used Node IMAP client) against the target server across every command
// group: login, LIST/LSUB, CREATE/RENAME/DELETE, STATUS, APPEND, FETCH (envelope,
// bodystructure, source, parts), SEARCH, STORE, COPY, MOVE, EXPUNGE and IDLE (woken by an
// APPEND on a second connection and by a Postfix-style delivery into new/).
// Target: Roost by default, TARGET=dovecot to run the same assertions against Dovecot.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ImapFlow } from 'imapflow';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildCorpus, corpusMessages, folderDir, makeTemp, removeTemp, TEST_PASSWORD, TEST_USER, toCrlf, userMaildir } from '../helpers/corpus.js';
import { startTarget, targetKinds, targetUnavailableReason, type TargetServer } from '../helpers/target.js';

const corpus = corpusMessages();
const inboxRaw = corpus.filter((m) => m.folder === 'INBOX').map((m) => m.raw);

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<T>((_, reject) => (t = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)))]);
  } finally {
    clearTimeout(t);
  }
}

/** STATUS that must succeed (imapflow returns false on a NO). */
async function status(c: ImapFlow, mailbox: string, query: Parameters<ImapFlow['status']>[1]) {
  const s = await c.status(mailbox, query);
  if (!s) throw new Error(`STATUS ${mailbox} failed`);
  return s;
}

for (const kind of targetKinds()) {
  const missing = targetUnavailableReason(kind);
  if (missing) {
    console.warn(`[imapflow] ${kind} skipped: ${missing}`);
    describe(`imapflow against ${kind}`, () => it.skip(`skipped: ${missing}`, () => {}));
    continue;
  }

  describe(`imapflow against ${kind}`, () => {
    let dir: string;
    let server: TargetServer;
    const clients: ImapFlow[] = [];

    const client = (auth = { user: TEST_USER, pass: TEST_PASSWORD }) => {
      const c = new ImapFlow({
        host: server.host,
        port: server.port,
        secure: false,
        auth,
        logger: false,
        disableAutoIdle: true,
        clientInfo: { name: 'roost-interop-test' },
      });
      // Errors surface through the awaited calls; an unhandled 'error' event would crash the worker.
      c.on('error', () => {});
      clients.push(c);
      return c;
    };
    const connected = async () => {
      const c = client();
      await c.connect();
      return c;
    };

    beforeEach(async () => {
      dir = await makeTemp('roost-imapflow-');
      await buildCorpus(path.join(dir, 'vmail'));
      server = await startTarget(kind, { vmail: path.join(dir, 'vmail'), password: TEST_PASSWORD });
    });

    afterEach(async () => {
      for (const c of clients.splice(0)) {
        try {
          if (c.usable) await withTimeout(c.logout(), 3000, 'logout');
        } catch {
          /* closing anyway */
        }
        c.close();
      }
      await server?.stop();
      await removeTemp(dir);
    });

    it('logs in (and reports a wrong password as an authentication failure)', async () => {
      const c = await connected();
      expect(c.authenticated).toBeTruthy();
      expect(c.capabilities.has('IMAP4rev1')).toBe(true);
      const bad = client({ user: TEST_USER, pass: 'wrong' });
      const err = await bad.connect().then(() => undefined, (e: unknown) => e as { authenticationFailed?: boolean });
      expect(err, 'connect with a wrong password must fail').toBeDefined();
      expect(err!.authenticationFailed).toBe(true);
    });

    it('lists folders with delimiter, special-use and subscription state', async () => {
      const c = await connected();
      const list = await c.list();
      const byPath = new Map(list.map((m) => [m.path, m]));
      expect([...byPath.keys()].sort()).toEqual(['Drafts', 'Entwürfe', 'INBOX', 'Junk', 'Sent', 'Trash', 'Work', 'Work.Projects'].sort());
      expect(byPath.get('Work.Projects')!.delimiter).toBe('.');
      expect(byPath.get('Work.Projects')!.parentPath).toBe('Work');
      expect(byPath.get('Sent')!.specialUse).toBe('\\Sent');
      expect(byPath.get('Drafts')!.specialUse).toBe('\\Drafts');
      expect(byPath.get('Trash')!.specialUse).toBe('\\Trash');
      expect(byPath.get('Junk')!.specialUse).toBe('\\Junk');
      expect(byPath.get('INBOX')!.specialUse).toBe('\\Inbox');
      const subscribed = list.filter((m) => m.subscribed).map((m) => m.path).sort();
      expect(subscribed).toEqual(['Entwürfe', 'INBOX', 'Sent', 'Work'].sort());
    });

    it('creates, renames and deletes folders (including non-ASCII names)', async () => {
      const c = await connected();
      expect((await c.mailboxCreate('Projekte.Zürich')).created).toBe(true);
      expect((await c.mailboxCreate('Projekte.Zürich')).created).toBe(false);
      let paths = (await c.list()).map((m) => m.path);
      expect(paths).toContain('Projekte.Zürich');
      const renamed = await c.mailboxRename('Projekte.Zürich', 'Projekte.Genève');
      expect(renamed.newPath).toBe('Projekte.Genève');
      await c.mailboxRename('Work', 'Büro');
      paths = (await c.list()).map((m) => m.path);
      expect(paths).toContain('Projekte.Genève');
      expect(paths).not.toContain('Projekte.Zürich');
      expect(paths).toEqual(expect.arrayContaining(['Büro', 'Büro.Projects']));
      expect(paths).not.toContain('Work');
      expect((await status(c, 'Büro', { messages: true, uidValidity: true })).uidValidity).toBe(1700000000n);
      await c.mailboxDelete('Projekte.Genève');
      paths = (await c.list()).map((m) => m.path);
      expect(paths).not.toContain('Projekte.Genève');
      await expect(c.mailboxDelete('Does-Not-Exist')).rejects.toThrow();
      // On disk: Maildir++ folder with the modified UTF-7 name.
      await expect(fs.stat(path.join(userMaildir(path.join(dir, 'vmail')), '.B&APw-ro', 'cur'))).resolves.toBeTruthy();
    });

    it('reports STATUS counters', async () => {
      const c = await connected();
      const inbox = await status(c, 'INBOX', { messages: true, uidNext: true, unseen: true, recent: true, uidValidity: true });
      expect(inbox).toMatchObject({ messages: 9, uidNext: 10, unseen: 4, recent: 9 });
      expect(typeof inbox.uidValidity).toBe('bigint');
      const work = await status(c, 'Work', { messages: true, uidNext: true, unseen: true, uidValidity: true });
      expect(work).toMatchObject({ messages: 3, uidNext: 15, unseen: 1, uidValidity: 1700000000n });
      expect(await status(c, 'Entwürfe', { messages: true })).toMatchObject({ messages: 1 });
      expect(await status(c, 'Drafts', { messages: true })).toMatchObject({ messages: 0 });
    });

    it('appends with flags and date and reads the message back byte-exact', async () => {
      const c = await connected();
      const raw = Buffer.from('From: Zed <zed@example.com>\r\nTo: alice@example.org\r\nSubject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\nMessage-ID: <imapflow-1@example.com>\r\n\r\nBody with 8-bit: \xc3\xa4\r\n', 'latin1');
      const date = new Date('2024-06-05T08:00:00Z');
      const res = await c.append('INBOX', raw, ['\\Seen', '$Label9'], date);
      expect(res && res.uid).toBe(10);
      expect(res && typeof res.uidValidity).toBe('bigint');
      const lock = await c.getMailboxLock('INBOX');
      try {
        const m = await c.fetchOne('10', { uid: true, flags: true, internalDate: true, size: true, source: true, envelope: true }, { uid: true });
        expect(m).toBeTruthy();
        if (!m) return;
        expect([...m.flags!].filter((f) => f !== '\\Recent').sort()).toEqual(['$Label9', '\\Seen']);
        expect(new Date(m.internalDate!).getTime()).toBe(date.getTime());
        expect(m.size).toBe(raw.length);
        expect(m.source!.equals(raw)).toBe(true);
        expect(m.envelope!.subject).toBe('Grüße');
      } finally {
        lock.release();
      }
      expect((await status(c, 'INBOX', { messages: true })).messages).toBe(10);
    });

    it('fetches envelopes, body structures, sources and decoded parts', async () => {
      const c = await connected();
      const lock = await c.getMailboxLock('INBOX');
      try {
        const all = await c.fetchAll('1:*', { uid: true, flags: true, envelope: true, bodyStructure: true, source: true, size: true, internalDate: true });
        expect(all.map((m) => m.uid)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
        for (const [i, m] of all.entries()) {
          // Server-side bytes are CRLF; the corpus files are LF (one CRLF).
          expect(m.source!.equals(toCrlf(inboxRaw[i]!)), `source of message ${i + 1}`).toBe(true);
          expect(m.size).toBe(toCrlf(inboxRaw[i]!).length);
          expect(new Date(m.internalDate!).toISOString()).toBe(corpus.filter((x) => x.folder === 'INBOX')[i]!.date.toISOString());
        }
        const [m1, m2, m3, m4, m5, m6] = all;
        expect(m1!.envelope).toMatchObject({ subject: 'Plain hello', messageId: '<plain-1@example.com>', from: [{ name: 'Bob Example', address: 'bob@example.com' }] });
        expect(m2!.envelope!.to).toMatchObject([{ address: 'alice@example.org' }, { name: 'Dave D.', address: 'dave@example.org' }]);
        expect(m2!.envelope!.inReplyTo).toBe('<plain-1@example.com>');
        expect(m3!.envelope!.subject).toBe('Café newsletter');
        expect(m6!.envelope!.subject).toBe('Überprüfung der Konfiguration ✓');
        expect(m6!.envelope!.from![0]!.name).toBe('Jürgen Müller');
        expect(m1!.bodyStructure).toMatchObject({ type: 'text/plain', parameters: { charset: 'us-ascii' } });
        expect(m2!.bodyStructure!.type).toBe('multipart/alternative');
        expect(m2!.bodyStructure!.childNodes!.map((n) => n.type)).toEqual(['text/plain', 'text/html']);
        const att = m4!.bodyStructure!.childNodes![1]!;
        expect(att).toMatchObject({ part: '2', type: 'application/pdf', encoding: 'base64', disposition: 'attachment', dispositionParameters: { filename: 'report.pdf' } });
        const rfc822 = m5!.bodyStructure!.childNodes![1]!;
        expect(rfc822.type).toBe('message/rfc822');
        expect(rfc822.envelope!.subject).toBe('Original message');
        expect([...m2!.flags!].filter((f) => f !== '\\Recent').sort()).toEqual(['\\Flagged', '\\Seen']);

        const pdf = await c.download('4', '2');
        const chunks: Buffer[] = [];
        expect(pdf.content, 'download of part 2').toBeDefined();
        for await (const chunk of pdf.content!) chunks.push(chunk as Buffer);
        expect(Buffer.concat(chunks).subarray(0, 8).toString('latin1')).toBe('%PDF-1.4');

        const parts = await c.fetchOne('5', { bodyParts: ['2.1'], headers: true });
        expect(parts && parts.bodyParts!.get('2.1')!.toString()).toBe('Inner plain with needle.\r\n');
        expect(parts && parts.headers!.toString()).toMatch(/^From: Frank <frank@example.com>\r\n/);
      } finally {
        lock.release();
      }
    });

    it('searches by flags, keywords, headers, body, dates, size and with OR / non-ASCII terms', async () => {
      const c = await connected();
      const lock = await c.getMailboxLock('INBOX');
      try {
        const s = async (q: Parameters<ImapFlow['search']>[0]) => c.search(q, { uid: true });
        expect(await s({ seen: false })).toEqual([3, 7, 8, 9]);
        expect(await s({ flagged: true })).toEqual([2]);
        expect(await s({ keyword: 'Important' })).toEqual([3, 5]);
        expect(await s({ from: 'bob' })).toEqual([1]);
        expect(await s({ body: 'needle' })).toEqual([1, 3, 5, 8]);
        expect(await s({ subject: 'Café' })).toEqual([3]);
        expect(await s({ since: new Date('2024-03-01T00:00:00Z') })).toEqual([5, 6, 7, 8, 9]);
        expect(await s({ larger: 1000 })).toEqual([9]);
        expect(await s({ or: [{ flagged: true }, { answered: true }] })).toEqual([2, 4]);
        expect(await s({ deleted: true })).toEqual([7]);
        expect(await s({ header: { 'message-id': '<plain-1@example.com>' } })).toEqual([1]);
        expect(await s({ uid: '2:4', seen: true })).toEqual([2, 4]);
      } finally {
        lock.release();
      }
    });

    it('adds and removes flags and keywords', async () => {
      const c = await connected();
      const lock = await c.getMailboxLock('INBOX');
      try {
        expect(await c.messageFlagsAdd('1', ['\\Flagged', 'Custom'])).toBe(true);
        expect(await c.messageFlagsRemove('1', ['\\Seen'])).toBe(true);
        expect(await c.messageFlagsSet('3', ['\\Answered', 'Other'], { uid: true })).toBe(true);
        const f1 = await c.fetchOne('1', { flags: true });
        const f3 = await c.fetchOne('3', { flags: true }, { uid: true });
        expect([...(f1 && f1.flags ? f1.flags : [])].filter((f) => f !== '\\Recent').sort()).toEqual(['Custom', '\\Flagged']);
        expect([...(f3 && f3.flags ? f3.flags : [])].filter((f) => f !== '\\Recent').sort()).toEqual(['Other', '\\Answered']);
      } finally {
        lock.release();
      }
      // A second connection sees the stored state.
      const c2 = await connected();
      const lock2 = await c2.getMailboxLock('INBOX');
      try {
        const f1 = await c2.fetchOne('1', { flags: true });
        expect([...(f1 && f1.flags ? f1.flags : [])].filter((f) => f !== '\\Recent').sort()).toEqual(['Custom', '\\Flagged']);
      } finally {
        lock2.release();
      }
    });

    it('copies, moves and expunges', async () => {
      const c = await connected();
      const lock = await c.getMailboxLock('INBOX');
      try {
        const copied = await c.messageCopy('1:2', 'Work', { uid: true });
        expect(copied && copied.uidMap && [...copied.uidMap.entries()]).toEqual([[1, 15], [2, 16]]);
        expect(copied && copied.uidValidity).toBe(1700000000n);
        const moved = await c.messageMove('3', 'Trash', { uid: true });
        expect(moved && moved.destination).toBe('Trash');
        expect(moved && moved.uidMap && [...moved.uidMap.entries()]).toEqual([[3, 1]]);
        // Message UID 7 carries \Deleted in the corpus; messageDelete expunges it.
        expect(await c.messageDelete('7', { uid: true })).toBe(true);
        const left = await c.fetchAll('1:*', { uid: true });
        expect(left.map((m) => m.uid)).toEqual([1, 2, 4, 5, 6, 8, 9]);
      } finally {
        lock.release();
      }
      expect((await status(c, 'Work', { messages: true, uidNext: true })).messages).toBe(5);
      expect(await status(c, 'Trash', { messages: true })).toMatchObject({ messages: 1 });
      const lockT = await c.getMailboxLock('Trash');
      try {
        const t = await c.fetchOne('1', { envelope: true, flags: true });
        expect(t && t.envelope!.subject).toBe('Café newsletter');
        expect(t && t.flags!.has('Important')).toBe(true);
      } finally {
        lockT.release();
      }
    });

    it('IDLE receives EXISTS for an APPEND from a second connection', async () => {
      const a = await connected();
      await a.mailboxOpen('INBOX');
      const exists = new Promise<{ count: number; prevCount: number }>((resolve) => a.on('exists', resolve));
      const idling = a.idle();
      await withTimeout((async () => { while (!a.idling) await new Promise((r) => setTimeout(r, 20)); })(), 5000, 'IDLE to start');
      const b = await connected();
      await b.append('INBOX', Buffer.from('From: x@example.com\r\nSubject: ping\r\n\r\nping\r\n'));
      const ev = await withTimeout(exists, 10_000, 'EXISTS during IDLE after APPEND');
      expect(ev).toMatchObject({ count: 10, prevCount: 9 });
      await a.noop(); // ends IDLE (DONE)
      await withTimeout(idling, 5000, 'IDLE to end');
    });

    it('IDLE receives EXISTS for a Postfix-style delivery into new/', async () => {
      const a = await connected();
      await a.mailboxOpen('INBOX');
      const exists = new Promise<{ count: number; prevCount: number }>((resolve) => a.on('exists', resolve));
      const idling = a.idle();
      await withTimeout((async () => { while (!a.idling) await new Promise((r) => setTimeout(r, 20)); })(), 5000, 'IDLE to start');
      // Postfix's virtual(8) delivery: write into tmp/, then rename into new/.
      const inbox = folderDir(userMaildir(path.join(dir, 'vmail')), 'INBOX');
      const name = `${Math.floor(Date.now() / 1000)}.M1P1Q1.mail.example.org`;
      await fs.writeFile(path.join(inbox, 'tmp', name), 'From: postfix@example.org\nSubject: delivered\n\ndelivered\n', { mode: 0o644 });
      const st = await fs.stat(inbox);
      await fs.chown(path.join(inbox, 'tmp', name), st.uid, st.gid).catch(() => {});
      await fs.rename(path.join(inbox, 'tmp', name), path.join(inbox, 'new', name));
      const ev = await withTimeout(exists, 15_000, 'EXISTS during IDLE after a delivery into new/');
      expect(ev).toMatchObject({ count: 10, prevCount: 9 });
      await a.noop();
      await withTimeout(idling, 5000, 'IDLE to end');
      const m = await a.fetchOne('10', { envelope: true, flags: true });
      expect(m && m.envelope!.subject).toBe('delivered');
    });
  });
}
