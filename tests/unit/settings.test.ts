import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DOVECOT_USERNAME_CHARS, HIDDEN_PASSWORD, SettingsError, buildSettings, defaultDataDir, defaultSettings, doveconf,
  expandTemplate, fileOwner, formatSize, formatTime, loadConfigFile, mergeRaw, parseDovecotConfig, parseJsonConfig,
  parseOverride, parseSize, parseTime, suggestSetting, templateStaticPrefix, type RawSettings,
} from '../../electron/shared/settings.js';

let tmp: string;
let passwd: string;
let group: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'roost-settings-'));
  passwd = path.join(tmp, 'passwd');
  group = path.join(tmp, 'group');
  fs.writeFileSync(passwd, 'root:x:0:0:root:/root:/bin/bash\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\nvmail:x:5000:5000::/var/vmail:/usr/sbin/nologin\n');
  fs.writeFileSync(group, 'root:x:0:\nwww-data:x:33:\nvmail:x:5000:\n');
});

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

const pw = (value = 'ThisIsABadPassword'): RawSettings => ({ 'passdb.password': { value } });

/** Builds from a Dovecot-style text with the test passwd/group files. */
function fromConf(text: string, extra: RawSettings = {}) {
  return buildSettings(mergeRaw(parseDovecotConfig(text, 'test.conf'), extra), { passwdFile: passwd, groupFile: group, defaultVmail: '/srv/default-vmail' });
}

/** Returns the SettingsError a function throws (fails the test if it throws anything else or nothing). */
function settingsError(fn: () => unknown): SettingsError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SettingsError);
    return e as SettingsError;
  }
  throw new Error('expected a SettingsError');
}

describe('defaults', () => {
  it('fills every setting with Roost/Dovecot defaults', () => {
    expect(DOVECOT_USERNAME_CHARS).toBe('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01234567890.-_@');
    const s = buildSettings(pw(), { defaultVmail: '/srv/vmail' });
    expect(s).toEqual({
      vmail: '/srv/vmail',
      mail_home: '/srv/vmail/%d/%n',
      mail_location: 'maildir:~/maildir',
      passdb: { driver: 'static', password: 'ThisIsABadPassword' },
      userdb: { driver: 'static' },
      first_valid_uid: 500,
      last_valid_uid: 0,
      first_valid_gid: 1,
      last_valid_gid: 0,
      auth_mechanisms: ['plain', 'login'],
      disable_plaintext_auth: true,
      auth_username_chars: DOVECOT_USERNAME_CHARS,
      auth_failure_delay: 2,
      listen: '127.0.0.1',
      port: 1143,
      imap_max_line_length: 65536,
      max_literal_size: 50 * 1024 * 1024,
      mail_max_userip_connections: 10,
    });
    expect(defaultSettings('/srv/vmail', 'ThisIsABadPassword')).toEqual(s);
  });

  it('refuses to run without a password, naming passdb', () => {
    const e = settingsError(() => buildSettings({}, { defaultVmail: '/srv/vmail' }));
    expect(e.setting).toBe('passdb');
    expect(e.code).toBe('SETTINGS_MISSING');
  });

  it('puts the data directory where each platform expects it', () => {
    expect(defaultDataDir({ platform: 'linux', env: {}, home: '/home/a' })).toBe('/home/a/.local/share/roost');
    expect(defaultDataDir({ platform: 'linux', env: { XDG_DATA_HOME: '/x/data' }, home: '/home/a' })).toBe('/x/data/roost');
    // A relative XDG_DATA_HOME is invalid per the XDG spec and ignored.
    expect(defaultDataDir({ platform: 'linux', env: { XDG_DATA_HOME: 'rel' }, home: '/home/a' })).toBe('/home/a/.local/share/roost');
    expect(defaultDataDir({ platform: 'darwin', env: {}, home: '/Users/a' })).toBe('/Users/a/Library/Application Support/Roost');
    expect(defaultDataDir({ platform: 'win32', env: { APPDATA: 'C:\\Users\\a\\AppData\\Roaming' }, home: 'C:\\Users\\a' })).toBe('C:\\Users\\a\\AppData\\Roaming\\Roost');
  });
});

