// The supervisor with a test-only worker script (real worker thread, real sockets) whose behaviour each
// test picks through a behavior.json in the vmail directory it is started with; and, when the real server
// can be bundled and started, with out/worker.js's counterpart built from electron/server/worker.ts.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ServerEvent } from '../../electron/shared/events.js';
import { defaultSettings } from '../../electron/shared/settings.js';
import type { ServerSettings } from '../../electron/shared/settings-types.js';
import { Supervisor, SupervisorError, type SupervisorStatus } from '../../electron/supervisor/supervisor.js';
import { waitFor as waitForAny } from '../helpers/wait.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

// Speaks shared/worker-messages.ts like electron/server/worker.ts, with a tiny line server.
const TEST_WORKER = String.raw`
import { parentPort } from 'node:worker_threads';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

let server = null;
const sockets = new Set();
let behavior = {};
const post = (m) => parentPort.postMessage(m);
const emit = (event) => post({ kind: 'event', event });
const status = () => server ? { listening: true, host: server.address().address, port: server.address().port, connections: sockets.size } : { listening: false, connections: 0 };

async function start(settings) {
  try { behavior = JSON.parse(fs.readFileSync(path.join(settings.vmail, 'behavior.json'), 'utf8')); } catch { behavior = {}; }
  const countFile = path.join(settings.vmail, 'starts');
  const starts = (Number(fs.existsSync(countFile) ? fs.readFileSync(countFile, 'utf8') : 0) || 0) + 1;
  fs.writeFileSync(countFile, String(starts));
  if (behavior.failStart) throw Object.assign(new Error('listen EADDRINUSE: address already in use'), { code: 'EADDRINUSE' });
  if (behavior.crashOnStart && starts <= behavior.crashOnStart) setImmediate(() => { throw new Error('boom on start ' + starts); });
  if (behavior.crashOnStart && starts <= behavior.crashOnStart) return new Promise(() => {});
  server = net.createServer((socket) => {
    sockets.add(socket);
    const session = 's' + Math.random().toString(36).slice(2);
    emit({ type: 'connection-opened', session, remote: socket.remoteAddress, local: socket.localAddress, time: Date.now() });
    socket.on('close', () => { sockets.delete(socket); emit({ type: 'connection-closed', session, reason: 'closed', time: Date.now() }); });
    socket.on('error', () => {});
    socket.write('* OK test ready.\r\n');
    socket.on('data', (d) => { if (String(d).includes('CRASH')) setImmediate(() => { throw new Error('crashed by client'); }); });
  });
  await new Promise((resolve, reject) => { server.once('error', reject); server.listen(settings.port, settings.listen, resolve); });
  emit({ type: 'listening', host: server.address().address, port: server.address().port });
  emit({ type: 'log', record: { level: 'info', service: 'master', message: 'test worker up', time: Date.now() } });
  if (behavior.crashAfterMs) setTimeout(() => { throw new Error('boom after start'); }, behavior.crashAfterMs);
  if (behavior.exitAfterMs) setTimeout(() => process.exit(3), behavior.exitAfterMs);
  return status();
}

async function stop(reason) {
  if (behavior.hangOnStop) return new Promise(() => {});
  if (!server) return status();
  const s = server; server = null;
  for (const socket of sockets) socket.end('* BYE ' + reason + '\r\n');
  await new Promise((r) => s.close(r));
  return status();
}

parentPort.on('message', (m) => {
  const run = m.op === 'start' ? start(m.params.settings) : m.op === 'stop' ? stop(m.params.reason ?? 'Server shutting down.') : Promise.resolve(status());
  run.then((result) => post({ kind: 'reply', id: m.id, ok: true, result }),
           (e) => post({ kind: 'reply', id: m.id, ok: false, error: { message: e.message, code: e.code } }))
     .finally(() => { if (m.op === 'stop') parentPort.close(); });
});
`;

let tmp: string;
let workerScript: string;
const running: Supervisor[] = [];

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'roost-supervisor-'));
  workerScript = path.join(tmp, 'test-worker.mjs');
  fs.writeFileSync(workerScript, TEST_WORKER);
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop().catch(() => undefined)));
});

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function settingsWith(behavior: Record<string, unknown>): ServerSettings {
  const vmail = fs.mkdtempSync(path.join(tmp, 'vmail-'));
  fs.writeFileSync(path.join(vmail, 'behavior.json'), JSON.stringify(behavior));
  return { ...defaultSettings(vmail, 'ThisIsABadPassword'), port: 0 };
}

