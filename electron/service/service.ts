// The app service: every ApiMethods handler, behind either transport (Electron IPC in electron/main,
// the HTTP + WebSocket bridge in electron/headless/web.ts). Owns the supervisor (and through it the mail
// server worker), the saved settings, and what the dashboard shows: live sessions, recent activity and
// a log tail, all maintained from the server's events. Never imports electron: what differs between the
// desktop app and the browser (folder picker, clipboard, file manager, where the password is kept)
// comes in as hooks and a SecretStore.
//
// Settings in effect = saved settings (settings.json + the SecretStore's password), under an optional
// override layer (headless: --config FILE, ROOST_PASSWORD, flags; see composeSettingsRaw). The UI edits
// the saved settings; AppInfo.overrides says which fields the current run takes from elsewhere.
import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import pkg from '../../package.json' with { type: 'json' };
import { resolveUser } from '../server/auth/user.js';
import type {
  ActivityEntry, ApiEvent, ApiMethod, ApiParams, ApiResult, AppInfo, AppSettings, ConnectionInfo, Dashboard, FieldProblem,
  SaveResult, ServerStatus, SessionInfo, ValidationResult,
} from '../shared/api.js';
import { ApiCallError, validateParams } from '../shared/api-validate.js';
import type { LogLevel, LogRecord, ServerEvent } from '../shared/events.js';
import type { ServerSettings } from '../shared/settings-types.js';
import { SettingsError, doveconf, fileOwner, type RawSettings, type SettingSource } from '../shared/settings.js';
import { generatePassword, passwordFile } from '../supervisor/password-store.js';
import { Supervisor, SupervisorError, type SupervisorOptions } from '../supervisor/supervisor.js';
import { checkPath, checkPort, privilegedPortFix, userName } from './checks.js';
import { importPostfix } from './postfix.js';
import type { SecretStore } from './secret-store.js';
import { ViewerService } from './viewer.js';
import {
  buildWithProblems, composeRaw, defaultAppSettings, describeOverrides, isLoopbackAddress, readSettingsFile,
  settingsFilePath, writeSettingsFile, type SettingsFile,
} from './settings-store.js';

export const VERSION: string = pkg.version;

/** What the desktop app does natively and the browser cannot. */
export interface PlatformHooks {
  pickDirectory?(params: ApiParams<'pickDirectory'>): Promise<{ path: string | null }>;
  copyText?(text: string): Promise<{ copied: boolean }> | { copied: boolean };
  showLogFile?(file: string): Promise<{ opened: boolean }> | { opened: boolean };
  /** Electron: a save dialog for a viewer download (attachment, whole message); absent in the browser. */
  saveFile?(file: { defaultName: string; data: Uint8Array }): Promise<{ saved: boolean; path?: string }>;
}

export interface RoostServiceOptions {
  dataDir: string;
  mode: 'electron' | 'browser';
  secrets: SecretStore;
  /** Headless: --config FILE, ROOST_PASSWORD and flags, merged in that order. They win over saved settings. */
  overrides?: RawSettings;
  /** The log file the app writes (for appInfo and "Show log file"). */
  logFile: string;
  hooks?: PlatformHooks;
  /** Receives every log record: the server's (through the supervisor) and the service's own. */
  log?: (record: LogRecord) => void;
  /** Supervisor options (worker script, timeouts); settings are the service's. */
  supervisor?: Omit<SupervisorOptions, 'settings'>;
  /** Bounds of the dashboard's memory. */
  activityLimit?: number;
  logLimit?: number;
}

export type ApiEventListener = (event: ApiEvent) => void;

/** The raw layers in effect: saved settings (or, before the first save, just the stored password), then overrides. */
export function composeSettingsRaw(dataDir: string, saved: SettingsFile | undefined, password: string | undefined, overrides: RawSettings = {}): RawSettings {
  const source: SettingSource = { kind: 'file', file: settingsFilePath(dataDir) };
  if (saved) return composeRaw({ ...saved.settings, password: password ?? '' }, overrides, source);
  const base: RawSettings = {};
  if (password) base['passdb.password'] = { value: password, source: { kind: 'generated', file: passwordFile(dataDir) } };
  return composeRaw(undefined, { ...base, ...overrides }, source);
}

