// Log lines in Dovecot's words. Expected strings are lines Dovecot 2.3.19.1 wrote (see electron/server/log.ts).
import { describe, expect, it } from 'vitest';
import {
  DISALLOWED_PLAINTEXT_DETAIL, LOGIN_DISCONNECT_REASONS, authFailedDetail, authMessage, createSessionId, formatIp, formatLogLine,
  loginDisconnectMessage, loginMessage, logoutMessage, mailService, noAuthAttemptsDetail, sanitizeLogValue, scrubSecret,
} from '../../electron/server/log.js';

describe('session ids', () => {
  it("reproduces Dovecot's layout: 48-bit µs clock, port, IPv4 (LE), base64", () => {
    // Dovecot logged session=<cacKFv9gOIl/AAAB>: bytes 71a70a16ff60 3889 7f000001.
    expect(createSessionId('127.0.0.1', 0x8938, 0x60ff160aa771n)).toBe('cacKFv9gOIl/AAAB');
    expect(createSessionId('::ffff:127.0.0.1', 0x8938, 0x60ff160aa771n)).toBe('cacKFv9gOIl/AAAB');
  });

  it('is 16 characters for IPv4, 32 for IPv6, and unique', () => {
    expect(createSessionId('192.0.2.7', 50000)).toMatch(/^[A-Za-z0-9+/]{16}$/);
    expect(createSessionId('::1', 50000)).toMatch(/^[A-Za-z0-9+/]{32}$/);
    expect(Buffer.from(createSessionId('fd00::2', 1), 'base64').subarray(8).toString('hex')).toBe('fd000000000000000000000000000002');
    const ids = new Set(Array.from({ length: 1000 }, () => createSessionId('127.0.0.1', 1)));
    expect(ids.size).toBe(1000);
  });
});

describe('imap-login lines', () => {
  const base = { rip: '127.0.0.1', lip: '127.0.0.1', session: 'cacKFv9gOIl/AAAB' };

  it('Login', () => {
    expect(loginMessage({ ...base, user: 'alice@brokkr.net', method: 'PLAIN', mpid: 8500, secured: true }))
      .toBe('Login: user=<alice@brokkr.net>, method=PLAIN, rip=127.0.0.1, lip=127.0.0.1, mpid=8500, secured, session=<cacKFv9gOIl/AAAB>');
    expect(loginMessage({ user: 'bob@brokkr.net', method: 'PLAIN', rip: '86.52.55.217', lip: '10.0.4.3', mpid: 29, session: '3GhQeEJtVKZWNDfZ' }))
      .toBe('Login: user=<bob@brokkr.net>, method=PLAIN, rip=86.52.55.217, lip=10.0.4.3, mpid=29, session=<3GhQeEJtVKZWNDfZ>');
  });

  it('Disconnected after failed auth, plaintext refusal, no attempts', () => {
    expect(loginDisconnectMessage({ ...base, session: 'ay11Fv9gHOd/AAAB', user: 'bob@brokkr.net', method: 'PLAIN', secured: true, reason: LOGIN_DISCONNECT_REASONS.closed, detail: authFailedDetail(1, 2.7) }))
      .toBe('Disconnected: Connection closed (auth failed, 1 attempts in 2 secs): user=<bob@brokkr.net>, method=PLAIN, rip=127.0.0.1, lip=127.0.0.1, secured, session=<ay11Fv9gHOd/AAAB>');
    expect(loginDisconnectMessage({ rip: '127.0.0.2', lip: '127.0.0.1', session: 'sm22GP9gQcl/AAAC', user: 'alice@brokkr.net', reason: LOGIN_DISCONNECT_REASONS.logout, detail: authFailedDetail(1, 0) }))
      .toBe('Disconnected: Aborted login by logging out (auth failed, 1 attempts in 0 secs): user=<alice@brokkr.net>, rip=127.0.0.2, lip=127.0.0.1, session=<sm22GP9gQcl/AAAC>');
    expect(loginDisconnectMessage({ rip: '127.0.0.2', lip: '127.0.0.1', session: 'tZvuGP9gXb9/AAAC', method: 'PLAIN', reason: 'Connection closed', detail: DISALLOWED_PLAINTEXT_DETAIL }))
      .toBe('Disconnected: Connection closed (tried to use disallowed plaintext auth): user=<>, method=PLAIN, rip=127.0.0.2, lip=127.0.0.1, session=<tZvuGP9gXb9/AAAC>');
    expect(loginDisconnectMessage({ ...base, session: 'RCYPF/9gCKR/AAAB', secured: true, reason: 'Connection closed', detail: noAuthAttemptsDetail(1) }))
      .toBe('Disconnected: Connection closed (no auth attempts in 1 secs): user=<>, rip=127.0.0.1, lip=127.0.0.1, secured, session=<RCYPF/9gCKR/AAAB>');
    // Dovecot 2.2's form, as in the seed's log.
    expect(loginDisconnectMessage({ user: 'bob@brokkr.net', method: 'PLAIN', rip: '86.52.55.217', lip: '10.0.4.3', session: 'Qw9ihkJt6KZWNDfZ', detail: authFailedDetail(1, 4) }))
      .toBe('Disconnected (auth failed, 1 attempts in 4 secs): user=<bob@brokkr.net>, method=PLAIN, rip=86.52.55.217, lip=10.0.4.3, session=<Qw9ihkJt6KZWNDfZ>');
  });

  it('cuts long names and replaces control characters as Dovecot does', () => {
    const long = 'a'.repeat(300) + '@x';
    expect(loginMessage({ ...base, user: long, method: 'PLAIN', mpid: 1 })).toContain(`user=<${'a'.repeat(77)}...>`);
    expect(sanitizeLogValue('a\tb@x')).toBe('a?b@x');
    expect(loginDisconnectMessage({ ...base, user: 'x\r\n* OK forged', reason: 'Connection closed', detail: authFailedDetail(1, 0) })).not.toMatch(/[\r\n]/);
  });
});

