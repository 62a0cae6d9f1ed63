// Settings: defaults, parsing (Dovecot-style config subset, JSON, command-line values),
// validation into a ServerSettings, template expansion and `doveconf -n` style printing.
//
// Names are Dovecot's wherever Dovecot has the setting, so a user can carry a config between
// Dovecot and Roost. Roost-only settings: vmail, max_literal_size, cache_dir (and `port`, which
// Dovecot spells `service imap-login { inet_listener imap { port = N } }`).
//
// Config file formats (`--config FILE`):
//  - FILE.json: one object; keys are the ServerSettings names, plus
//      "port": 1143,
//      "passdb": { "driver": "static", "password": "..." }   (or "args": "password=...")
//      "userdb": { "driver": "static", "uid": "vmail", "gid": 5000 } (or "args": "uid=vmail gid=vmail")
//  - anything else: Dovecot syntax, this subset:
//      key = value            # comment ('#' outside quotes starts a comment, as in Dovecot)
//      key = "quoted value"
//      passdb { driver = static
//               args = password=secret }
//      userdb { driver = static
//               args = uid=vmail gid=vmail [home=...] [mail=...] }
//      service imap-login { inet_listener imap { port = 1143  address = 127.0.0.1 }
//                           inet_listener imaps { port = 0 } }
// Unknown settings and sections are errors that name them and suggest the closest known name.
//
// This module uses Node's fs/os/path: the renderer imports settings-types.ts, never this file.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { AuthMechanism, ServerSettings } from './settings-types.js';

// ---------------------------------------------------------------------------------------------
// Errors

/** Where a raw value came from, so an error can point at it. */
export type SettingSource =
  | { kind: 'file'; file: string; line?: number }
  | { kind: 'flag'; flag: string }
  | { kind: 'env'; name: string }
  | { kind: 'generated'; file?: string };

export type SettingsErrorCode =
  /** A value is present but not acceptable. */
  | 'SETTINGS_INVALID'
  /** A key or section Roost does not know. */
  | 'SETTINGS_UNKNOWN'
  /** The config file cannot be parsed (missing '=', unbalanced braces, bad JSON). */
  | 'SETTINGS_SYNTAX'
  /** The config file cannot be read. */
  | 'SETTINGS_FILE'
  /** A required value is missing. */
  | 'SETTINGS_MISSING';

/** A user-caused settings problem. `setting` names the setting in Dovecot's spelling. */
export class SettingsError extends Error {
  readonly setting: string;
  readonly problem: string;
  readonly source?: SettingSource;
  readonly code: SettingsErrorCode;

  constructor(setting: string, problem: string, source?: SettingSource, code: SettingsErrorCode = 'SETTINGS_INVALID') {
    super(describeProblem(setting, problem, source));
    this.name = 'SettingsError';
    this.setting = setting;
    this.problem = problem;
    this.source = source;
    this.code = code;
  }
}

function describeProblem(setting: string, problem: string, source?: SettingSource): string {
  const what = setting ? `${setting}: ${problem}` : problem;
  if (!source) return what;
  switch (source.kind) {
    case 'file':
      // Dovecot's own wording: "Error in configuration file X line N: ..."
      return `Error in configuration file ${source.file}${source.line ? ` line ${source.line}` : ''}: ${what}`;
    case 'flag':
      return source.flag === `--${setting}` ? `${source.flag}: ${problem}` : `${source.flag}: ${what}`;
    case 'env':
      return `${source.name}: ${what}`;
    case 'generated':
      return what;
  }
}

// ---------------------------------------------------------------------------------------------
// Defaults

/** Dovecot's default auth_username_chars (note the doubled 0, as in Dovecot). */
export const DOVECOT_USERNAME_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01234567890.-_@';

/** Marker Dovecot's doveconf prints in place of passwords (`doveconf -P` shows them). */
export const HIDDEN_PASSWORD = '#hidden_use-P_to_show#';

export const DEFAULT_PORT = 1143;

/** Defaults that do not depend on the vmail directory. */
export const DEFAULTS = {
  mail_location: 'maildir:~/maildir',
  first_valid_uid: 500,
  last_valid_uid: 0,
  first_valid_gid: 1,
  last_valid_gid: 0,
  auth_mechanisms: ['plain', 'login'] as AuthMechanism[], // the seed's greeting offers AUTH=PLAIN AUTH=LOGIN
  disable_plaintext_auth: true,
  auth_username_chars: DOVECOT_USERNAME_CHARS,
  auth_failure_delay: 2,
  listen: '127.0.0.1',
  port: DEFAULT_PORT,
  imap_max_line_length: 64 * 1024,
  max_literal_size: 50 * 1024 * 1024,
  mail_max_userip_connections: 10,
} as const;

/** Dovecot 2.3's own defaults: `doveconf` prints settings that differ from these. */
const DOVECOT_DEFAULTS = {
  mail_home: '',
  mail_location: '',
  first_valid_uid: 500,
  last_valid_uid: 0,
  first_valid_gid: 1,
  last_valid_gid: 0,
  auth_mechanisms: 'plain',
  disable_plaintext_auth: true,
  auth_username_chars: DOVECOT_USERNAME_CHARS,
  auth_failure_delay: 2,
  listen: '*, ::',
  port: 143,
  imap_max_line_length: 64 * 1024,
  mail_max_userip_connections: 10,
} as const;

export function defaultMailHome(vmail: string): string {
  // Forward slash on every platform: it is a template, path.resolve normalizes it later.
  // '%' in the directory name must not read as a variable.
  return vmail.replace(/[\\/]+$/, '').replace(/%/g, '%%') + '/%d/%n';
}

/** A complete, valid ServerSettings with Roost's defaults (handy for tests and the app). */
export function defaultSettings(vmail: string, password: string): ServerSettings {
  return {
    vmail,
    mail_home: defaultMailHome(vmail),
    mail_location: DEFAULTS.mail_location,
    passdb: { driver: 'static', password },
    userdb: { driver: 'static' },
    first_valid_uid: DEFAULTS.first_valid_uid,
    last_valid_uid: DEFAULTS.last_valid_uid,
    first_valid_gid: DEFAULTS.first_valid_gid,
    last_valid_gid: DEFAULTS.last_valid_gid,
    auth_mechanisms: [...DEFAULTS.auth_mechanisms],
    disable_plaintext_auth: DEFAULTS.disable_plaintext_auth,
    auth_username_chars: DEFAULTS.auth_username_chars,
    auth_failure_delay: DEFAULTS.auth_failure_delay,
    listen: DEFAULTS.listen,
    port: DEFAULTS.port,
    imap_max_line_length: DEFAULTS.imap_max_line_length,
    max_literal_size: DEFAULTS.max_literal_size,
    mail_max_userip_connections: DEFAULTS.mail_max_userip_connections,
  };
}

export interface PlatformInfo {
  env?: NodeJS.ProcessEnv;
  platform?: NodeJS.Platform;
  home?: string;
}

