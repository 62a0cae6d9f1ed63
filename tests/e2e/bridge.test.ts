// The headless web bridge end to end: the real CLI (bundled like `npm run serve` runs it) with a real mail
// server, spoken to over HTTP and a WebSocket like a browser would, and by an IMAP client.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { ApiEvent } from '../../electron/shared/api.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
let tmp: string;
let child: ChildProcess | undefined;
let stdout = '';
let stderr = '';
let exited: Promise<number | null>;
let imapPort = 0;
let uiPort = 0;
let token = '';
let buildProblem = '';
const PASSWORD = 'Bridge-Pw-77';

interface Reply { status: number; headers: http.IncomingHttpHeaders; body: string }

function request(method: string, pathname: string, opts: { headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: uiPort, method, path: pathname, headers: { Host: `127.0.0.1:${uiPort}`, ...opts.headers } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

const cookie = (): Record<string, string> => ({ Cookie: `roost_token=${token}` });

function api(method: string, params?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  const body = params === undefined ? '' : JSON.stringify(params);
  return request('POST', `/api/${method}`, { headers: { ...cookie(), ...(body ? { 'Content-Type': 'application/json' } : {}), ...headers }, body });
}

async function waitFor(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const t0 = Date.now();
  while (!check()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}\nstdout:\n${stdout}\nstderr:\n${stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

let outDir = '';

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'roost-bridge-'));
  // The CLI and worker bundled as build/build.mjs does, into a private directory: other test files
  // rebuild out/ meanwhile, and this one tests the bridge, so it brings its own small renderer build.
  outDir = path.join(ROOT, 'out', `.test-bridge-${process.pid}`);
  const script = `
    import { build } from 'esbuild';
    await build({ absWorkingDir: ${JSON.stringify(ROOT)}, bundle: true, platform: 'node', target: 'node20', format: 'esm',
      packages: 'external', logLevel: 'error', entryPoints: { cli: 'electron/headless/cli.ts', worker: 'electron/server/worker.ts' },
      outdir: ${JSON.stringify(outDir)},
      banner: { js: "import { createRequire as __r } from 'node:module'; const require = __r(import.meta.url);" } });`;
  const build = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
  if (build.status !== 0) {
    buildProblem = `the CLI does not bundle: ${(build.stderr || build.stdout).split('\n').find((l) => l.trim()) ?? ''}`;
    return;
  }
  fs.mkdirSync(path.join(outDir, 'renderer', 'assets'), { recursive: true });
  fs.writeFileSync(path.join(outDir, 'renderer', 'index.html'), '<!doctype html><title>Roost</title><script type="module" src="/assets/app.js"></script>');
  fs.writeFileSync(path.join(outDir, 'renderer', 'assets', 'app.js'), 'export {};\n');
  const vmail = path.join(tmp, 'vmail');
  fs.mkdirSync(vmail);
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: path.join(tmp, 'home'), XDG_DATA_HOME: path.join(tmp, 'xdg') };
  delete env.ROOST_PASSWORD;
  child = spawn(process.execPath, [
    path.join(outDir, 'cli.js'), '--port', '0', '--ui-port', '0', '--vmail', vmail, '--data-dir', path.join(tmp, 'data'),
    '--password', PASSWORD, '-o', 'auth_failure_delay=0', '-o', 'disable_plaintext_auth=no',
  ], { cwd: tmp, env });
  child.stdout?.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
  exited = new Promise((resolve) => child!.on('exit', (code) => resolve(code)));
  await waitFor('the web ui line', () => /^web ui: .*$/m.test(stdout) || child!.exitCode !== null);
  const m = /^web ui: http:\/\/127\.0\.0\.1:(\d+)\/\?token=([A-Za-z0-9_-]+)$/m.exec(stdout);
  if (!m) throw new Error(`no web ui line:\n${stdout}\n${stderr}`);
  uiPort = Number(m[1]);
  token = m[2];
  imapPort = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(stdout)?.[1]);
}, 180_000);

afterAll(async () => {
  if (child && child.exitCode === null) {
    child.kill('SIGKILL');
    await exited;
  }
  fs.rmSync(tmp, { recursive: true, force: true });
  if (outDir) fs.rmSync(outDir, { recursive: true, force: true });
});