/** The vmail directory Roost may create itself: its own default inside the data directory. */
export function isOwnVmail(dataDir: string, vmail: string): boolean {
  return path.resolve(vmail) === path.resolve(dataDir, 'vmail');
}

function sameSettings(a: ServerSettings | undefined, b: ServerSettings | undefined): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

export class RoostService {
  readonly supervisor: Supervisor;
  /** The mailbox viewer and test messages (electron/service/viewer.ts). */
  readonly viewer: ViewerService;
  readonly dataDir: string;
  private readonly opts: RoostServiceOptions;
  private saved: SettingsFile | undefined;
  /** A password proposed before the first save, kept so getSettings answers the same each time. */
  private draftPassword: string | undefined;
  /** The settings the running server was started with (restartNeeded compares against these). */
  private running: ServerSettings | undefined;
  private readonly listeners = new Set<ApiEventListener>();
  private readonly sessions = new Map<string, SessionInfo>();
  private activity: ActivityEntry[] = [];
  private logRing: LogRecord[] = [];
  private readonly unsubscribe: Array<() => void> = [];
  private disposed = false;

  constructor(options: RoostServiceOptions) {
    this.opts = options;
    this.dataDir = options.dataDir;
    try {
      this.saved = readSettingsFile(options.dataDir);
    } catch (e) {
      // A broken settings file must not keep the app from opening: start from the wizard and say why.
      this.saved = undefined;
      this.log('error', `ignoring ${settingsFilePath(options.dataDir)}: ${(e as Error).message}`);
    }
    const initial = this.tryEffective();
    this.supervisor = new Supervisor({ ...options.supervisor, settings: initial.settings ?? this.placeholderSettings() });
    this.unsubscribe.push(
      this.supervisor.onStatus((status) => {
        if (status.state !== 'running') this.sessions.clear();
        this.emit({ type: 'status', status: { ...status } });
      }),
      this.supervisor.onEvent((event) => this.onServerEvent(event)),
    );
    this.viewer = new ViewerService({
      supervisor: this.supervisor,
      runningSettings: () => (this.supervisor.snapshot().state === 'running' ? this.running : undefined),
      effectiveSettings: () => this.effectiveSettings(),
      onServerEvent: (listener) => this.supervisor.onEvent(listener),
      ...(options.hooks?.saveFile ? { saveFile: options.hooks.saveFile } : {}),
    });
  }

  // ------------------------------------------------------------------------------------------
  // Transport entry points

  /** Validates `params` for `method` and runs it. Throws ApiCallError (code INVALID, UNKNOWN_METHOD, ...). */
  async call(method: unknown, params: unknown): Promise<unknown> {
    const valid = validateParams(method, params);
    return this.handle(method as ApiMethod, valid as never);
  }

