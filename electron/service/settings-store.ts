// The app's settings file, and the one way AppSettings become the server's ServerSettings.
//
// File format: <data dir>/settings.json, mode 0600, UTF-8 JSON:
//   {
//     "version": 1,
//     "wizardCompleted": true,            // false/absent: the next start opens the setup wizard
//     "settings": { ...AppSettings without "password" }
//   }
// The password is never in this file: it lives in a SecretStore (safeStorage in the desktop app, the
// 0600 password file headless). Written to a temporary name, fsynced, renamed into place (and the
// directory fsynced where the platform allows), so a crash leaves the old or the new file, never half.
// Unknown keys are ignored on read (a newer Roost may add some); a missing or unreadable field takes
// its default, so a hand-edited file degrades to defaults instead of refusing to start.
//
// AppSettings -> ServerSettings goes through shared/settings.ts's buildSettings, the validator the CLI
// and config files use: the same rules and the same words everywhere. validateAppSettings() turns its
// errors into per-field problems (FieldProblem) for the wizard and the settings page.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { readTextIfExists, writeFileAtomic } from '../supervisor/files.js';
import type { AppSettings, FieldProblem, SettingOverride } from '../shared/api.js';
import type { ServerSettings } from '../shared/settings-types.js';
import {
  DEFAULTS, SettingsError, buildSettings, mergeRaw, type RawSettings, type SettingSource,
} from '../shared/settings.js';

export const SETTINGS_FILE = 'settings.json';
const FILE_VERSION = 1;

export interface SettingsFile {
  wizardCompleted: boolean;
  /** Everything but the password. */
  settings: Omit<AppSettings, 'password'>;
}

/** Defaults for a fresh install: the vmail tree in the data directory, this computer only, port 1143. */
export function defaultAppSettings(dataDir: string, password = ''): AppSettings {
  return {
    vmail: path.join(dataDir, 'vmail'),
    mail_home: '',
    mail_location: DEFAULTS.mail_location,
    password,
    auth_mechanisms: [...DEFAULTS.auth_mechanisms],
    disable_plaintext_auth: DEFAULTS.disable_plaintext_auth,
    uid: '',
    gid: '',
    first_valid_uid: DEFAULTS.first_valid_uid,
    listen: DEFAULTS.listen,
    port: DEFAULTS.port,
    startWithRoost: true,
    notifications: true,
  };
}

export function settingsFilePath(dataDir: string): string {
  return path.join(dataDir, SETTINGS_FILE);
}

/** Reads the settings file; undefined when there is none. Throws on unreadable JSON (the caller says so). */
export function readSettingsFile(dataDir: string): SettingsFile | undefined {
  const file = settingsFilePath(dataDir);
  const text = readTextIfExists(file);
  if (text === undefined) return undefined;
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new SettingsError('', `Invalid JSON: ${(e as Error).message}`, { kind: 'file', file }, 'SETTINGS_SYNTAX');
  }
  const obj = (typeof doc === 'object' && doc !== null ? doc : {}) as { wizardCompleted?: unknown; settings?: unknown };
  const s = (typeof obj.settings === 'object' && obj.settings !== null ? obj.settings : {}) as Record<string, unknown>;
  const d = defaultAppSettings(dataDir);
  const pick = <K extends keyof AppSettings>(k: K, ok: (v: unknown) => boolean): AppSettings[K] => (ok(s[k]) ? (s[k] as AppSettings[K]) : d[k]);
  const isStr = (v: unknown): boolean => typeof v === 'string';
  const isInt = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 0;
  const isBool = (v: unknown): boolean => typeof v === 'boolean';
  const settings: Omit<AppSettings, 'password'> = {
    vmail: pick('vmail', isStr),
    mail_home: pick('mail_home', isStr),
    mail_location: pick('mail_location', isStr),
    auth_mechanisms: pick('auth_mechanisms', (v) => Array.isArray(v) && v.length > 0 && v.every((m) => m === 'plain' || m === 'login')),
    disable_plaintext_auth: pick('disable_plaintext_auth', isBool),
    uid: pick('uid', isStr),
    gid: pick('gid', isStr),
    first_valid_uid: pick('first_valid_uid', isInt),
    listen: pick('listen', isStr),
    port: pick('port', (v) => isInt(v) && (v as number) <= 65535),
    startWithRoost: pick('startWithRoost', isBool),
    notifications: pick('notifications', isBool),
  };
  return { wizardCompleted: obj.wizardCompleted === true, settings };
}

