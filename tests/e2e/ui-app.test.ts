// The renderer end to end: the real headless app (`node out/cli.js`, its HTTP + WebSocket bridge, the
// real mail server) driven through Debian's Chromium. Walks the setup wizard with bad input first
// (missing vmail folder, bad mail_home template, port in use) and then good input, starts the server,
// watches a real IMAP client appear live on the dashboard, filters the log, stops and starts, changes
// a setting that needs a restart, and sees the "connection lost" banner when the app goes away.
// Screenshots of every wizard step and the dashboard at 1280x800 and 800x600 go to
// test-results/screenshots/.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ImapFlow } from 'imapflow';
import type { Browser, BrowserContext, Page } from 'playwright';
// Playwright's expect (auto-waiting locator assertions) works outside its own runner; vitest runs the file.
import { expect } from 'playwright/test';
import { afterAll, afterEach, beforeAll, describe, it } from 'vitest';
import { SCREENSHOTS, browserSkipReason, buildApp, freePort, launchChromium, startRoostUi, type RoostUi } from '../helpers/ui.js';
import { DashboardPage, SettingsPage, WizardPage } from '../helpers/ui-pages.js';

const skipReason = browserSkipReason();
if (skipReason) console.log(`ui-app.test.ts: ${skipReason}`);

const PASSWORD = 'ThisIsABadPassword';
const USER = 'alice@brokkr.net';
const STEP_FILES = ['mail-location', 'credentials', 'ownership', 'network', 'review'];

let tmp: string;
let vmail: string;
let roost: RoostUi | undefined;
let browser: Browser | undefined;
let context: BrowserContext;
let page: Page;
let wizard: WizardPage;
let dash: DashboardPage;
let settings: SettingsPage;
let imapPort: number;
/** Console errors and page errors (CSP violations show up here). */
const pageProblems: string[] = [];
/** Servers and clients the test opened, closed in afterAll whatever happened. */
const cleanups: Array<() => Promise<unknown> | unknown> = [];