  /** Runs a method whose params are already validated. */
  async handle<M extends ApiMethod>(method: M, params: ApiParams<M>): Promise<ApiResult<M>> {
    if (this.disposed) throw new ApiCallError('UNAVAILABLE', 'Roost is shutting down');
    const p = params as never;
    const handlers: { [K in ApiMethod]: (params: ApiParams<K>) => Promise<ApiResult<K>> | ApiResult<K> } = {
      appInfo: () => this.appInfo(),
      getSettings: () => this.getSettings(),
      validateSettings: (x) => this.validateSettings(x.settings),
      saveSettings: (x) => this.saveSettings(x.settings),
      generatePassword: () => ({ password: generatePassword() }),
      checkPath: (x) => checkPath(x.path),
      checkPort: (x) => {
        const s = this.supervisor.snapshot();
        return checkPort(x.listen, x.port, s.state === 'running' ? { host: s.host, port: s.port } : undefined);
      },
      importPostfix: (x) => {
        const r = importPostfix(x.dir);
        // A relay test that fails later shows Postfix's virtual_mailbox_base beside mail_home.
        this.viewer.rememberPostfix(r);
        return r;
      },
      pickDirectory: (x) => this.opts.hooks?.pickDirectory?.(x) ?? { path: null },
      dashboard: () => this.dashboard(),
      startServer: () => this.start(),
      stopServer: () => this.stop(),
      restartServer: () => this.restart(),
      logTail: (x) => this.logRing.slice(-x.limit),
      copyText: (x) => this.opts.hooks?.copyText?.(x.text) ?? { copied: false },
      showLogFile: () => this.opts.hooks?.showLogFile?.(this.opts.logFile) ?? { opened: false },
      viewerTree: () => this.viewer.request({ op: 'tree', withCounts: true }),
      viewerFolders: (x) => this.viewer.request({ op: 'folders', user: x.user }),
      viewerPage: (x) => (x.query && (x.query.from || x.query.subject || x.query.text)
        ? this.viewer.request({ op: 'search', user: x.user, mailbox: x.mailbox, query: x.query, offset: x.offset, limit: x.limit })
        : this.viewer.request({ op: 'page', user: x.user, mailbox: x.mailbox, offset: x.offset, limit: x.limit })),
      viewerMessage: (x) => this.viewer.request({ op: 'message', user: x.user, mailbox: x.mailbox, uid: x.uid, ...(x.markSeen ? { markSeen: true } : {}) }),
      viewerRaw: (x) => this.viewer.request({ op: 'raw', user: x.user, mailbox: x.mailbox, uid: x.uid }),
      viewerAction: (x) => this.viewer.request({ op: 'action', user: x.user, mailbox: x.mailbox, uids: x.uids, change: x.change }),
      viewerSave: (x) => this.viewer.save(x),
      localDrop: (x) => this.viewer.localDrop(x),
      sendTest: (x) => this.viewer.sendTest(x),
    };
    return (handlers[method] as (params: never) => Promise<ApiResult<M>> | ApiResult<M>)(p);
  }

  /** Subscribe to ApiEvents (status, server events, settings). Returns an unsubscribe function. */
  onEvent(listener: ApiEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** True until the wizard has been completed (settings saved) once. */
  get firstRun(): boolean {
    return !this.saved?.wizardCompleted;
  }

  /** The saved settings (defaults before the first save); the password from the SecretStore. */
  getSettings(): AppSettings {
    const password = this.opts.secrets.read() ?? (this.draftPassword ??= generatePassword());
    if (this.saved) return { ...this.saved.settings, password };
    return defaultAppSettings(this.dataDir, password);
  }

  /** The settings the server would run with now; throws ApiCallError INVALID (per-field problems) when they cannot. */
  effectiveSettings(): ServerSettings {
    const r = this.tryEffective();
    if (!r.settings) throw new ApiCallError('INVALID', `The settings are not valid: ${r.errors.map((e) => e.message).join('; ')}`, r.errors);
    return r.settings;
  }

  status(): ServerStatus {
    return this.supervisor.snapshot();
  }

  // ------------------------------------------------------------------------------------------
  // Server control

  /** Starts the server with the settings in effect. `logFailure: false` when the caller explains a failure itself (the CLI). */
  async start(opts: { logFailure?: boolean } = {}): Promise<ServerStatus> {
    const settings = this.effectiveSettings();
    this.prepare(settings);
    try {
      await this.supervisor.start(settings);
    } catch (e) {
      throw this.startFailure(e, settings, opts.logFailure ?? true);
    }
    this.running = settings;
    return this.supervisor.getStatus();
  }

  async stop(reason?: string): Promise<ServerStatus> {
    const st = await this.supervisor.stop(reason);
    this.running = undefined;
    return st;
  }

  async restart(): Promise<ServerStatus> {
    const settings = this.effectiveSettings();
    this.prepare(settings);
    try {
      await this.supervisor.restart(settings);
    } catch (e) {
      this.running = undefined;
      throw this.startFailure(e, settings);
    }
    this.running = settings;
    return this.supervisor.getStatus();
  }

  /** Stops the server and forgets every listener. Idempotent. */
  async dispose(reason = 'Server shutting down.'): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    try {
      await this.supervisor.stop(reason);
    } finally {
      for (const u of this.unsubscribe) u();
      this.listeners.clear();
    }
  }