/**
 * Roost's per-user data directory (stored password, logs, default vmail):
 * Linux and others: $XDG_DATA_HOME/roost or ~/.local/share/roost; macOS: ~/Library/Application Support/Roost;
 * Windows: %APPDATA%\Roost.
 */
export function defaultDataDir(info: PlatformInfo = {}): string {
  const env = info.env ?? process.env;
  const platform = info.platform ?? process.platform;
  const home = info.home ?? os.homedir();
  if (platform === 'win32') {
    const appData = env.APPDATA && path.win32.isAbsolute(env.APPDATA) ? env.APPDATA : path.win32.join(home, 'AppData', 'Roaming');
    return path.win32.join(appData, 'Roost');
  }
  if (platform === 'darwin') return path.posix.join(home, 'Library', 'Application Support', 'Roost');
  // XDG: a relative XDG_DATA_HOME is invalid and must be ignored.
  const xdg = env.XDG_DATA_HOME;
  if (xdg && path.posix.isAbsolute(xdg)) return path.posix.join(xdg, 'roost');
  return path.posix.join(home, '.local', 'share', 'roost');
}

export function defaultVmailDir(info: PlatformInfo = {}): string {
  const platform = info.platform ?? process.platform;
  const p = platform === 'win32' ? path.win32 : path.posix;
  return p.join(defaultDataDir(info), 'vmail');
}

// ---------------------------------------------------------------------------------------------
// Value syntax (Dovecot's)

const SIZE_UNITS: Record<string, number> = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** Dovecot size syntax: `65536`, `64k`, `64 k`, `64 kB`, `10M`, `1 G`. Units are powers of 1024. */
export function parseSize(text: string): number | null {
  const m = /^(\d+)\s*(?:([kmgt])(?:i?b)?|(b))?$/i.exec(text.trim());
  if (!m) return null;
  const unit = (m[2] ?? m[3] ?? 'b').toLowerCase();
  const n = Number(m[1]) * SIZE_UNITS[unit];
  return Number.isSafeInteger(n) ? n : null;
}

/** Prints a size the way doveconf does: the largest unit that divides it ("64 k", "10 M"). */
export function formatSize(bytes: number): string {
  if (bytes === 0) return '0';
  for (const [unit, mult] of [['T', 1024 ** 4], ['G', 1024 ** 3], ['M', 1024 ** 2], ['k', 1024]] as const) {
    if (bytes % mult === 0) return `${bytes / mult} ${unit}`;
  }
  return `${bytes} B`;
}

const TIME_UNITS: Array<[RegExp, number]> = [
  [/^(ms|msecs?|milliseconds?)$/i, 0.001],
  [/^(s|secs?|seconds?)$/i, 1],
  [/^(m|mins?|minutes?)$/i, 60],
  [/^(h|hours?)$/i, 3600],
  [/^(d|days?)$/i, 86400],
  [/^(w|weeks?)$/i, 604800],
];

/** Dovecot time syntax in seconds: `2`, `2s`, `2 secs`, `500 ms`, `1 min`, `1 hours`, `1 weeks`. */
export function parseTime(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  if (!m) return null;
  const n = Number(m[1]);
  if (!m[2]) return n;
  for (const [re, mult] of TIME_UNITS) if (re.test(m[2])) return Math.round(n * mult * 1000) / 1000;
  return null;
}

/** Prints seconds the way doveconf does ("2 secs", "1 mins", "1 hours"). */
export function formatTime(seconds: number): string {
  if (seconds === 0) return '0';
  if (!Number.isInteger(seconds)) return `${Math.round(seconds * 1000)} msecs`;
  for (const [unit, mult] of [['weeks', 604800], ['days', 86400], ['hours', 3600], ['mins', 60]] as const) {
    if (seconds % mult === 0) return `${seconds / mult} ${unit}`;
  }
  return `${seconds} secs`;
}

/** Dovecot booleans: yes/no (also y/n, 1/0, true/false). */
export function parseBool(text: string): boolean | null {
  const t = text.trim().toLowerCase();
  if (t === 'yes' || t === 'y' || t === '1' || t === 'true') return true;
  if (t === 'no' || t === 'n' || t === '0' || t === 'false') return false;
  return null;
}

// ---------------------------------------------------------------------------------------------
// Templates (%u %n %d %h, %L lowercase / %U uppercase modifiers, %{long} names, %%)

const LONG_NAMES: Record<string, string> = { user: 'u', username: 'n', domain: 'd', home: 'h' };

interface TemplateToken { literal?: string; variable?: string; modifier?: 'L' | 'U' | '' }

function tokenizeTemplate(template: string): TemplateToken[] | string {
  const out: TemplateToken[] = [];
  let lit = '';
  for (let i = 0; i < template.length; i++) {
    const c = template[i];
    if (c !== '%') { lit += c; continue; }
    i++;
    if (i >= template.length) return "ends with a lone '%'";
    if (template[i] === '%') { lit += '%'; continue; }
    let modifier: 'L' | 'U' | '' = '';
    if (template[i] === 'L' || template[i] === 'U') { modifier = template[i] as 'L' | 'U'; i++; }
    if (i >= template.length) return "ends inside a '%' variable";
    let variable: string;
    if (template[i] === '{') {
      const end = template.indexOf('}', i);
      if (end < 0) return "has an unclosed '%{'";
      const name = template.slice(i + 1, end);
      const short = LONG_NAMES[name];
      if (!short) return `uses unknown variable %{${name}} (Roost knows %u %n %d %h, %{user} %{username} %{domain} %{home})`;
      variable = short;
      i = end;
    } else {
      variable = template[i];
      if (!'undh'.includes(variable)) return `uses unknown variable %${modifier}${variable} (Roost knows %u %n %d %h and the L/U modifiers)`;
    }
    if (lit) { out.push({ literal: lit }); lit = ''; }
    out.push({ variable, modifier });
  }
  if (lit) out.push({ literal: lit });
  return out;
}

/** Null when `template` is a valid template; else what is wrong with it. */
export function templateProblem(template: string, allowHome = false): string | null {
  const tokens = tokenizeTemplate(template);
  if (typeof tokens === 'string') return tokens;
  if (!allowHome && tokens.some((t) => t.variable === 'h')) return 'uses %h (home), which is only defined in mail_location';
  return null;
}

/** True when the template refers to the domain part (%d, %Ld, %{domain}). */
export function templateUsesDomain(template: string): boolean {
  const tokens = tokenizeTemplate(template);
  return typeof tokens !== 'string' && tokens.some((t) => t.variable === 'd');
}

/** True when the template has any variable at all. */
export function templateHasVariables(template: string): boolean {
  const tokens = tokenizeTemplate(template);
  return typeof tokens !== 'string' && tokens.some((t) => t.variable !== undefined);
}

/**
 * Expands Dovecot variables for `user`: %u = full user, %n = part before the first '@' (all of it when
 * there is no '@'), %d = part after it (empty without '@'), %h = extra.home; %L.../%U... lower/upper case;
 * %% = '%'. Throws on an unknown variable (buildSettings validates templates, so that means a bug).
 */
