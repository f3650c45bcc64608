/**
 * Entry point of the built CLI (dist/cli/main.mjs, bundled by scripts/build.mjs). bin/meta-agent.js imports it
 * only when the build's manifest matches the sources; the embedded systems it starts then load their handlers
 * and the state machine definition from the build directory beside it.
 */
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { useCliBuild } from '../cli-build';

useCliBuild(dirname(fileURLToPath(import.meta.url)));

export { main } from './main';
