#!/usr/bin/env node
// Entry point of `npx meta-agent`. The CLI is TypeScript; tsx compiles it on the fly (cached), so
// `npm install` is the only set-up step.
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
const { register } = await import('tsx/esm/api');
register();
const { main } = await import('../shared/local/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