  /** Writes a record to the log sink, the log tail and live listeners. */
  log(level: LogLevel, message: string): void {
    const record: LogRecord = { level, service: 'roost', message, time: Date.now() };
    this.pushLog(record);
    this.opts.log?.(record);
    this.emit({ type: 'server', event: { type: 'log', record } });
  }

  // ------------------------------------------------------------------------------------------
  // Handlers

  appInfo(): AppInfo {
    const info: AppInfo = {
      version: VERSION,
      mode: this.opts.mode,
      platform: process.platform,
      dataDir: this.dataDir,
      logFile: this.opts.logFile,
      firstRun: this.firstRun,
    };
    const overrides = this.opts.overrides ?? {};
    if (Object.keys(overrides).length) {
      const eff = this.tryEffective().settings;
      const list = describeOverrides(overrides, eff);
      if (list.length) info.overrides = list;
    }
    return info;
  }

  validateSettings(app: AppSettings): ValidationResult {
    const raw = composeRaw(app, {}, { kind: 'file', file: settingsFilePath(this.dataDir) });
    const built = buildWithProblems(raw, path.join(this.dataDir, 'vmail'));
    const errors: FieldProblem[] = [...built.errors];
    const warnings: FieldProblem[] = [];
    const s = built.settings;
    const has = (field: FieldProblem['field']): boolean => errors.some((e) => e.field === field);

    // The vmail base: Roost creates its own default; any other directory must exist and be usable.
    if (!has('vmail')) {
      const vmail = s?.vmail ?? app.vmail;
      if (!isOwnVmail(this.dataDir, vmail)) {
        const check = checkPath(vmail);
        if (check.problem) errors.push({ field: 'vmail', message: check.problem });
        else if (s && !app.uid.trim() && check.uid !== undefined && check.uid !== 0 && check.uid < s.first_valid_uid) {
          // With no userdb uid, files belong to the tree's owner: Dovecot would refuse that UID.
          warnings.push({
            field: 'first_valid_uid',
            message: `${vmail} belongs to ${check.ownerName ?? 'UID'} (UID ${check.uid}), below first_valid_uid ${s.first_valid_uid}: Dovecot would refuse to serve it. Lower first_valid_uid to ${check.uid}.`,
          });
        } else if (s && s.userdb.uid !== undefined && check.uid !== undefined && check.uid !== s.userdb.uid) {
          warnings.push({
            field: 'uid',
            message: `${vmail} belongs to ${check.ownerName ?? `UID ${check.uid}`}, but uid is ${app.uid}: Postfix and Roost would create files with different owners.`,
          });
        }
      }
    }
    if (s && !has('uid') && !has('gid')) {
      try {
        fileOwner(s);
      } catch (e) {
        if (e instanceof SettingsError) errors.push({ field: /\bgid\b/.test(e.problem) && !/\buid=/.test(e.problem) ? 'gid' : 'uid', message: e.problem });
        else throw e;
      }
    }
    if (s && !isLoopbackAddress(s.listen)) {
      warnings.push({
        field: 'listen',
        message: s.disable_plaintext_auth
          ? `Listening on ${s.listen}: other computers can connect, but with disable_plaintext_auth on they cannot log in (Roost has no TLS yet). Turn it off to allow them; passwords then cross the network unencrypted.`
          : `Listening on ${s.listen}: other computers on the network can connect, and passwords and mail cross the network unencrypted (plaintext IMAP).`,
      });
    }
    if (s && s.port === 0) warnings.push({ field: 'port', message: 'Port 0 picks a free port at each start; mail clients need a fixed port.' });
    else if (s && s.port < 1024 && process.platform !== 'win32' && process.getuid?.() !== 0) {
      warnings.push({ field: 'port', message: privilegedPortFix(s.port, 1143) });
    }

    const result: ValidationResult = { ok: errors.length === 0, errors, warnings };
    if (s) {
      result.doveconf = doveconf(s, { header: [`Roost ${VERSION}: ${settingsFilePath(this.dataDir)}`] });
      const sample = 'alice@brokkr.net';
      try {
        result.preview = { user: sample, path: resolveUser(s, sample, { processUid: undefined }).maildir + path.sep };
      } catch (e) {
        errors.push({ field: 'mail_home', message: `For ${sample}: ${(e as Error).message}` });
        result.ok = false;
      }
    }
    return result;
  }

