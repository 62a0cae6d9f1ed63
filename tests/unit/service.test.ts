// The app service (electron/service): settings file, validation with per-field problems, Postfix import,
// port and path checks, and the running server as the dashboard sees it (real worker, real sockets).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ApiEvent, AppSettings } from '../../electron/shared/api.js';
import { ApiCallError } from '../../electron/shared/api-validate.js';
import { checkPath, checkPort } from '../../electron/service/checks.js';
import { importPostfix, parseMainCf, expandPostfix } from '../../electron/service/postfix.js';
import { MemorySecretStore, PasswordFileStore } from '../../electron/service/secret-store.js';
import { RoostService, composeSettingsRaw } from '../../electron/service/service.js';
import { buildSettings } from '../../electron/shared/settings.js';
import { readSettingsFile } from '../../electron/service/settings-store.js';
import { writeFileAtomic } from '../../electron/supervisor/files.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
let tmp: string;
const services: RoostService[] = [];

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'roost-service-'));
});
afterEach(async () => {
  for (const s of services.splice(0)) await s.dispose();
  vi.restoreAllMocks();
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function dirs(name: string): { dataDir: string; vmail: string } {
  const base = fs.mkdtempSync(path.join(tmp, `${name}-`));
  const vmail = path.join(base, 'vmail');
  fs.mkdirSync(vmail);
  return { dataDir: path.join(base, 'data'), vmail };
}

function service(dataDir: string, extra: Partial<ConstructorParameters<typeof RoostService>[0]> = {}): RoostService {
  const s = new RoostService({ dataDir, mode: 'browser', secrets: new PasswordFileStore(dataDir), logFile: path.join(dataDir, 'logs', 'roost.log'), ...extra });
  services.push(s);
  return s;
}

function appSettings(vmail: string, over: Partial<AppSettings> = {}): AppSettings {
  return {
    vmail, mail_home: '', mail_location: 'maildir:~/maildir', password: 'Secret-Pw-1', auth_mechanisms: ['plain', 'login'],
    disable_plaintext_auth: false, uid: '', gid: '', first_valid_uid: 0, listen: '127.0.0.1', port: 1143, startWithRoost: true, notifications: true,
    ...over,
  };
}

describe('settings', () => {
  it('round trip: defaults first, then saved settings; the password never in settings.json', async () => {
    const d = dirs('roundtrip');
    const s1 = service(d.dataDir);
    expect(s1.firstRun).toBe(true);
    const defaults = s1.getSettings();
    expect(defaults.vmail).toBe(path.join(d.dataDir, 'vmail'));
    expect(defaults.port).toBe(1143);
    expect(defaults.listen).toBe('127.0.0.1');
    // A proposed password, stable across calls until saved.
    expect(defaults.password).toMatch(/^[a-z2-9]{4}(-[a-z2-9]{4}){3}$/);
    expect(s1.getSettings().password).toBe(defaults.password);

    const wanted = appSettings(d.vmail, { port: 2143, mail_home: `${d.vmail}/%d/%n`, notifications: false });
    const saved = await s1.call('saveSettings', { settings: wanted }) as { settings: AppSettings; restartNeeded: boolean };
    expect(saved.settings).toEqual(wanted);
    expect(saved.restartNeeded).toBe(false); // nothing running
    const file = path.join(d.dataDir, 'settings.json');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const text = fs.readFileSync(file, 'utf8');
    expect(text).not.toContain('Secret-Pw-1');
    expect(JSON.parse(text)).toMatchObject({ version: 1, wizardCompleted: true, settings: { port: 2143, notifications: false } });
    expect(fs.readFileSync(path.join(d.dataDir, 'password'), 'utf8')).toBe('Secret-Pw-1\n');

    const s2 = service(d.dataDir);
    expect(s2.firstRun).toBe(false);
    expect(await s2.call('getSettings', undefined)).toEqual(wanted);
    expect(s2.effectiveSettings()).toMatchObject({ port: 2143, vmail: d.vmail, passdb: { password: 'Secret-Pw-1' } });
  });

  it('writes atomically: data fsynced before the rename, no temporary files left', () => {
    const d = dirs('atomic');
    const file = path.join(d.dataDir, 'x.json');
    writeFileAtomic(file, 'old\n');
    const order: string[] = [];
    const fsync = vi.spyOn(fs, 'fsyncSync').mockImplementation(function (this: unknown, fd: number) { order.push('fsync'); void fd; });
    const rename = vi.spyOn(fs, 'renameSync');
    rename.mockImplementationOnce(() => { order.push('rename'); throw Object.assign(new Error('disk full'), { code: 'ENOSPC' }); });
    expect(() => writeFileAtomic(file, 'new\n')).toThrow('disk full');
    // A failed write leaves the old file whole and no temporary behind.
    expect(fs.readFileSync(file, 'utf8')).toBe('old\n');
    expect(fs.readdirSync(d.dataDir)).toEqual(['x.json']);
    expect(order).toEqual(['fsync', 'rename']);
    fsync.mockRestore();
    rename.mockRestore();
    writeFileAtomic(file, 'new\n');
    expect(fs.readFileSync(file, 'utf8')).toBe('new\n');
    expect(fs.readdirSync(d.dataDir)).toEqual(['x.json']);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  });

  it('a damaged settings file falls back to the wizard instead of refusing to open', () => {
    const d = dirs('damaged');
    fs.mkdirSync(d.dataDir, { recursive: true });
    fs.writeFileSync(path.join(d.dataDir, 'settings.json'), '{"version": 1, "settings": ');
    const records: string[] = [];
    const s = service(d.dataDir, { log: (r) => records.push(r.message) });
    expect(s.firstRun).toBe(true);
    expect(records.join('\n')).toMatch(/ignoring .*settings\.json: .*Invalid JSON/);
    // Unknown or mistyped fields take their defaults.
    fs.writeFileSync(path.join(d.dataDir, 'settings.json'), JSON.stringify({ version: 1, wizardCompleted: true, settings: { port: 'x', listen: '0.0.0.0', future: 1 } }));
    expect(readSettingsFile(d.dataDir)?.settings).toMatchObject({ port: 1143, listen: '0.0.0.0' });
  });

  it('invalid settings: one problem per field, in the server\'s words, naming the setting', async () => {
    const d = dirs('invalid');
    const s = service(d.dataDir);
    const bad = appSettings(d.vmail, {
      mail_home: 'relative/%d/%n',
      mail_location: 'mbox:~/mail',
      password: 'two\nlines',
      listen: '*, ::',
      uid: 'no-such-user-here',
      auth_mechanisms: [],
    });
    const v = s.validateSettings(bad);
    expect(v.ok).toBe(false);
    const byField = Object.fromEntries(v.errors.map((e) => [e.field, e.message]));
    expect(byField.mail_home).toMatch(/^mail_home: must be an absolute path/);
    expect(byField.mail_location).toMatch(/^mail_location: only the maildir driver is supported/);
    expect(byField.password).toMatch(/password must not contain NUL, CR or LF/);
    expect(byField.listen).toMatch(/^listen: Roost listens on one address/);
    expect(byField.uid).toMatch(/Invalid UID value 'no-such-user-here'/);
    expect(byField.auth_mechanisms).toMatch(/^auth_mechanisms: No authentication mechanisms/);

    const missing = s.validateSettings(appSettings(path.join(tmp, 'nope')));
    expect(missing.errors).toEqual([{ field: 'vmail', message: expect.stringMatching(/does not exist/) }]);

    await expect(s.call('saveSettings', { settings: bad })).rejects.toMatchObject({ code: 'INVALID', problems: expect.arrayContaining([expect.objectContaining({ field: 'listen' })]) });
    expect(fs.existsSync(path.join(d.dataDir, 'settings.json'))).toBe(false);
  });

  it('valid settings: doveconf -n text, the path preview, and warnings', () => {
    const d = dirs('valid');
    const s = service(d.dataDir);
    const v = s.validateSettings(appSettings(d.vmail, { listen: '0.0.0.0', mail_home: `${d.vmail}/%d/%n` }));
    expect(v.errors).toEqual([]);
    expect(v.ok).toBe(true);
    expect(v.preview).toEqual({ user: 'alice@brokkr.net', path: `${d.vmail}/brokkr.net/alice/maildir/` });
    expect(v.doveconf).toContain(`mail_home = ${d.vmail}/%d/%n`);
    expect(v.doveconf).toContain('passdb {\n  args = password=#hidden_use-P_to_show#');
    expect(v.doveconf).not.toContain('Secret-Pw-1');
    expect(v.warnings.find((w) => w.field === 'listen')?.message).toMatch(/unencrypted/);
  });
});

describe('flags over saved settings (headless)', () => {
  it('saved settings are the base; overrides win for this run and are listed', () => {
    const d = dirs('overrides');
    const s1 = service(d.dataDir);
    const saved = appSettings(d.vmail, { port: 2143, mail_home: `${d.vmail}/%d/%n/home`, listen: '0.0.0.0' });
    return s1.saveSettings(saved).then(() => {
      const other = path.join(tmp, 'other-vmail');
      fs.mkdirSync(other, { recursive: true });
      const overrides = {
        port: { value: '3000', source: { kind: 'flag' as const, flag: '--port' } },
        vmail: { value: other, source: { kind: 'flag' as const, flag: '--vmail' } },
      };
      const file = readSettingsFile(d.dataDir);
      const eff = buildSettings(composeSettingsRaw(d.dataDir, file, 'Secret-Pw-1', overrides));
      expect(eff.port).toBe(3000);
      expect(eff.listen).toBe('0.0.0.0'); // from the saved settings
      // --vmail replaces the saved vmail *and* its mail_home template.
      expect(eff.vmail).toBe(other);
      expect(eff.mail_home).toBe(`${other}/%d/%n`);
      const s2 = service(d.dataDir, { overrides });
      expect(s2.appInfo().overrides).toEqual([
        { field: 'vmail', source: 'the --vmail flag', value: other },
        { field: 'port', source: 'the --port flag', value: '3000' },
        { field: 'mail_home', source: 'the --vmail flag', value: `${other}/%d/%n` },
      ]);
      // The UI edits the saved settings, not the overridden ones.
      expect(s2.getSettings().port).toBe(2143);
      expect(s2.effectiveSettings().port).toBe(3000);
    });
  });
});

describe('importPostfix', () => {
  it('reads main.cf (continuations, $variables, hash: maps) and proposes the matching template', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'postfix-'));
    const map = path.join(dir, 'vmailbox');
    fs.writeFileSync(path.join(dir, 'main.cf'), [
      '# Postfix main.cf',
      'mail_base = /var/vmail',
      'virtual_mailbox_domains = brokkr.net,',
      '    example.org',
      'virtual_mailbox_base = $mail_base',
      `virtual_mailbox_maps = hash:${map}`,
      'virtual_minimum_uid = 100',
      'virtual_uid_maps = static:5000',
      'virtual_gid_maps = static:${vgid}',
      'vgid = 5001',
      '',
    ].join('\n'));
    fs.writeFileSync(map, [
      '# address            maildir (relative to virtual_mailbox_base)',
      'alice@brokkr.net     brokkr.net/alice/maildir/',
      'bob@brokkr.net       brokkr.net/bob/maildir/',
      'carol@example.org    example.org/carol/maildir/',
      'dave@example.org     example.org/shared/dave/',
      'eve@example.org',
      '    example.org/eve/maildir/',
      'old@example.org      example.org/old/mbox',
      '@catchall.net        catchall/',
    ].join('\n'));
    const r = importPostfix(dir);
    expect(r.virtual_mailbox_base).toBe('/var/vmail');
    expect(r.virtual_mailbox_maps).toBe(`hash:${map}`);
    expect(r.virtual_mailbox_domains).toBe('brokkr.net, example.org');
    expect(r.virtual_uid_maps).toBe('static:5000');
    expect(r.virtual_gid_maps).toBe('static:5001');
    expect(r.proposal).toEqual({ vmail: '/var/vmail', mail_home: '/var/vmail/%d/%n', mail_location: 'maildir:~/maildir', uid: '5000', gid: '5001' });
    expect(r.unmatched).toEqual([{ address: 'dave@example.org', mapped: '/var/vmail/example.org/shared/dave/', templateGives: '/var/vmail/example.org/dave/maildir/' }]);
    expect(r.notes.join('\n')).toMatch(/old@example.org -> example.org\/old\/mbox: an mbox file/);
    expect(r.notes.join('\n')).toMatch(/@catchall.net/);
  });

  it('learns other layouts and explains what it cannot read', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'postfix2-'));
    // A map path under /etc/postfix is found in the chosen directory too (a copied configuration).
    fs.writeFileSync(path.join(dir, 'main.cf'), 'virtual_mailbox_base = /srv/mail\nvirtual_mailbox_maps = hash:/etc/postfix/does-not-exist-vmaps, mysql:/etc/postfix/mysql.cf\n');
    fs.writeFileSync(path.join(dir, 'does-not-exist-vmaps'), 'a@x.org x.org/a/\nb@y.org y.org/b/\n');
    const r = importPostfix(dir);
    expect(r.proposal).toMatchObject({ vmail: '/srv/mail', mail_home: '/srv/mail/%d/%n', mail_location: 'maildir:~' });
    expect(r.unmatched).toEqual([]);
    expect(r.notes.join('\n')).toMatch(/mysql:\/etc\/postfix\/mysql.cf is a mysql table/);
    expect(importPostfix(path.join(tmp, 'no-such-dir')).notes[0]).toMatch(/main\.cf does not exist/);
  });

  it('parses main.cf syntax', () => {
    const p = parseMainCf('a = 1\n# c\nb = $a ${a}\n  more\nc=$(b)x\n');
    expect(p.get('b')).toBe('$a ${a} more');
    expect(expandPostfix(p.get('c') ?? '', p)).toBe('1 1 morex');
  });
});

