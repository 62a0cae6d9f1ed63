// "Send a test message" end to end, in Debian's Chromium against the real headless app: through a real,
// private Postfix (tests/helpers/postfix.ts, the seed's virtual mailbox setup on a loopback port,
// delivering into the tree Roost serves): the report shows the queue id Postfix logged, the arrival and
// the time between, and "Open the message" shows it in the viewer with the right body. The same for the
// local drop. Then the failures, explained instead of hanging: a relay that refuses the connection, and
// one that accepts but delivers elsewhere (a tiny SMTP server of our own that says "queued" and drops
// the message), whose report shows Roost's mail_home beside Postfix's virtual_mailbox_base.
// The Postfix part skips, saying why, where Postfix is not installed or cannot start.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright';
import { expect } from 'playwright/test';
import { afterAll, afterEach, beforeAll, describe, it, expect as vexpect } from 'vitest';
import { mailOwner } from '../helpers/dovecot.js';
import { postfixUnavailableReason, postfixVersion, startPostfix, type PostfixInstance } from '../helpers/postfix.js';
import { SCREENSHOTS, browserSkipReason, buildApp, freePort, launchChromium } from '../helpers/ui.js';
import { ViewerPage, startViewerApp, type ViewerApp } from '../helpers/ui-viewer.js';

const skipReason = browserSkipReason();
if (skipReason) console.log(`ui-sendtest.test.ts: ${skipReason}`);
const noPostfix = postfixUnavailableReason();
if (noPostfix) console.log(`ui-sendtest.test.ts: the Postfix test skips: ${noPostfix}`);

const ALICE = 'alice@brokkr.net';

let tmp: string;
let vmail: string;
let app: ViewerApp | undefined;
let browser: Browser | undefined;
let page: Page;
let postfix: PostfixInstance | undefined;
let postfixError: string | undefined;
let blackhole: net.Server | undefined;
let blackholePort = 0;
const blackholeQueueId = 'B1ACKH01E';

