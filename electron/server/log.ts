// Log lines in Dovecot 2.3's words, so people (and fail2ban-style filters) that know Dovecot's log can
// read Roost's. Formats verified against Dovecot 2.3.19.1 (Debian's dovecot-imapd) run privately with
// the same static passdb/userdb setup:
//
//   imap-login: Info: Login: user=<bob@brokkr.net>, method=PLAIN, rip=127.0.0.1, lip=127.0.0.1, mpid=8500, secured, session=<cacKFv9gOIl/AAAB>
//   imap-login: Info: Disconnected: Connection closed (auth failed, 1 attempts in 2 secs): user=<bob@brokkr.net>, method=PLAIN, rip=127.0.0.1, lip=127.0.0.1, secured, session=<ay11Fv9gHOd/AAAB>
//   imap-login: Info: Disconnected: Aborted login by logging out (auth failed, 1 attempts in 0 secs): user=<alice@brokkr.net>, rip=127.0.0.2, lip=127.0.0.1, session=<sm22GP9gQcl/AAAC>
//   imap-login: Info: Disconnected: Connection closed (tried to use disallowed plaintext auth): user=<>, method=PLAIN, rip=127.0.0.2, lip=127.0.0.1, session=<tZvuGP9gXb9/AAAC>
//   imap-login: Info: Disconnected: Connection closed (no auth attempts in 1 secs): user=<>, rip=127.0.0.1, lip=127.0.0.1, secured, session=<RCYPF/9gCKR/AAAB>
//   imap(alice@brokkr.net)<8500><cacKFv9gOIl/AAAB>: Info: Disconnected: Logged out in=26 out=778 deleted=0 expunged=0 trashed=0 hdr_count=0 hdr_bytes=0 body_count=0 body_bytes=0
//   imap(carol@brokkr.net)<8711><rjm4Fv9g+qN/AAAB>: Info: Disconnected: Connection closed (noop finished 0.300 secs ago) in=9 out=449 deleted=0 ...
//   auth: Info: plain(?,127.0.0.1,<jt2wG/9gULt/AAAB>): Username character disallowed by auth_username_chars: 0x2f (username: ../../etc@x)
//   auth: Info: static(bob@x,127.0.0.1,<5s8NHP9gVLt/AAAB>): Password mismatch
//   imap(alice@x): Error: Mail access for users with UID 103 not permitted (see first_valid_uid in config file, uid from userdb lookup).
//
// (Older Dovecot, e.g. 2.2 on Ubuntu 18.04, printed "Disconnected (auth failed, ...)" without the reason;
// loginDisconnectMessage does that when no reason is given.)
// "secured" appears when Dovecot considers the connection secure: TLS, or remote IP == local IP.
// A user name is cut to 80 characters ("...") and control characters become '?', as Dovecot does.
//
// The worker sends LogRecords to the supervisor; formatLogLine renders one the way Dovecot's log file
// shows it (log_timestamp "%b %d %H:%M:%S "). Passwords are never passed to these helpers; the worker
// additionally scrubs the configured password from every record (scrubSecret) as a second line of defence.
import type { LogLevel, LogRecord } from '../shared/events.js';

/** Control characters become '?', and the text is cut to `max` characters ending in "...", as Dovecot's str_sanitize. */
export function sanitizeLogValue(text: string, max = 80): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\x00-\x1f\x7f]/g, '?');
  return clean.length > max ? clean.slice(0, max - 3) + '...' : clean;
}

/** Node reports IPv4 clients of a dual-stack socket as ::ffff:a.b.c.d; Dovecot prints a.b.c.d. */
export function formatIp(address: string | undefined): string {
  if (!address) return '';
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m ? m[1] : address;
}

function ipBytes(address: string): Buffer {
  const ip = formatIp(address);
  if (/^\d+\.\d+\.\d+\.\d+$/.test(ip)) return Buffer.from(ip.split('.').map(Number));
  const out = Buffer.alloc(16);
  const zone = ip.indexOf('%');
  const bare = zone >= 0 ? ip.slice(0, zone) : ip;
  const [head, tail] = bare.includes('::') ? bare.split('::') : [bare, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t];
  groups.slice(0, 8).forEach((g, i) => out.writeUInt16BE(parseInt(g, 16) || 0, i * 2));
  return out;
}

