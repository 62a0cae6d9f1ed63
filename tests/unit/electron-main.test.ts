// The Electron main process with the `electron` module faked at its boundary (app, BrowserWindow, Tray,
// Menu, ipcMain, Notification, safeStorage, clipboard, shell, dialog, protocol, session). Everything
// behind it is real: the app service, the supervisor and the mail server worker, on 127.0.0.1.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ApiReply } from '../../electron/shared/api.js';
import type { MenuItemOptions } from '../../electron/main/electron-api.js';

type Listener = (...args: any[]) => unknown; // eslint-disable-line @typescript-eslint/no-explicit-any

const fake = vi.hoisted(() => {
  class Emitter {
    handlers = new Map<string, Listener[]>();
    on(event: string, l: Listener): this { this.handlers.set(event, [...(this.handlers.get(event) ?? []), l]); return this; }
    once(event: string, l: Listener): this { return this.on(event, l); }
    emit(event: string, ...args: unknown[]): void { for (const l of this.handlers.get(event) ?? []) l(...args); }
  }
  let nextId = 1;
  class WebContents extends Emitter {
    id = nextId++;
    sent: Array<[string, unknown]> = [];
    openHandler: ((d: { url: string }) => unknown) | undefined;
    send(channel: string, payload: unknown): void { this.sent.push([channel, payload]); }
    setWindowOpenHandler(h: (d: { url: string }) => unknown): void { this.openHandler = h; }
    isDestroyed(): boolean { return false; }
  }
  const state = {
    lock: true,
    quitCalls: 0,
    quitted: false,
    windows: [] as BrowserWindow[],
    trays: [] as Tray[],
    ipc: new Map<string, Listener>(),
    notifications: [] as Array<{ title: string; body?: string }>,
    clipboard: [] as string[],
    shown: [] as string[],
    loginItem: { openAtLogin: false },
    schemes: [] as unknown[],
    protocolHandler: undefined as undefined | ((r: Request) => Promise<Response>),
    headersHook: undefined as undefined | Listener,
    backend: 'gnome_libsecret',
  };
  class BrowserWindow extends Emitter {
    webContents = new WebContents();
    visible = false;
    destroyed = false;
    url = '';
    constructor(public options: Record<string, any>) { super(); state.windows.push(this); app.emit('web-contents-created', {}, this.webContents); } // eslint-disable-line @typescript-eslint/no-explicit-any
    loadURL(url: string): Promise<void> { this.url = url; return Promise.resolve(); }
    show(): void { this.visible = true; }
    hide(): void { this.visible = false; }
    focus(): void { /* focus follows show here */ }
    restore(): void { /* never minimized */ }
    isMinimized(): boolean { return false; }
    isVisible(): boolean { return this.visible; }
    isDestroyed(): boolean { return this.destroyed; }
    destroy(): void { this.destroyed = true; this.emit('closed'); }
    /** What the user's click on the close button does. */
    userClose(): void {
      let prevented = false;
      this.emit('close', { preventDefault: () => { prevented = true; } });
      if (!prevented) this.destroy();
    }
  }
  class Tray extends Emitter {
    image: string;
    tooltip = '';
    menu: { items: MenuItemOptions[] } | null = null;
    destroyed = false;
    constructor(image: string) { super(); this.image = image; state.trays.push(this); }
    setImage(i: string): void { this.image = i; }
    setToolTip(t: string): void { this.tooltip = t; }
    setContextMenu(m: { items: MenuItemOptions[] } | null): void { this.menu = m; }
    destroy(): void { this.destroyed = true; }
  }
  class Notification {
    static isSupported(): boolean { return true; }
    constructor(public options: { title: string; body?: string }) {}
    show(): void { state.notifications.push(this.options); }
    on(): void { /* clicks are not simulated */ }
  }
  const app = Object.assign(new Emitter(), {
    isPackaged: false,
    requestSingleInstanceLock: () => state.lock,
    whenReady: () => Promise.resolve(),
    quit(): void {
      state.quitCalls++;
      let prevented = false;
      app.emit('before-quit', { preventDefault: () => { prevented = true; } });
      if (!prevented) state.quitted = true;
    },
    exit(): void { state.quitted = true; },
    getVersion: () => '0.0.0-test',
    getPath: () => os.tmpdir(),
    getLoginItemSettings: () => ({ ...state.loginItem }),
    setLoginItemSettings: (s: { openAtLogin: boolean }) => { state.loginItem = { openAtLogin: s.openAtLogin }; },
    setAppUserModelId: () => undefined,
  });
  // Node's os is not importable inside vi.hoisted's factory scope before imports run; use the global process.
  const os = { tmpdir: () => process.env.TMPDIR ?? '/tmp' };
  const module = {
    app,
    BrowserWindow,
    Tray,
    Menu: { buildFromTemplate: (items: MenuItemOptions[]) => ({ items }) },
    ipcMain: {
      handle: (channel: string, l: Listener) => { state.ipc.set(channel, l); },
      removeHandler: (channel: string) => { state.ipc.delete(channel); },
    },
    Notification,
    safeStorage: {
      isEncryptionAvailable: () => true,
      getSelectedStorageBackend: () => state.backend,
      encryptString: (s: string) => Buffer.from(`enc:${Buffer.from(s).toString('base64')}`),
      decryptString: (b: Buffer) => Buffer.from(b.toString().replace(/^enc:/, ''), 'base64').toString(),
    },
    clipboard: { writeText: (t: string) => { state.clipboard.push(t); } },
    shell: { showItemInFolder: (p: string) => { state.shown.push(p); } },
    dialog: { showOpenDialog: () => Promise.resolve({ canceled: false, filePaths: ['/picked/dir'] }) },
    protocol: {
      registerSchemesAsPrivileged: (s: unknown[]) => { state.schemes.push(...s); },
      handle: (_scheme: string, h: (r: Request) => Promise<Response>) => { state.protocolHandler = h; },
    },
    session: {
      defaultSession: {
        webRequest: { onHeadersReceived: (l: Listener) => { state.headersHook = l; } },
        setPermissionRequestHandler: () => undefined,
      },
    },
  };
  function reset(): void {
    state.lock = true; state.quitCalls = 0; state.quitted = false; state.windows = []; state.trays = []; state.ipc.clear();
    state.notifications = []; state.clipboard = []; state.shown = []; state.loginItem = { openAtLogin: false }; state.schemes = [];
    state.protocolHandler = undefined; state.headersHook = undefined; state.backend = 'gnome_libsecret';
    app.handlers.clear();
  }
  return { module, state, reset };
});