export function writeSettingsFile(dataDir: string, file: SettingsFile): void {
  const { settings } = file;
  // Explicit field list: a password that slipped into `settings` must never reach the disk.
  const clean: Omit<AppSettings, 'password'> = {
    vmail: settings.vmail, mail_home: settings.mail_home, mail_location: settings.mail_location,
    auth_mechanisms: settings.auth_mechanisms, disable_plaintext_auth: settings.disable_plaintext_auth,
    uid: settings.uid, gid: settings.gid, first_valid_uid: settings.first_valid_uid,
    listen: settings.listen, port: settings.port, startWithRoost: settings.startWithRoost, notifications: settings.notifications,
  };
  const doc = { version: FILE_VERSION, wizardCompleted: file.wizardCompleted, settings: clean };
  writeFileAtomic(settingsFilePath(dataDir), JSON.stringify(doc, null, 2) + '\n');
}

// ---------------------------------------------------------------------------------------------
// AppSettings <-> raw settings

/** The raw-settings keys each AppSettings field feeds (and that a CLI layer can override). */
const FIELD_KEYS: Partial<Record<keyof AppSettings, string[]>> = {
  vmail: ['vmail'],
  mail_home: ['mail_home', 'userdb.home'],
  mail_location: ['mail_location', 'userdb.mail'],
  password: ['passdb.password'],
  auth_mechanisms: ['auth_mechanisms'],
  disable_plaintext_auth: ['disable_plaintext_auth', 'auth_allow_cleartext'],
  uid: ['userdb.uid'],
  gid: ['userdb.gid'],
  first_valid_uid: ['first_valid_uid'],
  listen: ['listen'],
  port: ['port'],
};

/** The saved settings as the lowest raw layer. Empty mail_home/uid/gid mean "the default" and add nothing. */
export function appToRaw(app: AppSettings, source: SettingSource): RawSettings {
  const raw: RawSettings = {};
  const put = (key: string, value: RawSettings[string]['value']): void => { raw[key] = { value, source }; };
  put('vmail', app.vmail);
  if (app.mail_home.trim()) put('mail_home', app.mail_home);
  put('mail_location', app.mail_location);
  if (app.password) put('passdb.password', app.password);
  put('auth_mechanisms', [...app.auth_mechanisms]);
  put('disable_plaintext_auth', app.disable_plaintext_auth);
  if (app.uid.trim()) put('userdb.uid', app.uid);
  if (app.gid.trim()) put('userdb.gid', app.gid);
  put('first_valid_uid', app.first_valid_uid);
  put('listen', app.listen);
  put('port', app.port);
  return raw;
}

/**
 * Saved settings under an override layer (headless: --config FILE, ROOST_PASSWORD, flags, already merged
 * in that order). vmail and mail_home travel together: an override of either drops both saved values,
 * so `--vmail DIR` means "mail is under DIR" and not "DIR, but the saved template elsewhere".
 */
export function composeRaw(app: AppSettings | undefined, overrides: RawSettings, source: SettingSource): RawSettings {
  if (!app) return { ...overrides };
  const saved = appToRaw(app, source);
  if (overrides.vmail || overrides.mail_home || overrides['userdb.home']) {
    delete saved.vmail;
    delete saved.mail_home;
  }
  return mergeRaw(saved, overrides);
}

function describeSource(source: SettingSource | undefined): string {
  switch (source?.kind) {
    case 'flag': return `the ${source.flag} flag`;
    case 'env': return source.name;
    case 'file': return `the config file ${source.file}`;
    default: return 'the command line';
  }
}

/** Which AppSettings fields the override layer sets, for AppInfo.overrides. */
export function describeOverrides(overrides: RawSettings, effective?: ServerSettings): SettingOverride[] {
  const out: SettingOverride[] = [];
  for (const [field, keys] of Object.entries(FIELD_KEYS) as Array<[keyof AppSettings, string[]]>) {
    const key = keys.find((k) => overrides[k]);
    if (!key) continue;
    let value: string;
    if (field === 'password') value = '(hidden)';
    else if (effective) value = effectiveText(field, effective);
    else value = JSON.stringify(overrides[key].value);
    out.push({ field, source: describeSource(overrides[key].source), value });
  }
  // --vmail also decides mail_home (see composeRaw); say so where the user would look.
  if (overrides.vmail && !out.some((o) => o.field === 'mail_home')) {
    out.push({ field: 'mail_home', source: describeSource(overrides.vmail.source), value: effective ? effective.mail_home : '' });
  }
  return out;
}