async function shot(name: string): Promise<void> {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  const vp = page.viewportSize();
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}-${vp?.width}x${vp?.height}.png`), fullPage: false });
}

async function noHorizontalScroll(): Promise<void> {
  // Expressions as strings: the root tsconfig has no DOM types (this file runs in Node).
  const scroll = (await page.evaluate('document.documentElement.scrollWidth')) as number;
  const client = (await page.evaluate('document.documentElement.clientWidth')) as number;
  expect(scroll, 'the page must not scroll sideways').toBeLessThanOrEqual(client);
}

function imapClient(port: number, pass: string): ImapFlow {
  const c = new ImapFlow({ host: '127.0.0.1', port, secure: false, auth: { user: USER, pass }, logger: false, disableAutoIdle: true, connectionTimeout: 10_000 });
  c.on('error', () => undefined); // a BYE on Stop is expected
  return c;
}

/** A TCP server holding a port, so the wizard's port check finds it in use. */
async function occupyPort(): Promise<number> {
  const server = net.createServer((s) => s.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((r) => server.close(r)));
  return (server.address() as net.AddressInfo).port;
}

describe.skipIf(!!skipReason)('renderer: wizard, dashboard and settings against the real app', { timeout: 60_000 }, () => {
  beforeAll(async () => {
    buildApp();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'roost-ui-'));
    vmail = path.join(tmp, 'vmail');
    fs.mkdirSync(vmail);
    imapPort = await freePort();
    // A first run (wizard not completed) whose default port is a free one, so the server the app
    // starts at launch cannot collide with anything else on this machine.
    roost = await startRoostUi({
      dataDir: path.join(tmp, 'data'),
      settingsFile: { wizardCompleted: false, settings: { port: await freePort(), listen: '127.0.0.1' } },
    });
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: roost.origin });
    page = await context.newPage();
    page.setDefaultTimeout(10_000);
    page.on('console', (m) => { if (m.type() === 'error') pageProblems.push(`console: ${m.text()}`); });
    page.on('pageerror', (e) => pageProblems.push(`pageerror: ${e.message}`));
    wizard = new WizardPage(page);
    dash = new DashboardPage(page);
    settings = new SettingsPage(page);
  }, 120_000);

  // A failed step leaves a picture of what the page showed.
  afterEach(async ({ task }) => {
    if (task.result?.state === 'fail' && page) {
      await shot(`failed-${task.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60)}`).catch(() => undefined);
    }
  });

  afterAll(async () => {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await roost?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  }, 60_000);

  it('opens the wizard on first run from the printed address', async () => {
    await page.goto(roost!.url);
    // The token URL sets a cookie and redirects to '/'.
    await expect.poll(() => new URL(page.url()).search).toBe('');
    await wizard.step(1).waitFor();
    expect(page.url()).toMatch(/#\/wizard\/1$/);
    // First run: nothing to show but the wizard.
    await expect(wizard.nav('Dashboard')).toHaveCount(0);
  });

  it('step 1: refuses a missing vmail folder and a bad mail_home, then previews the maildir', async () => {
    const vmailField = wizard.field('Vmail base folder');
    await vmailField.fill(path.join(tmp, 'does-not-exist'));
    await expect(wizard.fieldError('vmail')).toBeVisible();
    await expect(vmailField).toHaveAttribute('aria-invalid', 'true');
    await wizard.next.click();
    await expect(wizard.blocked).toContainText('Vmail base folder');
    await expect(wizard.step(1)).toBeVisible();
    await shot('wizard-1-errors');

    await vmailField.fill(vmail);
    await expect(wizard.fieldError('vmail')).toHaveCount(0);
    await expect(wizard.blocked).toHaveCount(0);

    // Keyboard: Tab goes from field to field in reading order.
    await vmailField.focus();
    await page.keyboard.press('Tab');
    await expect(wizard.field('mail_home')).toBeFocused();

    const home = wizard.field('mail_home');
    await home.fill(`${vmail}/%q/%n`);
    await expect(wizard.fieldError('mail_home')).toContainText('%q');
    await wizard.next.click();
    await expect(wizard.blocked).toContainText('mail_home');

    await home.fill(`${vmail}/%d/%n`);
    await wizard.field('mail_location').fill('maildir:~/maildir');
    await expect(wizard.fieldError('mail_home')).toHaveCount(0);
    await expect(wizard.preview).toHaveText(`${USER} → ${vmail}/brokkr.net/alice/maildir/`);
  });

  it('step 1: imports Postfix main.cf and lists map entries the template does not express', async () => {
    const postfix = path.join(tmp, 'postfix');
    fs.mkdirSync(postfix);
    fs.writeFileSync(path.join(postfix, 'main.cf'), [
      `virtual_mailbox_base = ${vmail}`,
      `virtual_mailbox_maps = hash:${postfix}/vmailbox`,
      'virtual_uid_maps = static:0',
      'virtual_gid_maps = static:0',
      'virtual_mailbox_domains = brokkr.net example.org',
      '',
    ].join('\n'));
    fs.writeFileSync(path.join(postfix, 'vmailbox'), 'alice@brokkr.net   brokkr.net/alice/maildir/\nbob@example.org    example.org/robert/\n');
    await page.getByText('Import from Postfix').click();
    await wizard.field('Postfix configuration folder').fill(postfix);
    await wizard.button('Read main.cf').click();
    await expect(page.getByText(`${postfix}/main.cf`)).toBeVisible();
    const unmatched = page.getByRole('table').filter({ hasText: 'Postfix puts mail in' });
    await expect(unmatched).toContainText('bob@example.org');
    await expect(unmatched).not.toContainText('alice@brokkr.net');
    await wizard.button('Use these settings').click();
    await expect(wizard.field('Vmail base folder')).toHaveValue(vmail);
    await expect(wizard.preview).toHaveText(`${USER} → ${vmail}/brokkr.net/alice/maildir/`);
    await shot('wizard-1-mail-location');
    await wizard.goNext(2);
  });

  it('step 2: generates, shows and sets the password; plaintext choice and mechanisms', async () => {
    const pw = wizard.field('Password', true);
    const before = await pw.inputValue();
    await wizard.button('Generate').click();
    await expect(pw).not.toHaveValue(before);
    await expect(pw).toHaveAttribute('type', 'text'); // generating shows it
    await wizard.button('Hide').click();
    await expect(pw).toHaveAttribute('type', 'password');
    await pw.fill('');
    await expect(wizard.fieldError('password')).toBeVisible();
    await pw.fill(PASSWORD);
    await expect(wizard.fieldError('password')).toHaveCount(0);
    await wizard.radio(/^Allow/).check();
    await expect(wizard.checkbox('PLAIN')).toBeChecked();
    await shot('wizard-2-credentials');
    await wizard.goNext(3);
  });

  it('step 3: shows the tree owner and checks first_valid_uid against it', async () => {
    const st = fs.statSync(vmail);
    await expect(page.getByText(`(uid ${st.uid}, gid ${st.gid})`)).toBeVisible();
    await wizard.field('Mail owner user (uid)').fill('');
    await wizard.field('Mail owner group (gid)').fill('');
    const floor = wizard.field('first_valid_uid');
    await floor.fill(String(st.uid + 1));
    // The server's own check refuses an owner below first_valid_uid; the page offers the fix.
    await expect(page.locator('#first_valid_uid-err, #uid-err').first()).toBeVisible();
    await wizard.button(`Set first_valid_uid to ${st.uid}`).click();
    await expect(floor).toHaveValue(String(st.uid));
    await expect(wizard.fieldError('first_valid_uid')).toHaveCount(0);
    await shot('wizard-3-ownership');
    await wizard.goNext(4);
  });

  it('step 4: refuses a port in use, then accepts a free one', async () => {
    await wizard.radio('This computer only (127.0.0.1)').check();
    const busy = await occupyPort();
    const port = wizard.field('Port', true);
    await port.fill(String(busy));
    await expect(wizard.fieldError('port')).toBeVisible();
    await wizard.next.click();
    await expect(wizard.blocked).toContainText('Port');
    await shot('wizard-4-errors');
    await port.fill(String(imapPort));
    await expect(wizard.fieldError('port')).toHaveCount(0);
    await expect(page.getByText(`Port ${imapPort} is free`)).toBeVisible();
    await wizard.radio('The local network (all addresses)').check();
    await expect(page.getByText('Other machines will be able to connect')).toBeVisible();
    await wizard.radio('This computer only (127.0.0.1)').check();
    await shot('wizard-4-network');
    await wizard.goNext(5);
  });

  it('step 5: shows doveconf -n and starts the server', async () => {
    await expect(wizard.doveconf).toContainText(`mail_home = ${vmail}/%d/%n`);
    await expect(wizard.doveconf).toContainText('mail_location = maildir:~/maildir');
    await expect(wizard.doveconf).toContainText(`port = ${imapPort}`);
    await expect(wizard.doveconf).not.toContainText(PASSWORD);
    await shot('wizard-5-review');
    await wizard.button('Save and start').click();
    await page.waitForURL(/#\/dashboard$/);
    await expect(dash.state).toHaveText('Running', { timeout: 15_000 });
    await expect(dash.port).toHaveText(String(imapPort));
    await expect(dash.server).toHaveText('127.0.0.1');
  });

  it('dashboard: a real IMAP client shows up live, with its mailbox, a delivery and a failed login', async () => {
    const client = imapClient(imapPort, PASSWORD);
    cleanups.push(() => client.logout().catch(() => client.close()));
    await client.connect();
    await client.mailboxOpen('INBOX');
    const row = dash.session(USER);
    await expect(row).toContainText('INBOX');
    await expect(row).toContainText('127.0.0.1');
    await expect(dash.activityItem('Login', USER).first()).toBeVisible();

    // Postfix-style delivery: a file renamed into new/.
    const maildir = path.join(vmail, 'brokkr.net', 'alice', 'maildir');
    const name = `${Math.floor(Date.now() / 1000)}.M1P1.roost-ui-test`;
    fs.writeFileSync(path.join(maildir, 'tmp', name), 'From: bob@example.org\r\nTo: alice@brokkr.net\r\nSubject: Hello from the UI test\r\n\r\nHi.\r\n');
    fs.renameSync(path.join(maildir, 'tmp', name), path.join(maildir, 'new', name));
    await expect(dash.activityItem('Delivered', 'Hello from the UI test')).toBeVisible({ timeout: 15_000 });

    const bad = imapClient(imapPort, 'not-the-password');
    await expect(bad.connect()).rejects.toBeTruthy();
    bad.close();
    await expect(dash.activityItem('Failed login').first()).toBeVisible();
    await dash.field('Show activity').selectOption('login-failed');
    await expect(dash.activityItem('Delivered')).toHaveCount(0);
    await dash.field('Show activity').selectOption('all');

    await shot('dashboard');
    await client.logout();
    await expect(row).toHaveCount(0);
    await expect(page.getByText('No mail client is connected.')).toBeVisible();
  });

  it('dashboard: copies the client settings and filters the log tail', async () => {
    await dash.button('Copy settings').click();
    await expect(page.getByText('Copied', { exact: true })).toBeVisible();
    const copied = (await page.evaluate('navigator.clipboard.readText()')) as string;
    expect(copied).toContain(String(imapPort));

    await expect(dash.log).toContainText(`user=<${USER}>`);
    await dash.logFilter.fill('auth failed');
    await expect(dash.log).toContainText('auth failed');
    await expect(dash.log).not.toContainText('Login: user=');
    await dash.logFilter.fill('no-such-line-anywhere');
    await expect(dash.log).toContainText('No line matches the filter.');
    await dash.logFilter.fill('');
  });

  it('dashboard: Stop and Start', async () => {
    await dash.button('Stop').click();
    await expect(dash.state).toHaveText('Stopped', { timeout: 15_000 });
    await expect(dash.button('Start')).toBeEnabled();
    await dash.button('Start').click();
    await expect(dash.state).toHaveText('Running', { timeout: 15_000 });
  });

  it('settings: a changed port needs a restart, which the page does on request', async () => {
    await settings.nav('Settings').click();
    await settings.heading('Settings').waitFor();
    const newPort = await freePort();
    await settings.field('Port', true).fill(String(newPort));
    await expect(page.getByText(`Port ${newPort} is free`)).toBeVisible();
    await settings.button('Save').click();
    await expect(settings.saved).toContainText('restart');
    await settings.button('Restart now').click();
    await expect(settings.saved).toContainText('Restarted with the new settings.', { timeout: 15_000 });
    await settings.nav('Dashboard').click();
    await expect(dash.state).toHaveText('Running');
    await expect(dash.port).toHaveText(String(newPort));
    const client = imapClient(newPort, PASSWORD);
    await client.connect();
    await client.logout();
  });

  it('screenshots at 800x600 without sideways scrolling', async () => {
    await page.setViewportSize({ width: 800, height: 600 });
    for (let step = 1; step <= 5; step++) {
      await page.goto(`${roost!.origin}/#/wizard/${step}`);
      await wizard.step(step).waitFor();
      await page.waitForTimeout(400); // live checks settle
      await noHorizontalScroll();
      await shot(`wizard-${step}-${STEP_FILES[step - 1]}`);
    }
    await page.goto(`${roost!.origin}/#/dashboard`);
    await expect(dash.state).toHaveText('Running');
    await noHorizontalScroll();
    await shot('dashboard');
    await page.goto(`${roost!.origin}/#/settings`);
    await settings.heading('Settings').waitFor();
    await page.waitForTimeout(400);
    await noHorizontalScroll();
    await shot('settings');
    await page.setViewportSize({ width: 1280, height: 800 });
    // The dark theme follows the system (prefers-color-scheme).
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.goto(`${roost!.origin}/#/dashboard`);
    await expect(dash.state).toHaveText('Running');
    await shot('dashboard-dark');
    await page.goto(`${roost!.origin}/#/wizard/1`);
    await wizard.step(1).waitFor();
    await shot('wizard-1-dark');
    await page.emulateMedia({ colorScheme: 'light' });
    await page.goto(`${roost!.origin}/#/settings`);
    await settings.heading('Settings').waitFor();
    await page.waitForTimeout(400);
    await shot('settings');
  });

  it('loaded under the strict Content-Security-Policy without errors', () => {
    expect(pageProblems).toEqual([]);
  });

  it('says "connection lost" when the app goes away', async () => {
    await page.goto(`${roost!.origin}/#/dashboard`);
    await expect(dash.state).toHaveText('Running');
    await roost!.stop();
    await expect(dash.alert('Connection lost')).toBeVisible({ timeout: 15_000 });
    // The last known state may be stale now: the page says it does not know.
    await expect(dash.state).toHaveText('Unknown');
    await shot('connection-lost');
  });
});