let lastMicros = 0n;

/**
 * A session id in Dovecot's layout: base64 of the low 48 bits of the microsecond clock (little-endian),
 * the remote port (16 bits, little-endian) and the remote IP's bytes. 16 characters for IPv4, 32 for IPv6.
 * Unique per process because the clock value is forced to increase.
 */
export function createSessionId(remoteIp: string, remotePort: number, nowMicros?: bigint): string {
  let micros = nowMicros ?? BigInt(Math.floor((performance.timeOrigin + performance.now()) * 1000));
  if (nowMicros === undefined) {
    if (micros <= lastMicros) micros = lastMicros + 1n;
    lastMicros = micros;
  }
  const buf = Buffer.alloc(8);
  for (let i = 0; i < 6; i++) buf[i] = Number((micros >> BigInt(8 * i)) & 0xffn);
  buf.writeUInt16LE(remotePort & 0xffff, 6);
  return Buffer.concat([buf, ipBytes(remoteIp)]).toString('base64');
}

/** The connection facts every imap-login line carries. */
export interface ConnectionFields {
  /** Username as given by the client; '' or undefined before one was given (printed as user=<>). */
  user?: string;
  /** SASL mechanism name as Dovecot prints it: PLAIN or LOGIN (the LOGIN command counts as PLAIN). */
  method?: string;
  rip: string;
  lip: string;
  /** True when Dovecot would consider the connection secure (remote IP == local IP, or TLS). */
  secured?: boolean;
  session: string;
}

function elements(f: ConnectionFields, mpid?: number): string {
  const parts = [`user=<${sanitizeLogValue(f.user ?? '')}>`];
  if (f.method) parts.push(`method=${f.method}`);
  parts.push(`rip=${formatIp(f.rip)}`, `lip=${formatIp(f.lip)}`);
  if (mpid !== undefined) parts.push(`mpid=${mpid}`);
  if (f.secured) parts.push('secured');
  parts.push(`session=<${f.session}>`);
  return parts.join(', ');
}

/** `Login: user=<bob@brokkr.net>, method=PLAIN, rip=..., lip=..., mpid=1234, secured, session=<...>` (service imap-login). */
export function loginMessage(f: ConnectionFields & { user: string; method: string; mpid: number }): string {
  return `Login: ${elements(f, f.mpid)}`;
}

/** Why an unauthenticated connection ended, Dovecot's words (the part before the parenthesis). */
export const LOGIN_DISCONNECT_REASONS = {
  closed: 'Connection closed',
  logout: 'Aborted login by logging out',
  inactivity: 'Inactivity',
  tooManyInvalid: 'Too many invalid commands.',
  shutdown: 'Server shutting down.',
} as const;

/** "auth failed, 1 attempts in 2 secs" (Dovecot does not singularize). */
export function authFailedDetail(attempts: number, secs: number): string {
  return `auth failed, ${attempts} attempts in ${Math.floor(secs)} secs`;
}

/** "no auth attempts in 1 secs" */
export function noAuthAttemptsDetail(secs: number): string {
  return `no auth attempts in ${Math.floor(secs)} secs`;
}

export const DISALLOWED_PLAINTEXT_DETAIL = 'tried to use disallowed plaintext auth';

/**
 * `Disconnected: Connection closed (auth failed, 1 attempts in 2 secs): user=<...>, method=PLAIN, rip=..., lip=..., session=<...>`
 * Without a reason: `Disconnected (detail): ...` (Dovecot 2.2's form).
 */
export function loginDisconnectMessage(f: ConnectionFields & { reason?: string; detail?: string }): string {
  const head = f.reason ? `Disconnected: ${f.reason}` : 'Disconnected';
  const detail = f.detail ? ` (${f.detail})` : '';
  return `${head}${detail}: ${elements(f)}`;
}

