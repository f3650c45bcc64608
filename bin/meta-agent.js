#!/usr/bin/env node
// Entry point of `npx meta-agent`. The CLI is TypeScript, bundled once at install (`npm install` runs
// scripts/build.mjs as `prepare`) into dist/cli. That build runs when its manifest says it was made from the
// sources as they are; otherwise (no build yet, or a source edited since) the CLI runs from source through
// tsx, slower to start but never stale, and `npm run build` makes it fast again.
import * as nodeModule from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildState, CLI_BUILD_DIR, COMPILE_CACHE_DIR } from '../scripts/build-state.mjs';

const [major] = process.versions.node.split('.').map(Number);
if (major < 22) {
  process.stderr.write(`meta-agent needs Node.js >= 22 (found ${process.versions.node}).\n`);
  process.exit(2);
}
// fauxqs keeps its queues in node:sqlite, which Node 22 flags as experimental on every start. The warning
// says nothing a user can act on, so only that one is dropped; every other warning is printed as usual.
const emitWarning = process.emitWarning;
process.emitWarning = (warning, ...rest) => {
  const type = typeof rest[0] === 'string' ? rest[0] : rest[0]?.type;
  if (type === 'ExperimentalWarning' && String(warning).includes('SQLite')) return;
  return emitWarning.call(process, warning, ...rest);
};
if (process.env.META_AGENT_DEBUG) process.setSourceMapsEnabled(true);

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const state = buildState(root);
let main;
if (state.fresh) {
  // V8 keeps the bundles' compiled code beside them (Node's module compile cache, keyed on each file's
  // content): later starts load it instead of compiling megabytes of JavaScript again. A new build replaces
  // the directory, cache included; where the package cannot be written (a read-only install), Node just
  // compiles as before.
  nodeModule.enableCompileCache?.(join(root, CLI_BUILD_DIR, COMPILE_CACHE_DIR));
  ({ main } = await import(pathToFileURL(join(root, CLI_BUILD_DIR, 'main.mjs')).href));
} else {
  if (process.stderr.isTTY) {
    process.stderr.write(
      `meta-agent: running from source (${state.reason}); \`npm run build\` makes it start faster.\n`,
    );
  }
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../shared/local/cli/main.ts'));
}
process.exitCode = await main(process.argv.slice(2));
