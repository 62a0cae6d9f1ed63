// The Electron main process: app lifecycle, the window, the tray, IPC, notifications and logs. The app
// itself (settings, the server, the dashboard's data) is the RoostService (electron/service), the same
// one the headless CLI serves over HTTP; this file only connects it to Electron.
//
// Security (Electron's checklist, electronjs.org/docs/latest/tutorial/security):
//  - the renderer runs with contextIsolation, sandbox, no nodeIntegration, no webviews;
//  - it is served from the privileged custom scheme roost://app/ (not file://), with a strict
//    Content-Security-Policy header on every response;
//  - navigation away from roost://app/ and every new window are refused; permission requests are denied;
//  - the preload exposes one typed API (window.roost: RoostBridge), never ipcRenderer;
//  - every IPC call is checked: it must come from our window's main frame on roost://app/, and its params
//    pass validateParams() (in RoostService.call) before any handler runs.
// Replies travel as ApiReply ({ ok, result } | { ok: false, error }) so error codes survive IPC.
//
// UI state file: <data dir>/ui-state.json, mode 0600, JSON { "closeNoticeShown": boolean }.
import fs from 'node:fs';
import path from 'node:path';
// @ts-ignore -- Electron's own type declarations exist only where the package (and its binary) is installed;
// electron-api.ts describes the part used here, and the import is cast to it below.
import * as electronModule from 'electron';
import log from 'electron-log/node';
import type { ApiEvent, ApiReply, ServerStatus } from '../shared/api.js';
import { toApiError } from '../shared/api-validate.js';
import type { ServerEvent } from '../shared/events.js';
import { defaultDataDir } from '../shared/settings.js';
import { RoostService } from '../service/service.js';
import { writeFileAtomic } from '../supervisor/files.js';
import { createLogWriter, type LogWriter } from '../supervisor/log-writer.js';
import type {
  BrowserWindowLike, ElectronApi, IpcMainInvokeEventLike, MenuItemOptions, NotificationLike, TrayLike, WebContentsLike,
} from './electron-api.js';
import { SafeStorageSecretStore } from './safe-storage-store.js';

export const APP_SCHEME = 'roost';
export const APP_ORIGIN = `${APP_SCHEME}://app`;
export const CALL_CHANNEL = 'roost:call';
export const EVENT_CHANNEL = 'roost:event';

/** The renderer's policy, sent as a header on every response (the page carries the same as a meta tag). */
export const CONTENT_SECURITY_POLICY = [
  // The mail viewer's srcdoc frame inherits this policy on top of its own (which blocks remote loads
  // until asked): inline styles and http(s) images are allowed here for its sake; scripts stay 'self'.
  "default-src 'self'", "script-src 'self'", "style-src 'self' 'unsafe-inline'", "img-src 'self' data: http: https:",
  "font-src 'self'",
  "connect-src 'self'", "object-src 'none'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
].join('; ');

/** The mailbox viewer's route (renderer/src/lib/router.svelte.ts); a message is #/viewer/<user>/<mailbox>/<uid>. */
export const VIEWER_ROUTE: string | null = '#/viewer';

/** The viewer's deep link to one message, as the renderer's router parses it. */
export function viewerMessageRoute(user: string, mailbox: string, uid: number): string {
  return `${VIEWER_ROUTE ?? '#/viewer'}/${encodeURIComponent(user)}/${encodeURIComponent(mailbox)}/${uid}`;
}

export type TrayState = 'running' | 'stopped' | 'error';

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.json': 'application/json', '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.woff2': 'font/woff2',
  '.map': 'application/json',
};

export interface RoostMainOptions {
  /** Roost's data directory (settings, password, logs, default vmail). Default: ROOST_DATA_DIR, --data-dir=, or the platform's. */
  dataDir?: string;
  /** Where the bundle lives: main.cjs, preload.cjs, worker.js, renderer/. Default: this file's directory. */
  outDir?: string;
  /** Tray icons. Default: <outDir>/../resources. */
  resourcesDir?: string;
  argv?: readonly string[];
}