/** Counters of Dovecot's default imap_logout_format. */
export interface LogoutStats {
  /** Bytes received from / sent to the client after login. */
  in: number;
  out: number;
  deleted?: number;
  expunged?: number;
  trashed?: number;
  hdr_count?: number;
  hdr_bytes?: number;
  body_count?: number;
  body_bytes?: number;
}

/** Dovecot's default imap_logout_format: `in=%i out=%o deleted=... body_bytes=...`. */
export function logoutStats(s: LogoutStats): string {
  const n = (v: number | undefined): number => v ?? 0;
  return `in=${s.in} out=${s.out} deleted=${n(s.deleted)} expunged=${n(s.expunged)} trashed=${n(s.trashed)} `
    + `hdr_count=${n(s.hdr_count)} hdr_bytes=${n(s.hdr_bytes)} body_count=${n(s.body_count)} body_bytes=${n(s.body_bytes)}`;
}

/**
 * `Disconnected: Logged out in=26 out=778 deleted=0 ...` or, when the client went away,
 * `Disconnected: Connection closed (idle running for ...) in=9 ...`. `reason` is 'Logged out',
 * 'Connection closed', 'Connection closed (noop finished 0.300 secs ago)', 'Server shutting down.', ...
 */
export function logoutMessage(reason: string, stats: LogoutStats): string {
  return `Disconnected: ${reason} ${logoutStats(stats)}`;
}

/** The prefix of a logged-in session's lines (mail_log_prefix "%s(%u)<%{pid}><%{session}>: "), for LogRecord.service. */
export function mailService(user: string, pid: number, session: string): string {
  return `imap(${sanitizeLogValue(user)})<${pid}><${session}>`;
}

/** Before a session exists (e.g. a refused uid): `imap(alice@x)`. */
export function mailServiceNoSession(user: string): string {
  return `imap(${sanitizeLogValue(user)})`;
}

/**
 * An auth process line: `plain(?,127.0.0.1,<session>): Username character disallowed ...` (user unknown or refused)
 * or `static(bob@x,127.0.0.1,<session>): Password mismatch`. Service is 'auth'.
 */
export function authMessage(context: 'plain' | 'login' | 'static', user: string | null, rip: string, session: string, text: string): string {
  const u = user === null ? '?' : sanitizeLogValue(user, 64);
  return `${context}(${u},${formatIp(rip)},<${session}>): ${text}`;
}

export function logRecord(level: LogLevel, service: string, message: string, time = Date.now()): LogRecord {
  return { level, service, message, time };
}

const LEVEL_WORD: Record<LogLevel, string> = { debug: 'Debug', info: 'Info', warn: 'Warning', error: 'Error' };
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Dovecot's log_timestamp "%b %d %H:%M:%S", local time. */
export function formatLogTimestamp(time: number): string {
  const d = new Date(time);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${MONTHS[d.getMonth()]} ${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** `Nov 24 05:36:02 imap-login: Info: Login: user=<...>` — one line as in Dovecot's log file. */
export function formatLogLine(record: LogRecord, withTimestamp = true): string {
  const line = `${record.service}: ${LEVEL_WORD[record.level] ?? 'Info'}: ${record.message.replace(/[\r\n]+/g, ' ')}`;
  return withTimestamp ? `${formatLogTimestamp(record.time)} ${line}` : line;
}

/** Shortest secret scrubSecret replaces; shorter ones would mangle ordinary words in log lines. */
export const MIN_SCRUBBED_SECRET = 4;

/** Replaces every occurrence of `secret` in the record's text by "#hidden#" (a second line of defence). */
export function scrubSecret(record: LogRecord, secret: string | undefined): LogRecord {
  if (!secret || secret.length < MIN_SCRUBBED_SECRET) return record;
  if (!record.message.includes(secret) && !record.service.includes(secret)) return record;
  return {
    ...record,
    service: record.service.split(secret).join('#hidden#'),
    message: record.message.split(secret).join('#hidden#'),
  };
}
