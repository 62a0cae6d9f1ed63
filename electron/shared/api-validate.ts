// Runtime validation of every API method's params, shared by both transports (Electron IPC in
// electron/main, the HTTP bridge in electron/headless/web.ts). The renderer is not trusted: a
// compromised or buggy page could send anything, so each params object is checked for its exact
// shape (no extra keys), types, lengths and ranges before any handler sees it.
//
// What this checks is the *form* of the input. Whether settings make sense (a template's variables,
// a uid within first_valid_uid, ...) is the settings validator's job (electron/service), which reports
// per-field problems with the same rules the server uses.
//
// No Node or Electron imports: the renderer may import this file too.
import {
  API_METHODS, isApiMethod, type ApiError, type ApiMethod, type ApiParams, type AppSettings, type FieldProblem, type ViewerRef,
} from './api.js';
import type { ViewerAction, ViewerSearchQuery } from './viewer-types.js';

/** An ApiError that can be thrown; both transports turn it into { ok: false, error }. */
export class ApiCallError extends Error implements ApiError {
  readonly code: string;
  readonly problems?: FieldProblem[];
  /** `cause`: the underlying error (kept for logs and the CLI's own wording; never sent to the renderer). */
  constructor(code: string, message: string, problems?: FieldProblem[], cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'ApiCallError';
    this.code = code;
    if (problems?.length) this.problems = problems;
  }

  /** The plain-data form that travels over IPC / HTTP. */
  toJSON(): ApiError {
    return { code: this.code, message: this.message, ...(this.problems ? { problems: this.problems } : {}) };
  }
}

/** Any thrown value as a plain ApiError (unknown errors become FAILED with their message). */
export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiCallError) return e.toJSON();
  if (typeof e === 'object' && e !== null && typeof (e as ApiError).code === 'string' && typeof (e as ApiError).message === 'string'
    && (e as { name?: unknown }).name === 'ApiCallError') {
    const a = e as ApiError;
    return { code: a.code, message: a.message, ...(a.problems ? { problems: a.problems } : {}) };
  }
  return { code: 'FAILED', message: e instanceof Error ? e.message : String(e) };
}

// Limits: generous for real use, small enough that nobody can make main or the bridge hold
// megabytes per call.
export const LIMITS = {
  path: 4096,
  text: 1024,
  password: 1024,
  listen: 255,
  idName: 64,
  copyText: 64 * 1024,
  title: 200,
  logTailMax: 5000,
  /** A login name ('alice@brokkr.net'); Roost's username rules check the rest. */
  user: 320,
  /** An IMAP mailbox name (UTF-8). */
  mailbox: 1000,
  /** One search term. */
  searchTerm: 500,
  /** UIDs in one viewer action. */
  actionUids: 10_000,
  /** A page of the message list (the worker's own cap). */
  pageLimit: 1000,
  /** An SMTP host name or address. */
  host: 255,
  /** A mail address (RFC 5321: 254 in practice), with a display name for From. */
  address: 320,
  subject: 200,
  /** How long sendTest waits for the delivery. */
  sendTestMinMs: 1000,
  sendTestMaxMs: 120_000,
} as const;

function invalid(message: string, field?: FieldProblem['field']): never {
  throw new ApiCallError('INVALID', message, field ? [{ field, message }] : undefined);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** The object's keys must be among `allowed` and include every `required`. */
function exactKeys(what: string, v: unknown, required: readonly string[], optional: readonly string[] = []): Record<string, unknown> {
  if (!isPlainObject(v)) invalid(`${what}: expected an object`);
  for (const key of Object.keys(v)) {
    if (!required.includes(key) && !optional.includes(key)) invalid(`${what}: unexpected key '${key.slice(0, 40)}'`);
  }
  for (const key of required) if (!(key in v) || v[key] === undefined) invalid(`${what}: missing '${key}'`);
  return v;
}

function str(what: string, v: unknown, max: number, opts: { min?: number; field?: FieldProblem['field']; noControl?: boolean } = {}): string {
  if (typeof v !== 'string') invalid(`${what}: expected a string`, opts.field);
  if (v.length < (opts.min ?? 0)) invalid(`${what}: must not be empty`, opts.field);
  if (v.length > max) invalid(`${what}: too long (at most ${max} characters)`, opts.field);
  // NUL never belongs in a path or a name; other control characters are refused where asked.
  // eslint-disable-next-line no-control-regex
  if (v.includes('\0') || (opts.noControl && /[\x00-\x1f\x7f]/.test(v))) invalid(`${what}: contains control characters`, opts.field);
  return v;
}

function int(what: string, v: unknown, min: number, max: number, field?: FieldProblem['field']): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) invalid(`${what}: expected a whole number`, field);
  if (v < min || v > max) invalid(`${what}: must be between ${min} and ${max}`, field);
  return v;
}

