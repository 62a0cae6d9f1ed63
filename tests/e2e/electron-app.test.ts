// The real desktop app through Playwright's `_electron`, where an Electron binary exists. Electron is an
// optional dependency and its binary is downloaded by its install script, which is not possible on every
// machine (no network); then this test is skipped and says why in the log.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');

function findElectron(): { binary?: string; why: string } {
  try {
    const value: unknown = createRequire(import.meta.url)('electron');
    if (typeof value === 'string' && fs.existsSync(value)) return { binary: value, why: '' };
    return { why: `require('electron') gave ${JSON.stringify(value)}, not an existing Electron binary` };
  } catch (e) {
    return { why: `the electron package is not installed with its binary (${(e as Error).message.split('\n')[0]})` };
  }
}

const { binary, why } = findElectron();

describe('desktop app (Playwright _electron)', () => {
  if (!binary) {
    console.log(`skipped: desktop app end-to-end test: ${why}`);
    it.skip(`launches the real app (${why})`, () => undefined);
    return;
  }

  it('launches locked down, answers the typed API, stays in the tray when the window closes, quits cleanly', async () => {
    const build = spawnSync(process.execPath, ['build/build.mjs', '--quiet'], { cwd: ROOT, encoding: 'utf8' });
    expect(build.status, build.stderr).toBe(0);
    const { _electron } = await import('playwright');
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'roost-electron-'));
    // Chromium's own sandbox cannot start as root (containers, CI); Roost's renderer sandbox flag still applies.
    const args = [ROOT, ...(process.getuid?.() === 0 ? ['--no-sandbox'] : [])];
    const app = await _electron.launch({ executablePath: binary, args, env: { ...process.env, ROOST_DATA_DIR: dataDir } as Record<string, string>, timeout: 60_000 });
    try {
      const page = await app.firstWindow();
      await page.waitForLoadState('domcontentloaded');
      expect(page.url()).toBe('roost://app/index.html');
      // The preload exposes window.roost and nothing of Node.
      const exposed = await page.evaluate(() => {
        const w = globalThis as unknown as Record<string, unknown>;
        return { roost: typeof w.roost, require: typeof w.require, process: typeof w.process, ipc: typeof (w.roost as Record<string, unknown>)?.ipcRenderer };
      });
      expect(exposed).toEqual({ roost: 'object', require: 'undefined', process: 'undefined', ipc: 'undefined' });
      const info = await page.evaluate(() => (globalThis as unknown as { roost: { call(m: string, p?: unknown): Promise<{ mode: string; firstRun: boolean; dataDir: string }> } }).roost.call('appInfo', undefined));
      expect(info).toMatchObject({ mode: 'electron', firstRun: true, dataDir });
      const bad = await page.evaluate(() => (globalThis as unknown as { roost: { call(m: string, p?: unknown): Promise<unknown> } }).roost.call('checkPort', { listen: '127.0.0.1', port: -1 }).catch((e: { code?: string }) => e.code));
      expect(bad).toBe('INVALID');
      // Navigation away is refused.
      await page.evaluate(() => { (globalThis as unknown as { location: { href: string } }).location.href = 'https://example.org/'; }).catch(() => undefined);
      await page.waitForTimeout(300);
      expect(page.url()).toMatch(/^roost:\/\/app\//);

      // Closing the window keeps the app running (tray).
      await page.close();
      await new Promise((r) => setTimeout(r, 300));
      expect(await app.evaluate(({ BrowserWindow }) => BrowserWindow.getAllWindows().length)).toBe(1);
    } finally {
      await app.evaluate(({ app: a }) => a.quit()).catch(() => undefined);
      await app.close().catch(() => undefined);
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});