describe('templates', () => {
  it('expands %u %n %d, their lowercase forms, long names and %%', () => {
    expect(expandTemplate('/var/vmail/%d/%n', 'alice@brokkr.net')).toBe('/var/vmail/brokkr.net/alice');
    expect(expandTemplate('%u|%n|%d', 'Bob@Example.ORG')).toBe('Bob@Example.ORG|Bob|Example.ORG');
    expect(expandTemplate('%Lu|%Ln|%Ld', 'Bob@Example.ORG')).toBe('bob@example.org|bob|example.org');
    expect(expandTemplate('%{user}/%{username}/%{domain}', 'a@b')).toBe('a@b/a/b');
    expect(expandTemplate('100%%/%n', 'a@b')).toBe('100%/a');
    expect(expandTemplate('~/maildir/%h', 'a@b', { home: '/h' })).toBe('~/maildir//h');
  });

  it('leaves %d empty for a name without a domain, as Dovecot does', () => {
    expect(expandTemplate('/var/vmail/%d/%n', 'alice')).toBe('/var/vmail//alice');
  });

  it('does not expand variables inside the username', () => {
    expect(expandTemplate('/v/%d/%n', '%d%n@x')).toBe('/v/x/%d%n');
  });

  it('refuses unknown variables with an error naming the setting', () => {
    expect(() => expandTemplate('/v/%x', 'a@b')).toThrow(/unknown variable/);
    const e = settingsError(() => fromConf('mail_home = /v/%z/%n\n', pw()));
    expect(e.setting).toBe('mail_home');
    expect(e.message).toMatch(/%z/);
  });

  it('finds the fixed directory a template starts with', () => {
    expect(templateStaticPrefix('/var/vmail/%d/%n')).toBe('/var/vmail');
    expect(templateStaticPrefix('/var/vmail/user-%n')).toBe('/var/vmail');
    expect(templateStaticPrefix('/home/shared')).toBe('/home/shared');
    expect(templateStaticPrefix('/%d/%n')).toBe('/');
  });
});

describe('value syntax', () => {
  it('reads Dovecot sizes and times', () => {
    expect(parseSize('65536')).toBe(65536);
    expect(parseSize('64k')).toBe(65536);
    expect(parseSize('64 k')).toBe(65536);
    expect(parseSize('64 kB')).toBe(65536);
    expect(parseSize('10M')).toBe(10 * 1024 * 1024);
    expect(parseSize('10x')).toBeNull();
    expect(parseTime('2')).toBe(2);
    expect(parseTime('2s')).toBe(2);
    expect(parseTime('2 secs')).toBe(2);
    expect(parseTime('500 ms')).toBe(0.5);
    expect(parseTime('1 min')).toBe(60);
    expect(parseTime('1 hours')).toBe(3600);
    expect(parseTime('abc')).toBeNull();
    expect(parseTime('2 fortnights')).toBeNull();
  });

  it('prints them the way doveconf does', () => {
    expect(formatSize(65536)).toBe('64 k');
    expect(formatSize(128 * 1024)).toBe('128 k');
    expect(formatSize(10 * 1024 * 1024)).toBe('10 M');
    expect(formatSize(1000)).toBe('1000 B');
    expect(formatTime(2)).toBe('2 secs');
    expect(formatTime(60)).toBe('1 mins');
    expect(formatTime(3600)).toBe('1 hours');
    expect(formatTime(0.5)).toBe('500 msecs');
  });
});

