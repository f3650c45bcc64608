#!/usr/bin/env node
// Entry point of `npx meta-agent`. The CLI is TypeScript; tsx compiles it on the fly (cached), so
// `npm install` is the only set-up step.
const [major] = process.versions.node.split('.').map(Number);
if (major < 22) {
  process.stderr.write(`meta-agent needs Node.js >= 22 (found ${process.versions.node}).\n`);
  process.exit(2);
}
const { register } = await import('tsx/esm/api');
register();
const { main } = await import('../shared/local/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