function dataDirFrom(options: RoostMainOptions): string {
  if (options.dataDir) return options.dataDir;
  if (process.env.ROOST_DATA_DIR && path.isAbsolute(process.env.ROOST_DATA_DIR)) return process.env.ROOST_DATA_DIR;
  const flag = (options.argv ?? process.argv).find((a) => a.startsWith('--data-dir='));
  if (flag) return path.resolve(flag.slice('--data-dir='.length));
  return defaultDataDir();
}

export function trayStateOf(status: ServerStatus): TrayState {
  if (status.state === 'running') return 'running';
  if (status.state === 'crashed' || status.state === 'failed') return 'error';
  if (status.state === 'stopped' && status.lastError) return 'error';
  return 'stopped';
}

export function statusLine(status: ServerStatus): string {
  switch (status.state) {
    case 'running': {
      const n = status.connections;
      return `Running on ${status.host}:${status.port} — ${n} ${n === 1 ? 'client' : 'clients'}`;
    }
    case 'starting': return 'Starting…';
    case 'stopping': return 'Stopping…';
    case 'crashed': return 'Crashed — restarting…';
    case 'failed': return `Stopped after repeated crashes${status.lastError ? `: ${status.lastError}` : ''}`.slice(0, 100);
    default: return status.lastError ? `Not running: ${status.lastError}`.slice(0, 100) : 'Stopped';
  }
}

export class RoostMain {
  readonly dataDir: string;
  readonly outDir: string;
  readonly resourcesDir: string;
  service: RoostService | undefined;
  window: BrowserWindowLike | undefined;
  tray: TrayLike | undefined;
  /** Set once Quit was chosen: closing the window then really closes it. */
  quitting = false;
  private shutDown = false;
  private notifications = true;
  private closeNoticeShown = false;
  private mainLog!: ReturnType<typeof log.create>;
  private rendererLog!: ReturnType<typeof log.create>;
  private serverLog: LogWriter | undefined;
  private trayTemplate: MenuItemOptions[] = [];

  constructor(private readonly electron: ElectronApi, options: RoostMainOptions = {}) {
    this.dataDir = dataDirFrom(options);
    this.outDir = options.outDir ?? (typeof __dirname === 'string' ? __dirname : process.cwd());
    this.resourcesDir = options.resourcesDir ?? path.join(this.outDir, '..', 'resources');
  }

