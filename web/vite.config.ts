/**
 * The dashboard's build: a single-page Preact app, bundled by Vite into static files under dist/web (git
 * ignored). Relative asset paths, so the same files work at `/` of `meta-agent serve` and of CloudFront.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  logLevel: 'warn',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    // One small app: no chunk-size warnings to chase, and source maps for the browser's debugger.
    sourcemap: true,
  },
});