export function expandTemplate(template: string, user: string, extra: { home?: string } = {}): string {
  const tokens = tokenizeTemplate(template);
  if (typeof tokens === 'string') throw new Error(`template ${JSON.stringify(template)} ${tokens}`);
  const at = user.indexOf('@');
  const values: Record<string, string | undefined> = {
    u: user,
    n: at < 0 ? user : user.slice(0, at),
    d: at < 0 ? '' : user.slice(at + 1),
    h: extra.home,
  };
  let out = '';
  for (const t of tokens) {
    if (t.literal !== undefined) { out += t.literal; continue; }
    const v = values[t.variable ?? ''];
    if (v === undefined) throw new Error(`template ${JSON.stringify(template)}: %${t.variable} has no value here`);
    out += t.modifier === 'L' ? v.toLowerCase() : t.modifier === 'U' ? v.toUpperCase() : v;
  }
  return out;
}

/**
 * The fixed directory a template starts with: everything up to the last path separator before the first
 * variable ('/var/vmail/%d/%n' -> '/var/vmail'). A template without variables is its own prefix.
 */
export function templateStaticPrefix(template: string): string {
  const tokens = tokenizeTemplate(template);
  if (typeof tokens === 'string') return template;
  if (!tokens.some((t) => t.variable !== undefined)) return tokens.map((t) => t.literal ?? '').join('');
  const lead = tokens[0].literal ?? '';
  const cut = Math.max(lead.lastIndexOf('/'), lead.lastIndexOf('\\'));
  return cut <= 0 ? lead.slice(0, cut + 1) : lead.slice(0, cut);
}

/** Parses mail_location 'maildir:PATH'. Roost supports only the maildir driver without options. */
export function parseMailLocation(location: string): { driver: 'maildir'; path: string } | string {
  const m = /^([a-z0-9]+):(.*)$/i.exec(location);
  if (!m) return `expected maildir:PATH, e.g. maildir:~/maildir (got '${location}')`;
  if (m[1].toLowerCase() !== 'maildir') return `only the maildir driver is supported (got '${m[1]}:')`;
  const rest = m[2];
  // Dovecot separates options with ':' (maildir:~/Maildir:LAYOUT=fs). Drive letters (C:\...) are not options.
  const opt = /:([A-Z_]+)=/.exec(rest);
  if (opt) return `maildir option ${opt[1]}= is not supported (Roost uses Dovecot's default Maildir++ layout)`;
  if (!rest) return 'maildir: needs a path, e.g. maildir:~/maildir';
  return { driver: 'maildir', path: rest };
}

// ---------------------------------------------------------------------------------------------
// Users and groups (userdb static uid=/gid= may name them)

export interface IdFiles {
  passwdFile?: string;
  groupFile?: string;
}

function lookupIdByName(file: string, name: string, field: number): number | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const parts = line.split(':');
    if (parts[0] === name && parts.length > field && /^\d+$/.test(parts[field])) return Number(parts[field]);
  }
  return undefined;
}

/** Resolves a uid/gid given as a number or a name (via /etc/passwd, /etc/group). Returns a problem string on failure. */
export function resolveId(kind: 'uid' | 'gid', value: string | number, files: IdFiles = {}): number | string {
  if (typeof value === 'number') {
    return Number.isInteger(value) && value >= 0 && value <= 0xffffffff ? value : `Invalid ${kind.toUpperCase()} value '${value}'`;
  }
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v);
  if (!v) return `Invalid ${kind.toUpperCase()} value ''`;
  const file = kind === 'uid' ? files.passwdFile ?? '/etc/passwd' : files.groupFile ?? '/etc/group';
  const id = lookupIdByName(file, v, 2);
  // Dovecot: "Invalid UID value 'nosuchuser'"
  return id ?? `Invalid ${kind.toUpperCase()} value '${v}' (no such ${kind === 'uid' ? 'user' : 'group'} in ${file})`;
}

/**
 * Dovecot's check of the userdb uid/gid against first/last_valid_uid/gid, in Dovecot's words; null when allowed.
 * (Dovecot names first_valid_uid even when last_valid_uid refused; Roost names the one that did.)
 */
export function uidGidProblem(
  s: Pick<ServerSettings, 'first_valid_uid' | 'last_valid_uid' | 'first_valid_gid' | 'last_valid_gid'>,
  uid: number | undefined,
  gid: number | undefined,
): string | null {
  if (uid !== undefined) {
    // Root is refused whatever first_valid_uid says (hardcoded in Dovecot too).
    if (uid === 0) return 'Invalid settings in userdb: userdb returned 0 as uid';
    if (uid < s.first_valid_uid) return `Mail access for users with UID ${uid} not permitted (see first_valid_uid in config file, uid from userdb lookup).`;
    if (s.last_valid_uid !== 0 && uid > s.last_valid_uid) return `Mail access for users with UID ${uid} not permitted (see last_valid_uid in config file, uid from userdb lookup).`;
  }
  if (gid !== undefined) {
    if (gid < s.first_valid_gid) return `Mail access for users with GID ${gid} not permitted (see first_valid_gid in config file, gid from userdb lookup).`;
    if (s.last_valid_gid !== 0 && gid > s.last_valid_gid) return `Mail access for users with GID ${gid} not permitted (see last_valid_gid in config file, gid from userdb lookup).`;
  }
  return null;
}

export interface OwnerContext {
  /** process.getuid() by default (undefined on Windows). */
  processUid?: number;
  /** fs.statSync by default. */
  stat?: (p: string) => { uid: number; gid: number };
}

/**
 * Who should own the files and directories Roost creates, as numeric ids for chown; undefined = leave them
 * to the process's own uid/gid (no chown).
 *  - userdb uid=/gid= configured: those.
 *  - not configured and running as root: the owner of the vmail base directory, so a root-run Roost does
 *    not leave root-owned files that Postfix (running as the vmail owner) cannot write next to.
 *  - not configured and not root: undefined: files belong to the user running Roost.
 * Throws SettingsError('userdb') when a configured owner cannot be used (not root and not our own ids).
 */
export function fileOwner(settings: ServerSettings, ctx: OwnerContext = {}): { uid?: number; gid?: number } {
  const processUid = 'processUid' in ctx ? ctx.processUid : typeof process.getuid === 'function' ? process.getuid() : undefined;
  let { uid, gid } = settings.userdb;
  if (processUid === undefined) return {}; // Windows: no ownership to manage
  if (processUid !== 0) {
    if (uid !== undefined && uid !== processUid) {
      throw new SettingsError('userdb', `uid=${settings.userdb.uidName ?? uid} needs root to own files as UID ${uid}, but Roost runs as UID ${processUid} (remove uid/gid from userdb args, or run Roost as root)`);
    }
    if (gid !== undefined) {
      const groups = typeof process.getgroups === 'function' ? process.getgroups() : [];
      if (gid !== process.getegid?.() && !groups.includes(gid)) {
        throw new SettingsError('userdb', `gid=${settings.userdb.gidName ?? gid} is not a group of the user running Roost (UID ${processUid}); remove it or run Roost as root`);
      }
    }
    // A non-root process cannot give files away, but may hand them to one of its own groups.
    const egid = typeof process.getegid === 'function' ? process.getegid() : undefined;
    return { gid: gid === egid ? undefined : gid };
  }
  if (uid === undefined || gid === undefined) {
    try {
      const st = (ctx.stat ?? fs.statSync)(settings.vmail);
      if (uid === undefined && st.uid !== 0) uid = st.uid;
      if (gid === undefined && st.gid !== 0) gid = st.gid;
    } catch {
      // vmail does not exist yet: whoever creates it (root) owns it.
    }
  }
  return { uid, gid };
}