const SEED = `
# The seed's setup (10-mail.conf, 10-auth.conf, auth-static.conf.ext, 10-master.conf)
mail_home = /var/vmail/%d/%n
mail_location = maildir:~/maildir
auth_mechanisms = plain
disable_plaintext_auth = no

passdb {
  driver = static
  args = password=ThisIsABadPassword
}
userdb {
  driver = static
  args = uid=vmail gid=vmail
}
service imap-login {
  inet_listener imap {
    port = 143
  }
  inet_listener imaps {
    #port = 993
    #ssl = yes
  }
}
`;

describe('Dovecot-style config files', () => {
  it("reads the seed's configuration", () => {
    const s = fromConf(SEED);
    expect(s.vmail).toBe('/var/vmail'); // derived from mail_home
    expect(s.mail_home).toBe('/var/vmail/%d/%n');
    expect(s.mail_location).toBe('maildir:~/maildir');
    expect(s.passdb).toEqual({ driver: 'static', password: 'ThisIsABadPassword' });
    expect(s.userdb).toEqual({ driver: 'static', uid: 5000, gid: 5000, uidName: 'vmail', gidName: 'vmail' });
    expect(s.disable_plaintext_auth).toBe(false);
    expect(s.port).toBe(143);
  });

  it('accepts numeric uid/gid and checks them against first_valid_uid with Dovecot\'s words', () => {
    expect(fromConf('userdb {\n driver = static\n args = uid=5000 gid=5000\n}\n', pw()).userdb).toEqual({ driver: 'static', uid: 5000, gid: 5000 });
    let e = settingsError(() => fromConf('userdb {\n driver = static\n args = uid=www-data gid=vmail\n}\n', pw()));
    expect(e.setting).toBe('userdb');
    expect(e.problem).toBe('Mail access for users with UID 33 not permitted (see first_valid_uid in config file, uid from userdb lookup).');
    expect(e.message).toMatch(/^Error in configuration file test.conf line 3: userdb: Mail access for users with UID 33/);
    e = settingsError(() => fromConf('userdb {\n args = uid=vmail gid=0\n}\n', pw()));
    expect(e.problem).toBe('Mail access for users with GID 0 not permitted (see first_valid_gid in config file, gid from userdb lookup).');
    e = settingsError(() => fromConf('last_valid_uid = 4000\nuserdb {\n args = uid=vmail\n}\n', pw()));
    expect(e.problem).toBe('Mail access for users with UID 5000 not permitted (see last_valid_uid in config file, uid from userdb lookup).');
    e = settingsError(() => fromConf('first_valid_uid = 0\nuserdb {\n args = uid=root\n}\n', pw()));
    expect(e.problem).toBe('Invalid settings in userdb: userdb returned 0 as uid');
    // Lowering first_valid_uid admits www-data, as in Dovecot.
    expect(fromConf('first_valid_uid = 33\nuserdb {\n args = uid=www-data gid=www-data\n}\n', pw()).userdb.uid).toBe(33);
  });

  it('names an unknown user or group', () => {
    const e = settingsError(() => fromConf('userdb {\n driver = static\n args = uid=nosuchuser gid=vmail\n}\n', pw()));
    expect(e.setting).toBe('userdb');
    expect(e.problem).toMatch(/^Invalid UID value 'nosuchuser'/);
  });

  it('reports unknown settings by name with the closest known one', () => {
    let e = settingsError(() => fromConf('mail_hmoe = /x/%n\n', pw()));
    expect(e.code).toBe('SETTINGS_UNKNOWN');
    expect(e.setting).toBe('mail_hmoe');
    expect(e.message).toBe('Error in configuration file test.conf line 1: mail_hmoe: Unknown setting (did you mean mail_home?)');
    e = settingsError(() => fromConf('disable_plaintex_auth = no\n', pw()));
    expect(e.message).toMatch(/did you mean disable_plaintext_auth\?/);
    e = settingsError(() => fromConf('port = 1143\n', pw()));
    expect(e.message).toMatch(/service imap-login \{ inet_listener imap \{ port = N \} \}/);
    e = settingsError(() => fromConf('passdb {\n driver = static\n pasword = x\n}\n', pw()));
    expect(e.setting).toBe('passdb { pasword }');
    e = settingsError(() => fromConf('service pop3-login {\n}\n', pw()));
    expect(e.setting).toBe('service pop3-login');
    e = settingsError(() => fromConf('pasdb {\n}\n', pw()));
    expect(e.message).toMatch(/Unknown section \(did you mean passdb\?\)/);
  });

  it('names the setting for every bad value, with the line', () => {
    const cases: Array<[string, string, RegExp]> = [
      ['auth_failure_delay = abc', 'auth_failure_delay', /Invalid time interval: abc/],
      ['imap_max_line_length = 10x', 'imap_max_line_length', /Invalid size: 10x/],
      ['imap_max_line_length = 10', 'imap_max_line_length', /too small/],
      ['disable_plaintext_auth = maybe', 'disable_plaintext_auth', /Invalid boolean value: maybe \(use yes or no\)/],
      ['first_valid_uid = -1', 'first_valid_uid', /Invalid number -1: Number too small/],
      ['mail_max_userip_connections = x', 'mail_max_userip_connections', /Invalid number x: Not a valid number/],
      ['auth_mechanisms = plain cram-md5', 'auth_mechanisms', /Unknown authentication mechanism 'cram-md5'/],
      ['auth_mechanisms = ', 'auth_mechanisms', /No authentication mechanisms/],
      ['listen = *, ::', 'listen', /one address/],
      ['listen = not an address', 'listen', /Invalid address/],
      ['mail_location = mbox:~/mail:INBOX=/var/mail/%u', 'mail_location', /only the maildir driver/],
      ['mail_location = maildir:~/Maildir:LAYOUT=fs', 'mail_location', /LAYOUT/],
      ['mail_home = relative/%n', 'mail_home', /absolute/],
      ['ssl = yes', 'ssl', /TLS/],
      ['protocols = pop3', 'protocols', /imap/],
    ];
    for (const [line, setting, problem] of cases) {
      const e = settingsError(() => fromConf(`# comment\n${line}\n`, pw()));
      expect(e.setting, line).toBe(setting);
      expect(e.message, line).toMatch(problem);
      expect(e.message, line).toMatch(/^Error in configuration file test.conf line 2: /);
    }
    const e = settingsError(() => fromConf('service imap-login {\n inet_listener imap {\n  port = 99999\n }\n}\n', pw()));
    expect(e.setting).toBe('port');
    expect(e.message).toBe('Error in configuration file test.conf line 3: port: Invalid port number 99999 (use 1-65535)');
  });

  it('accepts Dovecot time and size syntax and the 2.4 spelling of disable_plaintext_auth', () => {
    const s = fromConf('auth_failure_delay = 2s\nimap_max_line_length = 128 k\nauth_allow_cleartext = yes\nauth_mechanisms = PLAIN, login\n', pw());
    expect(s.auth_failure_delay).toBe(2);
    expect(s.imap_max_line_length).toBe(131072);
    expect(s.disable_plaintext_auth).toBe(false);
    expect(s.auth_mechanisms).toEqual(['plain', 'login']);
    expect(fromConf('listen = *\n', pw()).listen).toBe('0.0.0.0');
    expect(fromConf('listen = ::\n', pw()).listen).toBe('::');
  });

  it('handles comments, quotes and braces inside values', () => {
    let s = fromConf('passdb {\n driver = static\n args = "password=has#hash and space}"\n}\n');
    expect(s.passdb.password).toBe('has#hash and space}');
    s = fromConf('passdb { # comment\n  args = password=abc # a comment\n}\n');
    expect(s.passdb.password).toBe('abc');
    s = fromConf('passdb {\n  args = password={PLAIN}secret\n}\n');
    expect(s.passdb.password).toBe('secret');
  });

  it('refuses what it cannot honour rather than guessing', () => {
    let e = settingsError(() => fromConf('passdb {\n  args = password=abc#def\n}\n'));
    expect(e.code).toBe('SETTINGS_SYNTAX');
    expect(e.message).toMatch(/line 2: Ambiguous '#'/);
    e = settingsError(() => fromConf('passdb {\n  args = password={SHA512-CRYPT}$6$abc\n}\n'));
    expect(e.message).toMatch(/SHA512-CRYPT/);
    e = settingsError(() => fromConf('passdb {\n  args = password=x allow_nets=127.0.0.1\n}\n'));
    expect(e.message).toMatch(/allow_nets/);
    e = settingsError(() => fromConf(`passdb {\n  args = password=${HIDDEN_PASSWORD}\n}\n`));
    expect(e.message).toMatch(/masked/);
    e = settingsError(() => fromConf('passdb {\n driver = pam\n}\n', pw()));
    expect(e.message).toMatch(/driver 'pam'/);
    e = settingsError(() => fromConf('!include auth-static.conf.ext\n', pw()));
    expect(e.message).toMatch(/line 1: !include is not supported/);
    e = settingsError(() => fromConf('passdb {\n driver = static\n', pw()));
    expect(e.message).toMatch(/Missing '}'/);
    e = settingsError(() => fromConf('service imap-login { inet_listener imap { port = 2143 } }\n', pw()));
    expect(e.message).toMatch(/line 1: Expecting '=' \(a section's/);
    e = settingsError(() => fromConf('}\n', pw()));
    expect(e.message).toMatch(/line 1: Unexpected '}'/);
    e = settingsError(() => fromConf('mail_home /var/vmail\n', pw()));
    expect(e.message).toMatch(/line 1: Expecting '='/);
    e = settingsError(() => fromConf('service imap-login {\n inet_listener imaps {\n  port = 993\n }\n}\n', pw()));
    expect(e.message).toMatch(/TLS \(imaps\)/);
    e = settingsError(() => fromConf('service imap-login {\n inet_listener imap {\n  port = 0\n }\n}\n', pw()));
    expect(e.message).toMatch(/disable the only IMAP listener/);
    e = settingsError(() => fromConf('passdb {\n args = password=a\n}\npassdb {\n args = password=b\n}\n'));
    expect(e.message).toMatch(/line 4: passdb: Roost supports one passdb/);
  });

  it('lets userdb home= override mail_home, as Dovecot does', () => {
    const s = fromConf('mail_home = /a/%d/%n\nuserdb {\n args = home=/b/%d/%n\n}\n', pw());
    expect(s.mail_home).toBe('/b/%d/%n');
    expect(s.vmail).toBe('/b');
  });

  it('never crashes on garbage: every failure is a SettingsError', () => {
    const alphabet = ['=', '{', '}', '#', '"', "'", ' ', '\n', 'passdb', 'userdb', 'service', 'port', 'args', 'a', '%', '\\', '\0', 'é'];
    let seed = 12345;
    const rnd = (n: number): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
    for (let i = 0; i < 500; i++) {
      let text = '';
      for (let j = 0; j < 30; j++) text += alphabet[rnd(alphabet.length)];
      try {
        fromConf(text, pw());
      } catch (e) {
        expect(e).toBeInstanceOf(SettingsError);
      }
    }
  });
});

describe('JSON config files', () => {
  it('reads settings, passdb and userdb', () => {
    const raw = parseJsonConfig(JSON.stringify({
      vmail: '/srv/mail', port: 2143, listen: '0.0.0.0', disable_plaintext_auth: false, auth_failure_delay: '2 secs',
      auth_mechanisms: ['plain', 'login'], passdb: { driver: 'static', password: 'pw pw' }, userdb: { uid: 'vmail', gid: 5000 },
    }), 'roost.json');
    const s = buildSettings(raw, { passwdFile: passwd, groupFile: group });
    expect(s.vmail).toBe('/srv/mail');
    expect(s.mail_home).toBe('/srv/mail/%d/%n');
    expect(s.port).toBe(2143);
    expect(s.disable_plaintext_auth).toBe(false);
    expect(s.auth_mechanisms).toEqual(['plain', 'login']);
    expect(s.passdb.password).toBe('pw pw');
    expect(s.userdb).toEqual({ driver: 'static', uid: 5000, gid: 5000, uidName: 'vmail' });
    expect(buildSettings(parseJsonConfig('{"passdb": {"args": "password=x1"}}', 'r.json')).passdb.password).toBe('x1');
  });

  it('reports unknown keys and bad JSON by name', () => {
    let e = settingsError(() => parseJsonConfig('{"lisen": "127.0.0.1"}', 'r.json'));
    expect(e.setting).toBe('lisen');
    expect(e.message).toBe('Error in configuration file r.json: lisen: Unknown setting (did you mean listen?)');
    e = settingsError(() => parseJsonConfig('{"passdb": {"pasword": "x"}}', 'r.json'));
    expect(e.message).toMatch(/passdb.pasword: Unknown setting \(did you mean passdb.password\?\)/);
    e = settingsError(() => parseJsonConfig('{"port": ', 'r.json'));
    expect(e.code).toBe('SETTINGS_SYNTAX');
    e = settingsError(() => buildSettings(parseJsonConfig('{"port": -1, "passdb": {"password": "x"}}', 'r.json')));
    expect(e.setting).toBe('port');
    e = settingsError(() => buildSettings(parseJsonConfig('{"listen": ["a"], "passdb": {"password": "x"}}', 'r.json')));
    expect(e.setting).toBe('listen');
  });

  it('loads by file extension and explains unreadable files', () => {
    const conf = path.join(tmp, 'roost.conf');
    fs.writeFileSync(conf, 'passdb {\n args = password=fromconf\n}\n');
    const json = path.join(tmp, 'roost.json');
    fs.writeFileSync(json, '{"passdb": {"password": "fromjson"}}');
    expect(buildSettings(loadConfigFile(conf)).passdb.password).toBe('fromconf');
    expect(buildSettings(loadConfigFile(json)).passdb.password).toBe('fromjson');
    const e = settingsError(() => loadConfigFile(path.join(tmp, 'missing.conf')));
    expect(e.code).toBe('SETTINGS_FILE');
    expect(e.message).toMatch(/No such file or directory/);
  });
});

describe('overrides and precedence', () => {
  it('lets later layers win and -o set any setting', () => {
    const flags: RawSettings = {};
    parseOverride('auth_failure_delay=0', { kind: 'flag', flag: '-o' }, flags);
    parseOverride('password=fromflag', { kind: 'flag', flag: '-o' }, flags);
    const s = buildSettings(mergeRaw(parseDovecotConfig(SEED, 'seed.conf'), flags), { passwdFile: passwd, groupFile: group });
    expect(s.auth_failure_delay).toBe(0);
    expect(s.passdb.password).toBe('fromflag');
    const e = settingsError(() => parseOverride('no_such=1', { kind: 'flag', flag: '-o' }, {}));
    expect(e.message).toBe('-o: no_such: Unknown setting');
  });

  it('names the flag in errors', () => {
    const e = settingsError(() => buildSettings({ ...pw(), port: { value: 'abc', source: { kind: 'flag', flag: '--port' } } }));
    expect(e.message).toBe('--port: Invalid port number abc (use 1-65535)');
  });

  it('suggests close names only', () => {
    expect(suggestSetting('mail_hom')).toBe('mail_home');
    expect(suggestSetting('zzzzzzzzzzzz')).toBeUndefined();
  });
});

describe('doveconf', () => {
  it('prints non-default settings in Dovecot syntax and order, password masked', () => {
    const s = fromConf(SEED);
    expect(doveconf(s)).toBe([
      // the seed's 'plain' is Dovecot's default but not Roost's, so it is printed
      'auth_mechanisms = plain',
      'disable_plaintext_auth = no',
      'listen = 127.0.0.1',
      'mail_home = /var/vmail/%d/%n',
      'mail_location = maildir:~/maildir',
      'passdb {',
      '  args = password=#hidden_use-P_to_show#',
      '  driver = static',
      '}',
      'protocols = imap',
      'service imap-login {',
      '  inet_listener imap {',
      '    port = 143',
      '  }',
      '}',
      'userdb {',
      '  args = uid=vmail gid=vmail',
      '  driver = static',
      '}',
      '',
    ].join('\n'));
    expect(doveconf(s)).not.toContain('ThisIsABadPassword');
    expect(doveconf(s, { showPassword: true })).toContain('  args = password=ThisIsABadPassword\n');
  });

  it('prints the port block, sizes and times like doveconf, and Roost-only settings last', () => {
    const s = { ...defaultSettings('/srv/vmail', 'pw'), port: 1143, auth_failure_delay: 3, imap_max_line_length: 128 * 1024, max_literal_size: 10 * 1024 * 1024, auth_mechanisms: ['plain', 'login'] as const };
    const text = doveconf({ ...s, auth_mechanisms: [...s.auth_mechanisms] }, { header: ['Roost test'] });
    expect(text.startsWith('# Roost test\nauth_failure_delay = 3 secs\nauth_mechanisms = plain login\n')).toBe(true);
    expect(text).toContain('imap_max_line_length = 128 k\n');
    expect(text).toContain('service imap-login {\n  inet_listener imap {\n    port = 1143\n  }\n}\n');
    expect(text).toMatch(/# Roost-only settings[^\n]*\nmax_literal_size = 10 M\n$/);
  });

  it('round-trips: reading doveconf -P output gives the same settings', () => {
    const variants = [
      fromConf(SEED),
      { ...defaultSettings('/srv/vmail', 'with space and #hash'), listen: '0.0.0.0', auth_failure_delay: 0.5, max_literal_size: 1024 * 1024 },
      { ...defaultSettings('/srv/vmail', 'p'), mail_home: '/home/vmail/%Ld/%Ln', vmail: '/srv/vmail', cache_dir: '/var/cache/roost' },
    ];
    for (const s of variants) {
      const text = doveconf(s, { showPassword: true });
      const back = buildSettings(parseDovecotConfig(text, 'doveconf.out'), { passwdFile: passwd, groupFile: group });
      expect(back, text).toEqual(s);
    }
  });
});

describe('fileOwner', () => {
  const base = defaultSettings('/srv/vmail', 'pw');
  const stat = () => ({ uid: 5000, gid: 5001 });

  it('uses the configured uid/gid', () => {
    expect(fileOwner({ ...base, userdb: { driver: 'static', uid: 5000, gid: 5000 } }, { processUid: 0, stat })).toEqual({ uid: 5000, gid: 5000 });
  });

  it('as root with nothing configured, uses the vmail directory owner', () => {
    expect(fileOwner(base, { processUid: 0, stat })).toEqual({ uid: 5000, gid: 5001 });
    expect(fileOwner(base, { processUid: 0, stat: () => ({ uid: 0, gid: 0 }) })).toEqual({ uid: undefined, gid: undefined });
  });

  it('as another user with nothing configured, leaves ownership alone', () => {
    expect(fileOwner(base, { processUid: 1000, stat })).toEqual({ gid: undefined });
  });

  it("refuses a uid a non-root process can't give files to", () => {
    const e = settingsError(() => fileOwner({ ...base, userdb: { driver: 'static', uid: 5000, uidName: 'vmail' } }, { processUid: 1000, stat }));
    expect(e.setting).toBe('userdb');
    expect(e.message).toMatch(/uid=vmail needs root/);
  });
});
