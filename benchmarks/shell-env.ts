import { delimiter } from 'node:path';

/**
 * The environment of the shell that ran `npm run bench:startup`, as far as npm changed it: npm runs a script
 * with every `node_modules/.bin` from the project up to the root, and its node-gyp shim, ahead of the PATH,
 * and with its own variables (npm_config_*, npm_package_*, INIT_CWD, NODE). Left so, `npx` would run npm on
 * the project's pinned Node (node_modules/.bin/node answers its `#!/usr/bin/env node`) and read the script's
 * npm settings, which is not how a user's `npx meta-agent` runs: on a machine whose own Node is 20, that
 * understated npm's start by about 70 ms.
 */
export function shellEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const path = (env.PATH ?? '').split(delimiter);
  let first = 0;
  while (first < path.length && /[\\/](node_modules[\\/]\.bin|node-gyp-bin)$/.test(path[first] ?? ''))
    first++;
  const shell: NodeJS.ProcessEnv = { PATH: path.slice(first).join(delimiter) };
  for (const [name, value] of Object.entries(env)) {
    if (name === 'PATH' || /^npm_/i.test(name) || name === 'INIT_CWD' || name === 'NODE') continue;
    shell[name] = value;
  }
  return shell;
}