// ---------------------------------------------------------------------------------------------
// Raw settings: what the config file, JSON and flags say, before validation

export type RawValue = string | number | boolean | null | RawValue[] | { [key: string]: RawValue };
export interface RawEntry { value: RawValue; source?: SettingSource }
/**
 * Keys are canonical: top-level setting names, 'port', and 'passdb.driver', 'passdb.password',
 * 'userdb.driver', 'userdb.uid', 'userdb.gid', 'userdb.home', 'userdb.mail'.
 */
export type RawSettings = Record<string, RawEntry>;

/** Top-level settings accepted in Dovecot-style files, JSON and `-o key=value`. */
const TOP_LEVEL = [
  'vmail', 'mail_home', 'mail_location', 'first_valid_uid', 'last_valid_uid', 'first_valid_gid', 'last_valid_gid',
  'auth_mechanisms', 'disable_plaintext_auth', 'auth_allow_cleartext', 'auth_username_chars', 'auth_failure_delay',
  'listen', 'imap_max_line_length', 'max_literal_size', 'mail_max_userip_connections', 'cache_dir',
  // Accepted for compatibility with Dovecot files; validated, no effect beyond that.
  'protocols', 'ssl',
] as const;
type TopLevelKey = (typeof TOP_LEVEL)[number];

const KNOWN_NAMES_FOR_SUGGESTIONS = [
  ...TOP_LEVEL, 'port', 'passdb', 'userdb', 'service', 'password', 'driver', 'args', 'inet_listener', 'address',
];

/** Levenshtein distance, for "did you mean". */
function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length];
}

/** The closest known name to `name`, if any is close enough to be a plausible typo. */
export function suggestSetting(name: string, candidates: readonly string[] = KNOWN_NAMES_FOR_SUGGESTIONS): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  const lower = name.toLowerCase();
  for (const c of candidates) {
    const d = editDistance(lower, c);
    if (d < bestD) { bestD = d; best = c; }
  }
  // Substring matches ("password" for "passdb password", "max_line" for imap_max_line_length) count too.
  if (bestD > Math.max(2, Math.floor(name.length / 3))) {
    const sub = candidates.find((c) => lower.length >= 4 && (c.includes(lower) || lower.includes(c)));
    return sub;
  }
  return best;
}

function unknownSetting(name: string, source: SettingSource | undefined, candidates?: readonly string[], hint?: string): SettingsError {
  const special: Record<string, string> = {
    port: 'service imap-login { inet_listener imap { port = N } }',
    password: 'passdb { driver = static  args = password=... }',
    uid: 'userdb { driver = static  args = uid=... gid=... }',
    gid: 'userdb { driver = static  args = uid=... gid=... }',
  };
  const suggestion = hint ?? special[name] ?? suggestSetting(name, candidates);
  return new SettingsError(name, `Unknown setting${suggestion ? ` (did you mean ${suggestion}?)` : ''}`, source, 'SETTINGS_UNKNOWN');
}

/** Splits static passdb args ("password=secret") into canonical raw entries. */
function parsePassdbArgs(args: string, source: SettingSource | undefined, out: RawSettings): void {
  const text = args.trim();
  // password= is the only arg Roost knows, so when it comes first it takes the rest of the line:
  // that lets a password contain spaces (`args = "password=correct horse battery staple"`).
  if (text.startsWith('password=')) {
    const value = text.slice('password='.length);
    const extra = /\s([a-z_]+)=/.exec(value);
    if (extra) {
      throw new SettingsError('passdb', `Unknown static passdb arg '${extra[1]}' (Roost supports password= only; a password containing " ${extra[1]}=" cannot be written here)`, source, 'SETTINGS_UNKNOWN');
    }
    out['passdb.password'] = { value, source };
    return;
  }
  for (const word of text.split(/\s+/).filter(Boolean)) {
    const eq = word.indexOf('=');
    const key = eq < 0 ? word : word.slice(0, eq);
    const value = eq < 0 ? '' : word.slice(eq + 1);
    if (key === 'password') out['passdb.password'] = { value, source };
    else throw new SettingsError('passdb', `Unknown static passdb arg '${key}' (Roost supports password=)`, source, 'SETTINGS_UNKNOWN');
  }
}

/** Splits static userdb args ("uid=vmail gid=vmail home=/var/vmail/%d/%n") into canonical raw entries. */
function parseUserdbArgs(args: string, source: SettingSource | undefined, out: RawSettings): void {
  for (const word of args.trim().split(/\s+/).filter(Boolean)) {
    const eq = word.indexOf('=');
    const key = eq < 0 ? word : word.slice(0, eq);
    const value = eq < 0 ? '' : word.slice(eq + 1);
    if (key === 'uid' || key === 'gid' || key === 'home' || key === 'mail') out[`userdb.${key}`] = { value, source };
    else throw new SettingsError('userdb', `Unknown static userdb arg '${key}' (Roost supports uid= gid= home= mail=)`, source, 'SETTINGS_UNKNOWN');
  }
}

// ---------------------------------------------------------------------------------------------
// Dovecot-style config subset

interface ConfLine { line: number; text: string }

/** Removes a comment: '#' outside quotes starts one, as in Dovecot. */
function stripComment(text: string, source: SettingSource): string {
  let quote = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = '';
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === '#') {
      // Dovecot warns and cuts here; a '#' glued to a value is usually part of a password, so refuse instead.
      if (i > 0 && !/\s/.test(text[i - 1])) {
        throw new SettingsError('', "Ambiguous '#' character in line: quote the value (\"...\") if '#' belongs to it, or put a space before the comment", source, 'SETTINGS_SYNTAX');
      }
      return text.slice(0, i);
    }
  }
  return text;
}

function unquote(value: string): string {
  const v = value.trim();
  if (v.length >= 2 && (v[0] === '"' || v[0] === "'") && v[v.length - 1] === v[0]) {
    return v.slice(1, -1).replace(/\\(.)/g, '$1');
  }
  return v;
}

type Section = 'root' | 'passdb' | 'userdb' | 'service imap-login' | 'inet_listener imap' | 'inet_listener imaps';