describe('web bridge', () => {
  it('prints exactly one web ui line', (ctx) => {
    if (buildProblem) { console.log(`skipped: ${buildProblem}`); ctx.skip(buildProblem); }
    expect(stdout.match(/^web ui: /gm)).toHaveLength(1);
    expect(token.length).toBeGreaterThanOrEqual(32);
    expect(stdout).not.toContain(PASSWORD);
  });

  it('trades the token in the URL for a strict HttpOnly cookie, then needs it', async (ctx) => {
    if (buildProblem) ctx.skip(buildProblem);
    const first = await request('GET', `/?token=${token}`);
    expect(first.status).toBe(302);
    expect(first.headers.location).toBe('/');
    const setCookie = first.headers['set-cookie']?.[0] ?? '';
    expect(setCookie).toBe(`roost_token=${token}; HttpOnly; SameSite=Strict; Path=/`);

    const page = await request('GET', '/', { headers: cookie() });
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['content-security-policy']).toMatch(/frame-ancestors 'none'/);
    expect(page.headers['content-security-policy']).toMatch(/script-src 'self'(;|$)/);
    expect(page.headers['x-content-type-options']).toBe('nosniff');

    for (const [what, reply] of [
      ['no token', await request('GET', '/')],
      ['wrong token in URL', await request('GET', '/?token=nope')],
      ['wrong cookie', await request('GET', '/', { headers: { Cookie: 'roost_token=guess' } })],
      ['API without token', await request('POST', '/api/appInfo')],
    ] as const) {
      expect(reply.status, what).toBe(403);
      expect(reply.headers['content-type'], what).toMatch(/^text\/plain/);
      expect(reply.body, what).toMatch(/^Forbidden: /);
      expect(reply.headers['set-cookie'], what).toBeUndefined();
    }
    // Files come from the renderer build only; client-side routes get the app page.
    for (const p of ['/%2e%2e/%2e%2e/package.json', '/..%2f..%2fpackage.json', '/assets/../../../package.json']) {
      const r = await request('GET', p, { headers: cookie() });
      expect(r.body, p).not.toContain('"devDependencies"');
    }
    expect((await request('GET', '/settings', { headers: cookie() })).body).toContain('<title>Roost</title>');
    const asset = await request('GET', '/assets/app.js', { headers: cookie() });
    expect(asset.headers['content-type']).toMatch(/^text\/javascript/);
    expect((await request('GET', '/missing.js', { headers: cookie() })).status).toBe(404);
    // ?token= works without the cookie too (scripts, a browser that refuses cookies).
    expect((await request('POST', `/api/appInfo?token=${token}`)).status).toBe(200);
  });

  it('refuses a foreign Host (DNS rebinding) and a foreign Origin, even with the token', async (ctx) => {
    if (buildProblem) ctx.skip(buildProblem);
    const rebound = await request('GET', '/', { headers: { ...cookie(), Host: `evil.example:${uiPort}` } });
    expect(rebound.status).toBe(403);
    expect(rebound.body).toMatch(/Host/);
    expect((await request('GET', `/?token=${token}`, { headers: { Host: 'evil.example' } })).status).toBe(403);
    expect((await request('GET', '/', { headers: { ...cookie(), Host: `127.0.0.1:${uiPort + 1}` } })).status).toBe(403);
    const foreign = await api('appInfo', undefined, { Origin: 'http://evil.example' });
    expect(foreign.status).toBe(403);
    expect(foreign.body).toMatch(/other web pages/);
    expect((await api('appInfo', undefined, { Origin: `http://localhost:${uiPort}` })).status).toBe(200);
    expect((await request('GET', '/', { headers: { ...cookie(), Host: `localhost:${uiPort}` } })).status).toBe(200);
  });

  it('carries API calls: results, validation errors, unknown methods, body rules', async (ctx) => {
    if (buildProblem) ctx.skip(buildProblem);
    const info = await api('appInfo');
    expect(info.status).toBe(200);
    expect(info.headers['cache-control']).toBe('no-store');
    const body = JSON.parse(info.body) as { ok: boolean; result: { mode: string; firstRun: boolean; overrides: Array<{ field: string; source: string }> } };
    expect(body.ok).toBe(true);
    expect(body.result.mode).toBe('browser');
    expect(body.result.firstRun).toBe(true);
    expect(body.result.overrides).toEqual(expect.arrayContaining([
      expect.objectContaining({ field: 'port', source: 'the --port flag' }),
      expect.objectContaining({ field: 'password', source: 'the --password flag', value: '(hidden)' }),
    ]));

    const dash = JSON.parse((await api('dashboard', {})).body) as { result: { status: { state: string; port: number } } };
    expect(dash.result.status).toMatchObject({ state: 'running', port: imapPort });

    const bad = await api('checkPort', { listen: '127.0.0.1', port: 'x' });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body)).toMatchObject({ ok: false, error: { code: 'INVALID' } });
    const unknown = await api('rm%20-rf', {});
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.body).error.code).toBe('UNKNOWN_METHOD');
    const notJson = await request('POST', '/api/checkPath', { headers: { ...cookie(), 'Content-Type': 'text/plain' }, body: '{"path":"/"}' });
    expect(notJson.status).toBe(415);
    const huge = await request('POST', '/api/copyText', { headers: { ...cookie(), 'Content-Type': 'application/json' }, body: JSON.stringify({ text: 'x'.repeat(2 * 1024 * 1024) }) }).catch(() => ({ status: 413 }) as Reply);
    expect(huge.status).toBe(413);
    expect((await request('GET', '/api/appInfo', { headers: cookie() })).status).toBe(405);

    const port = JSON.parse((await api('checkPort', { listen: '127.0.0.1', port: imapPort })).body) as { result: { status: string } };
    expect(port.result.status).toBe('free'); // Roost's own server holds it
    const copy = JSON.parse((await api('copyText', { text: 'hello' })).body) as { result: { copied: boolean } };
    expect(copy.result.copied).toBe(false); // the browser copies itself
  });

  it('WebSocket: status first, then live login events; refused without the token or from another origin', async (ctx) => {
    if (buildProblem) ctx.skip(buildProblem);
    const refused = async (headers: Record<string, string>): Promise<number> => new Promise((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${uiPort}/api/events`, { headers });
      ws.on('unexpected-response', (_req, res) => { resolve(res.statusCode ?? 0); ws.terminate(); });
      ws.on('open', () => { resolve(101); ws.close(); });
      ws.on('error', () => undefined);
    });
    expect(await refused({})).toBe(403);
    expect(await refused({ ...cookie(), Origin: 'http://evil.example' })).toBe(403);
    expect(await refused({ ...cookie(), Host: `evil.example:${uiPort}` })).toBe(403);

    const events: ApiEvent[] = [];
    const ws = new WebSocket(`ws://127.0.0.1:${uiPort}/api/events`, { headers: { ...cookie(), Origin: `http://127.0.0.1:${uiPort}` } });
    ws.on('message', (data) => events.push(JSON.parse(String(data)) as ApiEvent));
    await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
    await waitFor('the first status event', () => events.length > 0);
    expect(events[0]).toMatchObject({ type: 'status', status: { state: 'running', port: imapPort } });

    const imap = net.connect(imapPort, '127.0.0.1');
    let data = '';
    imap.on('data', (d) => { data += d.toString('latin1'); });
    await waitFor('greeting', () => data.includes('* OK'));
    imap.write(`a1 LOGIN carol@brokkr.net ${PASSWORD}\r\n`);
    await waitFor('login', () => /a1 OK/.test(data));
    await waitFor('login event', () => events.some((e) => e.type === 'server' && e.event.type === 'login'));
    const login = events.find((e) => e.type === 'server' && e.event.type === 'login');
    expect(login).toMatchObject({ type: 'server', event: { type: 'login', user: 'carol@brokkr.net', remote: '127.0.0.1' } });
    for (const e of events) expect(JSON.stringify(e)).not.toContain(PASSWORD);
    const dash = JSON.parse((await api('dashboard')).body) as { result: { sessions: Array<{ user?: string }>; activity: Array<{ kind: string }> } };
    expect(dash.result.sessions.map((s) => s.user)).toContain('carol@brokkr.net');
    expect(dash.result.activity[0].kind).toBe('login');
    imap.write('a2 LOGOUT\r\n');
    await new Promise((r) => imap.on('close', r));
    ws.close();
  });

  it('stops cleanly on SIGTERM', async (ctx) => {
    if (buildProblem) ctx.skip(buildProblem);
    child!.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
