// Bundles the Node-side entry points (CLI, server worker, benchmark, Electron main and preload) into out/.
// esbuild is used rather than tsc emit because it is fast enough to run before every
// `npm run serve` and keeps node_modules packages external (resolved at run time).
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const quiet = process.argv.includes('--quiet');

const common = {
  absWorkingDir: root,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  packages: 'external',
  sourcemap: 'linked',
  logLevel: quiet ? 'warning' : 'info',
  banner: { js: "import { createRequire as __roostCreateRequire } from 'node:module'; const require = __roostCreateRequire(import.meta.url);" },
};

// Two independent builds: a compile error in the server must not keep the benchmark from
// being built (and vice versa). Both are awaited; the process fails if the server build did
// (a failed bench build is reported by esbuild and fails only `npm run bench`, which needs it).
// The Electron main process and preload (CommonJS, as Electron loads main and a sandboxed preload needs;
// `electron` itself is provided by Electron at run time). import.meta.url has no CommonJS meaning, so it is
// defined from __filename for code shared with the ESM bundles.
const electronCommon = {
  ...common,
  format: 'cjs',
  external: ['electron'],
  banner: { js: "const __roostImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  define: { 'import.meta.url': '__roostImportMetaUrl' },
};

const [server, bench, desktop] = await Promise.allSettled([
  build({
    ...common,
    entryPoints: {
      cli: 'electron/headless/cli.ts',
      worker: 'electron/server/worker.ts',
    },
    outdir: 'out',
  }),
  build({
    ...common,
    entryPoints: { bench: 'bench/bench.ts' },
    outdir: 'out',
  }),
  Promise.all([
    build({ ...electronCommon, entryPoints: ['electron/main/main.ts'], outfile: 'out/main.cjs' }),
    // The sandboxed preload may require only 'electron' (and a few polyfilled modules): browser platform,
    // so a stray Node import fails the build instead of the window.
    build({ ...electronCommon, platform: 'browser', packages: undefined, banner: undefined, define: undefined, entryPoints: ['electron/preload/preload.ts'], outfile: 'out/preload.cjs' }),
  ]),
]);
if (desktop.status === 'rejected') {
  console.error('build: electron main/preload failed');
  process.exitCode = 1;
}
if (server.status === 'rejected') {
  console.error('build: cli/worker failed');
  process.exitCode = 1;
}
if (bench.status === 'rejected') console.error('build: bench failed (cli/worker built)');

// The renderer (Svelte 5 + Vite, renderer/vite.config.ts) -> out/renderer/, which Electron loads and
// the headless bridge serves. A separate step with its own message, so a UI compile error names itself
// and does not hide whether the server built. Built into a staging directory and swapped in with
// renames: test files build while other test files' servers serve out/renderer/, and Vite's own
// "empty the directory, then write" would leave them a moment with no page or half-written files.
try {
  const { build: viteBuild } = await import('vite');
  const { default: fs } = await import('node:fs');
  const final = path.join(root, 'out', 'renderer');
  const staging = path.join(root, 'out', `.renderer-${process.pid}-${Date.now()}`);
  await viteBuild({
    configFile: path.join(root, 'renderer', 'vite.config.ts'),
    logLevel: quiet ? 'warn' : 'info',
    build: { outDir: staging, emptyOutDir: true },
  });
  for (let attempt = 0; ; attempt++) {
    const old = `${final}.old-${process.pid}-${attempt}`;
    try { fs.renameSync(final, old); } catch (e) { if (e.code !== 'ENOENT') throw e; }
    try {
      fs.renameSync(staging, final);
      fs.rmSync(old, { recursive: true, force: true });
      break;
    } catch (e) {
      // Another build swapped its copy in between our two renames: move it aside too and retry.
      fs.rmSync(old, { recursive: true, force: true });
      if (!['ENOTEMPTY', 'EEXIST'].includes(e.code) || attempt >= 5) throw e;
    }
  }
} catch (e) {
  console.error(`build: renderer failed: ${e?.message ?? e}`);
  process.exitCode = 1;
}