/** Parses a Dovecot-style configuration text (the subset described at the top of this file). */
export function parseDovecotConfig(text: string, file: string): RawSettings {
  const out: RawSettings = {};
  const stack: Section[] = ['root'];
  const seen = new Set<string>();
  const lines: ConfLine[] = text.split(/\r?\n/).map((t, i) => ({ line: i + 1, text: t }));
  for (const { line, text: rawLine } of lines) {
    const source: SettingSource = { kind: 'file', file, line };
    if (rawLine.includes(`password=${HIDDEN_PASSWORD}`)) {
      throw new SettingsError('passdb', 'the password is the masked placeholder from doveconf output; use `doveconf -P` output or set the real password', source);
    }
    const rest = stripComment(rawLine, source).trim();
    // Dovecot's line forms: "key = value", "name [label] {", and "}" alone on its line.
    if (!rest) continue;
    if (rest === '}') {
      if (stack.length === 1) throw new SettingsError('', "Unexpected '}'", source, 'SETTINGS_SYNTAX');
      stack.pop();
      continue;
    }
    if (rest.startsWith('!include')) {
      throw new SettingsError('', '!include is not supported: put the settings Roost needs into this one file', source, 'SETTINGS_SYNTAX');
    }
    const kv = /^([A-Za-z_][\w-]*)\s*=\s*(.*)$/.exec(rest);
    if (kv) {
      assignSetting(stack[stack.length - 1], kv[1], unquote(kv[2]), source, out);
      continue;
    }
    const open = /^([A-Za-z_][\w-]*)(?:\s+("[^"]*"|[^\s{]+))?\s*\{$/.exec(rest);
    if (open) {
      stack.push(enterSection(stack[stack.length - 1], open[1], open[2] ? unquote(open[2]) : '', source, seen));
      continue;
    }
    throw new SettingsError('', rest.includes('{') || rest.includes('}') ? "Expecting '=' (a section's '{' ends its line and '}' stands on a line of its own)" : "Expecting '='", source, 'SETTINGS_SYNTAX');
  }
  if (stack.length > 1) {
    throw new SettingsError('', `Missing '}' (section ${stack[stack.length - 1]} is not closed)`, { kind: 'file', file, line: lines.length }, 'SETTINGS_SYNTAX');
  }
  return out;
}

function enterSection(parent: Section, name: string, label: string, source: SettingSource, seen: Set<string>): Section {
  const full = label ? `${name} ${label}` : name;
  let section: Section | undefined;
  if (parent === 'root') {
    if ((name === 'passdb' || name === 'userdb') && !label) section = name;
    else if (name === 'service' && label === 'imap-login') section = 'service imap-login';
    else if (name === 'service') {
      throw new SettingsError(full, `Unknown section: Roost only has service imap-login`, source, 'SETTINGS_UNKNOWN');
    }
  } else if (parent === 'service imap-login' && name === 'inet_listener') {
    if (label === 'imap') section = 'inet_listener imap';
    else if (label === 'imaps') section = 'inet_listener imaps';
  }
  if (!section) {
    const where = parent === 'root' ? '' : ` inside ${parent}`;
    const suggestion = suggestSetting(name, ['passdb', 'userdb', 'service', 'inet_listener']);
    throw new SettingsError(full, `Unknown section${where}${suggestion && suggestion !== name ? ` (did you mean ${suggestion}?)` : ''}`, source, 'SETTINGS_UNKNOWN');
  }
  if (section === 'passdb' || section === 'userdb') {
    if (seen.has(section)) throw new SettingsError(section, `Roost supports one ${section} (a second one starts here)`, source);
    seen.add(section);
  }
  return section;
}

function assignSetting(section: Section, key: string, value: string, source: SettingSource, out: RawSettings): void {
  switch (section) {
    case 'root':
      if ((TOP_LEVEL as readonly string[]).includes(key)) { out[key] = { value, source }; return; }
      throw unknownSetting(key, source, TOP_LEVEL);
    case 'passdb':
      if (key === 'driver') { out['passdb.driver'] = { value, source }; return; }
      if (key === 'args') { parsePassdbArgs(value, source, out); return; }
      throw unknownSetting(`passdb { ${key} }`, source, undefined, 'driver or args');
    case 'userdb':
      if (key === 'driver') { out['userdb.driver'] = { value, source }; return; }
      if (key === 'args') { parseUserdbArgs(value, source, out); return; }
      throw unknownSetting(`userdb { ${key} }`, source, undefined, 'driver or args');
    case 'service imap-login':
      throw unknownSetting(`service imap-login { ${key} }`, source, undefined, 'inet_listener imap { port = N }');
    case 'inet_listener imap':
      if (key === 'port') {
        // In Dovecot port = 0 disables the listener; Roost has only this one, so that cannot be meant.
        if (value.trim() === '0') throw new SettingsError('port', 'port = 0 would disable the only IMAP listener', source);
        out.port = { value, source };
        return;
      }
      if (key === 'address') { out.listen = { value, source }; return; }
      throw unknownSetting(`inet_listener imap { ${key} }`, source, undefined, 'port or address');
    case 'inet_listener imaps':
      if (key === 'port' && /^\s*0?\s*$/.test(value)) return;
      if (key === 'ssl' && parseBool(value) === false) return;
      if (key === 'port' || key === 'ssl') {
        throw new SettingsError('service imap-login { inet_listener imaps }', 'Roost does not support TLS (imaps) yet: set port = 0 or remove the listener', source);
      }
      throw unknownSetting(`inet_listener imaps { ${key} }`, source, undefined, 'port');
  }
}

// ---------------------------------------------------------------------------------------------
// JSON config

function isObject(v: unknown): v is { [key: string]: RawValue } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses a JSON config (see the top of this file). */
export function parseJsonConfig(text: string, file: string): RawSettings {
  const source: SettingSource = { kind: 'file', file };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new SettingsError('', `Invalid JSON: ${(e as Error).message}`, source, 'SETTINGS_SYNTAX');
  }
  if (!isObject(doc)) throw new SettingsError('', 'Invalid JSON: expected an object of settings', source, 'SETTINGS_SYNTAX');
  const out: RawSettings = {};
  for (const [key, value] of Object.entries(doc)) {
    if (key === '$schema' || key === '//') continue;
    if ((TOP_LEVEL as readonly string[]).includes(key) || key === 'port') {
      out[key] = { value, source };
    } else if (key === 'passdb' || key === 'userdb') {
      if (!isObject(value)) throw new SettingsError(key, 'expected an object like {"driver": "static", ...}', source);
      for (const [sub, v] of Object.entries(value)) {
        const known = key === 'passdb' ? ['driver', 'args', 'password'] : ['driver', 'args', 'uid', 'gid', 'home', 'mail'];
        if (!known.includes(sub)) throw unknownSetting(`${key}.${sub}`, source, known.map((k) => `${key}.${k}`));
        if (sub === 'args') {
          if (typeof v !== 'string') throw new SettingsError(`${key}.args`, 'expected a string like "password=..."', source);
          if (key === 'passdb') parsePassdbArgs(v, source, out);
          else parseUserdbArgs(v, source, out);
        } else {
          out[`${key}.${sub}`] = { value: v, source };
        }
      }
    } else {
      throw unknownSetting(key, source, [...TOP_LEVEL, 'port', 'passdb', 'userdb']);
    }
  }
  return out;
}