function effectiveText(field: keyof AppSettings, s: ServerSettings): string {
  switch (field) {
    case 'vmail': return s.vmail;
    case 'mail_home': return s.mail_home;
    case 'mail_location': return s.mail_location;
    case 'auth_mechanisms': return s.auth_mechanisms.join(' ');
    case 'disable_plaintext_auth': return s.disable_plaintext_auth ? 'yes' : 'no';
    case 'uid': return s.userdb.uidName ?? (s.userdb.uid === undefined ? '' : String(s.userdb.uid));
    case 'gid': return s.userdb.gidName ?? (s.userdb.gid === undefined ? '' : String(s.userdb.gid));
    case 'first_valid_uid': return String(s.first_valid_uid);
    case 'listen': return s.listen;
    case 'port': return String(s.port);
    default: return '';
  }
}

/** Which AppSettings field a SettingsError (named in Dovecot's spelling) is about. */
export function fieldForSetting(e: SettingsError): FieldProblem['field'] {
  switch (e.setting) {
    case 'vmail': return 'vmail';
    case 'mail_home': return 'mail_home';
    case 'mail_location': return 'mail_location';
    case 'passdb': return 'password';
    case 'auth_mechanisms': return 'auth_mechanisms';
    case 'disable_plaintext_auth': case 'auth_allow_cleartext': return 'disable_plaintext_auth';
    case 'first_valid_uid': return 'first_valid_uid';
    case 'listen': return 'listen';
    case 'port': return 'port';
    case 'userdb':
      if (/\bhome\b/.test(e.problem)) return 'mail_home';
      if (/\bmail_location|maildir\b/.test(e.problem) && !/uid|gid/i.test(e.problem)) return 'mail_location';
      return /\bgid\b|GID/.test(e.problem) && !/\buid\b|UID/.test(e.problem) ? 'gid' : 'uid';
    default: return 'general';
  }
}

/** Raw keys to drop so that a field's problem does not hide the next field's (see buildWithProblems). */
function keysOf(field: FieldProblem['field']): string[] {
  return field === 'general' ? [] : FIELD_KEYS[field] ?? [];
}

export interface BuildResult {
  settings?: ServerSettings;
  errors: FieldProblem[];
}

/**
 * buildSettings, collecting one problem per field instead of stopping at the first: after each error
 * the offending field falls back to its default (the password to a placeholder) and validation runs
 * again. The problems are buildSettings' own words, without the "Error in configuration file" prefix.
 */
export function buildWithProblems(raw: RawSettings, defaultVmail: string): BuildResult {
  const work: RawSettings = { ...raw };
  const errors: FieldProblem[] = [];
  for (let round = 0; round < 16; round++) {
    try {
      const settings = buildSettings(work, { defaultVmail });
      return errors.length ? { errors } : { settings, errors };
    } catch (e) {
      if (!(e instanceof SettingsError)) throw e;
      const field = fieldForSetting(e);
      const message = e.setting && e.setting !== 'passdb' && e.setting !== 'userdb' ? `${e.setting}: ${e.problem}` : e.problem;
      if (field === 'password' && e.code === 'SETTINGS_MISSING') {
        errors.push({ field, message: 'Set a password (every user logs in with it).' });
      } else {
        errors.push({ field, message });
      }
      const keys = keysOf(field);
      const before = keys.filter((k) => work[k]).length;
      for (const k of keys) delete work[k];
      if (field === 'password') work['passdb.password'] = { value: 'placeholder-password' };
      else if (!before) return { errors }; // nothing left to drop: stop rather than loop
    }
  }
  return { errors };
}

/** True for addresses that only this computer can reach. */
export function isLoopbackAddress(host: string): boolean {
  if (host === 'localhost') return true;
  if (net.isIPv4(host)) return host.startsWith('127.');
  return host === '::1';
}