vi.mock('electron', () => fake.module);

const { RoostMain, electronApi, APP_ORIGIN } = await import('../../electron/main/roost-main.js');

const ROOT = path.resolve(import.meta.dirname, '../..');
let tmp: string;
let outDir: string;
let workerWhyNot = '';
const mains: InstanceType<typeof RoostMain>[] = [];

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'roost-main-'));
  // A bundle directory like out/: the real worker, and a renderer page.
  outDir = path.join(ROOT, 'out', `.test-electron-main-${process.pid}`);
  fs.mkdirSync(path.join(outDir, 'renderer'), { recursive: true });
  fs.writeFileSync(path.join(outDir, 'renderer', 'index.html'), '<!doctype html><title>Roost</title>');
  const script = `
    import { build } from 'esbuild';
    await build({ absWorkingDir: ${JSON.stringify(ROOT)}, bundle: true, platform: 'node', target: 'node20', format: 'esm',
      packages: 'external', logLevel: 'error', entryPoints: { worker: 'electron/server/worker.ts' }, outdir: ${JSON.stringify(outDir)},
      banner: { js: "import { createRequire as __r } from 'node:module'; const require = __r(import.meta.url);" } });`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) workerWhyNot = `electron/server/worker.ts does not bundle: ${r.stderr.split('\n')[0]}`;
});

afterEach(async () => {
  for (const m of mains.splice(0)) await m.shutdown();
  fake.reset();
});

