import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AUTH_REPLIES, AuthError, SASL_LOGIN_PASSWORD_CHALLENGE, SASL_LOGIN_USERNAME_CHALLENGE, checkUsername, createSaslExchange,
  decodeSaslPlain, isInsideOrEqual, isSecuredConnection, normalizeUsername, plaintextAuthAllowed, resolveUser, verifyPassword,
} from '../../electron/server/auth/index.js';
import { defaultSettings } from '../../electron/shared/settings.js';
import type { ServerSettings } from '../../electron/shared/settings-types.js';

let tmp: string;
let vmail: string;
let s: ServerSettings;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'roost-auth-'));
  vmail = path.join(tmp, 'vmail');
  fs.mkdirSync(vmail);
  s = defaultSettings(vmail, 'ThisIsABadPassword');
});

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

describe('checkUsername', () => {
  it('accepts ordinary addresses', () => {
    for (const u of ['alice@brokkr.net', 'bob.smith-jr_2@mail.example.org', 'Alice@Example.ORG', '.hidden@x']) {
      expect(checkUsername(s, u), u).toBeNull();
    }
  });

  it('refuses anything that could leave the vmail base, with a reason for the log', () => {
    const refused: Array<[string, RegExp]> = [
      ['../../etc@x', /^Username character disallowed by auth_username_chars: 0x2f \(username: \.\.\/\.\.\/etc@x\)$/],
      ['a/b@c', /0x2f/],
      ['@x', /empty user part/],
      ['a@', /empty domain part/],
      ['..@x', /part '\.\.' is not allowed/],
      ['a@..', /part '\.\.' is not allowed/],
      ['.@x', /part '\.' is not allowed/],
      ['a@.', /part '\.' is not allowed/],
      ['a\0b@x', /^Username character disallowed: 0x00 \(username: a\?b@x\)$/],
      ['a\tb@x', /0x09/],
      ['a'.repeat(250) + '@x.org', /^Username too long \(256 bytes, at most 255\)$/],
      ['a b@x', /auth_username_chars: 0x20/],
      ['é@x', /auth_username_chars: 0xc3/],
      ['a@b@c', /more than one '@'/],
      ['', /^Empty username$/],
      ['alice', /no @domain, but mail_home uses %d/],
    ];
    for (const [u, why] of refused) expect(checkUsername(s, u), JSON.stringify(u)).toMatch(why);
  });

  it('keeps the path rules when auth_username_chars allows everything (empty, as in Dovecot)', () => {
    const open = { ...s, auth_username_chars: '' };
    expect(checkUsername(open, 'ünïcode user@x')).toBeNull();
    expect(checkUsername(open, '../../etc@x')).toMatch(/path separator/);
    expect(checkUsername(open, 'a\\b@x')).toMatch(/path separator/);
    expect(checkUsername(open, '..@x')).toMatch(/'\.\.'/);
    expect(checkUsername(open, 'a\0@x')).toMatch(/0x00/);
  });

  it('accepts a bare name when the templates do not use %d', () => {
    expect(checkUsername({ ...s, mail_home: `${vmail}/%n` }, 'alice')).toBeNull();
    expect(checkUsername({ ...s, mail_home: `${vmail}/%n`, mail_location: 'maildir:/m/%d/%n' }, 'alice')).toMatch(/no @domain/);
  });

  it("refuses names Windows can't store when running there", () => {
    expect(checkUsername(s, 'con@x', 'win32')).toMatch(/Windows/);
    expect(checkUsername(s, 'alice.@x', 'win32')).toMatch(/Windows/);
    expect(checkUsername(s, 'con@x', 'linux')).toBeNull();
  });

  it('lowercases like auth_username_format = %Lu', () => {
    expect(normalizeUsername('Alice@Brokkr.NET')).toBe('alice@brokkr.net');
  });
});

