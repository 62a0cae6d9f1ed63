// Vite build of the renderer: root is renderer/, output out/renderer/. base './' makes every asset
// URL relative, so the same build loads from file:// inside Electron and from '/' through the
// headless bridge.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig } from 'vite';

const here = path.dirname(fileURLToPath(import.meta.url));

export default defineConfig({
  root: here,
  base: './',
  // Svelte 5 strips `lang="ts"` types itself; no preprocessor needed.
  plugins: [
    svelte({ configFile: false }),
    {
      // The dev server injects component CSS as <style> elements, which the page's CSP refuses.
      // Relax style-src for `vite` dev only; the build keeps the strict policy (CSS is a file there).
      name: 'roost-dev-csp',
      apply: 'serve',
      transformIndexHtml: (html: string) => html.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'"),
    },
  ],
  build: {
    outDir: path.resolve(here, '../out/renderer'),
    emptyOutDir: true,
    // Electron 45 and Debian's Chromium: no need to down-level.
    target: 'chrome120',
    // The polyfill would be injected as code we do not need; both runtimes support modulepreload.
    modulePreload: { polyfill: false },
    sourcemap: true,
    reportCompressedSize: false,
  },
  server: { host: '127.0.0.1', strictPort: false },
});