describe.skipIf(!!skipReason)('renderer: a configured app started with a settings flag', { timeout: 60_000 }, () => {
  let dir: string;
  let app: RoostUi | undefined;
  let b: Browser | undefined;
  const flagPort = freePort();

  beforeAll(async () => {
    buildApp(); // cheap when the block above built already; keeps this block runnable alone (-t)
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'roost-ui-flag-'));
    fs.mkdirSync(path.join(dir, 'vmail'));
    app = await startRoostUi({
      dataDir: path.join(dir, 'data'),
      args: ['--port', String(await flagPort)],
      settingsFile: { wizardCompleted: true, settings: { vmail: path.join(dir, 'vmail'), port: await freePort(), listen: '127.0.0.1', first_valid_uid: 0 } },
    });
    b = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await b?.close().catch(() => undefined);
    await app?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('opens the dashboard (not the wizard) and says which setting a flag overrides', async () => {
    const p = await b!.newPage({ viewport: { width: 1280, height: 800 } });
    const d = new DashboardPage(p);
    await p.goto(app!.url);
    await expect(d.state).toHaveText('Running');
    expect(p.url()).toMatch(/#\/dashboard$/);
    const port = String(await flagPort);
    await expect(d.port).toHaveText(port);
    await d.nav('Settings').click();
    await expect(p.locator('.field').filter({ has: p.locator('#port') }).getByText('For this run')).toContainText(port);
    await p.close();
  });
});