describe('checkPort and checkPath', () => {
  it('a port in use is reported with a free suggestion; a free one is free', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const used = await checkPort('127.0.0.1', port);
      expect(used.status).toBe('in-use');
      expect(used.message).toMatch(new RegExp(`Port ${port} is already in use`));
      expect(used.suggestion).toBeGreaterThan(port);
    } finally {
      await new Promise((r) => blocker.close(r));
    }
    expect((await checkPort('127.0.0.1', port)).status).toBe('free');
    expect((await checkPort('not an address!', 1143)).status).toBe('bad-address');
    expect((await checkPort('192.0.2.123', 1143)).status).toBe('bad-address'); // TEST-NET-1: not ours
  });

  it('a privileged port says what to do', async (ctx) => {
    if (process.platform === 'win32') ctx.skip('no privileged ports on Windows');
    let r: { status: string; suggestion?: number; message: string };
    if (process.getuid?.() === 0) {
      // Root may bind 143: ask as nobody, in a child process running the same code (bundled).
      const dir = fs.mkdtempSync(path.join(tmp, 'nobody-'));
      fs.chmodSync(tmp, 0o755);
      fs.chmodSync(dir, 0o755);
      const script = `
        import { build } from 'esbuild';
        await build({ absWorkingDir: ${JSON.stringify(ROOT)}, bundle: true, platform: 'node', target: 'node20', format: 'esm',
          packages: 'external', logLevel: 'error', entryPoints: { checks: 'electron/service/checks.ts' }, outdir: ${JSON.stringify(dir)} });`;
      const b = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
      expect(b.status, b.stderr).toBe(0);
      const run = spawnSync(process.execPath, ['--input-type=module', '-e',
        `const { checkPort } = await import(${JSON.stringify(path.join(dir, 'checks.js'))}); console.log(JSON.stringify(await checkPort('127.0.0.1', 143)));`,
      ], { cwd: dir, encoding: 'utf8', uid: 65534, gid: 65534 });
      expect(run.status, run.stderr).toBe(0);
      r = JSON.parse(run.stdout) as typeof r;
    } else {
      r = await checkPort('127.0.0.1', 143);
    }
    if (r.status === 'free') {
      console.log('skipped: this user may bind port 143 (CAP_NET_BIND_SERVICE or a lowered ip_unprivileged_port_start)');
      ctx.skip('this user may bind port 143');
    }
    expect(r.status).toBe('needs-privileges');
    expect(r.suggestion).toBeGreaterThanOrEqual(1143);
    expect(r.message).toMatch(/^Port 143 needs administrator rights on this computer\. Use \d+ instead/);
    if (process.platform === 'linux') expect(r.message).toMatch(/setcap 'cap_net_bind_service=\+ep' .*sysctl net\.ipv4\.ip_unprivileged_port_start=143/);
  });

  it('checkPath: missing, a file, a usable directory', () => {
    const missing = checkPath(path.join(tmp, 'missing'));
    expect(missing).toMatchObject({ exists: false, isDirectory: false });
    expect(missing.problem).toMatch(/does not exist.*virtual_mailbox_base/);
    const file = path.join(tmp, 'a-file');
    fs.writeFileSync(file, 'x');
    expect(checkPath(file).problem).toMatch(/not a directory/);
    const d = dirs('path');
    const ok = checkPath(d.vmail);
    expect(ok).toMatchObject({ exists: true, isDirectory: true, readable: true, writable: true, uid: process.getuid?.() });
    expect(ok.problem).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------
// With the real server worker

let worker: string | null = null;
let workerWhyNot = '';

describe('service with the real server', () => {
  beforeAll(() => {
    const outdir = path.join(ROOT, 'out', `.test-service-${process.pid}`);
    const script = `
      import { build } from 'esbuild';
      await build({ absWorkingDir: ${JSON.stringify(ROOT)}, bundle: true, platform: 'node', target: 'node20', format: 'esm',
        packages: 'external', logLevel: 'error', entryPoints: { worker: 'electron/server/worker.ts' }, outdir: ${JSON.stringify(outdir)},
        banner: { js: "import { createRequire as __r } from 'node:module'; const require = __r(import.meta.url);" } });`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
    if (r.status === 0) worker = path.join(outdir, 'worker.js');
    else workerWhyNot = `electron/server/worker.ts does not bundle: ${r.stderr.split('\n')[0]}`;
  });
  afterAll(() => {
    if (worker) fs.rmSync(path.dirname(worker), { recursive: true, force: true });
  });

  it('starts, tracks sessions and logins, and says when saved settings need a restart', async (ctx) => {
    if (!worker) {
      console.log(`skipped: ${workerWhyNot}`);
      ctx.skip(workerWhyNot);
    }
    const d = dirs('live');
    fs.mkdirSync(d.dataDir, { recursive: true });
    const secrets = new MemorySecretStore('Live-Pw-99');
    const s = service(d.dataDir, { secrets, supervisor: { workerScript: worker! } });
    await s.call('saveSettings', { settings: appSettings(d.vmail, { password: 'Live-Pw-99', port: 0 }) });
    const events: ApiEvent[] = [];
    s.onEvent((e) => events.push(e));
    const st = await s.call('startServer', {}) as { state: string; port: number };
    expect(st.state).toBe('running');
    expect(events.some((e) => e.type === 'status' && e.status.state === 'running')).toBe(true);

    const socket = net.connect(st.port, '127.0.0.1');
    let data = '';
    socket.on('data', (b) => { data += b.toString('latin1'); });
    const until = async (re: RegExp): Promise<void> => {
      const t0 = Date.now();
      while (!re.test(data)) {
        if (Date.now() - t0 > 5000) throw new Error(`timeout waiting for ${re}: ${data}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    await until(/^\* OK/);
    socket.write('a1 LOGIN alice@brokkr.net Wrong-Pw\r\n');
    await until(/a1 NO/);
    socket.write('a2 LOGIN alice@brokkr.net Live-Pw-99\r\na3 SELECT INBOX\r\n');
    await until(/a3 OK/);
    await vi.waitFor(() => {
      const dash = s.dashboard();
      expect(dash.sessions).toEqual([expect.objectContaining({ user: 'alice@brokkr.net', remote: '127.0.0.1', mailbox: 'INBOX' })]);
      expect(dash.activity.map((a) => a.kind)).toEqual(['login', 'login-failed']);
    });
    expect(s.dashboard().connection).toMatchObject({ server: '127.0.0.1', port: st.port, password: 'Live-Pw-99', security: 'None' });
    const tail = await s.call('logTail', { limit: 50 }) as Array<{ message: string }>;
    expect(tail.map((r) => r.message).join('\n')).toMatch(/Login: user=<alice@brokkr\.net>/);
    expect(events.some((e) => e.type === 'server' && e.event.type === 'login')).toBe(true);

    // Same settings again: no restart needed; a different port: restart needed, and restart applies it.
    let saved = await s.call('saveSettings', { settings: appSettings(d.vmail, { password: 'Live-Pw-99', port: 0, notifications: false }) }) as { restartNeeded: boolean };
    expect(saved.restartNeeded).toBe(false);
    const free = await new Promise<number>((resolve) => {
      const probe = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (probe.address() as net.AddressInfo).port;
        probe.close(() => resolve(p));
      });
    });
    saved = await s.call('saveSettings', { settings: appSettings(d.vmail, { password: 'Live-Pw-99', port: free }) }) as { restartNeeded: boolean };
    expect(saved.restartNeeded).toBe(true);
    expect(events.some((e) => e.type === 'settings')).toBe(true);
    const restarted = await s.call('restartServer', undefined) as { port: number };
    expect(restarted.port).toBe(free);
    socket.destroy();

    // A port in use: START_FAILED in plain words.
    await s.call('stopServer', undefined);
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(free, '127.0.0.1', () => r()));
    try {
      const err = await s.call('startServer', undefined).catch((e: unknown) => e) as ApiCallError;
      expect(err).toBeInstanceOf(ApiCallError);
      expect(err.code).toBe('START_FAILED');
      expect(err.message).toMatch(new RegExp(`Port ${free} on 127\\.0\\.0\\.1 is already in use`));
    } finally {
      await new Promise((r) => blocker.close(r));
    }
    expect(s.status().state).toBe('stopped');
  });
});
