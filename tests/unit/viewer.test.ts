// The mailbox viewer's data layer (electron/server/viewer) on real maildirs in a temporary vmail tree:
// the tree of domains/users/folders with counts, paging in date order (and keeping that order right as
// messages arrive and go), the message pane's data for a multipart message with attachments, RFC 2047
// and latin1, the capped raw source, attachment bytes, and the errors a bad request gets.
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Viewer, ViewerError } from '../../electron/server/viewer/index.js';
import { forgetOrders } from '../../electron/server/viewer/order.js';
import { parseReceived } from '../../electron/server/viewer/message.js';
import { buildCorpus, corpusMessages, makeTemp, removeTemp, userMaildir, TEST_USER } from '../helpers/corpus.js';
import { testSettings } from '../helpers/roost.js';
import type { ServerSettings } from '../../electron/shared/settings-types.js';

const PASSWORD = 'ThisIsABadPassword';
let seq = 0;

/** Postfix's way: write into tmp/, set the mtime (INTERNALDATE), rename into new/. */
async function deliver(maildir: string, raw: Buffer | string, mtimeMs: number): Promise<string> {
  for (const sub of ['tmp', 'new', 'cur']) await fs.mkdir(path.join(maildir, sub), { recursive: true });
  const name = `${Math.floor(mtimeMs / 1000)}.V801I${(++seq).toString(16)}M${seq}.testhost`;
  const tmp = path.join(maildir, 'tmp', name);
  await fs.writeFile(tmp, raw);
  await fs.utimes(tmp, new Date(mtimeMs), new Date(mtimeMs));
  await fs.rename(tmp, path.join(maildir, 'new', name));
  return name;
}

function simple(i: number, extra = ''): string {
  return `From: Sender ${i} <s${i}@example.com>\nTo: bulk@example.net\nSubject: Message number ${i}${extra}\nDate: Mon, 1 Jan 2024 10:00:00 +0000\nMessage-ID: <m${i}@example.com>\n\nBody of message ${i}.\n`;
}

/** The order the viewer promises: INTERNALDATE descending, then UID descending. */
function expectedOrder(items: { uid: number; date: number }[]): number[] {
  return [...items].sort((a, b) => b.date - a.date || b.uid - a.uid).map((m) => m.uid);
}

async function allPages(viewer: Viewer, user: string, mailbox: string, limit: number) {
  const first = await viewer.page(user, mailbox, 0, limit);
  const items = [...first.items];
  for (let offset = limit; offset < first.total; offset += limit) items.push(...(await viewer.page(user, mailbox, offset, limit)).items);
  return { total: first.total, items };
}

