// The mailbox viewer end to end: the real headless app (`node out/cli.js`, its bridge, the real mail
// server and its worker) on a vmail tree written the way Postfix writes it, driven through Debian's
// Chromium. Browses domains -> users -> folders with counts, opens messages (text, full headers with
// Received hops, on-disk facts, source), searches with the server's SEARCH, scrolls a 100,000-message
// folder with a bounded number of rows in the DOM, sees a delivery appear live, keeps hostile mail
// inert (no script, no remote request, still responsive), saves a 25 MB attachment, and checks that
// actions from the viewer are seen by an imapflow client at once, and the reverse (through the server's
// 'mailbox-changed' events on the WebSocket, not the viewer's slow safety poll), shows cid: images of a
// multipart/related message, and searches all fields at once.
// Screenshots of the list and a message at 1280x800 and 800x600 go to test-results/screenshots/.
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ImapFlow } from 'imapflow';
import type { Browser, BrowserContext, Page } from 'playwright';
import { expect } from 'playwright/test';
import { afterAll, afterEach, beforeAll, describe, it, expect as vexpect } from 'vitest';
import { SCREENSHOTS, browserSkipReason, buildApp, launchChromium } from '../helpers/ui.js';
import { PASSWORD, ViewerPage, fillBigFolder, plainMessage, startViewerApp, writeMail, type ViewerApp } from '../helpers/ui-viewer.js';

const skipReason = browserSkipReason();
if (skipReason) console.log(`ui-viewer.test.ts: ${skipReason}`);

const ALICE = 'alice@brokkr.net';
const BULK = 'bulk@brokkr.net';
const BULK_COUNT = Number(process.env.ROOST_VIEWER_BULK ?? 100_000);
const ATTACHMENT_BYTES = 25 * 1024 * 1024;

let tmp: string;
let vmail: string;
let aliceDir: string;
let app: ViewerApp | undefined;
let browser: Browser | undefined;
let context: BrowserContext;
let page: Page;
let v: ViewerPage;
/** The "remote" host of hostile mail: every hit it gets is a request that should not have been made. */
let remote: http.Server;
let remoteOrigin: string;
const remoteHits: string[] = [];
const pageRequests: string[] = [];
const dialogs: string[] = [];
/** The viewer's own "Delete for good?" confirmation, accepted once when set. */
let acceptConfirm = false;
const pageProblems: string[] = [];
/** 'mailbox-changed' events the page's WebSocket received, with the time they came. */
const changedFrames: { at: number; mailbox: string; kinds: string[]; exists: number }[] = [];

/** Resolves with the receive time of the first 'mailbox-changed' for `mailbox` (with `kind`) since `since`. */
async function changedEvent(mailbox: string, kind: string, since: number, ms = 5000): Promise<number> {
  await expect.poll(() => changedFrames.some((f) => f.at >= since && f.mailbox === mailbox && f.kinds.includes(kind)), { timeout: ms }).toBe(true);
  return changedFrames.find((f) => f.at >= since && f.mailbox === mailbox && f.kinds.includes(kind))!.at;
}

async function shot(name: string): Promise<void> {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  const vp = page.viewportSize();
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}-${vp?.width}x${vp?.height}.png`), fullPage: false });
}

async function noHorizontalScroll(): Promise<void> {
  const scroll = (await page.evaluate('document.documentElement.scrollWidth')) as number;
  const client = (await page.evaluate('document.documentElement.clientWidth')) as number;
  vexpect(scroll, 'the page must not scroll sideways').toBeLessThanOrEqual(client);
}

function imap(): ImapFlow {
  const c = new ImapFlow({ host: '127.0.0.1', port: app!.imapPort, secure: false, auth: { user: ALICE, pass: PASSWORD }, logger: false, disableAutoIdle: true });
  c.on('error', () => undefined);
  return c;
}

function hostileHtml(origin: string): string {
  return `<html><head><style>@import url(${origin}/import.css); body { background: url(${origin}/body-bg.png); }</style>
