// The viewer's cid: images and its "all fields" search, on a real maildir: a multipart/related message
// sends along exactly the image parts its HTML references (image/* only, within the size caps), and a
// search with match 'any' is the server's SEARCH OR of the fields (the default still ANDs them).
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VIEWER_DEFAULTS } from '../../electron/shared/viewer-types.js';
import { Viewer, searchKey } from '../../electron/server/viewer/index.js';
import { cidReferences } from '../../electron/server/viewer/viewer.js';
import { makeTemp, removeTemp } from '../helpers/corpus.js';
import { testSettings } from '../helpers/roost.js';

const USER = 'carol@example.net';
/** A 1x1 PNG. */
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');

function b64(data: Buffer): string {
  return data.toString('base64').replace(/.{76}/g, '$&\n');
}

function related(): string {
  const big = Buffer.alloc(VIEWER_DEFAULTS.inlineImageMaxBytes + 10, 7);
  return [
    'From: Designer <designer@example.com>', 'To: carol@example.net', 'Subject: Inline pictures', 'MIME-Version: 1.0',
    'Content-Type: multipart/related; boundary="rel"; type="text/html"', '',
    '--rel', 'Content-Type: text/html; charset=utf-8', '',
    '<p>Logo: <img src="cid:logo@example.com" alt="logo"> big: <img src="CID:big%40example.com"> script: <img src="cid:script@example.com">',
    '<div style="background:url(cid:bg@example.com)">bg</div></p>',
    '--rel', 'Content-Type: image/png; name="logo.png"', 'Content-ID: <logo@example.com>', 'Content-Disposition: inline; filename="logo.png"', 'Content-Transfer-Encoding: base64', '', b64(PNG),
    '--rel', 'Content-Type: image/gif', 'Content-ID: <bg@example.com>', 'Content-Transfer-Encoding: base64', '', 'R0lGODlhAQABAAAAACw=',
    '--rel', 'Content-Type: image/png', 'Content-ID: <big@example.com>', 'Content-Transfer-Encoding: base64', '', b64(big),
    '--rel', 'Content-Type: application/javascript', 'Content-ID: <script@example.com>', '', 'alert(1)',
    '--rel', 'Content-Type: image/png', 'Content-ID: <unused@example.com>', 'Content-Transfer-Encoding: base64', '', b64(PNG),
    '--rel--', '',
  ].join('\n');
}

describe('viewer: cid: images and "all fields" search', () => {
  let vmail: string;
  let viewer: Viewer;
  let maildir: string;

  beforeAll(async () => {
    vmail = await makeTemp('roost-viewer-inline-');
    maildir = path.join(vmail, 'example.net', 'carol', 'maildir');
    for (const sub of ['tmp', 'new', 'cur']) await fs.mkdir(path.join(maildir, sub), { recursive: true });
    const msgs = [
      related(),
      'From: Dave <dave@example.com>\nTo: carol@example.net\nSubject: Budget\n\nNumbers only.\n',
      'From: Erin <erin@example.com>\nTo: carol@example.net\nSubject: Hello dave\n\nNothing else.\n',
      'From: Frank <frank@example.com>\nTo: carol@example.net\nSubject: Notes\n\nAsk Dave about it.\n',
      'From: Grace <grace@example.com>\nTo: carol@example.net\nSubject: Unrelated\n\nNothing here.\n',
    ];
    let i = 0;
    for (const raw of msgs) await fs.writeFile(path.join(maildir, 'new', `${1700000000 + i}.M${i++}.host`), raw);
    viewer = new Viewer({ settings: testSettings(vmail, 'ThisIsABadPassword') });
  });

  afterAll(async () => {
    await viewer?.close();
    await removeTemp(vmail);
  });

  it('sends the image parts the HTML shows by cid:, within the caps, and nothing else', async () => {
    const page = await viewer.page(USER, 'INBOX', 0, 10);
    const uid = page.items.find((m) => m.subject === 'Inline pictures')!.uid;
    const m = await viewer.message(USER, 'INBOX', uid, false);
    expect(m.html?.content).toContain('cid:logo@example.com');
    const images = m.inlineImages ?? [];
    expect(images.map((x) => x.contentId).sort()).toEqual(['bg@example.com', 'logo@example.com']);
    const logo = images.find((x) => x.contentId === 'logo@example.com')!;
    expect(logo.contentType).toBe('image/png');
    expect(Buffer.from(logo.data, 'base64').equals(PNG)).toBe(true);
    // Every part is still an attachment to save, the big one and the unused one included.
    expect(m.attachments.map((a) => a.contentId)).toEqual(['logo@example.com', 'bg@example.com', 'big@example.com', 'script@example.com', 'unused@example.com']);
    // A message without cid: references sends none.
    const plain = await viewer.message(USER, 'INBOX', page.items.find((x) => x.subject === 'Budget')!.uid, false);
    expect(plain.inlineImages).toBeUndefined();
  });

  it('finds cid: references however they are written', () => {
    expect([...cidReferences('<img src="cid:A%40B"><img src=\'cid:<c@d>\'> url(cid:e@f) x')].sort()).toEqual(['a@b', 'c@d', 'e@f']);
  });

  it('"all fields" matches any field (SEARCH OR); the default needs all of them', async () => {
    const subjects = async (query: Parameters<Viewer['search']>[2]) => (await viewer.search(USER, 'INBOX', query, 0, 50)).items.map((m) => m.subject).sort();
    expect(await subjects({ from: 'dave', subject: 'dave', text: 'dave', match: 'any' })).toEqual(['Budget', 'Hello dave', 'Notes']);
    expect(await subjects({ from: 'dave', subject: 'dave' })).toEqual([]);
    expect(await subjects({ from: 'dave', subject: 'budget', match: 'all' })).toEqual(['Budget']);
    expect(searchKey({ from: 'x', subject: 'y', text: 'z', match: 'any' })).toMatchObject({
      k: 'or', a: { k: 'header', field: 'from' }, b: { k: 'or', a: { k: 'header', field: 'subject' }, b: { k: 'text', value: 'z' } },
    });
    expect(searchKey({ from: 'x', match: 'any' })).toMatchObject({ k: 'header', field: 'from', value: 'x' });
  });
});