/** Reads a config file: JSON when the name ends in .json, Dovecot syntax otherwise. */
export function loadConfigFile(file: string): RawSettings {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'No such file or directory' : err.code === 'EACCES' ? 'Permission denied' : err.message;
    throw new SettingsError('config', `Can't read configuration file ${file}: ${why}`, undefined, 'SETTINGS_FILE');
  }
  return file.toLowerCase().endsWith('.json') ? parseJsonConfig(text, file) : parseDovecotConfig(text, file);
}

/**
 * Reads `key=value` overrides (`-o key=value` on the command line, Dovecot's `dovecot -o`).
 * Accepts the top-level names, `port`, `passdb.password`/`password`, and userdb's `uid`/`gid`.
 */
export function parseOverride(text: string, source: SettingSource, out: RawSettings): void {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new SettingsError('', `expected key=value (got '${text}')`, source, 'SETTINGS_SYNTAX');
  const key = text.slice(0, eq).trim();
  const value = text.slice(eq + 1);
  const aliases: Record<string, string> = {
    password: 'passdb.password', 'passdb.password': 'passdb.password',
    uid: 'userdb.uid', gid: 'userdb.gid', 'userdb.uid': 'userdb.uid', 'userdb.gid': 'userdb.gid',
  };
  if ((TOP_LEVEL as readonly string[]).includes(key) || key === 'port') out[key] = { value, source };
  else if (aliases[key]) out[aliases[key]] = { value, source };
  else throw unknownSetting(key, source, [...TOP_LEVEL, 'port', ...Object.keys(aliases)]);
}

// ---------------------------------------------------------------------------------------------
// Validation: raw -> ServerSettings

export interface BuildOptions extends IdFiles {
  /** vmail when neither vmail nor mail_home is given. Default: defaultVmailDir(). */
  defaultVmail?: string;
}

function asText(setting: string, entry: RawEntry): string {
  const v = entry.value;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new SettingsError(setting, `expected a single value, got ${JSON.stringify(v)}`, entry.source);
}

function uintSetting(setting: string, entry: RawEntry, max = 0xffffffff): number {
  const v = entry.value;
  if (typeof v === 'number') {
    if (Number.isInteger(v) && v >= 0 && v <= max) return v;
    throw new SettingsError(setting, `Invalid number ${v}: ${v < 0 ? 'Number too small' : v > max ? 'Number too large' : 'Not a valid number'}`, entry.source);
  }
  const t = asText(setting, entry).trim();
  if (/^-\d+$/.test(t)) throw new SettingsError(setting, `Invalid number ${t}: Number too small`, entry.source);
  if (!/^\d+$/.test(t)) throw new SettingsError(setting, `Invalid number ${t}: Not a valid number`, entry.source);
  const n = Number(t);
  if (n > max) throw new SettingsError(setting, `Invalid number ${t}: Number too large`, entry.source);
  return n;
}

function boolSetting(setting: string, entry: RawEntry): boolean {
  if (typeof entry.value === 'boolean') return entry.value;
  const t = asText(setting, entry);
  const b = parseBool(t);
  if (b === null) throw new SettingsError(setting, `Invalid boolean value: ${t} (use yes or no)`, entry.source);
  return b;
}

function sizeSetting(setting: string, entry: RawEntry, min: number): number {
  const n = typeof entry.value === 'number' ? entry.value : parseSize(asText(setting, entry));
  if (n === null || !Number.isSafeInteger(n) || n < 0) throw new SettingsError(setting, `Invalid size: ${asText(setting, entry)}`, entry.source);
  if (n < min) throw new SettingsError(setting, `${formatSize(n)} is too small (at least ${formatSize(min)})`, entry.source);
  return n;
}

function timeSetting(setting: string, entry: RawEntry, max: number): number {
  const n = typeof entry.value === 'number' ? entry.value : parseTime(asText(setting, entry));
  if (n === null || !Number.isFinite(n) || n < 0) throw new SettingsError(setting, `Invalid time interval: ${asText(setting, entry)}`, entry.source);
  if (n > max) throw new SettingsError(setting, `${formatTime(n)} is too long (at most ${formatTime(max)})`, entry.source);
  return n;
}

function mechanismsSetting(entry: RawEntry): AuthMechanism[] {
  const list = Array.isArray(entry.value)
    ? entry.value.map((v) => String(v))
    : asText('auth_mechanisms', entry).split(/[\s,]+/);
  const out: AuthMechanism[] = [];
  for (const raw of list.filter(Boolean)) {
    const m = raw.toLowerCase();
    if (m !== 'plain' && m !== 'login') {
      throw new SettingsError('auth_mechanisms', `Unknown authentication mechanism '${raw}' (Roost supports plain and login)`, entry.source);
    }
    if (!out.includes(m)) out.push(m);
  }
  if (!out.length) throw new SettingsError('auth_mechanisms', 'No authentication mechanisms configured (use plain, login or both)', entry.source);
  return out;
}

function listenSetting(entry: RawEntry): string {
  const t = asText('listen', entry).trim();
  if (t.includes(',')) {
    throw new SettingsError('listen', `Roost listens on one address (got '${t}'): use * for all IPv4 addresses, :: for all IPv4 and IPv6 addresses, or one address`, entry.source);
  }
  if (t === '*') return '0.0.0.0';
  const bare = t.startsWith('[') && t.endsWith(']') ? t.slice(1, -1) : t;
  if (net.isIP(bare)) return bare;
  // Dovecot accepts host names too; keep to plain DNS labels.
  if (/^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(bare)) return bare;
  throw new SettingsError('listen', `Invalid address '${t}' (use an IP address such as 127.0.0.1, *, or ::)`, entry.source);
}

function absolutePathProblem(p: string): string | null {
  if (!p) return 'must not be empty';
  if (p.includes('\0')) return 'must not contain NUL';
  if (!path.isAbsolute(p)) return `must be an absolute path (got '${p}')`;
  return null;
}

