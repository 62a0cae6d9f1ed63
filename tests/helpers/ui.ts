// Browser tests of the renderer against the real headless app: starts `node out/cli.js` (the same
// process `npm run serve` runs) with its own data directory, reads the printed `web ui:` address, and
// drives Debian's Chromium through the `playwright` package. Never downloads a browser.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Browser } from 'playwright';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const CHROMIUM = process.env.ROOST_CHROMIUM ?? '/usr/bin/chromium';
export const SCREENSHOTS = path.join(ROOT, 'test-results', 'screenshots');

/** Why browser tests cannot run here ('' = they can). Printed by the test, which then skips. */
export function browserSkipReason(): string {
  if (!fs.existsSync(CHROMIUM)) return `${CHROMIUM} is missing (apt-get install chromium); skipping the UI browser tests`;
  return '';
}

export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright');
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking'],
  });
}

/** Builds out/cli.js, out/worker.js and out/renderer/ once per test file. Throws with the build output on failure. */
export function buildApp(): void {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'build/build.mjs'), '--quiet'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`node build/build.mjs failed (status ${r.status}):\n${r.stdout}\n${r.stderr}`);
  if (!fs.existsSync(path.join(ROOT, 'out/renderer/index.html'))) throw new Error('the build made no out/renderer/index.html');
}

/** A TCP port nobody listens on right now (the kernel's choice). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface RoostUi {
  /** http://127.0.0.1:<port>/?token=... as printed. */
  url: string;
  /** http://127.0.0.1:<port> */
  origin: string;
  child: ChildProcess;
  output(): string;
  /** SIGTERM, wait for the exit (SIGKILL after 10 s). Idempotent. */
  stop(): Promise<void>;
}

export interface StartUiOptions {
  dataDir: string;
  /** Extra CLI flags (settings given as flags become overrides for the run). */
  args?: string[];
  /** Written to <dataDir>/settings.json before the start (the app's settings file), e.g. a free port. */
  settingsFile?: { wizardCompleted: boolean; settings: Record<string, unknown> };
  env?: Record<string, string>;
}

export async function startRoostUi(opts: StartUiOptions): Promise<RoostUi> {
  fs.mkdirSync(opts.dataDir, { recursive: true });
  if (opts.settingsFile) {
    fs.writeFileSync(path.join(opts.dataDir, 'settings.json'), JSON.stringify({ version: 1, ...opts.settingsFile }, null, 2), { mode: 0o600 });
  }
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: path.join(opts.dataDir, 'home'), XDG_DATA_HOME: path.join(opts.dataDir, 'xdg'), ...opts.env };
  delete env.ROOST_PASSWORD; // the developer's own must not leak in
  const child = spawn(process.execPath, [path.join(ROOT, 'out/cli.js'), '--data-dir', opts.dataDir, '--ui-port', '0', ...(opts.args ?? [])], {
    cwd: opts.dataDir, env, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr?.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    }
  };
  const t0 = Date.now();
  for (;;) {
    const m = /^web ui: (http:\/\/127\.0\.0\.1:(\d+)\/\?token=\S+)$/m.exec(out);
    if (m) return { url: m[1], origin: `http://127.0.0.1:${m[2]}`, child, output: () => out, stop };
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`roost exited (${child.exitCode ?? child.signalCode}) before printing "web ui:":\n${out}`);
    if (Date.now() - t0 > 20_000) {
      await stop();
      throw new Error(`no "web ui:" line within 20 s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