  async saveSettings(app: AppSettings): Promise<SaveResult> {
    const v = this.validateSettings(app);
    if (!v.ok) throw new ApiCallError('INVALID', `The settings are not valid: ${v.errors.map((e) => e.message).join('; ')}`, v.errors);
    const { password, ...rest } = app;
    // Password first: a settings file that says "done" without a password would be worse than the reverse.
    if (password !== this.opts.secrets.read()) this.opts.secrets.write(password);
    const file: SettingsFile = { wizardCompleted: true, settings: rest };
    writeSettingsFile(this.dataDir, file);
    this.saved = file;
    this.draftPassword = undefined;
    this.log('info', `settings saved to ${settingsFilePath(this.dataDir)}`);
    const state = this.supervisor.snapshot().state;
    const active = state === 'running' || state === 'starting' || state === 'crashed';
    const next = this.tryEffective().settings;
    // The next start uses the new settings either way; a running server keeps the old ones until restarted.
    if (next) this.supervisor.setSettings(next);
    const restartNeeded = active && !sameSettings(next, this.running);
    const saved = this.getSettings();
    this.emit({ type: 'settings', settings: saved });
    return { settings: saved, restartNeeded };
  }

  dashboard(): Dashboard {
    return {
      status: this.status(),
      sessions: [...this.sessions.values()].map((s) => ({ ...s })),
      activity: this.activity.map((a) => ({ ...a })),
      connection: this.connectionInfo(),
    };
  }

  connectionInfo(): ConnectionInfo {
    const st = this.supervisor.snapshot();
    const eff = this.running ?? this.tryEffective().settings;
    const host = st.host ?? eff?.listen ?? '127.0.0.1';
    const server = host === '0.0.0.0' || host === '::' ? os.hostname() : host;
    const port = st.port ?? eff?.port ?? 1143;
    const password = eff?.passdb.password ?? '';
    const username = 'your full e-mail address, e.g. alice@example.org';
    const text = [
      'Incoming mail (IMAP)',
      `Server: ${server}`,
      `Port: ${port}`,
      'Security: None (no SSL/TLS); authentication: normal password',
      `Username: ${username}`,
      `Password: ${password}`,
    ].join('\n');
    return { server, port, username, password, security: 'None', text };
  }

  // ------------------------------------------------------------------------------------------

  private tryEffective(): { settings?: ServerSettings; errors: FieldProblem[] } {
    const raw = composeSettingsRaw(this.dataDir, this.saved, this.opts.secrets.read(), this.opts.overrides);
    return buildWithProblems(raw, path.join(this.dataDir, 'vmail'));
  }

  /** Valid settings for a supervisor that must exist before the wizard has run; never started as such. */
  private placeholderSettings(): ServerSettings {
    const raw = composeSettingsRaw(this.dataDir, undefined, 'not-configured-yet', {});
    const r = buildWithProblems(raw, path.join(this.dataDir, 'vmail'));
    if (!r.settings) throw new Error(`default settings invalid: ${JSON.stringify(r.errors)}`);
    return r.settings;
  }