/** Validates raw settings (later layers already merged over earlier ones) into a ServerSettings. */
export function buildSettings(raw: RawSettings, opts: BuildOptions = {}): ServerSettings {
  const get = (k: string): RawEntry | undefined => raw[k];
  for (const key of Object.keys(raw)) {
    const known = (TOP_LEVEL as readonly string[]).includes(key) || key === 'port'
      || ['passdb.driver', 'passdb.password', 'userdb.driver', 'userdb.uid', 'userdb.gid', 'userdb.home', 'userdb.mail'].includes(key);
    if (!known) throw unknownSetting(key, raw[key].source);
  }

  // mail_home: userdb home= wins over mail_home (Dovecot uses mail_home only when userdb has no home).
  const homeEntry = get('userdb.home') ?? get('mail_home');
  const homeSetting = get('userdb.home') ? 'userdb' : 'mail_home';
  let vmail: string;
  let mailHome: string;
  const vmailEntry = get('vmail');
  if (vmailEntry) {
    vmail = asText('vmail', vmailEntry).trim();
    const problem = absolutePathProblem(vmail);
    if (problem) throw new SettingsError('vmail', problem, vmailEntry.source);
    vmail = path.resolve(vmail);
  }
  if (homeEntry) {
    mailHome = asText(homeSetting, homeEntry).trim();
    const problem = templateProblem(mailHome) ?? absolutePathProblem(mailHome);
    if (problem) throw new SettingsError(homeSetting, `${homeSetting === 'userdb' ? 'home ' : ''}${problem}`, homeEntry.source);
    // A Dovecot config has no vmail: the fixed part of mail_home is the base all users live under.
    vmail ??= path.resolve(templateStaticPrefix(mailHome));
  } else {
    vmail ??= path.resolve(opts.defaultVmail ?? defaultVmailDir());
    mailHome = defaultMailHome(vmail);
  }

  const locEntry = get('userdb.mail') ?? get('mail_location');
  const locSetting = get('userdb.mail') ? 'userdb' : 'mail_location';
  const mailLocation = locEntry ? asText(locSetting, locEntry).trim() : DEFAULTS.mail_location;
  if (locEntry) {
    const loc = parseMailLocation(mailLocation);
    if (typeof loc === 'string') throw new SettingsError(locSetting, loc, locEntry.source);
    const problem = templateProblem(loc.path, true);
    if (problem) throw new SettingsError(locSetting, problem, locEntry.source);
    if (!/^(~|%h|%\{home\})/.test(loc.path) && absolutePathProblem(loc.path)) {
      throw new SettingsError(locSetting, `the maildir path must start with ~/ or %h/ (the home) or be absolute (got '${loc.path}')`, locEntry.source);
    }
  }

  // passdb
  const pdDriver = get('passdb.driver');
  if (pdDriver && asText('passdb', pdDriver).trim() !== 'static') {
    throw new SettingsError('passdb', `Unknown passdb driver '${asText('passdb', pdDriver).trim()}' (Roost supports driver = static)`, pdDriver.source);
  }
  const pwEntry = get('passdb.password');
  if (!pwEntry) throw new SettingsError('passdb', 'no password: set passdb { driver = static  args = password=... } or --password', undefined, 'SETTINGS_MISSING');
  let password = asText('passdb', pwEntry);
  const scheme = /^\{([A-Za-z0-9._-]+)\}/.exec(password);
  if (scheme) {
    if (!['PLAIN', 'CLEARTEXT', 'CLEAR'].includes(scheme[1].toUpperCase())) {
      throw new SettingsError('passdb', `password scheme {${scheme[1]}} is not supported yet (use a plaintext password or {PLAIN})`, pwEntry.source);
    }
    password = password.slice(scheme[0].length);
  }
  if (password === HIDDEN_PASSWORD) {
    throw new SettingsError('passdb', 'the password is the masked placeholder from doveconf output; use `doveconf -P` output or set the real password', pwEntry.source);
  }
  if (!password) throw new SettingsError('passdb', 'password must not be empty', pwEntry.source);
  if (/[\0\r\n]/.test(password)) throw new SettingsError('passdb', 'password must not contain NUL, CR or LF', pwEntry.source);

  // userdb
  const udDriver = get('userdb.driver');
  if (udDriver && asText('userdb', udDriver).trim() !== 'static') {
    throw new SettingsError('userdb', `Unknown userdb driver '${asText('userdb', udDriver).trim()}' (Roost supports driver = static)`, udDriver.source);
  }
  const userdb: ServerSettings['userdb'] = { driver: 'static' };
  for (const kind of ['uid', 'gid'] as const) {
    const e = get(`userdb.${kind}`);
    if (!e) continue;
    const v = typeof e.value === 'number' ? e.value : asText('userdb', e);
    const id = resolveId(kind, v, opts);
    if (typeof id === 'string') throw new SettingsError('userdb', id, e.source);
    userdb[kind] = id;
    if (typeof v === 'string' && !/^\s*\d+\s*$/.test(v)) userdb[kind === 'uid' ? 'uidName' : 'gidName'] = v.trim();
  }

  const num = (k: TopLevelKey, def: number, max?: number): number => {
    const e = get(k);
    return e ? uintSetting(k, e, max) : def;
  };
  const settings: ServerSettings = {
    vmail,
    mail_home: mailHome,
    mail_location: mailLocation,
    passdb: { driver: 'static', password },
    userdb,
    first_valid_uid: num('first_valid_uid', DEFAULTS.first_valid_uid),
    last_valid_uid: num('last_valid_uid', DEFAULTS.last_valid_uid),
    first_valid_gid: num('first_valid_gid', DEFAULTS.first_valid_gid),
    last_valid_gid: num('last_valid_gid', DEFAULTS.last_valid_gid),
    auth_mechanisms: get('auth_mechanisms') ? mechanismsSetting(raw.auth_mechanisms) : [...DEFAULTS.auth_mechanisms],
    disable_plaintext_auth: DEFAULTS.disable_plaintext_auth,
    auth_username_chars: get('auth_username_chars') ? asText('auth_username_chars', raw.auth_username_chars) : DEFAULTS.auth_username_chars,
    auth_failure_delay: get('auth_failure_delay') ? timeSetting('auth_failure_delay', raw.auth_failure_delay, 60) : DEFAULTS.auth_failure_delay,
    listen: get('listen') ? listenSetting(raw.listen) : DEFAULTS.listen,
    port: DEFAULTS.port,
    imap_max_line_length: get('imap_max_line_length') ? sizeSetting('imap_max_line_length', raw.imap_max_line_length, 1024) : DEFAULTS.imap_max_line_length,
    max_literal_size: get('max_literal_size') ? sizeSetting('max_literal_size', raw.max_literal_size, 1024) : DEFAULTS.max_literal_size,
    mail_max_userip_connections: num('mail_max_userip_connections', DEFAULTS.mail_max_userip_connections),
  };
  if (get('disable_plaintext_auth') && get('auth_allow_cleartext')) {
    throw new SettingsError('auth_allow_cleartext', 'set either disable_plaintext_auth (Dovecot 2.3) or auth_allow_cleartext (2.4), not both', raw.auth_allow_cleartext.source);
  }
  if (get('disable_plaintext_auth')) settings.disable_plaintext_auth = boolSetting('disable_plaintext_auth', raw.disable_plaintext_auth);
  if (get('auth_allow_cleartext')) settings.disable_plaintext_auth = !boolSetting('auth_allow_cleartext', raw.auth_allow_cleartext);
  const portEntry = get('port');
  if (portEntry) {
    const t = typeof portEntry.value === 'number' ? String(portEntry.value) : asText('port', portEntry).trim();
    // Port 0 = any free port (tests, "just start it"): Roost reports the real one when listening.
    if (!/^\d+$/.test(t) || Number(t) > 65535) throw new SettingsError('port', `Invalid port number ${t} (use 1-65535)`, portEntry.source);
    settings.port = Number(t);
  }
  const cacheEntry = get('cache_dir');
  if (cacheEntry) {
    const c = asText('cache_dir', cacheEntry).trim();
    const problem = absolutePathProblem(c);
    if (problem) throw new SettingsError('cache_dir', problem, cacheEntry.source);
    settings.cache_dir = path.resolve(c);
  }
  const chars = settings.auth_username_chars;
  if (/[\0\r\n]/.test(chars)) throw new SettingsError('auth_username_chars', 'must not contain NUL, CR or LF', raw.auth_username_chars.source);
  const protocols = get('protocols');
  if (protocols && !asText('protocols', protocols).split(/[\s,]+/).includes('imap')) {
    throw new SettingsError('protocols', `Roost only speaks imap (got '${asText('protocols', protocols).trim()}')`, protocols.source);
  }
  const ssl = get('ssl');
  if (ssl && boolSetting('ssl', ssl)) throw new SettingsError('ssl', 'Roost does not support TLS yet: use ssl = no', ssl.source);

  const idProblem = uidGidProblem(settings, userdb.uid, userdb.gid);
  if (idProblem) throw new SettingsError('userdb', idProblem, get('userdb.uid')?.source ?? get('userdb.gid')?.source);
  return settings;
}

