// The headless CLI (out/cli.js; `npm run serve -- [options]`): runs the mail server in a worker thread
// through the supervisor, writes the log to <data dir>/logs/roost.log and stdout, and stops cleanly on
// SIGINT/SIGTERM (sessions get `* BYE Server shutting down.`). `roost doveconf` prints the effective
// settings like `doveconf -n`. Exit status: 0 clean stop, 1 cannot run, 2 bad flags/settings.
//
// `serve` also starts the web interface (web.ts: the desktop app's UI in a browser, on 127.0.0.1, guarded
// by a random token printed once as `web ui: http://127.0.0.1:<port>/?token=<token>`) unless --no-ui.
// Settings: the saved app settings (<data dir>/settings.json + the password file, written by the web
// interface or the desktop app) are the lowest layer above the defaults; --config FILE, ROOST_PASSWORD and
// flags override them for this run only (the web interface marks overridden fields, AppInfo.overrides).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pkg from '../../package.json' with { type: 'json' };
import { resolveUser } from '../server/auth/user.js';
import { logRecord } from '../server/log.js';
import type { LogRecord } from '../shared/events.js';
import type { ServerSettings } from '../shared/settings-types.js';
import {
  SettingsError, buildSettings, defaultDataDir, doveconf, fileOwner, loadConfigFile, mergeRaw,
  type RawSettings, type SettingSource,
} from '../shared/settings.js';
import { ApiCallError } from '../shared/api-validate.js';
import { explainStartError } from '../service/checks.js';
import { PasswordFileStore } from '../service/secret-store.js';
import { RoostService, composeSettingsRaw, isOwnVmail } from '../service/service.js';
import { readSettingsFile } from '../service/settings-store.js';
import { createLogWriter } from '../supervisor/log-writer.js';
import { loadOrCreatePassword, readStoredPassword, type StoredPassword } from '../supervisor/password-store.js';
import { CliUsageError, DEFAULT_UI_PORT, USAGE, parseArgs, type CliArgs } from './args.js';
import { startWebBridge, type WebBridge } from './web.js';

const VERSION: string = pkg.version;
const NAME = 'roost';

/** Error events the supervisor raises; their log lines ('master' service) are written already. */
const SUPERVISOR_ERROR_CODES = new Set(['WORKER_CRASHED', 'WORKER_GAVE_UP', 'RESTART_FAILED']);

function out(line = ''): void {
  process.stdout.write(line + '\n');
}

function fail(line: string): void {
  process.stderr.write(`${NAME}: ${line}\n`);
}

interface Loaded {
  settings: ServerSettings;
  /** Where the password came from, for the "how to connect" text. */
  passwordSource?: SettingSource;
  stored?: StoredPassword;
  /** True when the vmail directory is Roost's own default inside the data directory (created on demand). */
  defaultVmail: boolean;
  dataDir: string;
  /** --config FILE, ROOST_PASSWORD and flags: what overrides the saved settings for this run. */
  overrides: RawSettings;
}

/** Flags over ROOST_PASSWORD over the config file over the saved app settings over defaults. */
function load(args: CliArgs, password: 'create' | 'read'): Loaded {
  const dataDir = args.dataDir ?? defaultDataDir();
  const fileRaw: RawSettings = args.config ? loadConfigFile(args.config) : {};
  const envRaw: RawSettings = {};
  const envPassword = process.env.ROOST_PASSWORD;
  if (envPassword) envRaw['passdb.password'] = { value: envPassword, source: { kind: 'env', name: 'ROOST_PASSWORD' } };
  const overrides = mergeRaw(fileRaw, envRaw, args.raw);
  const saved = readSettingsFile(dataDir);
  let stored: StoredPassword | undefined;
  if (!overrides['passdb.password']) {
    stored = password === 'create' ? loadOrCreatePassword(dataDir) : readStoredPassword(dataDir);
  }
  const raw = composeSettingsRaw(dataDir, saved, stored?.password, overrides);
  const settings = buildSettings(raw, { defaultVmail: path.join(dataDir, 'vmail') });
  return { settings, passwordSource: raw['passdb.password']?.source, stored, defaultVmail: isOwnVmail(dataDir, settings.vmail), dataDir, overrides };
}