describe('resolveUser', () => {
  it("maps a user to Dovecot's mail_home / mail_location layout", () => {
    expect(resolveUser(s, 'alice@brokkr.net', { processUid: 1000 })).toEqual({
      user: 'alice@brokkr.net',
      home: path.join(vmail, 'brokkr.net', 'alice'),
      maildir: path.join(vmail, 'brokkr.net', 'alice', 'maildir'),
    });
    expect(resolveUser(s, 'Alice@Brokkr.NET', { processUid: 1000 }).home).toBe(path.join(vmail, 'brokkr.net', 'alice'));
  });

  it('supports absolute mail_location templates and %h', () => {
    const r = resolveUser({ ...s, mail_location: `maildir:${vmail}/mail/%d/%n` }, 'a@b', { processUid: 1000 });
    expect(r.maildir).toBe(path.join(vmail, 'mail', 'b', 'a'));
    expect(resolveUser({ ...s, mail_location: 'maildir:%h/Maildir' }, 'a@b', { processUid: 1000 }).maildir).toBe(path.join(vmail, 'b', 'a', 'Maildir'));
  });

  it('throws AuthError with a code for refused names', () => {
    try {
      resolveUser(s, 'a@..');
      throw new Error('not refused');
    } catch (e) {
      expect(e).toBeInstanceOf(AuthError);
      expect((e as AuthError).code).toBe('USERNAME_REFUSED');
    }
  });

  it("refuses a uid Dovecot would refuse, in Dovecot's words", () => {
    const bad = { ...s, userdb: { driver: 'static' as const, uid: 33 } };
    try {
      resolveUser(bad, 'a@b', { processUid: 0 });
      throw new Error('not refused');
    } catch (e) {
      expect((e as AuthError).code).toBe('UID_NOT_PERMITTED');
      expect((e as AuthError).message).toBe('Mail access for users with UID 33 not permitted (see first_valid_uid in config file, uid from userdb lookup).');
    }
  });

  it('returns the owner for files: userdb uid/gid, or the vmail owner when root', () => {
    const withIds = { ...s, userdb: { driver: 'static' as const, uid: 5000, gid: 5000 } };
    expect(resolveUser(withIds, 'a@b', { processUid: 0 })).toMatchObject({ uid: 5000, gid: 5000 });
    expect(resolveUser(s, 'a@b', { processUid: 0, stat: () => ({ uid: 5001, gid: 5002 }) })).toMatchObject({ uid: 5001, gid: 5002 });
  });

  it('never yields a path outside the vmail base, whatever the username (randomized)', () => {
    const pieces = ['a', 'B', '.', '..', '/', '\\', '@', '%', '%d', '%n', '~', '\0', ' ', 'é', '-', '_', '..@', '@..', 'x'];
    let seed = 42;
    const rnd = (n: number): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
    const variants = [s, { ...s, auth_username_chars: '' }, { ...s, mail_home: `${vmail}/%n` }, { ...s, mail_home: `${vmail}/%Ld/%Ln`, mail_location: 'maildir:~/%n' }];
    let accepted = 0;
    for (let i = 0; i < 4000; i++) {
      let name = '';
      const len = 1 + rnd(8);
      for (let j = 0; j < len; j++) name += pieces[rnd(pieces.length)];
      const settings = variants[i % variants.length];
      try {
        const r = resolveUser(settings, name, { processUid: 1000 });
        accepted++;
        expect(isInsideOrEqual(vmail, r.home) && r.home !== vmail, `${JSON.stringify(name)} -> ${r.home}`).toBe(true);
        expect(isInsideOrEqual(r.home, r.maildir) || isInsideOrEqual(vmail, r.maildir), `${JSON.stringify(name)} -> ${r.maildir}`).toBe(true);
      } catch (e) {
        expect(e, JSON.stringify(name)).toBeInstanceOf(AuthError);
      }
    }
    expect(accepted).toBeGreaterThan(100);
  });

  it('checks the expanded path against the base even if a template is odd', () => {
    // A mail_location that climbs out of home is caught after expansion.
    try {
      resolveUser({ ...s, mail_location: 'maildir:~/../../../elsewhere' }, 'a@b', { processUid: 1000 });
      throw new Error('not refused');
    } catch (e) {
      expect((e as AuthError).code).toBe('PATH_OUTSIDE_BASE');
    }
  });
});

describe('verifyPassword', () => {
  it('compares exactly, whatever the length', () => {
    expect(verifyPassword(s, 'ThisIsABadPassword')).toBe(true);
    expect(verifyPassword(s, 'ThisIsABadPasswor')).toBe(false);
    expect(verifyPassword(s, 'ThisIsABadPassword ')).toBe(false);
    expect(verifyPassword(s, 'thisisabadpassword')).toBe(false);
    expect(verifyPassword(s, '')).toBe(false);
    expect(verifyPassword(s, 'x'.repeat(10000))).toBe(false);
    expect(verifyPassword(s, Buffer.from('ThisIsABadPassword'))).toBe(true);
  });

  it('handles non-ASCII passwords as UTF-8 and never accepts an empty configured password', () => {
    const u = { ...s, passdb: { driver: 'static' as const, password: 'päss wörd' } };
    expect(verifyPassword(u, 'päss wörd')).toBe(true);
    expect(verifyPassword(u, Buffer.from('päss wörd', 'utf8'))).toBe(true);
    expect(verifyPassword(u, Buffer.from('päss wörd', 'latin1'))).toBe(false);
    expect(verifyPassword({ ...s, passdb: { driver: 'static', password: '' } }, '')).toBe(false);
  });
});

