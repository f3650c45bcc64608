#!/usr/bin/env node
// `npx meta-agent` in this checkout: npm install links this workspace's bin as node_modules/.bin/meta-agent,
// and npx runs a command found there at once. Declared by the project's own package.json instead, npx would
// first install the project into its cache and read the whole installed tree on every run (about 0.45 s).
// The CLI itself is bin/meta-agent.js.
import '../bin/meta-agent.js';