/** Merges raw layers: later layers win (defaults < config file < flags). */
export function mergeRaw(...layers: RawSettings[]): RawSettings {
  const out: RawSettings = {};
  for (const layer of layers) {
    // `userdb home=` and `mail_home` describe the same thing; the later layer's choice wins.
    if (layer.mail_home) delete out['userdb.home'];
    if (layer['userdb.home']) delete out.mail_home;
    if (layer.mail_location) delete out['userdb.mail'];
    if (layer['userdb.mail']) delete out.mail_location;
    if (layer.disable_plaintext_auth) delete out.auth_allow_cleartext;
    if (layer.auth_allow_cleartext) delete out.disable_plaintext_auth;
    Object.assign(out, layer);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// doveconf -n

export interface DoveconfOptions {
  /** Print the passdb password instead of Dovecot's mask (doveconf -P). */
  showPassword?: boolean;
  /** Lines printed first, each prefixed with '# '. */
  header?: string[];
}

/**
 * The effective settings that differ from Dovecot's defaults, in Dovecot's names and block syntax and in
 * doveconf's order (alphabetical, sections at their name's place), so the output can be handed to Dovecot.
 * Roost-only settings that differ from Roost's defaults follow at the end, under a comment.
 * The password is masked like doveconf does unless showPassword.
 */
export function doveconf(settings: ServerSettings, opts: DoveconfOptions = {}): string {
  const entries: Array<[string, string[]]> = [];
  const line = (key: string, value: string): void => { entries.push([key, [`${key} = ${value}`]]); };
  if (settings.auth_failure_delay !== DOVECOT_DEFAULTS.auth_failure_delay) line('auth_failure_delay', formatTime(settings.auth_failure_delay));
  const mechs = settings.auth_mechanisms.join(' ');
  // Roost's default (plain login) differs from Dovecot's (plain): print it whenever it differs
  // from either, so the output reads back the same in both.
  if (mechs !== DOVECOT_DEFAULTS.auth_mechanisms || mechs !== DEFAULTS.auth_mechanisms.join(' ')) line('auth_mechanisms', mechs);
  if (settings.auth_username_chars !== DOVECOT_DEFAULTS.auth_username_chars) line('auth_username_chars', quoteIfNeeded(settings.auth_username_chars));
  if (settings.disable_plaintext_auth !== DOVECOT_DEFAULTS.disable_plaintext_auth) line('disable_plaintext_auth', settings.disable_plaintext_auth ? 'yes' : 'no');
  for (const k of ['first_valid_gid', 'first_valid_uid'] as const) if (settings[k] !== DOVECOT_DEFAULTS[k]) line(k, String(settings[k]));
  if (settings.imap_max_line_length !== DOVECOT_DEFAULTS.imap_max_line_length) line('imap_max_line_length', formatSize(settings.imap_max_line_length));
  for (const k of ['last_valid_gid', 'last_valid_uid'] as const) if (settings[k] !== DOVECOT_DEFAULTS[k]) line(k, String(settings[k]));
  if (settings.listen !== DOVECOT_DEFAULTS.listen) line('listen', settings.listen);
  line('mail_home', quoteIfNeeded(settings.mail_home));
  if (settings.mail_max_userip_connections !== DOVECOT_DEFAULTS.mail_max_userip_connections) line('mail_max_userip_connections', String(settings.mail_max_userip_connections));
  line('mail_location', quoteIfNeeded(settings.mail_location));
  const pw = opts.showPassword ? settings.passdb.password : HIDDEN_PASSWORD;
  // The mask is printed bare, as doveconf does (reading it back is refused, see buildSettings).
  entries.push(['passdb', ['passdb {', `  args = ${opts.showPassword ? quoteIfNeeded(`password=${pw}`) : `password=${pw}`}`, '  driver = static', '}']]);
  line('protocols', 'imap');
  // Always printed: Roost's default port (1143) differs from Dovecot's (143), so either value is
  // "non-default" to one of them.
  entries.push(['service imap-login', ['service imap-login {', '  inet_listener imap {', `    port = ${settings.port}`, '  }', '}']]);
  const ud = settings.userdb;
  const udArgs = [
    ud.uid !== undefined ? `uid=${ud.uidName ?? ud.uid}` : '',
    ud.gid !== undefined ? `gid=${ud.gidName ?? ud.gid}` : '',
  ].filter(Boolean).join(' ');
  const udLines = ['userdb {'];
  if (udArgs) udLines.push(`  args = ${udArgs}`);
  else udLines.push(`  # no uid/gid: files belong to the owner of ${settings.vmail}`);
  udLines.push('  driver = static', '}');
  entries.push(['userdb', udLines]);
  entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));

  const roost: string[] = [];
  if (path.resolve(templateStaticPrefix(settings.mail_home)) !== path.resolve(settings.vmail)) roost.push(`vmail = ${quoteIfNeeded(settings.vmail)}`);
  if (settings.max_literal_size !== DEFAULTS.max_literal_size) roost.push(`max_literal_size = ${formatSize(settings.max_literal_size)}`);
  if (settings.cache_dir) roost.push(`cache_dir = ${quoteIfNeeded(settings.cache_dir)}`);

  const out: string[] = (opts.header ?? []).map((h) => `# ${h}`);
  for (const [, lines] of entries) out.push(...lines);
  if (roost.length) {
    out.push('# Roost-only settings (Dovecot does not know these; remove them before giving this to Dovecot):');
    out.push(...roost);
  }
  return out.join('\n') + '\n';
}

function quoteIfNeeded(value: string): string {
  if (value === '' || /^\s|\s$|[#"'{}]/.test(value)) return '"' + value.replace(/["\\]/g, (c) => '\\' + c) + '"';
  return value;
}
