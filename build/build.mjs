// Bundles the Node-side entry points (CLI, server worker, benchmark) into out/.
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
const [server, bench] = await Promise.allSettled([
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
]);
if (server.status === 'rejected') {
  console.error('build: cli/worker failed');
  process.exitCode = 1;
}
if (bench.status === 'rejected') console.error('build: bench failed (cli/worker built)');