describe('imap and auth lines', () => {
  it('Logged out with the default imap_logout_format', () => {
    expect(mailService('alice@brokkr.net', 8500, 'cacKFv9gOIl/AAAB')).toBe('imap(alice@brokkr.net)<8500><cacKFv9gOIl/AAAB>');
    expect(logoutMessage('Logged out', { in: 26, out: 778 }))
      .toBe('Disconnected: Logged out in=26 out=778 deleted=0 expunged=0 trashed=0 hdr_count=0 hdr_bytes=0 body_count=0 body_bytes=0');
  });

  it('auth process lines', () => {
    expect(authMessage('plain', null, '127.0.0.1', 'jt2wG/9gULt/AAAB', 'Username character disallowed by auth_username_chars: 0x2f (username: ../../etc@x)'))
      .toBe('plain(?,127.0.0.1,<jt2wG/9gULt/AAAB>): Username character disallowed by auth_username_chars: 0x2f (username: ../../etc@x)');
    expect(authMessage('static', 'bob@x', '127.0.0.1', '5s8NHP9gVLt/AAAB', 'Password mismatch')).toBe('static(bob@x,127.0.0.1,<5s8NHP9gVLt/AAAB>): Password mismatch');
  });

  it('renders a record like a line of Dovecot\'s log file', () => {
    const time = new Date(2026, 10, 24, 5, 36, 2).getTime();
    expect(formatLogLine({ level: 'info', service: 'imap-login', message: 'Login: user=<a@b>', time })).toBe('Nov 24 05:36:02 imap-login: Info: Login: user=<a@b>');
    expect(formatLogLine({ level: 'warn', service: 'master', message: 'x\ny', time }, false)).toBe('master: Warning: x y');
    expect(formatIp('::ffff:10.0.0.1')).toBe('10.0.0.1');
  });
});

describe('passwords never reach a log line', () => {
  it('no helper takes a password, and scrubSecret removes one that slipped into any text', () => {
    const record = { level: 'info' as const, service: 'imap(u)', message: 'AUTHENTICATE PLAIN with SeCrEt-pw in it', time: 0 };
    expect(scrubSecret(record, 'SeCrEt-pw').message).toBe('AUTHENTICATE PLAIN with #hidden# in it');
    expect(scrubSecret(record, 'abc')).toBe(record); // too short to scrub without mangling ordinary words
  });
});