<link rel="stylesheet" href="${origin}/link.css"><meta http-equiv="refresh" content="0;url=${origin}/refresh"></head>
<body><p id="hello">Hostile but harmless</p>
<script>top.__pwned = 'script'; fetch('${origin}/script-ran'); alert('script');</script>
<img src="x" onerror="top.__pwned='onerror'; new Image().src='${origin}/onerror-ran'; alert('onerror')">
<img src="${origin}/tracking-pixel.png" width="1" height="1">
<a href="javascript:top.__pwned='link'">click me</a>
<svg onload="top.__pwned='svg'"><circle r="4"></circle></svg>
<iframe src="${origin}/frame"></iframe>
<form action="${origin}/form"><input name="q"><button>go</button></form>
<div style="position:fixed;top:0;left:0;width:100vw;height:100vh;z-index:2147483647;background:url(${origin}/escape.png) red">ESCAPED</div>
</body></html>`;
}

/** multipart/related: HTML showing two images by cid: (a 40x20 PNG and a GIF as a CSS background). */
function inlineImageMail(): string {
  // A 40x20 red PNG, so the test can tell a loaded image (naturalWidth 40) from a broken one.
  const png = 'iVBORw0KGgoAAAANSUhEUgAAACgAAAAUCAIAAABwJOjsAAAAJElEQVR4nGO4o6ExIIhh1OJRi0ctHrV41OJRi0ctHrV45FgMAGbCqa5+2aI1AAAAAElFTkSuQmCC';
  return [
    'From: Designer <designer@example.com>', 'To: alice@brokkr.net', 'Subject: Inline pictures', `Date: ${new Date().toUTCString()}`, 'MIME-Version: 1.0',
    'Content-Type: multipart/related; boundary="rel"; type="text/html"', '',
    '--rel', 'Content-Type: text/html; charset=utf-8', '',
    '<h1>Our new logo</h1><p><img id="logo" alt="logo" src="cid:logo.part1@example.com" width="120"></p><div id="bg" style="width:40px;height:20px;background:url(cid:bg@example.com)"></div>',
    '--rel', 'Content-Type: image/png; name="logo.png"', 'Content-ID: <logo.part1@example.com>', 'Content-Disposition: inline; filename="logo.png"', 'Content-Transfer-Encoding: base64', '', png,
    '--rel', 'Content-Type: image/gif', 'Content-ID: <bg@example.com>', 'Content-Transfer-Encoding: base64', '', 'R0lGODlhAQABAIAAAP8AAP///ywAAAAAAQABAAACAkQBADs=',
    '--rel--', '',
  ].join('\n');
}

function multipart(boundary: string, parts: string[], headers: string[]): string {
  return [...headers, 'MIME-Version: 1.0', `Content-Type: multipart/mixed; boundary="${boundary}"`, '', ...parts.map((p) => `--${boundary}\n${p}`), `--${boundary}--`, ''].join('\n');
}

describe.skipIf(!!skipReason)('mailbox viewer against the real app', { timeout: 120_000 }, () => {
  beforeAll(async () => {
    buildApp();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'roost-ui-viewer-'));
    fs.chmodSync(tmp, 0o755);
    vmail = path.join(tmp, 'vmail');
    aliceDir = path.join(vmail, 'brokkr.net', 'alice', 'maildir');

    remote = http.createServer((req, res) => {
      remoteHits.push(req.url ?? '');
      res.writeHead(200, { 'Content-Type': 'image/gif' });
      res.end(Buffer.from('R0lGODlhAQABAAAAACw=', 'base64'));
    });
    await new Promise<void>((r) => remote.listen(0, '127.0.0.1', r));
    remoteOrigin = `http://127.0.0.1:${(remote.address() as net.AddressInfo).port}`;

    const day = 86_400_000;
    const now = Date.now();
    writeMail(aliceDir, plainMessage({ subject: 'Oldest note', body: 'The oldest body.', date: new Date(now - 5 * day) }), { sub: 'cur', flags: 'S', mtime: new Date(now - 5 * day) });
    writeMail(aliceDir, plainMessage({ subject: 'Quarterly report', from: 'Carol Numbers <carol@example.com>', body: 'Revenue went up; the word zanzibar appears only here.', date: new Date(now - 4 * day) }), { sub: 'cur', flags: 'FS', mtime: new Date(now - 4 * day) });
    writeMail(aliceDir, plainMessage({ subject: 'Lunch on Friday?', body: 'Shall we have lunch on Friday?\nBob', date: new Date(now - 3 * day) }), { mtime: new Date(now - 3 * day) });
    // Hostile and broken mail.
    writeMail(aliceDir, multipart('b1', [
      `Content-Type: text/plain; charset=utf-8\n\nPlain alternative.\n`,
      `Content-Type: text/html; charset=utf-8\n\n${hostileHtml(remoteOrigin)}\n`,
    ], ['From: Mallory <mallory@evil.example>', 'To: alice@brokkr.net', 'Subject: Hostile HTML', `Date: ${new Date(now - 2 * day).toUTCString()}`]).replace('multipart/mixed', 'multipart/alternative'), { mtime: new Date(now - 2 * day) });
    writeMail(aliceDir, ['From: Broken <broken@example.org>', 'To: alice@brokkr.net', 'Subject: Malformed MIME', 'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="never-closed"', 'Bad header line without colon', '', '--never-closed', 'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: base64', '', '!!!not base64@@@', '--never-closed', 'Content-Type: text/html', '', '<p>unterminated <b>bold', ''].join('\n'),
    { mtime: new Date(now - 2 * day + 1000) });
    writeMail(aliceDir, Buffer.concat([
      Buffer.from('From: Charset <charset@example.org>\nTo: alice@brokkr.net\nSubject: Wrong charsets\nMIME-Version: 1.0\nContent-Type: text/plain; charset=x-no-such-charset\nContent-Transfer-Encoding: 8bit\n\n'),
      Buffer.from([0x47, 0x72, 0xfc, 0xdf, 0x65, 0x20, 0xe9, 0xe8, 0x0a]), Buffer.from('declared but unknown charset\n'),
    ]), { mtime: new Date(now - 2 * day + 2000) });
    const big = Buffer.alloc(ATTACHMENT_BYTES);
    for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((i * 2654435761) >>> 0, i);
    writeMail(aliceDir, multipart('b25', [
      'Content-Type: text/plain; charset=utf-8\n\nThe report is attached.\n',
      `Content-Type: application/pdf; name="big-report.pdf"\nContent-Disposition: attachment; filename="big-report.pdf"\nContent-Transfer-Encoding: base64\n\n${big.toString('base64').replace(/.{76}/g, '$&\n')}\n`,
    ], ['From: Big Sender <big@example.org>', 'To: alice@brokkr.net', 'Subject: 25 MB attachment', `Date: ${new Date(now - day).toUTCString()}`]), { mtime: new Date(now - day) });
    writeMail(aliceDir, multipart('b2', [
      'Content-Type: text/plain; charset=utf-8\n\nSee the newsletter.\n',
      `Content-Type: text/html; charset=utf-8\n\n<html><body><h1 style="color:#2f5fd0">Newsletter</h1><p>Styled <b>HTML</b> with a remote picture:</p><img alt="remote" src="${remoteOrigin}/newsletter.png"></body></html>\n`,
    ], ['From: News <news@example.org>', 'To: alice@brokkr.net', 'Subject: Newsletter with a remote image', `Date: ${new Date(now - day / 2).toUTCString()}`]).replace('multipart/mixed', 'multipart/alternative'), { mtime: new Date(now - day / 2) });
    // Folders for moves; Trash is made on first use. Designs holds an HTML mail with inline images.
    for (const f of ['.Archive', '.Designs']) {
      for (const d of ['cur', 'new', 'tmp']) fs.mkdirSync(path.join(aliceDir, f, d), { recursive: true });
      fs.writeFileSync(path.join(aliceDir, f, 'maildirfolder'), '');
    }
    writeMail(path.join(aliceDir, '.Designs'), inlineImageMail(), { sub: 'cur', flags: 'S', mtime: new Date(now - day) });
    const ms = fillBigFolder(path.join(vmail, 'brokkr.net', 'bulk', 'maildir'), BULK_COUNT);
    console.log(`ui-viewer.test.ts: wrote ${BULK_COUNT} messages for ${BULK} in ${ms} ms`);

    app = await startViewerApp(tmp, vmail);
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light', acceptDownloads: true });
    page = await context.newPage();
    page.setDefaultTimeout(15_000);
    page.on('request', (r) => pageRequests.push(r.url()));
    page.on('dialog', (d) => {
      if (acceptConfirm && d.type() === 'confirm') {
        acceptConfirm = false;
        void d.accept();
        return;
      }
      dialogs.push(d.message());
      void d.dismiss();
    });
    page.on('console', (m) => { if (m.type() === 'error') pageProblems.push(`console: ${m.text()}`); });
    page.on('pageerror', (e) => pageProblems.push(`pageerror: ${e.message}`));
    page.on('websocket', (ws) => ws.on('framereceived', (f) => {
      try {
        const e = JSON.parse(String(f.payload)) as { type?: string; event?: { type?: string; mailbox?: string; kinds?: string[]; exists?: number } };
        if (e.type === 'server' && e.event?.type === 'mailbox-changed') {
          changedFrames.push({ at: Date.now(), mailbox: e.event.mailbox ?? '', kinds: e.event.kinds ?? [], exists: e.event.exists ?? -1 });
        }
      } catch { /* not JSON: not ours */ }
    }));
    v = new ViewerPage(page);
    await page.goto(app.roost.url);
    await expect.poll(() => new URL(page.url()).search).toBe('');
  }, 300_000);

  afterEach(async ({ task }) => {
    if (task.result?.state === 'fail' && page) await shot(`failed-viewer-${task.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 50)}`).catch(() => undefined);
  });

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    await app?.roost.stop();
    await new Promise((r) => remote?.close(r));
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  }, 60_000);

  it('shows domains, users and folders with message and unread counts', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Mailboxes' }).click();
    await expect(v.folder(ALICE, 'INBOX')).toBeVisible();
    await expect(page.getByRole('heading', { name: 'brokkr.net' })).toBeVisible();
    await expect(v.folder(ALICE, 'INBOX')).toContainText('8');
    await expect(v.folder(ALICE, 'INBOX').getByLabel(/6 unread of 8/)).toBeVisible();
    await expect(v.folder(ALICE, 'Archive')).toContainText('0');
    await expect(v.folder(BULK, 'INBOX').getByLabel(new RegExp(` of ${BULK_COUNT}$`))).toBeVisible({ timeout: 60_000 });
    await expect(v.folder(BULK, 'INBOX')).toContainText(BULK_COUNT.toLocaleString('en-US'));
  });

  it('lists newest first with unread in bold and flags shown, and opens a message', async () => {
    await v.folder(ALICE, 'INBOX').click();
    await expect(v.summary).toContainText('8 messages');
    const subjects = await v.rows.locator('.subject').allInnerTexts();
    vexpect(subjects[0]).toBe('Newsletter with a remote image');
    vexpect(subjects.at(-1)).toBe('Oldest note');
    await expect(v.row('Lunch on Friday?')).toHaveClass(/unread/);
    await expect(v.row('Oldest note')).not.toHaveClass(/unread/);
    const weight = await v.row('Lunch on Friday?').locator('.subject').evaluate((e) => (globalThis as unknown as { getComputedStyle(x: unknown): { fontWeight: string } }).getComputedStyle(e).fontWeight);
    vexpect(Number(weight)).toBeGreaterThanOrEqual(700);
    await expect(v.row('Quarterly report').getByLabel('Flagged')).toBeVisible();

    await v.row('Lunch on Friday?').click();
    await expect(v.subject).toHaveText('Lunch on Friday?');
    await expect(v.text).toContainText('Shall we have lunch on Friday?');
    // Opening marks it read, as a mail client does; the list and the counts follow.
    await expect(v.row('Lunch on Friday?')).not.toHaveClass(/unread/);
    await expect(v.folder(ALICE, 'INBOX').getByLabel(/5 unread of 8/)).toBeVisible();
    expect(page.url()).toMatch(/#\/viewer\/alice%40brokkr\.net\/INBOX\/\d+$/);

    await v.button('Show full headers').click();
    await expect(page.getByTestId('received-hops').getByRole('listitem')).toHaveCount(2);
    await expect(page.getByTestId('received-hops')).toContainText('id 4ABCDEF012');
    await page.getByText('On disk', { exact: true }).click();
    await expect(page.getByTestId('msg-facts')).toContainText(':2,S');
    await expect(page.getByTestId('msg-facts')).toContainText('Flag letters');
    await v.tab('Source').click();
    await expect(page.getByTestId('msg-source')).toContainText('Return-Path: <sender@example.org>');
    await shot('viewer-message');
    await v.button('Hide full headers').click();
  });

  it('moves through the list with the keyboard and opens with Enter', async () => {
    await v.list.focus();
    await page.keyboard.press('Home');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Enter');
    await expect(v.subject).toHaveText('25 MB attachment');
  });

  it('opens a deep link to a message', async () => {
    const uid = await v.row('Quarterly report').getAttribute('data-uid');
    await page.goto(`${app!.roost.origin}/#/viewer/${encodeURIComponent(ALICE)}/INBOX/${uid}`);
    await expect(v.subject).toHaveText('Quarterly report');
    await expect(v.row('Quarterly report')).toHaveAttribute('aria-selected', 'true');
  });

  it('searches by from, subject and text with the server\'s SEARCH', async () => {
    await v.search('From', 'carol');
    await expect(v.summary).toContainText('1 match');
    await expect(v.rows).toHaveCount(1);
    await v.search('Subject', 'friday');
    await expect(v.rows.locator('.subject')).toHaveText(['Lunch on Friday?']);
    await v.search('Text', 'zanzibar');
    await expect(v.rows.locator('.subject')).toHaveText(['Quarterly report']);
    await v.search('Text', 'no-such-word-anywhere');
    await expect(page.getByText('Nothing matches.')).toBeVisible();
    // All fields: any of from, subject, text (the server's SEARCH OR).
    await v.search('All fields', 'carol');
    await expect(v.rows.locator('.subject')).toHaveText(['Quarterly report']);
    await v.search('All fields', 'friday');
    await expect(v.rows.locator('.subject')).toHaveText(['Lunch on Friday?']);
    await v.search('All fields', 'oldest');
    await expect(v.rows.locator('.subject')).toHaveText(['Oldest note']);
    await v.button('Clear').click();
    await expect(v.summary).toContainText('8 messages');
  });

  it('keeps hostile mail inert: no script, no remote request, no escape, still responsive', async () => {
    const before = pageRequests.length;
    for (const subject of ['Hostile HTML', 'Malformed MIME', 'Wrong charsets', 'Newsletter with a remote image']) {
      await v.row(subject).click();
      await expect(v.subject).toHaveText(subject);
      if (await v.tab('HTML').count()) {
        await v.tab('HTML').click();
        await expect(v.frame).toBeVisible();
      }
    }
    await v.row('Hostile HTML').click();
    await expect(v.frame).toBeVisible();
    const frame = page.frameLocator('iframe.html');
    await expect(frame.locator('#hello')).toHaveText('Hostile but harmless');
    await expect(page.getByRole('status').filter({ hasText: 'Remote content blocked' })).toBeVisible();
    await page.waitForTimeout(1500);
    vexpect(await page.evaluate('window.__pwned')).toBeUndefined();
    vexpect(dialogs, 'no alert() may run').toEqual([]);
    vexpect(remoteHits, 'the remote host must not be asked for anything').toEqual([]);
    vexpect(pageRequests.slice(before).filter((u) => u.startsWith(remoteOrigin))).toEqual([]);
    // The sandbox: no scripts, no forms, no popups, no top navigation; the sanitized copy has no handlers.
    vexpect(await v.frame.getAttribute('sandbox')).toBe('');
    const srcdoc = (await v.frame.getAttribute('srcdoc')) ?? '';
    vexpect(srcdoc).not.toMatch(/<script|onerror=|onload=|javascript:|<form|<link|<iframe/i);
    // The fixed, full-window overlay stays inside the frame's box: the page's top-left is still the app.
    const topLeft = await page.evaluate('document.elementFromPoint(5, 5)?.tagName');
    vexpect(topLeft).not.toBe('IFRAME');
    const box = (await v.frame.boundingBox())!;
    const pane = (await v.pane.boundingBox())!;
    vexpect(box.x).toBeGreaterThanOrEqual(pane.x - 1);
    vexpect(box.x + box.width).toBeLessThanOrEqual(pane.x + pane.width + 1);
    // Still responsive.
    const t0 = Date.now();
    await v.row('Oldest note').click();
    await expect(v.subject).toHaveText('Oldest note');
    vexpect(Date.now() - t0).toBeLessThan(5000);
    // Wrong charsets and broken MIME still show something readable.
    await v.row('Wrong charsets').click();
    await expect(v.text).toContainText('declared but unknown charset');
    await v.row('Malformed MIME').click();
    await expect(v.subject).toHaveText('Malformed MIME');
    vexpect(pageProblems.filter((p) => !/Refused to load|Content Security Policy|Blocked script execution/.test(p))).toEqual([]);

    // "Load remote content" is the one way to the remote host, and it works.
    await v.row('Newsletter with a remote image').click();
    await expect(page.frameLocator('iframe.html').locator('h1')).toHaveText('Newsletter');
    await shot('viewer-html');
    vexpect(remoteHits).toEqual([]);
    await v.button('Load remote content').click();
    await expect.poll(() => remoteHits.includes('/newsletter.png')).toBe(true);
    remoteHits.length = 0;
  });

  it('lists a 25 MB attachment with size and type and saves it', async () => {
    await v.row('25 MB attachment').click();
    const item = page.getByRole('region', { name: 'Attachments' }).getByRole('listitem');
    await expect(item).toContainText('big-report.pdf');
    await expect(item).toContainText('application/pdf · 25.0 MB');
    const [download] = await Promise.all([page.waitForEvent('download'), v.button('Save big-report.pdf').click()]);
    vexpect(download.suggestedFilename()).toBe('big-report.pdf');
    const file = path.join(tmp, 'saved.pdf');
    await download.saveAs(file);
    vexpect(fs.statSync(file).size).toBe(ATTACHMENT_BYTES);
    // The list still answers.
    await v.row('Oldest note').click();
    await expect(v.subject).toHaveText('Oldest note');
  });

  it('shows a delivered message at once, highlighted', async () => {
    await v.folder(ALICE, 'INBOX').click();
    await expect(v.summary).toContainText('8 messages');
    // Postfix's way: written in tmp/, renamed into new/.
    const tmpFile = path.join(aliceDir, 'tmp', `live-${Date.now()}`);
    fs.writeFileSync(tmpFile, plainMessage({ subject: 'Live delivery', body: 'Arrived while you watched.' }));
    const t0 = Date.now();
    fs.renameSync(tmpFile, path.join(aliceDir, 'new', path.basename(tmpFile) + '.roost-test'));
    await expect(v.row('Live delivery')).toBeVisible({ timeout: 5000 });
    console.log(`ui-viewer.test.ts: delivery shown in the list after ${Date.now() - t0} ms`);
    await expect(v.row('Live delivery')).toHaveClass(/fresh/);
    await expect(v.row('Live delivery')).toHaveClass(/unread/);
    await expect(v.summary).toContainText('9 messages');
    await shot('viewer-list');
  });

  it('actions from the viewer are seen by an IMAP client at once, and the reverse', async () => {
    const client = imap();
    await client.connect();
    try {
      await step();
    } catch (e) {
      throw new Error(`${(e as Error).message}: ${(e as { responseText?: string }).responseText ?? ''} ${(e as { executedCommand?: string }).executedCommand ?? ''}`);
    } finally {
      await client.logout().catch(() => undefined);
    }
    async function step(): Promise<void> {
      await v.row('Oldest note').click();
      const uid = Number(await v.row('Oldest note').getAttribute('data-uid'));
      // Viewer -> IMAP: unread, flag.
      await v.button('Mark unread').click();
      await expect(v.button('Mark read')).toBeVisible();
      let lock = await client.getMailboxLock('INBOX');
      try {
        const m = await client.fetchOne(String(uid), { flags: true }, { uid: true });
        vexpect(m && [...m.flags!]).not.toContain('\\Seen');
      } finally { lock.release(); }
      await v.button('☆ Flag').click();
      await expect(v.button('★ Unflag')).toBeVisible();
      lock = await client.getMailboxLock('INBOX');
      try {
        const m = await client.fetchOne(String(uid), { flags: true }, { uid: true });
        vexpect(m && [...m.flags!]).toContain('\\Flagged');
      } finally { lock.release(); }
      // Move to Archive.
      await page.getByLabel('Move to folder').selectOption('Archive');
      await v.button('Move').click();
      await expect(v.row('Oldest note')).toHaveCount(0);
      vexpect(((await client.status('Archive', { messages: true })) || { messages: -1 }).messages).toBe(1);
      // Delete to Trash, then for good from Trash.
      await v.row('Lunch on Friday?').click();
      await v.button('Delete').click();
      await expect(v.row('Lunch on Friday?')).toHaveCount(0);
      vexpect(((await client.status('Trash', { messages: true })) || { messages: -1 }).messages).toBe(1);
      await v.folder(ALICE, 'Trash').click();
      await v.row('Lunch on Friday?').click();
      acceptConfirm = true;
      await v.button('Delete for good').click();
      await expect(page.getByText('This folder is empty.')).toBeVisible();
      vexpect(((await client.status('Trash', { messages: true })) || { messages: -1 }).messages).toBe(0);

      // IMAP -> viewer: flag, expunge, move. Each shows within a second through a 'mailbox-changed'
      // event on the WebSocket (the safety poll is 15 s: the 5 s limits below cannot be met by it).
      await v.folder(ALICE, 'INBOX').click();
      await expect(v.row('Quarterly report')).toBeVisible();
      await v.row('Wrong charsets').click();
      await expect(v.button('☆ Flag')).toBeVisible();
      lock = await client.getMailboxLock('INBOX');
      try {
        const search = await client.search({ subject: 'Wrong charsets' }, { uid: true });
        const charsetUid = (search || [])[0];
        let t0 = Date.now();
        await client.messageFlagsAdd(String(charsetUid), ['\\Flagged'], { uid: true });
        await expect(v.row('Wrong charsets').getByLabel('Flagged')).toBeVisible({ timeout: 5000 });
        const shownFlag = Date.now() - t0;
        // The open message's buttons follow too.
        await expect(v.button('★ Unflag')).toBeVisible({ timeout: 5000 });
        vexpect(await changedEvent('INBOX', 'flags', t0) - t0).toBeLessThan(1000);

        // Deleting the message that is open: the list drops it, the pane says so.
        await v.row('Malformed MIME').click();
        await expect(v.subject).toHaveText('Malformed MIME');
        t0 = Date.now();
        const broken = await client.search({ subject: 'Malformed MIME' }, { uid: true });
        await client.messageDelete(String((broken || [])[0]), { uid: true });
        await expect(v.row('Malformed MIME')).toHaveCount(0, { timeout: 5000 });
        const shownExpunge = Date.now() - t0;
        await expect(page.getByTestId('message-gone')).toContainText('no longer in INBOX', { timeout: 5000 });
        await expect(v.button('Delete for good')).toBeDisabled();
        await shot('viewer-gone');
        await page.getByTestId('message-gone').getByRole('button', { name: 'Back to the list' }).click();
        vexpect(await changedEvent('INBOX', 'expunged', t0) - t0).toBeLessThan(1000);

        t0 = Date.now();
        const q = await client.search({ subject: 'Quarterly report' }, { uid: true });
        await client.messageMove(String((q || [])[0]), 'Archive', { uid: true });
        await expect(v.row('Quarterly report')).toHaveCount(0, { timeout: 5000 });
        const shownMove = Date.now() - t0;
        vexpect(await changedEvent('INBOX', 'expunged', t0) - t0).toBeLessThan(1000);
        console.log(`ui-viewer.test.ts: IMAP changes shown in the viewer after ${shownFlag} ms (STORE), ${shownExpunge} ms (EXPUNGE), ${shownMove} ms (MOVE)`);
        vexpect(Math.max(shownFlag, shownExpunge, shownMove)).toBeLessThan(3000);
      } finally { lock.release(); }
      await expect(v.folder(ALICE, 'Archive')).toContainText('2', { timeout: 5000 });
    }
  });

  it('shows the inline images of a multipart/related message (cid:)', async () => {
    await v.folder(ALICE, 'Designs').click();
    await v.row('Inline pictures').click();
    await expect(v.subject).toHaveText('Inline pictures');
    const frame = page.frameLocator('iframe.html');
    await expect(frame.locator('h1')).toHaveText('Our new logo');
    // Loaded from a data: URL (the frame's CSP allows nothing else): the PNG's real size is known.
    await expect.poll(() => frame.locator('#logo').evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth)).toBe(40);
    vexpect(await frame.locator('#logo').getAttribute('src')).toMatch(/^data:image\/png;base64,/);
    vexpect(await frame.locator('#bg').getAttribute('style')).toContain('data:image/gif;base64,');
    // No "remote content" note: cid: is part of the message.
    await expect(page.getByRole('status').filter({ hasText: 'Remote content blocked' })).toHaveCount(0);
    await shot('viewer-inline');
    await v.folder(ALICE, 'INBOX').click();
  });

  it(`scrolls a ${BULK_COUNT.toLocaleString('en-US')}-message folder with a bounded number of rows in the DOM`, async () => {
    const t0 = Date.now();
    await v.folder(BULK, 'INBOX').click();
    await expect(v.summary).toContainText(`${BULK_COUNT.toLocaleString()} messages`, { timeout: 60_000 });
    await expect(v.row(`Bulk message ${BULK_COUNT}`)).toBeVisible({ timeout: 60_000 });
    console.log(`ui-viewer.test.ts: first page of ${BULK_COUNT} messages after ${Date.now() - t0} ms`);
    const bounded = async (): Promise<void> => {
      const n = (await page.evaluate('document.querySelectorAll("[data-testid=message-list] .row").length')) as number;
      vexpect(n).toBeGreaterThan(5);
      vexpect(n).toBeLessThan(80);
    };
    await bounded();
    // Jump to the middle, as dragging the scroll bar does.
    const t1 = Date.now();
    await page.evaluate(`(() => { const s = document.querySelector('[data-testid=message-list]'); s.scrollTop = s.scrollHeight / 2; })()`);
    const mid = Math.round(BULK_COUNT / 2);
    await expect(v.rows.locator('.subject').filter({ hasText: new RegExp(`^Bulk message ${String(mid).slice(0, -2)}\\d\\d$`) }).first()).toBeVisible();
    console.log(`ui-viewer.test.ts: middle of the folder shown after ${Date.now() - t1} ms`);
    await bounded();
    // Smooth scrolling: many small steps, each frame renders without waiting for the network.
    for (let i = 0; i < 30; i++) await page.mouse.wheel(0, 400);
    await bounded();
    await v.list.focus();
    await page.keyboard.press('End');
    await expect(v.row(/^.*Bulk message 1\b(?!\d)/)).toBeVisible();
    await bounded();
    await page.keyboard.press('Home');
    await expect(v.row(`Bulk message ${BULK_COUNT}`)).toBeVisible();
  });

  it('fits 800x600 without sideways scrolling (screenshots)', async () => {
    await page.setViewportSize({ width: 1280, height: 800 });
    await v.folder(ALICE, 'INBOX').click();
    await v.row('Newsletter with a remote image').click();
    await expect(page.frameLocator('iframe.html').locator('h1')).toHaveText('Newsletter');
    await shot('viewer-message');
    await page.setViewportSize({ width: 800, height: 600 });
    await noHorizontalScroll();
    await shot('viewer-message');
    await page.getByRole('button', { name: 'Back to the list' }).click();
    await expect(v.list).toBeVisible();
    await noHorizontalScroll();
    await shot('viewer-list');
    await page.setViewportSize({ width: 1280, height: 800 });
  });
});