function supervise(settings: ServerSettings, extra: Partial<ConstructorParameters<typeof Supervisor>[0]> = {}): { sup: Supervisor; events: ServerEvent[]; states: string[] } {
  const sup = new Supervisor({ settings, workerScript, restart: { initialDelayMs: 20, maxDelayMs: 100, maxRestartsPerMinute: 3 }, ...extra });
  running.push(sup);
  const events: ServerEvent[] = [];
  const states: string[] = [];
  sup.onEvent((e) => events.push(e));
  sup.onStatus((s) => states.push(s.state));
  return { sup, events, states };
}

const waitFor = <T>(what: string, check: () => T | undefined | false, ms = 10_000): Promise<T> => waitForAny(what, check, ms);

/** Connects, returns the socket and a function giving everything received so far. */
async function connect(port: number): Promise<{ socket: net.Socket; received: () => string; closed: Promise<void> }> {
  const socket = net.connect(port, '127.0.0.1');
  let data = '';
  socket.on('data', (d) => { data += d.toString('latin1'); });
  const closed = new Promise<void>((r) => socket.on('close', () => r()));
  socket.on('error', () => undefined);
  await new Promise<void>((r) => socket.once('connect', () => r()));
  await waitFor('greeting', () => data.includes('\r\n'));
  return { socket, received: () => data, closed };
}

describe('Supervisor', () => {
  it('starts the worker, relays typed events, reports status, and stops with BYE', async () => {
    const { sup, events, states } = supervise(settingsWith({}));
    const st = await sup.start();
    expect(st.state).toBe('running');
    expect(st.host).toBe('127.0.0.1');
    expect(st.port).toBeGreaterThan(0);
    expect(events.some((e) => e.type === 'listening')).toBe(true);
    expect(events.some((e) => e.type === 'log' && e.record.message === 'test worker up')).toBe(true);

    const c = await connect(st.port!);
    await waitFor('connection count', () => sup.snapshot().connections === 1);
    expect((await sup.getStatus()).connections).toBe(1);
    expect(await sup.start()).toMatchObject({ state: 'running', port: st.port }); // idempotent

    const stopped = await sup.stop('Server shutting down.');
    await c.closed;
    expect(c.received()).toContain('* BYE Server shutting down.\r\n');
    expect(stopped).toMatchObject({ state: 'stopped', connections: 0 });
    expect(states).toEqual(['starting', 'running', 'stopping', 'stopped']);
  });

  it('reports a start failure with the cause code and stays stopped', async () => {
    const { sup, events } = supervise(settingsWith({ failStart: true }));
    const err = await sup.start().then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(SupervisorError);
    expect((err as SupervisorError).code).toBe('START_FAILED');
    expect((err as SupervisorError).causeCode).toBe('EADDRINUSE');
    expect(sup.snapshot()).toMatchObject({ state: 'stopped', lastErrorCode: 'EADDRINUSE' });
    expect(events.filter((e) => e.type === 'error')).toEqual([]); // a refused start is not a crash
  });

  it('reports a crash as an error event and a log line, and restarts with the same settings', async () => {
    const settings = settingsWith({ crashAfterMs: 150 });
    const { sup, events } = supervise(settings);
    const first = await sup.start();
    const crash = await waitFor('crash event', () => events.find((e) => e.type === 'error'));
    expect(crash).toMatchObject({ type: 'error', code: 'WORKER_CRASHED' });
    expect((crash as { message: string }).message).toMatch(/boom after start/);
    expect(events.some((e) => e.type === 'log' && e.record.service === 'master' && e.record.level === 'error' && /boom after start/.test(e.record.message))).toBe(true);
    // Back up (port 0: a new port is fine); it will crash again later, which is the next test's business.
    await waitFor('restart', () => sup.snapshot().state === 'running' && events.filter((e) => e.type === 'listening').length >= 2 && true);
    expect(sup.snapshot().restarts).toBeGreaterThanOrEqual(1);
    expect(first.state).toBe('running');
    await sup.stop();
  });

  it('keeps the supervising process alive when a client makes the worker throw', async () => {
    const { sup, events } = supervise(settingsWith({}));
    const st = await sup.start();
    const c = await connect(st.port!);
    c.socket.write('a1 CRASH\r\n');
    await c.closed; // the worker died, taking its sockets with it
    await waitFor('restart', () => events.filter((e) => e.type === 'listening').length >= 2 && sup.snapshot().state === 'running');
    const again = await connect(sup.snapshot().port!);
    expect(again.received()).toMatch(/^\* OK/);
    again.socket.destroy();
  });

  it('gives up after too many crashes within a minute, with a clear state', async () => {
    const { sup, events, states } = supervise(settingsWith({ crashAfterMs: 30 }));
    await sup.start();
    await waitFor('failed state', () => sup.snapshot().state === 'failed');
    const gaveUp = events.find((e) => e.type === 'error' && e.code === 'WORKER_GAVE_UP');
    expect(gaveUp).toBeDefined();
    expect((gaveUp as { message: string }).message).toMatch(/crashed 4 times within a minute; not restarting/);
    expect(states.filter((s) => s === 'crashed').length).toBe(3);
    expect(states.at(-1)).toBe('failed');
    // No restart happens by itself afterwards.
    await new Promise((r) => setTimeout(r, 300));
    expect(sup.snapshot().state).toBe('failed');
    expect((await sup.stop()).state).toBe('stopped');
  });

  it('treats an unrequested exit(3) as a crash too', async () => {
    const { sup, events } = supervise(settingsWith({ exitAfterMs: 50 }));
    await sup.start();
    const crash = await waitFor('crash', () => events.find((e) => e.type === 'error'));
    expect((crash as { message: string }).message).toMatch(/exit code 3/);
    await sup.stop();
  });

  it('retries a crashing start with backoff and recovers', async () => {
    const { sup, events } = supervise(settingsWith({ crashOnStart: 1, crashAfterMs: 0 }));
    // The first start crashes inside the worker: start() reports it, the state stays stopped.
    const err = await sup.start().then(() => null, (e: unknown) => e);
    expect((err as SupervisorError).code).toBe('START_FAILED');
    expect(sup.snapshot().state).toBe('stopped');
    expect(events.some((e) => e.type === 'error' && e.code === 'WORKER_CRASHED')).toBe(true);
    // The second attempt works.
    expect((await sup.start()).state).toBe('running');
  });

  it('terminates a worker that does not stop in time', async () => {
    const { sup } = supervise(settingsWith({ hangOnStop: true }), { stopTimeoutMs: 300 });
    const st = await sup.start();
    const c = await connect(st.port!);
    const t0 = Date.now();
    expect((await sup.stop()).state).toBe('stopped');
    expect(Date.now() - t0).toBeLessThan(3000);
    await c.closed; // terminate() closed the worker's sockets
  });

  it('serializes operations: stop during start, restart with new settings', async () => {
    const { sup } = supervise(settingsWith({}));
    const starting = sup.start();
    const stopping = sup.stop();
    expect((await starting).state).toBe('running');
    expect((await stopping).state).toBe('stopped');
    const next = settingsWith({});
    const st = await sup.restart(next);
    expect(st.state).toBe('running');
    expect(fs.existsSync(path.join(next.vmail, 'starts'))).toBe(true);
  });

  it('rejects requests when nothing runs', async () => {
    const { sup } = supervise(settingsWith({}));
    await expect(sup.request('status', {})).rejects.toMatchObject({ code: 'NOT_RUNNING' });
    expect((await sup.getStatus()).state).toBe('stopped');
  });
});

