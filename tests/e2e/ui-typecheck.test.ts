// The renderer's static checks, part of every test run: its TypeScript type-checks against its own
// tsconfig (DOM, bundler resolution, Svelte's rune types; the root tsconfig is Node-only), and every
// .svelte file compiles without warnings (the Svelte compiler reports accessibility problems such as
// an input without a label or a click handler on a non-button as warnings).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/ui.js';

function svelteFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? svelteFiles(p) : e.name.endsWith('.svelte') ? [p] : [];
  });
}

describe('renderer static checks', () => {
  it('type-checks with renderer/tsconfig.json', () => {
    const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = spawnSync(process.execPath, [tsc, '--noEmit', '-p', path.join(ROOT, 'renderer', 'tsconfig.json')], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    expect(`${r.stdout}${r.stderr}`.trim()).toBe('');
    expect(r.status).toBe(0);
  }, 120_000);

  it('compiles every component without warnings', async () => {
    const { compile } = await import('svelte/compiler');
    const files = svelteFiles(path.join(ROOT, 'renderer', 'src'));
    expect(files.length).toBeGreaterThan(5);
    const problems: string[] = [];
    for (const file of files) {
      const result = compile(fs.readFileSync(file, 'utf8'), { filename: path.relative(ROOT, file), generate: 'client' });
      for (const w of result.warnings) problems.push(`${w.filename}:${w.start?.line}: ${w.code}: ${w.message}`);
    }
    expect(problems).toEqual([]);
  });
});