function bool(what: string, v: unknown, field?: FieldProblem['field']): boolean {
  if (typeof v !== 'boolean') invalid(`${what}: expected true or false`, field);
  return v;
}

const SETTINGS_KEYS: readonly (keyof AppSettings)[] = [
  'vmail', 'mail_home', 'mail_location', 'password', 'auth_mechanisms', 'disable_plaintext_auth', 'uid', 'gid',
  'first_valid_uid', 'listen', 'port', 'startWithRoost', 'notifications',
];

/**
 * The form of an AppSettings object. Collects every problem (one per field) so the UI can mark all
 * of them at once, then throws INVALID with `problems`.
 */
export function validateAppSettings(v: unknown): AppSettings {
  if (!isPlainObject(v)) invalid('settings: expected an object');
  const problems: FieldProblem[] = [];
  for (const key of Object.keys(v)) {
    if (!(SETTINGS_KEYS as readonly string[]).includes(key)) problems.push({ field: 'general', message: `settings: unexpected key '${key.slice(0, 40)}'` });
  }
  const check = <T>(field: keyof AppSettings, fn: (x: unknown) => T): T | undefined => {
    if (!(field in v)) { problems.push({ field, message: `${field}: missing` }); return undefined; }
    try {
      return fn(v[field]);
    } catch (e) {
      problems.push({ field, message: (e as Error).message });
      return undefined;
    }
  };
  const out = {
    vmail: check('vmail', (x) => str('vmail', x, LIMITS.path, { noControl: true })),
    mail_home: check('mail_home', (x) => str('mail_home', x, LIMITS.path, { noControl: true })),
    mail_location: check('mail_location', (x) => str('mail_location', x, LIMITS.path, { noControl: true })),
    // Control characters in the password are the settings validator's to explain (same words as the CLI).
    password: check('password', (x) => str('password', x, LIMITS.password)),
    auth_mechanisms: check('auth_mechanisms', (x) => {
      if (!Array.isArray(x) || x.length > 2) invalid('auth_mechanisms: expected a list of plain and/or login');
      const seen = new Set<string>();
      for (const m of x) {
        if (m !== 'plain' && m !== 'login') invalid(`auth_mechanisms: unknown mechanism ${JSON.stringify(m).slice(0, 40)} (plain, login)`);
        if (seen.has(m)) invalid(`auth_mechanisms: '${m}' listed twice`);
        seen.add(m);
      }
      return [...x] as AppSettings['auth_mechanisms'];
    }),
    disable_plaintext_auth: check('disable_plaintext_auth', (x) => bool('disable_plaintext_auth', x)),
    uid: check('uid', (x) => str('uid', x, LIMITS.idName, { noControl: true })),
    gid: check('gid', (x) => str('gid', x, LIMITS.idName, { noControl: true })),
    first_valid_uid: check('first_valid_uid', (x) => int('first_valid_uid', x, 0, 0xffffffff)),
    listen: check('listen', (x) => str('listen', x, LIMITS.listen, { noControl: true })),
    port: check('port', (x) => int('port', x, 0, 65535)),
    startWithRoost: check('startWithRoost', (x) => bool('startWithRoost', x)),
    notifications: check('notifications', (x) => bool('notifications', x)),
  };
  if (problems.length) throw new ApiCallError('INVALID', `invalid settings: ${problems.map((p) => p.message).join('; ')}`, problems);
  return out as AppSettings;
}

const UID_MAX = 0xffffffff;
/** IMAP part numbers as the viewer reports them ('2', '1.3'). */
const PART_RE = /^[1-9]\d{0,5}(\.[1-9]\d{0,5}){0,20}$/;

function viewerRef(what: string, o: Record<string, unknown>): ViewerRef {
  return {
    user: str('user', o.user, LIMITS.user, { min: 1, noControl: true }),
    mailbox: str('mailbox', o.mailbox, LIMITS.mailbox, { min: 1, noControl: true }),
    uid: int(`${what}: uid`, o.uid, 1, UID_MAX),
  };
}