  /** Creates Roost's own vmail directory; refuses a missing other one and an owner this process cannot use. */
  private prepare(settings: ServerSettings): void {
    if (isOwnVmail(this.dataDir, settings.vmail)) {
      fs.mkdirSync(settings.vmail, { recursive: true, mode: 0o700 });
    } else {
      const check = checkPath(settings.vmail);
      if (check.problem && (!check.exists || !check.isDirectory)) throw new ApiCallError('INVALID', check.problem, [{ field: 'vmail', message: check.problem }]);
    }
    try {
      fileOwner(settings);
    } catch (e) {
      if (e instanceof SettingsError) throw new ApiCallError('INVALID', e.message, [{ field: 'uid', message: e.problem }]);
      throw e;
    }
  }

  private startFailure(e: unknown, s: ServerSettings, log = true): ApiCallError {
    const code = e instanceof SupervisorError ? e.causeCode : undefined;
    let message: string;
    switch (code) {
      case 'EADDRINUSE':
        message = `Port ${s.port} on ${s.listen} is already in use by another program (Dovecot, or another Roost?). Stop it, or choose another port in Settings.`;
        break;
      case 'EACCES':
        message = s.port < 1024 ? privilegedPortFix(s.port, 1143) : `Roost may not listen on ${s.listen}:${s.port} (permission denied).`;
        break;
      case 'EADDRNOTAVAIL':
        message = `${s.listen} is not an address of this computer: choose 127.0.0.1 (this computer only) or 0.0.0.0 (the local network).`;
        break;
      default:
        message = `The mail server could not start: ${e instanceof Error ? e.message : String(e)}`;
    }
    if (log) this.log('error', message);
    return new ApiCallError('START_FAILED', message, undefined, e);
  }

  private emit(event: ApiEvent): void {
    for (const l of this.listeners) {
      try {
        l(event);
      } catch {
        // One broken listener (a closed socket) must not keep the others from hearing it.
      }
    }
  }

  private pushLog(record: LogRecord): void {
    this.logRing.push(record);
    const limit = this.opts.logLimit ?? 2000;
    if (this.logRing.length > limit) this.logRing = this.logRing.slice(-limit);
  }

  private addActivity(entry: ActivityEntry): void {
    this.activity.unshift(entry);
    const limit = this.opts.activityLimit ?? 200;
    if (this.activity.length > limit) this.activity.length = limit;
  }

  private onServerEvent(event: ServerEvent): void {
    switch (event.type) {
      case 'connection-opened':
        this.sessions.set(event.session, { id: event.session, remote: event.remote, since: event.time, mailbox: null });
        break;
      case 'connection-closed':
        this.sessions.delete(event.session);
        break;
      case 'login': {
        const s = this.sessions.get(event.session);
        if (s) s.user = event.user;
        this.addActivity({ kind: 'login', time: event.time, user: event.user, remote: event.remote, text: `${event.user} logged in from ${event.remote} (${event.method})` });
        break;
      }
      case 'login-failed':
        this.addActivity({
          kind: 'login-failed', time: event.time, remote: event.remote, ...(event.user ? { user: event.user } : {}),
          text: `${event.user ? `${event.user}: ` : ''}login failed from ${event.remote}: ${event.reason}`,
        });
        break;
      case 'mailbox-selected': {
        const s = this.sessions.get(event.session);
        if (s) s.mailbox = event.mailbox;
        break;
      }
      case 'delivered':
        this.addActivity({
          kind: 'delivered', time: event.noticedAt, user: event.user,
          text: `${event.mailbox}: "${event.subject}" from ${event.from} (${formatSize(event.size)})`,
        });
        break;
      case 'log':
        this.pushLog(event.record);
        this.opts.log?.(event.record);
        break;
      default:
        break;
    }
    this.emit({ type: 'server', event });
  }
}

/** Who owns `dir`, in words ('vmail (UID 5000)'), for messages. */
export function ownerText(dir: string): string | undefined {
  try {
    const st = fs.statSync(dir);
    const name = userName(st.uid);
    return name ? `${name} (UID ${st.uid})` : `UID ${st.uid}`;
  } catch {
    return undefined;
  }
}