function doveconfCommand(args: CliArgs): number {
  const dataDir = args.dataDir ?? defaultDataDir();
  let loaded: Loaded;
  let noPassword = false;
  try {
    loaded = load(args, 'read');
  } catch (e) {
    // doveconf works before the first start too, when there is no password yet.
    if (!(e instanceof SettingsError && e.code === 'SETTINGS_MISSING' && e.setting === 'passdb')) throw e;
    noPassword = true;
    loaded = load({ ...args, raw: { ...args.raw, 'passdb.password': { value: 'unset' } } }, 'read');
  }
  const header = [
    `Roost ${VERSION}: ${args.config ?? 'no config file'}`,
    `OS: ${os.type()} ${os.release()} ${os.arch()}`,
  ];
  if (noPassword) header.push(`passdb password: none yet (the first start generates one into ${path.join(dataDir, 'password')})`);
  process.stdout.write(doveconf(loaded.settings, { showPassword: args.showPassword && !noPassword, header }));
  return 0;
}

function describePassword(l: Loaded): string[] {
  const src = l.passwordSource;
  if (l.stored?.created) {
    return [
      `    Password:  ${l.settings.passdb.password}`,
      `               (generated now and saved in ${l.stored.file}, mode 0600; shown only this once.`,
      '               The next start uses it again; delete that file to get a new one.)',
    ];
  }
  switch (src?.kind) {
    case 'generated': return [`    Password:  the one saved in ${src.file ?? 'the data directory'} (generated on the first start)`];
    case 'flag': return ['    Password:  the one given with --password'];
    case 'env': return [`    Password:  the one in ${src.name}`];
    case 'file': return [`    Password:  the one in passdb of ${src.file}`];
    default: return ['    Password:  the configured one'];
  }
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

function connectHelp(l: Loaded, host: string, port: number, logFile: string): string[] {
  const s = l.settings;
  const anyAddress = host === '0.0.0.0' || host === '::';
  const lines = [
    '',
    '  Set up your mail client (IMAP):',
    `    Server:    ${anyAddress ? `this computer's name or address (${os.hostname()})` : host}`,
    `    Port:      ${port}`,
    '    Security:  none (no SSL/TLS); authentication: normal password',
    '    Username:  the full address, e.g. alice@example.org',
    ...describePassword(l),
  ];
  try {
    const example = resolveUser(s, 'alice@example.org');
    lines.push(`  Mail for alice@example.org is read from ${example.maildir}`);
  } catch {
    lines.push(`  Mail is read from under ${s.vmail}`);
  }
  lines.push(`  Log: ${logFile}`, '  Stop with Ctrl+C.', '');
  if (!isLoopback(host) && s.disable_plaintext_auth) {
    lines.push(
      `  Note: disable_plaintext_auth = yes (the default): clients on other machines cannot log in without TLS,`,
      '  which Roost does not offer yet. Clients on this machine can. To allow others (passwords then cross',
      '  the network unencrypted): -o disable_plaintext_auth=no',
      '',
    );
  }
  return lines;
}

function ensureVmail(l: Loaded): void {
  const dir = l.settings.vmail;
  if (l.defaultVmail) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    return;
  }
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch {
    throw new SettingsError('vmail', `directory ${dir} does not exist (create it, or point --vmail at the directory Postfix delivers to: virtual_mailbox_base)`);
  }
  if (!st.isDirectory()) throw new SettingsError('vmail', `${dir} is not a directory`);
}

/** Starts the web interface: --ui-port, or the default port, or (when the default is taken) any free one. */
async function startUi(args: CliArgs, service: RoostService): Promise<WebBridge> {
  const rendererDir = fileURLToPath(new URL('./renderer/', import.meta.url));
  if (args.uiPort !== undefined) return startWebBridge({ service, port: args.uiPort, rendererDir });
  try {
    return await startWebBridge({ service, port: DEFAULT_UI_PORT, rendererDir });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e;
    const bridge = await startWebBridge({ service, port: 0, rendererDir });
    out(`${NAME}: port ${DEFAULT_UI_PORT} is taken, so the web interface uses port ${bridge.port}`);
    return bridge;
  }
}