afterAll(() => {
  fs.rmSync(outDir, { recursive: true, force: true });
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A data directory; `saved` writes settings (wizard done) and the password like the app would. */
function dataDir(name: string, saved?: { port: number; startWithRoost?: boolean; notifications?: boolean }): { dir: string; vmail: string } {
  const dir = fs.mkdtempSync(path.join(tmp, `${name}-`));
  const vmail = path.join(dir, 'vmail');
  fs.mkdirSync(vmail);
  if (saved) {
    fs.writeFileSync(path.join(dir, 'settings.json'), JSON.stringify({
      version: 1, wizardCompleted: true,
      settings: {
        vmail, mail_home: '', mail_location: 'maildir:~/maildir', auth_mechanisms: ['plain', 'login'], disable_plaintext_auth: false,
        uid: '', gid: '', first_valid_uid: 0, listen: '127.0.0.1', port: saved.port, startWithRoost: saved.startWithRoost ?? false,
        notifications: saved.notifications ?? true,
      },
    }));
    fs.writeFileSync(path.join(dir, 'password'), 'Main-Pw-55\n', { mode: 0o600 });
  }
  return { dir, vmail };
}

async function launch(dir: string): Promise<InstanceType<typeof RoostMain>> {
  const m = new RoostMain(electronApi(), { dataDir: dir, outDir, resourcesDir: path.join(ROOT, 'resources') });
  mains.push(m);
  await m.run();
  return m;
}

const labels = (menu: MenuItemOptions[]): string[] => menu.map((i) => i.type === 'separator' ? '---' : `${i.label}${i.type === 'checkbox' ? (i.checked ? ' [x]' : ' [ ]') : ''}`);
const item = (m: InstanceType<typeof RoostMain>, label: string): MenuItemOptions => {
  const found = m.currentTrayMenu.find((i) => i.label === label);
  if (!found) throw new Error(`no menu item ${label}: ${labels(m.currentTrayMenu).join(' | ')}`);
  return found;
};

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

const call = (m: InstanceType<typeof RoostMain>, method: unknown, params?: unknown, sender?: { id: number; url: string }): Promise<ApiReply> => {
  const handler = fake.state.ipc.get('roost:call');
  if (!handler) throw new Error('roost:call is not registered');
  const event = { sender: { id: sender?.id ?? m.window!.webContents.id }, senderFrame: { url: sender?.url ?? `${APP_ORIGIN}/index.html` } };
  return handler(event, method, params) as Promise<ApiReply>;
};

describe('Electron main', () => {
  it('a second launch quits at once; the first one shows its window on second-instance', async () => {
    fake.state.lock = false;
    const d = dataDir('second');
    const loser = new RoostMain(electronApi(), { dataDir: d.dir, outDir });
    await loser.run();
    expect(fake.state.quitted).toBe(true);
    expect(fake.state.trays).toHaveLength(0);
    expect(fake.state.windows).toHaveLength(0);

    fake.reset();
    const m = await launch(dataDir('first', { port: 0 }).dir);
    expect(fake.state.windows).toHaveLength(0); // not the first run, no server start: only the tray
    fake.module.app.emit('second-instance', {}, ['roost']);
    expect(fake.state.windows).toHaveLength(1);
    expect(m.window?.isVisible()).toBe(true);
  });

  it('first launch opens the wizard window, locked down', async () => {
    const d = dataDir('firstrun');
    const m = await launch(d.dir);
    const win = fake.state.windows[0];
    expect(win).toBeDefined();
    expect(win.visible).toBe(true);
    expect(win.url).toBe(`${APP_ORIGIN}/index.html`);
    expect(win.options.webPreferences).toMatchObject({ contextIsolation: true, sandbox: true, nodeIntegration: false, webviewTag: false, preload: path.join(outDir, 'preload.cjs') });
    expect(fake.state.schemes).toEqual([{ scheme: 'roost', privileges: { standard: true, secure: true, supportFetchAPI: true } }]);

    // Navigation away and new windows are refused.
    let prevented = 0;
    win.webContents.emit('will-navigate', { preventDefault: () => { prevented++; } }, 'https://evil.example/');
    win.webContents.emit('will-navigate', { preventDefault: () => { prevented++; } }, `${APP_ORIGIN}/index.html#/dashboard`);
    expect(prevented).toBe(1);
    expect(win.webContents.openHandler?.({ url: 'https://example.org' })).toEqual({ action: 'deny' });

    // CSP on every response, and on roost:// pages served from the renderer build only.
    let headers: Record<string, unknown> = {};
    fake.state.headersHook?.({ url: 'roost://app/index.html', responseHeaders: {} }, (r: { responseHeaders: Record<string, unknown> }) => { headers = r.responseHeaders; });
    expect(String(headers['Content-Security-Policy'])).toMatch(/default-src 'self'; script-src 'self'/);
    const page = await fake.state.protocolHandler!(new Request('roost://app/index.html'));
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toMatch(/frame-ancestors 'none'/);
    expect(await page.text()).toContain('<title>Roost</title>');
    expect((await fake.state.protocolHandler!(new Request('roost://app/%2e%2e/%2e%2e/package.json'))).status).toBeGreaterThanOrEqual(403);
    expect((await fake.state.protocolHandler!(new Request('roost://elsewhere/index.html'))).status).toBe(404);
    expect(m.service?.firstRun).toBe(true);
  });

  it('closing the window keeps Roost in the tray and says so once; Quit really closes', async () => {
    const d = dataDir('close');
    const m = await launch(d.dir);
    const win = fake.state.windows[0];
    win.userClose();
    expect(win.destroyed).toBe(false);
    expect(win.visible).toBe(false);
    expect(fake.state.notifications).toEqual([expect.objectContaining({ title: 'Roost is still running' })]);
    m.showWindow();
    win.userClose();
    expect(fake.state.notifications).toHaveLength(1);
    expect(JSON.parse(fs.readFileSync(path.join(d.dir, 'ui-state.json'), 'utf8'))).toEqual({ closeNoticeShown: true });
    // Remembered across launches.
    await m.shutdown();
    fake.reset();
    const again = await launch(d.dir);
    fake.state.windows[0].userClose();
    expect(fake.state.notifications).toHaveLength(0);
    again.quit();
    await vi.waitFor(() => expect(fake.state.quitted).toBe(true));
  });

  it('IPC: answers our page, refuses other senders and bad input', async () => {
    const d = dataDir('ipc');
    const m = await launch(d.dir);
    const info = await call(m, 'appInfo', undefined);
    expect(info).toMatchObject({ ok: true, result: { mode: 'electron', firstRun: true, dataDir: d.dir } });
    expect(await call(m, 'appInfo', undefined, { id: 999, url: `${APP_ORIGIN}/index.html` })).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    expect(await call(m, 'appInfo', undefined, { id: m.window!.webContents.id, url: 'https://evil.example/' })).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    expect(await call(m, 'appInfo', undefined, { id: m.window!.webContents.id, url: 'file:///etc/passwd' })).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    expect(await call(m, 'checkPort', { listen: '127.0.0.1', port: 99999 })).toMatchObject({ ok: false, error: { code: 'INVALID' } });
    expect(await call(m, 'checkPath', { path: '/tmp', extra: 1 })).toMatchObject({ ok: false, error: { code: 'INVALID' } });
    expect(await call(m, 'eval', 'process.exit()')).toMatchObject({ ok: false, error: { code: 'UNKNOWN_METHOD' } });
    // Native hooks: clipboard, folder picker, log file.
    expect(await call(m, 'copyText', { text: 'Server: 127.0.0.1' })).toEqual({ ok: true, result: { copied: true } });
    expect(fake.state.clipboard).toEqual(['Server: 127.0.0.1']);
    expect(await call(m, 'pickDirectory', { title: 'vmail' })).toEqual({ ok: true, result: { path: '/picked/dir' } });
    expect(await call(m, 'showLogFile', undefined)).toEqual({ ok: true, result: { opened: true } });
    expect(fake.state.shown).toHaveLength(1);
  });

  it('the password is kept with safeStorage (0600 file when there is no keyring)', async () => {
    const d = dataDir('secret');
    const m = await launch(d.dir);
    const settings = (await call(m, 'getSettings')) as { ok: true; result: Record<string, unknown> };
    const saved = await call(m, 'saveSettings', { settings: { ...settings.result, vmail: d.vmail, password: 'Keychain-Pw-1', first_valid_uid: 0 } });
    expect(saved).toMatchObject({ ok: true });
    const enc = fs.readFileSync(path.join(d.dir, 'password.safe'));
    expect(enc.toString()).toMatch(/^enc:/);
    expect(enc.toString()).not.toContain('Keychain-Pw-1');
    expect(fs.existsSync(path.join(d.dir, 'password'))).toBe(false);
    expect(fs.readFileSync(path.join(d.dir, 'settings.json'), 'utf8')).not.toContain('Keychain-Pw-1');
    expect(((await call(m, 'getSettings')) as { result: { password: string } }).result.password).toBe('Keychain-Pw-1');

    fake.state.backend = 'basic_text';
    await call(m, 'saveSettings', { settings: { ...settings.result, vmail: d.vmail, password: 'Plain-Pw-2', first_valid_uid: 0 } });
    expect(fs.readFileSync(path.join(d.dir, 'password'), 'utf8')).toBe('Plain-Pw-2\n');
    expect(fs.statSync(path.join(d.dir, 'password')).mode & 0o777).toBe(0o600);
  });

  it('tray: menu and icon per state (stopped, running with clients, error), login item, copy settings', async (ctx) => {
    if (workerWhyNot) { console.log(`skipped: ${workerWhyNot}`); ctx.skip(workerWhyNot); }
    const port = await freePort();
    const d = dataDir('tray', { port });
    const m = await launch(d.dir);
    const tray = fake.state.trays[0];
    expect(tray.image).toBe(path.join(ROOT, 'resources', 'tray-stopped.png'));
    expect(labels(m.currentTrayMenu)).toEqual([
      'Stopped', '---', 'Start server', '---', 'Open Roost', 'Open mailbox viewer', 'Copy connection settings', 'Start at login [ ]', 'Show log file', '---', 'Quit Roost',
    ]);
    expect(m.currentTrayMenu[0].enabled).toBe(false);

    item(m, 'Start server').click?.({});
    await vi.waitFor(() => expect(tray.image).toBe(path.join(ROOT, 'resources', 'tray-running.png')), { timeout: 10_000 });
    expect(labels(m.currentTrayMenu).slice(0, 3)).toEqual([`Running on 127.0.0.1:${port} — 0 clients`, '---', 'Stop server']);
    expect(tray.tooltip).toBe(`Roost — Running on 127.0.0.1:${port} — 0 clients`);

    const a = net.connect(port, '127.0.0.1');
    const b = net.connect(port, '127.0.0.1');
    await vi.waitFor(() => expect(m.currentTrayMenu[0].label).toBe(`Running on 127.0.0.1:${port} — 2 clients`));
    a.destroy();
    await vi.waitFor(() => expect(m.currentTrayMenu[0].label).toBe(`Running on 127.0.0.1:${port} — 1 client`));
    b.destroy();

    item(m, 'Copy connection settings').click?.({});
    expect(fake.state.clipboard[0]).toContain(`Port: ${port}`);
    expect(fake.state.clipboard[0]).toContain('Password: Main-Pw-55');
    item(m, 'Start at login [ ]'.replace(' [ ]', '')).click?.({ checked: true });
    expect(fake.state.loginItem.openAtLogin).toBe(true);
    expect(labels(m.currentTrayMenu)).toContain('Start at login [x]');
    item(m, 'Show log file').click?.({});
    expect(fake.state.shown[0]).toBe(path.join(d.dir, 'logs', 'roost.log'));

    item(m, 'Stop server').click?.({});
    await vi.waitFor(() => expect(m.currentTrayMenu[0].label).toBe('Stopped'));
    expect(tray.image).toBe(path.join(ROOT, 'resources', 'tray-stopped.png'));

    // Port taken by someone else: error state, in words.
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(port, '127.0.0.1', () => r()));
    try {
      await m.startServer();
      expect(tray.image).toBe(path.join(ROOT, 'resources', 'tray-error.png'));
      expect(m.currentTrayMenu[0].label).toMatch(/^Not running: /);
      expect(labels(m.currentTrayMenu)[2]).toBe('Start server');
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });

  it('starts the server at launch when chosen; notifies each delivery unless turned off; Quit stops the server first', async (ctx) => {
    if (workerWhyNot) { console.log(`skipped: ${workerWhyNot}`); ctx.skip(workerWhyNot); }
    const port = await freePort();
    const d = dataDir('deliver', { port, startWithRoost: true });
    const m = await launch(d.dir);
    expect(m.service?.status()).toMatchObject({ state: 'running', port });
    expect(fake.state.windows).toHaveLength(0); // stays in the tray

    const client = net.connect(port, '127.0.0.1');
    let data = '';
    client.on('data', (x) => { data += x.toString('latin1'); });
    await vi.waitFor(() => expect(data).toMatch(/^\* OK/));

    // A delivery as the worker reports it (the supervisor relays the worker's events unchanged).
    const delivered = { type: 'delivered', user: 'alice@brokkr.net', mailbox: 'INBOX', uid: 1, from: 'bob@example.com', subject: 'Hello', size: 2100, deliveredAt: Date.now(), noticedAt: Date.now() };
    (m.service!.supervisor as unknown as { emit(e: unknown): void }).emit(delivered);
    expect(fake.state.notifications).toEqual([{ title: 'New mail for alice@brokkr.net', body: 'bob@example.com: Hello' }]);

    m.showWindow();
    const settings = (await call(m, 'getSettings')) as { result: Record<string, unknown> };
    await call(m, 'saveSettings', { settings: { ...settings.result, notifications: false } });
    (m.service!.supervisor as unknown as { emit(e: unknown): void }).emit({ ...delivered, uid: 2 });
    expect(fake.state.notifications).toHaveLength(1);
    // The window heard the events too.
    const sent = (m.window!.webContents as unknown as { sent: Array<[string, { type: string }]> }).sent;
    expect(sent.some(([ch, ev]) => ch === 'roost:event' && ev.type === 'settings')).toBe(true);

    item(m, 'Quit Roost').click?.({});
    await vi.waitFor(() => expect(fake.state.quitted).toBe(true), { timeout: 10_000 });
    expect(data).toContain('* BYE Server shutting down.');
    expect(m.service?.status().state).toBe('stopped');
    expect(fake.state.ipc.has('roost:call')).toBe(false);
    expect(fake.state.trays[0].destroyed).toBe(true);
    client.destroy();
  });
});