describe('SASL', () => {
  it('decodes PLAIN', () => {
    expect(decodeSaslPlain(b64('\0bob@brokkr.net\0ThisIsABadPassword'))).toEqual({ authzid: '', authcid: 'bob@brokkr.net', password: 'ThisIsABadPassword' });
    expect(decodeSaslPlain(b64('bob@x\0bob@x\0pw'))).toEqual({ authzid: 'bob@x', authcid: 'bob@x', password: 'pw' });
    expect(decodeSaslPlain(b64('\0bob@x\0pä ss'))).toEqual({ authzid: '', authcid: 'bob@x', password: 'pä ss' });
  });

  it('rejects malformed PLAIN responses', () => {
    expect(decodeSaslPlain('not base64!')).toEqual({ error: 'invalid base64 data' });
    expect(decodeSaslPlain('AGJvYgBwdw')).toEqual({ error: 'invalid base64 data' }); // unpadded
    expect(decodeSaslPlain(b64('bob\0pw'))).toHaveProperty('error');
    expect(decodeSaslPlain(b64('\0bob\0pw\0extra'))).toHaveProperty('error');
    expect(decodeSaslPlain(b64('\0\0pw'))).toEqual({ error: 'empty authcid' });
    expect(decodeSaslPlain(b64('\0bob\0'))).toEqual({ error: 'empty password' });
    expect(decodeSaslPlain(b64('admin\0bob\0pw'))).toHaveProperty('error');
    expect(decodeSaslPlain(Buffer.from([0, 0x62, 0, 0xff]).toString('base64'))).toEqual({ error: 'invalid UTF-8 in input' });
    expect(decodeSaslPlain('=')).toHaveProperty('error');
  });

  it('runs PLAIN with and without an initial response', () => {
    const a = createSaslExchange('plain');
    expect(a?.start()).toEqual({ type: 'challenge', challenge: '' });
    expect(a?.next(b64('\0u@x\0pw'))).toEqual({ type: 'done', credentials: { authzid: '', authcid: 'u@x', password: 'pw' } });
    const b = createSaslExchange('PLAIN');
    expect(b?.start(b64('\0u@x\0pw'))).toMatchObject({ type: 'done' });
  });

  it('runs LOGIN with the Username:/Password: prompts', () => {
    expect(Buffer.from(SASL_LOGIN_USERNAME_CHALLENGE, 'base64').toString()).toBe('Username:');
    expect(Buffer.from(SASL_LOGIN_PASSWORD_CHALLENGE, 'base64').toString()).toBe('Password:');
    const x = createSaslExchange('LOGIN');
    expect(x?.start()).toEqual({ type: 'challenge', challenge: 'VXNlcm5hbWU6' });
    expect(x?.next(b64('dave@x.org'))).toEqual({ type: 'challenge', challenge: 'UGFzc3dvcmQ6' });
    expect(x?.next(b64('ThisIsABadPassword'))).toEqual({ type: 'done', credentials: { authzid: '', authcid: 'dave@x.org', password: 'ThisIsABadPassword' } });
    expect(x?.next(b64('more'))).toMatchObject({ type: 'error' });
    const ir = createSaslExchange('login');
    expect(ir?.start(b64('dave@x.org'))).toEqual({ type: 'challenge', challenge: 'UGFzc3dvcmQ6' });
    expect(createSaslExchange('login')?.start('!!')).toMatchObject({ type: 'error' });
    expect(createSaslExchange('cram-md5')).toBeNull();
  });
});

describe('plaintext policy', () => {
  it("treats same-IP connections as secured, like Dovecot", () => {
    expect(isSecuredConnection('127.0.0.1', '127.0.0.1')).toBe(true);
    expect(isSecuredConnection('::ffff:127.0.0.1', '127.0.0.1')).toBe(true);
    expect(isSecuredConnection('127.0.0.2', '127.0.0.1')).toBe(false);
    expect(isSecuredConnection('192.0.2.7', '192.0.2.2')).toBe(false);
    expect(isSecuredConnection('192.0.2.7', '192.0.2.2', true)).toBe(true);
    expect(plaintextAuthAllowed(s, false)).toBe(false);
    expect(plaintextAuthAllowed(s, true)).toBe(true);
    expect(plaintextAuthAllowed({ ...s, disable_plaintext_auth: false }, false)).toBe(true);
    expect(AUTH_REPLIES.failed).toBe('NO [AUTHENTICATIONFAILED] Authentication failed.');
  });
});