async function serveCommand(args: CliArgs): Promise<number> {
  const loaded = load(args, 'create');
  const s = loaded.settings;
  ensureVmail(loaded);
  fileOwner(s); // refuses a userdb uid/gid this process cannot use, before anything starts
  if (loaded.stored?.warning) fail(`warning: ${loaded.stored.warning}`);

  const logFile = path.join(loaded.dataDir, 'logs', 'roost.log');
  const writer = createLogWriter({ file: logFile, console: true });
  const write = (record: LogRecord): void => writer.write(record);
  const service = new RoostService({
    dataDir: loaded.dataDir,
    mode: 'browser',
    secrets: new PasswordFileStore(loaded.dataDir),
    overrides: loaded.overrides,
    logFile,
    log: write,
  });
  const supervisor = service.supervisor;
  supervisor.onEvent((event) => {
    if (event.type === 'error' && !SUPERVISOR_ERROR_CODES.has(event.code ?? '')) {
      write({ level: 'error', service: 'roost', message: event.message, time: event.time });
    }
  });

  // The server logs "Roost v<version> starting up for imap ..." itself; the worker inherits this env.
  process.env.ROOST_VERSION = VERSION;
  let host: string;
  let port: number;
  try {
    const status = await service.start({ logFailure: false });
    host = status.host ?? s.listen;
    port = status.port ?? s.port;
  } catch (e) {
    const cause = e instanceof ApiCallError && e.cause !== undefined ? e.cause : e;
    if (e instanceof ApiCallError && e.code === 'INVALID') {
      fail(e.message);
      await service.dispose().catch(() => undefined);
      return 2;
    }
    const lines = explainStartError(cause, s);
    write(logRecord('error', 'master', `Fatal: ${lines[0]}`));
    for (const line of lines) fail(line);
    await service.dispose().catch(() => undefined);
    return 1;
  }
  return new Promise<number>((resolve) => {
    let stopping = false;
    let bridge: WebBridge | undefined;
    // Signals are handled from here on, before the web interface is up: a Ctrl+C while it starts
    // still stops the server cleanly (sessions get BYE).
    let uiStarting: Promise<unknown> = Promise.resolve();
    const shutdown = async (): Promise<void> => {
      await uiStarting.catch(() => undefined);
      await bridge?.close();
      await service.dispose();
    };
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        // Dovecot: a second signal stops immediately.
        write(logRecord('warn', 'master', `Received second ${signal} - stopping immediately`));
        process.exit(1);
      }
      stopping = true;
      const number = os.constants.signals[signal];
      write(logRecord('warn', 'master', `Killed with signal ${number}`));
      shutdown().then(
        () => finish(0),
        (e: unknown) => { fail(`stopping failed: ${(e as Error).message}`); finish(1); },
      );
    };
    const unsubscribe = supervisor.onStatus((st) => {
      if (st.state === 'failed') {
        fail(st.lastError ?? 'the server failed');
        fail('The mail server keeps crashing; not restarting it. See the log above.');
        void bridge?.close();
        finish(1);
      }
    });
    const finish = (code: number): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      unsubscribe();
      resolve(code);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    // Only now say that it listens: whoever reads the line may stop Roost at once (a script, a
    // test), and a signal before the handlers exist would kill the process without BYE or exit 0.
    // One write, so readers of a pipe get the instructions together with the "listening on" line.
    out([`${NAME}: Roost ${VERSION} listening on ${host.includes(':') ? `[${host}]` : host}:${port}`, ...connectHelp(loaded, host, port, logFile)].join('\n'));

    if (!args.noUi) {
      uiStarting = startUi(args, service).then(
        (b) => {
          bridge = b;
          // Exactly one line in this form: scripts and tests read the address from it.
          if (!stopping) out(`web ui: ${b.url}`);
        },
        (e: unknown) => {
          fail(`the web interface could not start on 127.0.0.1:${args.uiPort ?? DEFAULT_UI_PORT}: ${(e as Error).message} (use --ui-port N, or --no-ui)`);
          if (stopping) return;
          stopping = true;
          void service.dispose().catch(() => undefined).then(() => finish(1));
        },
      );
    }
  });
}

export async function main(argv: readonly string[]): Promise<number> {
  let args: CliArgs;
  try {
    args = parseArgs(argv);
  } catch (e) {
    if (e instanceof CliUsageError) {
      fail(`${e.message} (see ${NAME} --help)`);
      return 2;
    }
    if (e instanceof SettingsError) {
      fail(e.message);
      return 2;
    }
    throw e;
  }
  try {
    switch (args.command) {
      case 'help': out(USAGE); return 0;
      case 'version': out(`Roost ${VERSION}`); return 0;
      case 'doveconf': return doveconfCommand(args);
      case 'serve': return await serveCommand(args);
    }
  } catch (e) {
    if (e instanceof SettingsError) {
      fail(e.message);
      return 2;
    }
    fail(`${(e as Error).message ?? String(e)}`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Everything is closed by now; if something still holds the event loop, do not hang on it.
    setTimeout(() => process.exit(code), 2000).unref();
  },
  (e: unknown) => {
    fail(`internal error: ${(e as Error)?.stack ?? String(e)}`);
    process.exit(1);
  },
);