async function shot(name: string): Promise<void> {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  const vp = page.viewportSize();
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}-${vp?.width}x${vp?.height}.png`), fullPage: false });
}

/** An SMTP server that accepts every message ("queued as ...") and throws it away: delivery elsewhere. */
function startBlackhole(): Promise<net.Server> {
  const server = net.createServer((s) => {
    let data = false;
    let buf = '';
    s.write('220 blackhole.example ESMTP\r\n');
    s.on('data', (chunk) => {
      buf += chunk.toString('latin1');
      let i: number;
      while ((i = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (data) {
          if (line === '.') { data = false; s.write(`250 2.0.0 Ok: queued as ${blackholeQueueId}\r\n`); }
          continue;
        }
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO' || verb === 'HELO') s.write('250-blackhole.example\r\n250 8BITMIME\r\n');
        else if (verb === 'DATA') { data = true; s.write('354 End data with <CR><LF>.<CR><LF>\r\n'); }
        else if (verb === 'QUIT') { s.end('221 2.0.0 Bye\r\n'); }
        else s.write('250 2.0.0 Ok\r\n');
      }
    });
    s.on('error', () => undefined);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe.skipIf(!!skipReason)('send a test message from the UI against the real app', { timeout: 90_000 }, () => {
  beforeAll(async () => {
    buildApp();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'roost-ui-sendtest-'));
    // Postfix's unprivileged delivery agent must reach the tree below it.
    fs.chmodSync(tmp, 0o755);
    vmail = path.join(tmp, 'vmail');
    fs.mkdirSync(path.join(vmail, 'brokkr.net'), { recursive: true });
    app = await startViewerApp(tmp, vmail);
    if (!noPostfix) {
      const owner = mailOwner();
      try {
        postfix = await startPostfix({ vmail, domains: ['brokkr.net'], mailboxes: { [ALICE]: 'brokkr.net/alice/maildir/' }, uid: owner.uid, gid: owner.gid });
        console.log(`ui-sendtest.test.ts: Postfix ${postfixVersion()} on 127.0.0.1:${postfix.port}`);
      } catch (e) {
        postfixError = `Postfix cannot start here: ${(e as Error).message}`;
        console.log(`ui-sendtest.test.ts: ${postfixError}`);
      }
    }
    blackhole = await startBlackhole();
    blackholePort = (blackhole.address() as net.AddressInfo).port;
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' });
    page = await context.newPage();
    page.setDefaultTimeout(15_000);
    await page.goto(app.roost.url);
    await expect.poll(() => new URL(page.url()).search).toBe('');
  }, 120_000);

  afterEach(async ({ task }) => {
    if (task.result?.state === 'fail' && page) await shot(`failed-sendtest-${task.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 50)}`).catch(() => undefined);
  });

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    await postfix?.stop();
    await new Promise((r) => (blackhole ? blackhole.close(r) : r(undefined)));
    await app?.roost.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  }, 60_000);

  async function openForm(mode: 'Through the relay' | 'Local drop'): Promise<void> {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Send test' }).click();
    await page.getByRole('heading', { name: 'Send a test message', level: 1 }).waitFor();
    await page.getByRole('radio', { name: new RegExp(mode) }).check();
    await page.getByLabel('Recipient address').fill(ALICE);
  }

  async function relayTo(port: number, opts: { timeout?: number; postfixBase?: string } = {}): Promise<void> {
    await openForm('Through the relay');
    await page.getByLabel('SMTP host').fill('127.0.0.1');
    await page.getByLabel('Port', { exact: true }).fill(String(port));
    await page.getByLabel('Wait for delivery (seconds)').fill(String(opts.timeout ?? 15));
    await page.getByLabel(/virtual_mailbox_base/).fill(opts.postfixBase ?? '');
    await page.getByRole('button', { name: 'Send test message' }).click();
  }

  it('through a real Postfix: accepted with the queue id, arrived, timed, and opens in the viewer', async (ctx) => {
    if (noPostfix || postfixError) {
      console.log(`skipped: ${noPostfix ?? postfixError}`);
      ctx.skip();
      return;
    }
    await relayTo(postfix!.port);
    const report = page.getByTestId('report');
    await expect(report).toContainText('Accepted by the relay', { timeout: 30_000 });
    const queueId = (await page.getByTestId('queue-id').textContent())!.trim();
    vexpect(queueId).toMatch(/^[0-9A-Za-z]+$/);
    vexpect(postfix!.readLog()).toContain(`${queueId}: to=<${ALICE}>`);
    await expect(report).toContainText('Arrived in the maildir');
    await expect(page.getByTestId('elapsed')).toHaveText(/\d+(\.\d+)? (ms|s)/);
    await shot('sendtest-relay-ok');
    await report.getByRole('link', { name: 'Open the message' }).click();
    const v = new ViewerPage(page);
    await expect(v.subject).toContainText('Roost relay test');
    await expect(v.text).toContainText('This is a test message Roost sent through 127.0.0.1');
    await v.button('Show full headers').click();
    await expect(page.getByTestId('received-hops')).toContainText(`id ${queueId}`);
  });

  it('local drop: written the Postfix way, noticed, and opens in the viewer', async () => {
    await openForm('Local drop');
    await page.getByRole('button', { name: 'Send test message' }).click();
    const report = page.getByTestId('report');
    await expect(report).toContainText('Written into the maildir');
    await expect(report).toContainText(path.join(vmail, 'brokkr.net', 'alice', 'maildir', 'new'));
    await expect(report).toContainText('Noticed by Roost');
    await shot('sendtest-local-ok');
    await report.getByRole('link', { name: 'Open the message' }).click();
    const v = new ViewerPage(page);
    await expect(v.subject).toContainText('Roost test message');
    await expect(v.text).toContainText("maildir (local drop");
  });

  it('a relay that refuses the connection: explained, not a hang', async () => {
    const closed = await freePort();
    const t0 = Date.now();
    await relayTo(closed);
    const failure = page.getByTestId('failure');
    await expect(failure).toContainText('Could not connect', { timeout: 15_000 });
    vexpect(Date.now() - t0).toBeLessThan(10_000);
    await expect(failure).toContainText('ECONNREFUSED');
    await expect(failure).toContainText(`127.0.0.1:${closed}`);
    await expect(page.getByRole('listitem').filter({ hasText: 'Is Postfix running?' })).toBeVisible();
    await shot('sendtest-refused');
  });

  it('a relay that accepts but delivers elsewhere: mail_home beside virtual_mailbox_base, where the file was expected', async () => {
    const t0 = Date.now();
    await relayTo(blackholePort, { timeout: 3, postfixBase: '/var/spool/elsewhere' });
    const failure = page.getByTestId('failure');
    await expect(failure).toContainText('Accepted, but it never arrived', { timeout: 20_000 });
    vexpect(Date.now() - t0).toBeLessThan(15_000);
    await expect(failure).toContainText('NOT_DELIVERED');
    await expect(page.getByTestId('queue-id')).toHaveText(blackholeQueueId);
    await expect(page.getByTestId('side-mail-home')).toHaveText(`${vmail}/%d/%n`);
    await expect(page.getByTestId('side-postfix-base')).toHaveText('/var/spool/elsewhere');
    await expect(page.getByRole('table', { name: 'Where each side keeps mail' })).toContainText(path.join(vmail, 'brokkr.net', 'alice', 'maildir', 'new'));
    await shot('sendtest-elsewhere');
    await page.setViewportSize({ width: 800, height: 600 });
    const scroll = (await page.evaluate('document.documentElement.scrollWidth')) as number;
    const client = (await page.evaluate('document.documentElement.clientWidth')) as number;
    vexpect(scroll).toBeLessThanOrEqual(client);
    await shot('sendtest-elsewhere');
    await page.setViewportSize({ width: 1280, height: 800 });
  });
});