function searchQuery(v: unknown): ViewerSearchQuery {
  const o = exactKeys('query', v, [], ['from', 'subject', 'text', 'match']);
  const out: ViewerSearchQuery = {};
  for (const k of ['from', 'subject', 'text'] as const) {
    if (o[k] !== undefined) out[k] = str(`query.${k}`, o[k], LIMITS.searchTerm, { noControl: true });
  }
  if (o.match !== undefined) {
    if (o.match !== 'all' && o.match !== 'any') invalid("query.match: expected 'all' or 'any'");
    out.match = o.match;
  }
  return out;
}

function viewerAction(v: unknown): ViewerAction {
  if (!isPlainObject(v)) invalid('change: expected an object');
  switch (v.action) {
    case 'seen': return { action: 'seen', seen: bool('change.seen', exactKeys('change', v, ['action', 'seen']).seen) };
    case 'flag': return { action: 'flag', flagged: bool('change.flagged', exactKeys('change', v, ['action', 'flagged']).flagged) };
    case 'delete': {
      const mode = exactKeys('change', v, ['action', 'mode']).mode;
      if (mode !== 'trash' && mode !== 'expunge') invalid("change.mode: expected 'trash' or 'expunge'");
      return { action: 'delete', mode };
    }
    case 'move':
      return { action: 'move', target: str('change.target', exactKeys('change', v, ['action', 'target']).target, LIMITS.mailbox, { min: 1, noControl: true }) };
    default:
      return invalid(`change.action: unknown action ${JSON.stringify(v.action).slice(0, 40)} (seen, flag, delete, move)`);
  }
}

/** A mail address as the test forms take it: something@something, no spaces or control characters. */
function address(what: string, v: unknown, allowName = false): string {
  const s = str(what, v, LIMITS.address, { min: 1, noControl: true }).trim();
  const bare = allowName ? (/<([^<>]*)>\s*$/.exec(s)?.[1] ?? s) : s;
  if (!/^[^\s@<>]+@[^\s@<>]+$/.test(bare)) invalid(`${what}: expected a full address such as alice@brokkr.net`);
  return s;
}

type Validator<M extends ApiMethod> = (params: unknown) => ApiParams<M>;

/** Methods without params accept undefined, null or {} (an empty JSON body or an empty object). */
function none(method: string): (params: unknown) => undefined {
  return (params) => {
    if (params === undefined || params === null) return undefined;
    exactKeys(method, params, []);
    return undefined;
  };
}

