// The first page of a big folder comes from the newest file names (order.ts newestByDate) instead of
// dating every file: it must be exactly the page the full order gives, for mail written the ways
// Postfix, Dovecot and mail clients write it (names with the time of writing, APPENDs with an older
// INTERNALDATE, names without a time), and a page further down must still be exact.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Viewer } from '../../electron/server/viewer/index.js';
import { forgetOrders, nameTimeMs } from '../../electron/server/viewer/order.js';
import { makeTemp, removeTemp, userMaildir } from '../helpers/corpus.js';
import { testSettings } from '../helpers/roost.js';

const USER = 'bulk@example.net';
const COUNT = 3000;

function message(i: number): string {
  return `From: Sender ${i} <s${i}@example.com>\nTo: ${USER}\nSubject: Message number ${i}\nMessage-ID: <m${i}@example.com>\n\nBody ${i}.\n`;
}

describe('viewer: first page of a big folder', () => {
  let vmail: string;
  let viewer: Viewer;
  /** uid order is the order files are found in; dates are what stat() gives. */
  const expected: { name: string; date: number }[] = [];

  beforeAll(async () => {
    vmail = await makeTemp('roost-viewer-first-');
    const maildir = userMaildir(vmail, USER);
    for (const sub of ['tmp', 'new', 'cur']) fs.mkdirSync(path.join(maildir, sub), { recursive: true });
    const base = Date.UTC(2025, 0, 1);
    for (let i = 0; i < COUNT; i++) {
      // Delivered a minute apart, named by the time of writing (Postfix, Dovecot, Roost).
      const written = base + i * 60_000;
      let name = `${Math.floor(written / 1000)}.M${i}P1.host`;
      let mtime = written + 1500; // writing took a moment
      if (i % 97 === 0) mtime = base - 86_400_000 * (i + 1); // an APPEND with an old INTERNALDATE
      if (i % 500 === 7) {
        name = `imported-${i}.eml`; // no time in the name: always looked at
        mtime = base + COUNT * 60_000 + i * 1000; // and newer than everything else
      }
      const file = path.join(maildir, 'cur', `${name}:2,S`);
      fs.writeFileSync(file, message(i));
      fs.utimesSync(file, new Date(mtime), new Date(mtime));
      expected.push({ name, date: Math.round(fs.statSync(file).mtimeMs) });
    }
    viewer = new Viewer({ settings: testSettings(vmail, 'ThisIsABadPassword') });
  });

  afterAll(async () => {
    await viewer?.close();
    await removeTemp(vmail);
  });

  it('reads the time in maildir names', () => {
    expect(nameTimeMs('1735689600.M1P1.host:2,S')).toBe(1735689600_000);
    expect(nameTimeMs('imported-7.eml')).toBeNaN();
    expect(nameTimeMs('12345.x')).toBeNaN();
  });

  it('gives exactly the newest rows of the full order, before and after the full order is known', async () => {
    forgetOrders();
    // 600 rows: more than one round of stat()s, so stopping too early would show.
    const first = await viewer.page(USER, 'INBOX', 0, 600);
    expect(first.total).toBe(COUNT);
    // The full order, computed by the viewer itself for the deeper page (waits for the warm-up).
    const deep = await viewer.page(USER, 'INBOX', 0, 1000);
    const byUid = new Map<number, number>();
    for (const it of deep.items) byUid.set(it.uid, it.date);
    const want = [...expected].sort((a, b) => b.date - a.date).slice(0, 600).map((e) => e.date);
    expect(first.items.map((it) => it.date)).toEqual(want);
    expect(deep.items.slice(0, 600).map((it) => it.uid)).toEqual(first.items.map((it) => it.uid));
    // The imported files (no time in their names) are the newest and lead the list.
    expect(first.items[0].subject).toMatch(/Message number \d+/);
    expect(first.items.slice(0, 6).every((it) => /number (7|507|1007|1507|2007|2507)$/.test(it.subject))).toBe(true);
  });
});