describe('viewer', () => {
  let vmail: string;
  let settings: ServerSettings;
  let viewer: Viewer;

  beforeAll(async () => {
    vmail = await makeTemp('roost-viewer-');
    settings = testSettings(vmail, PASSWORD);
    viewer = new Viewer({ settings });
  });

  afterAll(async () => {
    await viewer?.close();
    await removeTemp(vmail);
  });

  it('lists domains, users with a maildir, and folders with message and unseen counts', async () => {
    await buildCorpus(vmail);
    const bob = userMaildir(vmail, 'bob@other.test');
    await deliver(bob, simple(1), Date.UTC(2024, 0, 1));
    await deliver(bob, simple(2), Date.UTC(2024, 0, 2));
    // A home without a maildir, and a stray file: no users.
    await fs.mkdir(path.join(vmail, 'other.test', 'nomail'), { recursive: true });
    await fs.writeFile(path.join(vmail, 'other.test', 'README'), 'not a user');

    const tree = await viewer.tree(true);
    expect(tree.vmail).toBe(vmail);
    expect(tree.domains.map((d) => d.domain)).toEqual(['example.org', 'other.test']);
    const alice = tree.domains[0].users[0];
    expect(alice.user).toBe(TEST_USER);
    expect(alice.maildir).toBe(userMaildir(vmail));
    expect(tree.domains[1].users.map((u) => u.user)).toEqual(['bob@other.test']);

    // Counts from the corpus itself.
    const corpus = corpusMessages();
    for (const f of alice.folders!) {
      const inFolder = corpus.filter((m) => m.folder === f.name);
      expect(f.messages, f.name).toBe(inFolder.length);
      expect(f.unseen, f.name).toBe(inFolder.filter((m) => !m.flags.includes('S')).length);
    }
    expect(alice.folders!.map((f) => f.name)).toContain('Entwürfe');
    expect(alice.folders!.find((f) => f.name === 'Trash')?.specialUse).toBe('\\Trash');
    const bobInbox = tree.domains[1].users[0].folders!.find((f) => f.name === 'INBOX')!;
    expect(bobInbox).toMatchObject({ messages: 2, unseen: 2 });

    // Without counts no mailbox is opened: users only.
    const light = await viewer.tree(false);
    expect(light.domains[1].users[0].folders).toBeUndefined();
  });

  it('pages a few hundred messages newest first and keeps the order as mail arrives and goes', async () => {
    const user = 'pager@example.org';
    const maildir = userMaildir(vmail, user);
    // Delivery times not in delivery order (as when a folder is filled by a migration), with ties.
    const base = Date.UTC(2023, 5, 1);
    let x = 12345;
    const rnd = () => (x = (x * 1103515245 + 12345) & 0x7fffffff);
    for (let i = 0; i < 300; i++) await deliver(maildir, simple(i), base + (rnd() % 200) * 3_600_000);
    forgetOrders();

    const pages = await allPages(viewer, user, 'INBOX', 37);
    expect(pages.total).toBe(300);
    expect(pages.items).toHaveLength(300);
    expect(pages.items.map((m) => m.uid)).toEqual(expectedOrder(pages.items));
    expect(new Set(pages.items.map((m) => m.uid)).size).toBe(300);
    const one = pages.items.find((m) => m.subject === 'Message number 7')!;
    expect(one).toMatchObject({ from: 'Sender 7', fromAddress: 's7@example.com', seen: false, flags: [] });
    expect(one.size).toBe(simple(7).length + simple(7).split('\n').length - 1); // CRLF size

    // New mail: one newest, one older than everything (an old message dropped in late).
    await deliver(maildir, simple(1000), Date.UTC(2030, 0, 1));
    await deliver(maildir, simple(1001), Date.UTC(2000, 0, 1));
    const after = await allPages(viewer, user, 'INBOX', 100);
    expect(after.total).toBe(302);
    expect(after.items[0].subject).toBe('Message number 1000');
    expect(after.items[after.items.length - 1].subject).toBe('Message number 1001');
    expect(after.items.map((m) => m.uid)).toEqual(expectedOrder(after.items));

    // Gone: expunged through the viewer.
    const victims = [after.items[5].uid, after.items[200].uid];
    const done = await viewer.action(user, 'INBOX', victims, { action: 'delete', mode: 'expunge' });
    expect(done.expunged).toEqual([...victims].sort((a, b) => a - b));
    const left = await allPages(viewer, user, 'INBOX', 1000);
    expect(left.total).toBe(300);
    expect(left.items.map((m) => m.uid)).toEqual(expectedOrder(left.items));
    expect(left.items.some((m) => victims.includes(m.uid))).toBe(false);

    // Past the end: an empty window, same total.
    const beyond = await viewer.page(user, 'INBOX', 5000, 50);
    expect(beyond).toMatchObject({ total: 300, items: [] });

    // Two requests at once on a folder nobody ordered yet share one pass over the files.
    forgetOrders();
    const [p1, p2] = await Promise.all([viewer.page(user, 'INBOX', 0, 300), viewer.page(user, 'INBOX', 0, 300)]);
    expect(p2.items.map((m) => m.uid)).toEqual(p1.items.map((m) => m.uid));
    expect(p1.items.map((m) => m.uid)).toEqual(left.items.map((m) => m.uid));
  });

  it('shows a multipart message: decoded headers, Received hops, latin1 text, HTML, attachments', async () => {
    const user = 'reader@example.org';
    const maildir = userMaildir(vmail, user);
    const pdf = Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.alloc(3000, 7), Buffer.from([0, 1, 2, 255])]);
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
    const b64 = (b: Buffer) => b.toString('base64').replace(/.{1,76}/g, '$&\n');
    const latin1Qp = 'Gr=FC=DFe aus K=F6ln,\nder Stra=DFenbahn =\nfolgt.\n';
    const html = '<html><body><p>Gr&uuml;&szlig;e <b>aus</b> Köln</p><img src="cid:logo@x"><img src="https://tracker.example/p.gif"></body></html>';
    const raw =
      'Return-Path: <anna@example.de>\n' +
      'Delivered-To: reader@example.org\n' +
      'Received: from mx.example.de (mx.example.de [192.0.2.7])\n\tby mail.example.org (Postfix) with ESMTPS id 4Qx1yZ2abc\n\tfor <reader@example.org>; Tue, 02 Jan 2024 09:00:05 +0100 (CET)\n' +
      'Received: from [10.0.0.5] (unknown [10.0.0.5])\n\tby mx.example.de (Postfix) with ESMTPSA id 99AA;\n\tTue, 02 Jan 2024 09:00:01 +0100\n' +
      'From: =?ISO-8859-1?Q?J=F6rg_M=FCller?= <joerg@example.de>\n' +
      'To: Reader <reader@example.org>\n' +
      'Subject: =?UTF-8?B?R3LDvMOfZSDwn5iA?= and more\n' +
      'Date: Tue, 2 Jan 2024 09:00:00 +0100\n' +
      'Message-ID: <multi@example.de>\n' +
      'MIME-Version: 1.0\n' +
      'Content-Type: multipart/mixed; boundary="outer"\n\n' +
      '--outer\nContent-Type: multipart/alternative; boundary="alt"\n\n' +
      '--alt\nContent-Type: text/plain; charset=ISO-8859-1\nContent-Transfer-Encoding: quoted-printable\n\n' + latin1Qp +
      '--alt\nContent-Type: multipart/related; boundary="rel"\n\n' +
      '--rel\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: base64\n\n' + b64(Buffer.from(html, 'utf8')) +
      '--rel\nContent-Type: image/png\nContent-ID: <logo@x>\nContent-Disposition: inline\nContent-Transfer-Encoding: base64\n\n' + b64(png) +
      '--rel--\n' +
      '--alt--\n' +
      '--outer\nContent-Type: application/pdf\nContent-Disposition: attachment; filename*=UTF-8\'\'R%C3%A9sum%C3%A9%202024.pdf\nContent-Transfer-Encoding: base64\n\n' + b64(pdf) +
      '--outer\nContent-Type: text/plain; name="=?UTF-8?Q?notiz_=C3=BC.txt?="\nContent-Disposition: attachment\n\nplain attachment\n' +
      '--outer\nContent-Type: message/rfc822\n\nFrom: x@y\nSubject: Forwarded one\n\nInner body\n' +
      '--outer--\n';
    const name = await deliver(maildir, raw, Date.UTC(2024, 0, 2, 8));

    const page = await viewer.page(user, 'INBOX', 0, 10);
    expect(page.items).toHaveLength(1);
    expect(page.items[0]).toMatchObject({ from: 'Jörg Müller', fromAddress: 'joerg@example.de', subject: 'Grüße 😀 and more' });
    const uid = page.items[0].uid;

    const m = await viewer.message(user, 'INBOX', uid, false);
    expect(m.subject).toBe('Grüße 😀 and more');
    expect(m.from).toBe('Jörg Müller <joerg@example.de>');
    expect(m.headers.map((h) => h.name)).toEqual([
      'Return-Path', 'Delivered-To', 'Received', 'Received', 'From', 'To', 'Subject', 'Date', 'Message-ID', 'MIME-Version', 'Content-Type',
    ]);
    expect(m.sentTime).toBe(Date.UTC(2024, 0, 2, 8));
    expect(m.receivedHops).toHaveLength(2);
    expect(m.receivedHops[0]).toMatchObject({
      from: 'mx.example.de (mx.example.de [192.0.2.7])',
      by: 'mail.example.org (Postfix)',
      with: 'ESMTPS',
      id: '4Qx1yZ2abc',
      for: '<reader@example.org>',
      time: Date.UTC(2024, 0, 2, 8, 0, 5),
    });
    expect(m.receivedHops[1]).toMatchObject({ by: 'mx.example.de (Postfix)', id: '99AA', time: Date.UTC(2024, 0, 2, 8, 0, 1) });

    expect(m.text).toMatchObject({ content: 'Grüße aus Köln,\nder Straßenbahn folgt.', truncated: false, part: '1.1', charset: 'ISO-8859-1' });
    expect(m.html).toMatchObject({ content: html, truncated: false, part: '1.2.1' });

    expect(m.attachments).toEqual([
      { part: '1.2.2', filename: 'part-1.2.2.png', contentType: 'image/png', size: png.length, encodedSize: expect.any(Number), inline: true, contentId: 'logo@x' },
      { part: '2', filename: 'Résumé 2024.pdf', contentType: 'application/pdf', size: pdf.length, encodedSize: expect.any(Number), inline: false },
      { part: '3', filename: 'notiz ü.txt', contentType: 'text/plain', size: 'plain attachment'.length, encodedSize: expect.any(Number), inline: false },
      { part: '4', filename: 'part-4.eml', contentType: 'message/rfc822', size: expect.any(Number), encodedSize: expect.any(Number), inline: false },
    ]);

    const saved = await viewer.attachment(user, 'INBOX', uid, '2');
    expect(saved.filename).toBe('Résumé 2024.pdf');
    expect(Buffer.from(saved.data).equals(pdf)).toBe(true);
    const img = await viewer.attachment(user, 'INBOX', uid, '1.2.2');
    expect(Buffer.from(img.data).equals(png)).toBe(true);
    const eml = await viewer.attachment(user, 'INBOX', uid, '4');
    expect(Buffer.from(eml.data).toString()).toBe('From: x@y\nSubject: Forwarded one\n\nInner body'); // the line break before a boundary belongs to it

    // On-disk facts: still in new/ (the viewer reads like EXAMINE and moves nothing).
    expect(m.facts).toMatchObject({ uid, filename: name, dir: 'new', flagLetters: '', flags: [], physicalSize: Buffer.byteLength(raw) });
    expect(m.facts.path).toBe(path.join(maildir, 'new', name));
    expect(m.facts.size).toBe(Buffer.byteLength(raw) + raw.split('\n').length - 1);

    // Opening with markSeen sets \Seen like a mail client: the file now carries S (and lives in cur/).
    const seen = await viewer.message(user, 'INBOX', uid, true);
    expect(seen.facts.flags).toEqual(['\\Seen']);
    expect(seen.facts.dir).toBe('cur');
    expect(seen.facts.flagLetters).toBe('S');
    await expect(fs.stat(seen.facts.path)).resolves.toBeTruthy();

    // Raw source, capped.
    const full = await viewer.raw(user, 'INBOX', uid);
    expect(full).toMatchObject({ truncated: false, totalBytes: Buffer.byteLength(raw), returnedBytes: Buffer.byteLength(raw) });
    expect(full.source).toBe(raw);
    const capped = await viewer.raw(user, 'INBOX', uid, 100);
    expect(capped).toMatchObject({ truncated: true, totalBytes: Buffer.byteLength(raw), returnedBytes: 100 });
    expect(capped.source).toBe(raw.slice(0, 100));

    // Text capped: the beginning, flagged.
    const short = await viewer.message(user, 'INBOX', uid, false, 5);
    expect(short.text).toMatchObject({ content: 'Grüße', truncated: true });
  });

  it('shows a single-part latin1 message and one without a text body', async () => {
    const user = 'single@example.org';
    const maildir = userMaildir(vmail, user);
    await deliver(maildir, Buffer.from('From: a@b\nSubject: caf\xe9 8bit\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit\n\nCaf\xe9 cr\xe8me\n', 'latin1'), Date.UTC(2024, 1, 1));
    await deliver(maildir, 'From: a@b\nSubject: only a pdf\nContent-Type: application/pdf; name=x.pdf\nContent-Transfer-Encoding: base64\n\nJVBERi0=\n', Date.UTC(2024, 1, 2));
    const page = await viewer.page(user, 'INBOX', 0, 10);
    const [pdfOnly, latin] = page.items;
    expect(latin.subject).toBe('café 8bit'); // raw 8-bit header bytes that are not UTF-8 read as latin1
    const m = await viewer.message(user, 'INBOX', latin.uid, false);
    expect(m.text).toMatchObject({ content: 'Café crème\n', part: '1' });
    expect(m.html).toBeUndefined();
    expect(m.attachments).toEqual([]);
    const p = await viewer.message(user, 'INBOX', pdfOnly.uid, false);
    expect(p.text).toBeUndefined();
    expect(p.attachments).toEqual([{ part: '1', filename: 'x.pdf', contentType: 'application/pdf', size: 5, encodedSize: 10, inline: false }]);
    expect(Buffer.from((await viewer.attachment(user, 'INBOX', pdfOnly.uid, '1')).data).toString()).toBe('%PDF-');
  });

  it('moves, flags and deletes to Trash through storage', async () => {
    const user = 'mover@example.org';
    const maildir = userMaildir(vmail, user);
    for (let i = 0; i < 5; i++) await deliver(maildir, simple(i), Date.UTC(2024, 2, 1 + i));
    const page = await viewer.page(user, 'INBOX', 0, 10);
    const [u5, u4, u3] = page.items.map((m) => m.uid);
    const flagged = await viewer.action(user, 'INBOX', [u5, 999], { action: 'flag', flagged: true });
    expect(flagged).toEqual({ uids: [u5], flags: [{ uid: u5, flags: ['\\Flagged'] }] });
    const read = await viewer.action(user, 'INBOX', [u5], { action: 'seen', seen: true });
    expect(read.flags).toEqual([{ uid: u5, flags: ['\\Flagged', '\\Seen'] }]);
    const unread = await viewer.action(user, 'INBOX', [u5], { action: 'seen', seen: false });
    expect(unread.flags).toEqual([{ uid: u5, flags: ['\\Flagged'] }]);

    const trashed = await viewer.action(user, 'INBOX', [u4], { action: 'delete', mode: 'trash' });
    expect(trashed.moved).toMatchObject({ mailbox: 'Trash', pairs: [[u4, 1]] });
    await viewer.action(user, 'INBOX', [u3], { action: 'move', target: 'Sent' });
    const folders = await viewer.folders(user);
    const count = (n: string) => folders.find((f) => f.name === n)!.messages;
    expect([count('INBOX'), count('Trash'), count('Sent')]).toEqual([3, 1, 1]);
    // Delete inside Trash expunges.
    const gone = await viewer.action(user, 'Trash', [1], { action: 'delete', mode: 'trash' });
    expect(gone.expunged).toEqual([1]);
    expect((await viewer.page(user, 'Trash', 0, 10)).total).toBe(0);
    // A move to a folder that does not exist: storage's TRYCREATE.
    await expect(viewer.action(user, 'INBOX', [u5], { action: 'move', target: 'Nope' })).rejects.toMatchObject({ code: 'TRYCREATE' });
  });

  it('refuses bad requests with stable codes and never creates a maildir by looking', async () => {
    await expect(viewer.page('ghost@example.org', 'INBOX', 0, 10)).rejects.toMatchObject({ code: 'VIEWER_NO_USER' });
    await expect(fs.stat(path.join(vmail, 'example.org', 'ghost'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(viewer.page('../x@example.org', 'INBOX', 0, 10)).rejects.toBeInstanceOf(ViewerError);
    await expect(viewer.page(TEST_USER, 'NoSuchFolder', 0, 10)).rejects.toMatchObject({ code: 'NONEXISTENT' });
    await expect(viewer.page(TEST_USER, 'INBOX', -1, 10)).rejects.toMatchObject({ code: 'VIEWER_INVALID' });
    await expect(viewer.message(TEST_USER, 'INBOX', 4242, false)).rejects.toMatchObject({ code: 'VIEWER_NO_MESSAGE' });
    await expect(viewer.attachment(TEST_USER, 'INBOX', 1, '9')).rejects.toMatchObject({ code: 'VIEWER_NO_PART' });
    await expect(viewer.attachment(TEST_USER, 'INBOX', 1, '../1')).rejects.toMatchObject({ code: 'VIEWER_INVALID' });
    await expect(viewer.handle({ op: 'nope' } as never)).rejects.toMatchObject({ code: 'VIEWER_INVALID' });
    // Through handle(), the typed entry point the worker uses.
    const page = await viewer.handle({ op: 'page', user: TEST_USER, mailbox: 'INBOX', offset: 0, limit: 2 });
    expect(page.items).toHaveLength(2);
  });
});

describe('viewer tree with other mail_home templates', () => {
  it('finds users under %u homes and under a vmail path holding a literal %', async () => {
    const base = await makeTemp('roost-viewer-tpl-');
    try {
      const vmail = path.join(base, '100%mail');
      const settings: ServerSettings = { ...testSettings(vmail, PASSWORD), mail_home: `${vmail.replace(/%/g, '%%')}/homes/%u`, mail_location: 'maildir:~/Maildir' };
      await deliver(path.join(vmail, 'homes', 'zoe@z.example', 'Maildir'), simple(1), Date.UTC(2024, 0, 1));
      await deliver(path.join(vmail, 'homes', 'plain', 'Maildir'), simple(2), Date.UTC(2024, 0, 1));
      await fs.mkdir(path.join(vmail, 'homes', 'nomaildir@z.example'), { recursive: true });
      const v = new Viewer({ settings });
      try {
        const tree = await v.tree(true);
        expect(tree.domains.map((d) => [d.domain, d.users.map((u) => u.user)])).toEqual([['', ['plain']], ['z.example', ['zoe@z.example']]]);
        expect(tree.domains[1].users[0].folders?.find((f) => f.name === 'INBOX')?.messages).toBe(1);
      } finally {
        await v.close();
      }
    } finally {
      await removeTemp(base);
    }
  });
});

describe('Received parsing', () => {
  it('splits clauses even with comments and missing parts', () => {
    expect(parseReceived('by mail.example.org (Postfix, from userid 1000) id 1234ABC; Sat,  3 Feb 2024 10:00:00 +0000 (UTC)')).toMatchObject({
      by: 'mail.example.org (Postfix, from userid 1000)',
      id: '1234ABC',
      time: Date.UTC(2024, 1, 3, 10),
    });
    const odd = parseReceived('from localhost (localhost [127.0.0.1]) by x');
    expect(odd).toMatchObject({ from: 'localhost (localhost [127.0.0.1])', by: 'x' });
    expect(odd.date).toBeUndefined();
  });
});