  /** Entry point: single instance, privileged scheme, then everything else once Electron is ready. */
  run(): Promise<void> {
    const { app, protocol } = this.electron;
    if (!app.requestSingleInstanceLock()) {
      // Another Roost runs: it gets 'second-instance' and shows itself; this one leaves at once.
      app.quit();
      return Promise.resolve();
    }
    app.on('second-instance', () => this.showWindow());
    // macOS: clicking the Dock icon of a running app.
    app.on('activate', () => { if (this.service) this.showWindow(); });
    // Before 'ready': roost:// behaves like https (secure context, fetch, relative URLs).
    protocol.registerSchemesAsPrivileged([{ scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } }]);
    app.on('web-contents-created', (_e: unknown, contents: WebContentsLike) => this.harden(contents));
    // The tray keeps Roost alive without windows.
    app.on('window-all-closed', () => undefined);
    app.on('before-quit', (event: { preventDefault(): void }) => {
      if (this.shutDown) return;
      event.preventDefault();
      this.quitting = true;
      void this.shutdown().finally(() => app.quit());
    });
    return app.whenReady().then(() => this.ready());
  }

  private async ready(): Promise<void> {
    const { electron } = this;
    this.setupLogs();
    this.loadUiState();
    electron.protocol.handle(APP_SCHEME, (request) => this.serveRenderer(request));
    const ses = electron.session.defaultSession;
    ses.webRequest.onHeadersReceived((details, callback) => {
      callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [CONTENT_SECURITY_POLICY] } });
    });
    // Camera, notifications from the page, geolocation...: the UI needs none.
    ses.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));
    electron.app.setAppUserModelId?.('net.roost.app');

    const logFile = path.join(this.dataDir, 'logs', 'roost.log');
    this.serverLog = createLogWriter({ file: logFile });
    const service = new RoostService({
      dataDir: this.dataDir,
      mode: 'electron',
      secrets: new SafeStorageSecretStore(electron.safeStorage, this.dataDir),
      logFile,
      log: (record) => this.serverLog?.write(record),
      supervisor: { workerScript: path.join(this.outDir, 'worker.js') },
      hooks: {
        pickDirectory: async (p) => {
          const r = await electron.dialog.showOpenDialog(this.window, { title: p.title, defaultPath: p.defaultPath, properties: ['openDirectory', 'createDirectory', 'showHiddenFiles'] });
          return { path: r.canceled ? null : r.filePaths[0] ?? null };
        },
        copyText: (text) => {
          electron.clipboard.writeText(text);
          return { copied: true };
        },
        saveFile: async (file) => {
          const r = await electron.dialog.showSaveDialog?.(this.window, { title: 'Save', defaultPath: path.join(electron.app.getPath('home'), file.defaultName) });
          if (!r || r.canceled || !r.filePath) return { saved: false };
          await fs.promises.writeFile(r.filePath, file.data, { mode: 0o600 });
          return { saved: true, path: r.filePath };
        },
        showLogFile: (file) => {
          electron.shell.showItemInFolder(fs.existsSync(file) ? file : path.dirname(file));
          return { opened: true };
        },
      },
    });
    this.service = service;
    this.notifications = service.getSettings().notifications;
    service.onEvent((event) => this.onServiceEvent(event));
    electron.ipcMain.handle(CALL_CHANNEL, (event, method, params) => this.onCall(event, method, params));
    this.createTray();
    this.mainLog.info(`Roost ${service.appInfo().version} started; data directory ${this.dataDir}`);

    if (service.firstRun) {
      this.showWindow();
    } else if (service.getSettings().startWithRoost) {
      await this.startServer();
    }
  }

  // ------------------------------------------------------------------------------------------
  // IPC

  /** One API call from the renderer. Never throws: the reply carries the error, code intact. */
  async onCall(event: IpcMainInvokeEventLike, method: unknown, params: unknown): Promise<ApiReply> {
    const forbidden = this.senderProblem(event);
    if (forbidden) {
      this.mainLog.warn(`refused IPC call ${String(method).slice(0, 40)}: ${forbidden}`);
      return { ok: false, error: { code: 'FORBIDDEN', message: forbidden } };
    }
    if (!this.service) return { ok: false, error: { code: 'UNAVAILABLE', message: 'Roost is not ready yet' } };
    try {
      return { ok: true, result: await this.service.call(method, params) } as ApiReply;
    } catch (e) {
      const error = toApiError(e);
      if (error.code === 'FAILED') this.mainLog.error(`${String(method)} failed: ${(e as Error)?.stack ?? error.message}`);
      return { ok: false, error };
    }
  }

  /** Why a caller may not use the API (null when it may): only our window's page on roost://app/. */
  senderProblem(event: IpcMainInvokeEventLike): string | null {
    const win = this.window;
    if (!win || win.isDestroyed() || event.sender.id !== win.webContents.id) return 'the call does not come from the Roost window';
    const url = event.senderFrame?.url ?? '';
    if (!url.startsWith(`${APP_ORIGIN}/`)) return `the call comes from ${url.slice(0, 80) || 'an unknown page'}, not from Roost's own page`;
    return null;
  }

  // ------------------------------------------------------------------------------------------
  // Window

  showWindow(): void {
    const win = this.window && !this.window.isDestroyed() ? this.window : this.createWindow();
    if (win.isMinimized()) win.restore();
    win.show();
    win.focus();
  }

  /**
   * Shows the window at a route of the renderer: a window that exists is told through the event
   * channel (its router follows, no reload); a new one loads the page with the route in the hash.
   */
  openRoute(hash: string): void {
    const existing = this.window && !this.window.isDestroyed() ? this.window : undefined;
    if (existing) {
      if (!existing.webContents.isDestroyed()) existing.webContents.send(EVENT_CHANNEL, { type: 'navigate', hash } satisfies ApiEvent);
      this.showWindow();
      return;
    }
    this.createWindow(hash);
    this.showWindow();
  }

  private createWindow(hash = ''): BrowserWindowLike {
    const { BrowserWindow } = this.electron;
    const win = new BrowserWindow({
      width: 1040, height: 760, minWidth: 720, minHeight: 520, show: false, title: 'Roost', autoHideMenuBar: true,
      icon: path.join(this.resourcesDir, 'icon.png'),
      webPreferences: {
        preload: path.join(this.outDir, 'preload.cjs'),
        contextIsolation: true, sandbox: true, nodeIntegration: false, nodeIntegrationInWorker: false,
        webSecurity: true, allowRunningInsecureContent: false, webviewTag: false, spellcheck: false,
      },
    });
    this.window = win;
    win.on('close', (event: { preventDefault(): void }) => {
      if (this.quitting) return;
      // Closing the window is not quitting: the server keeps running in the tray.
      event.preventDefault();
      win.hide();
      this.closeNotice();
    });
    win.on('closed', () => { if (this.window === win) this.window = undefined; });
    win.webContents.on('console-message', (...args: unknown[]) => this.rendererConsole(args));
    win.webContents.on('render-process-gone', (_e: unknown, details: { reason?: string }) => this.mainLog.error(`renderer gone: ${details?.reason ?? 'unknown'}`));
    void win.loadURL(`${APP_ORIGIN}/index.html${hash}`).catch((e: unknown) => this.mainLog.error(`cannot load the UI: ${(e as Error).message}`));
    return win;
  }

  /** Applied to every web contents Electron creates: no navigation away, no new windows, no webviews. */
  harden(contents: WebContentsLike): void {
    contents.on('will-navigate', (event: { preventDefault(): void }, url: string) => {
      if (!String(url).startsWith(`${APP_ORIGIN}/`)) event.preventDefault();
    });
    contents.on('will-redirect', (event: { preventDefault(): void }, url: string) => {
      if (!String(url).startsWith(`${APP_ORIGIN}/`)) event.preventDefault();
    });
    contents.on('will-attach-webview', (event: { preventDefault(): void }) => event.preventDefault());
    contents.setWindowOpenHandler(() => ({ action: 'deny' }));
  }

  /** Serves out/renderer/ under roost://app/, with the CSP header, never outside that directory. */
  async serveRenderer(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const root = path.join(this.outDir, 'renderer');
    const headers = { 'Content-Security-Policy': CONTENT_SECURITY_POLICY, 'X-Content-Type-Options': 'nosniff' };
    if (url.host !== 'app') return new Response('Not found', { status: 404, headers });
    let rel: string;
    try {
      rel = decodeURIComponent(url.pathname);
    } catch {
      return new Response('Bad request', { status: 400, headers });
    }
    const file = path.resolve(root, '.' + path.posix.normalize('/' + rel));
    if (!file.startsWith(root + path.sep)) return new Response('Forbidden', { status: 403, headers });
    try {
      const body = await fs.promises.readFile(file);
      return new Response(body, { status: 200, headers: { ...headers, 'Content-Type': MIME[path.extname(file).toLowerCase()] ?? 'application/octet-stream' } });
    } catch {
      if (path.extname(file)) return new Response('Not found', { status: 404, headers });
      const body = await fs.promises.readFile(path.join(root, 'index.html')).catch(() => null);
      if (!body) return new Response('The user interface is not built: run npm run build.', { status: 500, headers });
      return new Response(body, { status: 200, headers: { ...headers, 'Content-Type': MIME['.html'] } });
    }
  }

  private closeNotice(): void {
    if (this.closeNoticeShown) return;
    this.closeNoticeShown = true;
    this.saveUiState();
    this.notify('Roost is still running', 'Closing the window keeps Roost and its mail server running in the tray. Choose Quit in the tray menu to stop them.');
  }

  // ------------------------------------------------------------------------------------------
  // Tray

  private createTray(): void {
    const status = this.service!.status();
    this.tray = new this.electron.Tray(this.trayIcon(trayStateOf(status)));
    this.tray.on('click', () => this.showWindow());
    this.updateTray(status);
  }

  trayIcon(state: TrayState): string {
    return path.join(this.resourcesDir, `tray-${state}.png`);
  }

  /** The tray menu for `status` (also what tests inspect). */
  trayMenu(status: ServerStatus): MenuItemOptions[] {
    const running = status.state === 'running' || status.state === 'starting';
    const busy = status.state === 'starting' || status.state === 'stopping';
    const items: MenuItemOptions[] = [
      { label: statusLine(status), enabled: false },
      { type: 'separator' },
      running
        ? { label: 'Stop server', enabled: !busy, click: () => void this.stopServer() }
        : { label: 'Start server', enabled: !busy, click: () => void this.startServer() },
      { type: 'separator' },
      { label: 'Open Roost', click: () => this.showWindow() },
    ];
    if (VIEWER_ROUTE) items.push({ label: 'Open mailbox viewer', click: () => this.openRoute(VIEWER_ROUTE!) });
    items.push(
      { label: 'Copy connection settings', click: () => this.copyConnection() },
      { label: 'Start at login', type: 'checkbox', checked: this.loginItemEnabled(), click: (item: { checked?: boolean }) => this.setLoginItem(Boolean(item?.checked)) },
      { label: 'Show log file', click: () => this.electron.shell.showItemInFolder(this.service?.appInfo().logFile ?? this.dataDir) },
      { type: 'separator' },
      { label: 'Quit Roost', click: () => this.quit() },
    );
    return items;
  }

  updateTray(status: ServerStatus): void {
    if (!this.tray) return;
    const state = trayStateOf(status);
    this.tray.setImage(this.trayIcon(state));
    this.tray.setToolTip(`Roost — ${statusLine(status)}`);
    this.trayTemplate = this.trayMenu(status);
    this.tray.setContextMenu(this.electron.Menu.buildFromTemplate(this.trayTemplate));
  }

  /** The menu as last built (tests). */
  get currentTrayMenu(): MenuItemOptions[] {
    return this.trayTemplate;
  }

  private loginItemEnabled(): boolean {
    try {
      return this.electron.app.getLoginItemSettings().openAtLogin;
    } catch {
      return false;
    }
  }

  setLoginItem(enabled: boolean): void {
    // openAsHidden (macOS): start in the tray, not with the window.
    this.electron.app.setLoginItemSettings({ openAtLogin: enabled, openAsHidden: true });
    this.mainLog.info(`start at login ${enabled ? 'on' : 'off'}`);
    if (this.service) this.updateTray(this.service.status());
  }

  copyConnection(): void {
    if (!this.service) return;
    this.electron.clipboard.writeText(this.service.connectionInfo().text);
  }

  async startServer(): Promise<void> {
    try {
      await this.service?.start();
    } catch (e) {
      // The status (and with it the tray) shows the error; the log has the details.
      this.mainLog.warn(`could not start the server: ${(e as Error).message}`);
      if (this.service) this.updateTray(this.service.status());
    }
  }

  async stopServer(): Promise<void> {
    try {
      await this.service?.stop();
    } catch (e) {
      this.mainLog.error(`could not stop the server: ${(e as Error).message}`);
    }
  }

  /** Quit: stop the server gracefully first (before-quit runs shutdown), then leave. */
  quit(): void {
    this.quitting = true;
    this.electron.app.quit();
  }

  /** Stops the server (sessions get BYE), then lets go of Electron resources. Idempotent. */
  async shutdown(): Promise<void> {
    if (this.shutDown) return;
    try {
      await this.service?.dispose('Server shutting down.');
    } catch (e) {
      this.mainLog?.error(`stopping the server failed: ${(e as Error).message}`);
    }
    this.shutDown = true;
    this.electron.ipcMain.removeHandler(CALL_CHANNEL);
    this.tray?.destroy();
    this.tray = undefined;
    this.window?.destroy();
    this.window = undefined;
  }

  // ------------------------------------------------------------------------------------------
  // Events, notifications, logs

  private onServiceEvent(event: ApiEvent): void {
    const win = this.window;
    if (win && !win.isDestroyed() && !win.webContents.isDestroyed()) win.webContents.send(EVENT_CHANNEL, event);
    if (event.type === 'status') this.updateTray(event.status);
    else if (event.type === 'settings') this.notifications = event.settings.notifications;
    else if (event.type === 'server') this.onServerEvent(event.event);
  }

  private onServerEvent(event: ServerEvent): void {
    switch (event.type) {
      case 'connection-opened':
      case 'connection-closed':
        // The client count in the status line.
        if (this.service) this.updateTray(this.service.status());
        break;
      case 'delivered':
        if (this.notifications) {
          const n = this.notify(`New mail for ${event.user}`, `${event.from}: ${event.subject}${event.mailbox !== 'INBOX' ? ` (${event.mailbox})` : ''}`);
          // The click leads to the message in the viewer, highlighted there as new.
          n?.on?.('click', () => this.openRoute(viewerMessageRoute(event.user, event.mailbox, event.uid)));
        }
        break;
      default:
        break;
    }
  }

  private notify(title: string, body: string): NotificationLike | undefined {
    const { Notification } = this.electron;
    if (!Notification.isSupported()) return undefined;
    const n = new Notification({ title, body });
    n.show();
    return n;
  }

  private setupLogs(): void {
    const dir = path.join(this.dataDir, 'logs');
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const make = (id: string, file: string): ReturnType<typeof log.create> => {
      const l = log.create({ logId: id });
      l.transports.console.level = process.env.ROOST_DEBUG ? 'debug' : false;
      l.transports.file.resolvePathFn = () => path.join(dir, file);
      // Rotation: past 5 MiB the file becomes <name>.old.log and a new one starts.
      l.transports.file.maxSize = 5 * 1024 * 1024;
      l.transports.file.writeOptions = { flag: 'a', mode: 0o600, encoding: 'utf8' };
      l.transports.file.level = 'info';
      return l;
    };
    this.mainLog = make('roost-main', 'main.log');
    this.rendererLog = make('roost-renderer', 'renderer.log');
  }

  /** console-message: (event, level, message, line, sourceId) in Electron <= 35, (event) with details later. */
  private rendererConsole(args: unknown[]): void {
    const first = args[0] as { level?: string | number; message?: string } | undefined;
    let level: string | number | undefined = first?.level;
    let message = first?.message;
    if (message === undefined) {
      level = args[1] as number;
      message = String(args[2] ?? '');
    }
    const lv = level === 3 || level === 'error' ? 'error' : level === 2 || level === 'warning' ? 'warn' : 'info';
    this.rendererLog[lv](message.slice(0, 4000));
  }

  private loadUiState(): void {
    try {
      const doc = JSON.parse(fs.readFileSync(path.join(this.dataDir, 'ui-state.json'), 'utf8')) as { closeNoticeShown?: unknown };
      this.closeNoticeShown = doc.closeNoticeShown === true;
    } catch {
      this.closeNoticeShown = false;
    }
  }

  private saveUiState(): void {
    try {
      writeFileAtomic(path.join(this.dataDir, 'ui-state.json'), JSON.stringify({ closeNoticeShown: this.closeNoticeShown }) + '\n');
    } catch (e) {
      this.mainLog.warn(`cannot save ui-state.json: ${(e as Error).message}`);
    }
  }
}

/** The real `electron` module, seen through electron-api.ts. */
export function electronApi(): ElectronApi {
  return electronModule as unknown as ElectronApi;
}

export function startRoostMain(options: RoostMainOptions = {}): RoostMain {
  const main = new RoostMain(electronApi(), options);
  void main.run();
  return main;
}