const VALIDATORS: { [M in ApiMethod]: Validator<M> } = {
  appInfo: none('appInfo'),
  getSettings: none('getSettings'),
  validateSettings: (p) => ({ settings: validateAppSettings(exactKeys('validateSettings', p, ['settings']).settings) }),
  saveSettings: (p) => ({ settings: validateAppSettings(exactKeys('saveSettings', p, ['settings']).settings) }),
  generatePassword: none('generatePassword'),
  checkPath: (p) => ({ path: str('path', exactKeys('checkPath', p, ['path']).path, LIMITS.path, { min: 1, noControl: true }) }),
  checkPort: (p) => {
    const o = exactKeys('checkPort', p, ['listen', 'port']);
    return { listen: str('listen', o.listen, LIMITS.listen, { min: 1, noControl: true }), port: int('port', o.port, 0, 65535) };
  },
  importPostfix: (p) => ({ dir: str('dir', exactKeys('importPostfix', p, ['dir']).dir, LIMITS.path, { min: 1, noControl: true }) }),
  pickDirectory: (p) => {
    if (p === undefined || p === null) return {};
    const o = exactKeys('pickDirectory', p, [], ['title', 'defaultPath']);
    const out: { title?: string; defaultPath?: string } = {};
    if (o.title !== undefined) out.title = str('title', o.title, LIMITS.title, { noControl: true });
    if (o.defaultPath !== undefined) out.defaultPath = str('defaultPath', o.defaultPath, LIMITS.path, { noControl: true });
    return out;
  },
  dashboard: none('dashboard'),
  startServer: none('startServer'),
  stopServer: none('stopServer'),
  restartServer: none('restartServer'),
  logTail: (p) => ({ limit: int('limit', exactKeys('logTail', p, ['limit']).limit, 1, LIMITS.logTailMax) }),
  copyText: (p) => ({ text: str('text', exactKeys('copyText', p, ['text']).text, LIMITS.copyText) }),
  showLogFile: none('showLogFile'),
  viewerTree: none('viewerTree'),
  viewerFolders: (p) => ({ user: str('user', exactKeys('viewerFolders', p, ['user']).user, LIMITS.user, { min: 1, noControl: true }) }),
  viewerPage: (p) => {
    const o = exactKeys('viewerPage', p, ['user', 'mailbox', 'offset', 'limit'], ['query']);
    return {
      user: str('user', o.user, LIMITS.user, { min: 1, noControl: true }),
      mailbox: str('mailbox', o.mailbox, LIMITS.mailbox, { min: 1, noControl: true }),
      offset: int('offset', o.offset, 0, UID_MAX),
      limit: int('limit', o.limit, 0, LIMITS.pageLimit),
      ...(o.query !== undefined ? { query: searchQuery(o.query) } : {}),
    };
  },
  viewerMessage: (p) => {
    const o = exactKeys('viewerMessage', p, ['user', 'mailbox', 'uid'], ['markSeen']);
    return { ...viewerRef('viewerMessage', o), ...(o.markSeen !== undefined ? { markSeen: bool('markSeen', o.markSeen) } : {}) };
  },
  viewerRaw: (p) => viewerRef('viewerRaw', exactKeys('viewerRaw', p, ['user', 'mailbox', 'uid'])),
  viewerAction: (p) => {
    const o = exactKeys('viewerAction', p, ['user', 'mailbox', 'uids', 'change']);
    if (!Array.isArray(o.uids) || o.uids.length === 0) invalid('uids: expected a non-empty list of UIDs');
    if (o.uids.length > LIMITS.actionUids) invalid(`uids: at most ${LIMITS.actionUids} at once`);
    return {
      user: str('user', o.user, LIMITS.user, { min: 1, noControl: true }),
      mailbox: str('mailbox', o.mailbox, LIMITS.mailbox, { min: 1, noControl: true }),
      uids: o.uids.map((u, i) => int(`uids[${i}]`, u, 1, UID_MAX)),
      change: viewerAction(o.change),
    };
  },
  viewerSave: (p) => {
    const o = exactKeys('viewerSave', p, ['user', 'mailbox', 'uid'], ['part']);
    const out: ViewerRef & { part?: string } = viewerRef('viewerSave', o);
    if (o.part !== undefined) {
      const part = str('part', o.part, 64, { min: 1, noControl: true });
      if (!PART_RE.test(part)) invalid(`part: not a part number: ${JSON.stringify(part)}`);
      out.part = part;
    }
    return out;
  },
  localDrop: (p) => {
    const o = exactKeys('localDrop', p, ['to'], ['subject', 'from']);
    return {
      to: address('to', o.to),
      ...(o.subject !== undefined ? { subject: str('subject', o.subject, LIMITS.subject, { noControl: true }) } : {}),
      ...(o.from !== undefined ? { from: address('from', o.from, true) } : {}),
    };
  },
  sendTest: (p) => {
    const o = exactKeys('sendTest', p, ['host', 'port', 'to', 'timeoutMs'], ['from', 'postfixBase']);
    const host = str('host', o.host, LIMITS.host, { min: 1, noControl: true }).trim();
    if (!/^[A-Za-z0-9.:[\]_-]+$/.test(host)) invalid('host: expected a host name or an IP address');
    return {
      host,
      port: int('port', o.port, 1, 65535),
      to: address('to', o.to),
      timeoutMs: int('timeoutMs', o.timeoutMs, LIMITS.sendTestMinMs, LIMITS.sendTestMaxMs),
      ...(o.from !== undefined ? { from: address('from', o.from, true) } : {}),
      ...(o.postfixBase !== undefined ? { postfixBase: str('postfixBase', o.postfixBase, LIMITS.path, { min: 1, noControl: true }) } : {}),
    };
  },
};

/**
 * Checks `params` for `method` and returns them typed (a fresh object holding only the known keys).
 * Throws ApiCallError: 'UNKNOWN_METHOD' for a method name that is not in the API, 'INVALID' otherwise.
 */
export function validateParams<M extends ApiMethod>(method: M, params: unknown): ApiParams<M>;
export function validateParams(method: unknown, params: unknown): ApiParams<ApiMethod>;
export function validateParams(method: unknown, params: unknown): ApiParams<ApiMethod> {
  if (!isApiMethod(method)) {
    throw new ApiCallError('UNKNOWN_METHOD', `unknown method ${JSON.stringify(String(method)).slice(0, 60)} (known: ${API_METHODS.join(', ')})`);
  }
  return (VALIDATORS[method] as Validator<ApiMethod>)(params);
}