// ---------------------------------------------------------------------------------------------
// electron/server/worker.ts itself, bundled with a stand-in for ./server.js (real sockets), so the
// worker's own protocol handling is tested whatever state the real server is in.

const STAND_IN_SERVER = String.raw`
import net from 'node:net';
export async function startMailServer({ settings, events }) {
  const sockets = new Set();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.write('* OK stand-in ready.\r\n');
    // A careless log line and error event that contain the password: the worker must scrub them.
    events({ type: 'log', record: { level: 'info', service: 'imap-login', message: 'oops ' + settings.passdb.password, time: Date.now() } });
    events({ type: 'error', message: 'failed for ' + settings.passdb.password, time: Date.now() });
  });
  await new Promise((resolve, reject) => { server.once('error', reject); server.listen(settings.port, settings.listen, resolve); });
  const a = server.address();
  return {
    host: a.address, port: a.port,
    connections: () => sockets.size,
    async close(reason) {
      for (const s of sockets) s.end('* BYE ' + reason + '\r\n');
      await new Promise((r) => server.close(r));
    },
  };
}
`;

describe('electron/server/worker.ts', () => {
  let bundled: string | null = null;
  let why = '';

  beforeAll(() => {
    const outdir = path.join(ROOT, 'out', `.test-worker-${process.pid}`);
    const standIn = path.join(tmp, 'stand-in-server.mjs');
    fs.writeFileSync(standIn, STAND_IN_SERVER);
    const script = `
      import { build } from 'esbuild';
      const standIn = { name: 'stand-in', setup(b) { b.onResolve({ filter: /^\\.\\/server\\.js$/ }, () => ({ path: ${JSON.stringify(standIn)} })); } };
      await build({ absWorkingDir: ${JSON.stringify(ROOT)}, bundle: true, platform: 'node', target: 'node20', format: 'esm',
        packages: 'external', logLevel: 'error', entryPoints: { worker: 'electron/server/worker.ts' }, outdir: ${JSON.stringify(outdir)},
        plugins: [standIn] });`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
    if (r.status === 0) bundled = path.join(outdir, 'worker.js');
    else why = r.stderr;
  });

  afterAll(() => {
    if (bundled) fs.rmSync(path.dirname(bundled), { recursive: true, force: true });
  });

  it('starts, emits one listening event, scrubs the password, stops with BYE and exits', async () => {
    expect(bundled, why).not.toBeNull();
    const settings = { ...settingsWith({}), passdb: { driver: 'static' as const, password: 'Pa55-word-xyz' } };
    const { sup, events } = supervise(settings, { workerScript: bundled! });
    const st = await sup.start();
    expect(events.filter((e) => e.type === 'listening')).toEqual([{ type: 'listening', host: '127.0.0.1', port: st.port }]);
    const c = await connect(st.port!);
    await waitFor('log event', () => events.some((e) => e.type === 'log' && e.record.service === 'imap-login'));
    await waitFor('error event', () => events.some((e) => e.type === 'error'));
    expect(JSON.stringify(events)).not.toContain('Pa55-word-xyz');
    expect(events.find((e) => e.type === 'log' && e.record.service === 'imap-login')).toMatchObject({ record: { message: 'oops #hidden#' } });
    expect((await sup.getStatus()).connections).toBe(1);
    const t0 = Date.now();
    expect((await sup.stop()).state).toBe('stopped');
    expect(Date.now() - t0).toBeLessThan(2000); // exited by itself, not by the stop timeout
    await c.closed;
    expect(c.received()).toContain('* BYE Server shutting down.\r\n');
  });

  it('answers a failed start with the error code', async () => {
    expect(bundled, why).not.toBeNull();
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (blocker.address() as net.AddressInfo).port;
      const { sup } = supervise({ ...settingsWith({}), port }, { workerScript: bundled! });
      await expect(sup.start()).rejects.toMatchObject({ code: 'START_FAILED', causeCode: 'EADDRINUSE' });
    } finally {
      blocker.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The real worker (electron/server/worker.ts + startMailServer), bundled like build/build.mjs does.

let realWorker: string | null = null;
let realWorkerWhyNot = '';

describe('Supervisor with the real worker', () => {
  beforeAll(() => {
    const outdir = path.join(ROOT, 'out', `.test-supervisor-${process.pid}`);
    const script = `
      import { build } from 'esbuild';
      await build({ absWorkingDir: ${JSON.stringify(ROOT)}, bundle: true, platform: 'node', target: 'node20', format: 'esm',
        packages: 'external', logLevel: 'error', entryPoints: { worker: 'electron/server/worker.ts' }, outdir: ${JSON.stringify(outdir)},
        banner: { js: "import { createRequire as __r } from 'node:module'; const require = __r(import.meta.url);" } });`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
    if (r.status === 0) realWorker = path.join(outdir, 'worker.js');
    else realWorkerWhyNot = `electron/server/worker.ts does not bundle yet: ${(r.stderr || r.stdout).split('\n').find((l) => /ERROR|error/.test(l)) ?? r.stderr}`;
  });

  afterAll(() => {
    if (realWorker) fs.rmSync(path.dirname(realWorker), { recursive: true, force: true });
  });

  it('serves IMAP, keeps the password out of every event, and says BYE on stop', async (ctx) => {
    if (!realWorker) {
      console.log(`skipped: ${realWorkerWhyNot}`);
      ctx.skip(realWorkerWhyNot);
    }
    const vmail = fs.mkdtempSync(path.join(tmp, 'real-'));
    const password = 'Sup3r-Secret-Pw';
    const settings: ServerSettings = { ...defaultSettings(vmail, password), port: 0, auth_failure_delay: 0, disable_plaintext_auth: false, first_valid_uid: 0, first_valid_gid: 0 };
    const { sup, events } = supervise(settings, { workerScript: realWorker! });
    let st: SupervisorStatus;
    try {
      st = await sup.start();
    } catch (e) {
      const why = `the real server does not start yet: ${(e as Error).message}`;
      console.log(`skipped: ${why}`);
      ctx.skip(why);
      return;
    }
    const c = await connect(st.port!);
    expect(c.received()).toMatch(/^\* OK /);
    c.socket.write('a1 LOGIN alice@example.org Wrong-Password-123\r\n');
    await waitFor('NO', () => /a1 NO/.test(c.received()));
    c.socket.write(`a2 LOGIN alice@example.org ${password}\r\n`);
    await waitFor('OK', () => /a2 OK/.test(c.received()));
    expect(events.filter((e) => e.type === 'listening')).toHaveLength(1);
    await sup.stop();
    await c.closed;
    expect(c.received()).toMatch(/\* BYE Server shutting down\.?\r\n/);
    const text = JSON.stringify(events);
    expect(text).not.toContain(password);
    expect(text).not.toContain('Wrong-Password-123');
    expect(events.some((e) => e.type === 'log' && e.record.message.startsWith('Login: user=<alice@example.org>'))).toBe(true);
  });
});
