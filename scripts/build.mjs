#!/usr/bin/env node
/**
 * The project's install-time build: `npm run build`, and npm's `prepare` (run after `npm install` and
 * `npm ci`). One script with a list of steps: a new build output is one more step here, not a second
 * mechanism.
 *
 *   cli   bin/meta-agent.js, the handlers the embedded runtime loads and the local state machine definition:
 *         bundled by esbuild into dist/cli, the definition synthesized from the CDK construct and validated
 *         once, and a manifest of every input (scripts/build-state.mjs). `npx meta-agent` then starts on plain
 *         Node: no TypeScript compiled at start, no CDK synthesis or ASL validation of an unchanged definition.
 *         When a source changes after the build, the CLI notices and runs from source (tsx) until the next
 *         build, so the build is never a second source of truth.
 *   web   the dashboard (web/, Preact): bundled by Vite into dist/web, served by `meta-agent serve` at / and
 *         deployed to S3 behind CloudFront by the stack.
 *
 * Usage: node scripts/build.mjs [STEP ...]   (every step when none is named)
 */
import { readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import {
  CLI_BUILD_DIR,
  DEFINITION_FILE,
  HANDLER_SETS,
  MANIFEST_FILE,
  manifestOf,
  PROGRESS_HANDLERS,
} from './build-state.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Packages the CLI build loads from node_modules at run time rather than bundling (see buildCli). */
export const BUILD_EXTERNALS = ['aws-cdk-lib', 'constructs', 'cdk-nag', 'esbuild', 'dynalite'].flatMap(
  (name) => [name, `${name}/*`],
);
/**
 * Node builtins that cost more imported as ES modules than required. Importing a builtin as an ES module reads
 * every one of its exports once to build the module's namespace, getters included: node:http's WebSocket,
 * CloseEvent and MessageEvent getters load Node's bundled undici, about 30 ms of every start that never uses
 * them. Bundled code gets these through `require` instead (CommonJS, whose getters run only when read).
 */
const REQUIRED_BUILTINS = ['http', 'https'];
/**
 * Packages the bundle evaluates at their first call instead of at load: `import specifier -> the importer it
 * is deferred in` (a path fragment of that module). Each stays in the bundle; its module runs the first time
 * its default export is called, or constructed.
 * - The Step Functions interpreter imports asl-validator at its top and calls it only to validate a
 *   definition, which the build's own definition never needs (EmbeddedSystem passes validate: false for it);
 *   asl-validator loads jsonata, whose module builds its date-time pictures as it loads: 12 ms of every start.
 * - Structured outputs (shared/domain/output-schema.ts) construct Ajv for JSON Schema 2020-12, with
 *   ajv-formats, at the first output schema compiled; their modules (the draft's vocabularies and
 *   meta-schemas) were evaluated at every start of the CLI, which `main.mjs` loads with the batch's
 *   validation, also for the batches that declare no output schema. Likewise re2js, its patterns' engine
   (shared/domain/linear-regexp.ts), about 60 ms to load.
 */
const DEFERRED_DEFAULT_IMPORTS = {
  'asl-validator': '/node_modules/aws-local-stepfunctions/',
  'ajv/dist/2020.js': '/shared/domain/output-schema.ts',
  'ajv-formats': '/shared/domain/output-schema.ts',
  './linear-regexp': '/shared/domain/output-schema.ts',
};
const escapeRegExp = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** @type {import('esbuild').Plugin} */
export const deferredImports = {
  name: 'deferred-imports',
  setup(build) {
    const names = Object.keys(DEFERRED_DEFAULT_IMPORTS).map(escapeRegExp);
    const filter = new RegExp(`^(${names.join('|')})$`);
    build.onResolve({ filter }, (args) => {
      // The stand-in's own require of the package resolves as usual (from the importer's directory).
      if (args.namespace === 'deferred-import' || args.kind !== 'import-statement') return undefined;
      const importer = args.importer.replaceAll('\\', '/');
      if (!importer.includes(DEFERRED_DEFAULT_IMPORTS[args.path])) return undefined;
      return { path: args.path, namespace: 'deferred-import', pluginData: { resolveDir: args.resolveDir } };
    });
    // A class (Ajv) is constructed, a function (a validator, a plugin) called, with the arguments given.
    build.onLoad({ filter: /.*/, namespace: 'deferred-import' }, (args) => ({
      contents: `export default function deferred(...args) {
  const loaded = require(${JSON.stringify(args.path)});
  const target = loaded && loaded.__esModule ? loaded.default : loaded;
  return new.target ? Reflect.construct(target, args) : target(...args);
}`,
      resolveDir: args.pluginData.resolveDir,
      loader: 'js',
    }));
  },
};
/** @type {import('esbuild').Plugin} */
const requireBuiltins = {
  name: 'require-builtins',
  setup(build) {
    const filter = new RegExp(`^(node:)?(${REQUIRED_BUILTINS.join('|')})$`);
    build.onResolve({ filter }, (args) =>
      // The stand-in module's own `require` of the builtin is left to Node.
      args.namespace === 'required-builtin'
        ? { path: args.path, external: true }
        : { path: args.path.replace(/^node:/, ''), namespace: 'required-builtin' },
    );
    build.onLoad({ filter: /.*/, namespace: 'required-builtin' }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(`node:${args.path}`)});`,
      loader: 'js',
    }));
  },
};
/**
 * The handler sets (HANDLER_SETS): entry modules made here, each importing its handler modules of functions/
 * and exporting `handlers`, name to handler. The handlers' own modules are bundled into their set's module
 * (the code they share with the CLI goes to shared chunks, as before), so a fresh import of a set
 * (`?system=N`) still evaluates every one of its handler modules again.
 * @param {readonly string[]} names every handler's name (functions/<name>.ts)
 * @returns {import('esbuild').Plugin}
 */
function handlerSets(names) {
  return {
    name: 'handler-sets',
    setup(build) {
      build.onResolve({ filter: /^handler-set:/ }, (args) => ({ path: args.path, namespace: 'handler-set' }));
      build.onLoad({ filter: /.*/, namespace: 'handler-set' }, (args) => {
        const progress = args.path === 'handler-set:progress';
        const set = names.filter((name) => PROGRESS_HANDLERS.includes(name) === progress);
        const imports = set.map((name, i) => `import * as h${i} from './functions/${name}.ts';`);
        const entries = set.map((name, i) => `${JSON.stringify(name)}: h${i}.handler`);
        return {
          contents: `${imports.join('\n')}\nexport const handlers = { ${entries.join(', ')} };\n`,
          resolveDir: ROOT,
          loader: 'ts',
        };
      });
    },
  };
}

const ESM_REQUIRE_BANNER =
  "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);";

/**
 * The CLI build into `outdir` (default dist/cli; inside the package, so the bundles resolve its node_modules).
 * Built beside it and renamed into place, so a CLI starting meanwhile sees the old build or the new one, never
 * half of one. Returns esbuild's metafile (output paths relative to the package root, under the staging dir).
 * @param {{ outdir?: string, log?: (line: string) => void }} [options]
 * @returns {Promise<{ outdir: string, metafile: import('esbuild').Metafile }>}
 */
export async function buildCli({ outdir = join(ROOT, CLI_BUILD_DIR), log = () => {} } = {}) {
  const started = performance.now();
  const staging = `${outdir}.${process.pid}.tmp`;
  rmSync(staging, { recursive: true, force: true });
  try {
    // Every handler module of functions/, in the handler sets (the runtime imports a fresh instance of a set
    // per system).
    const handlers = readdirSync(join(ROOT, 'functions'))
      .filter((f) => f.endsWith('.ts'))
      .map((f) => f.slice(0, -3));
    const result = await build({
      absWorkingDir: ROOT,
      entryPoints: {
        main: 'shared/local/cli/entry.ts',
        'local-definition': 'infra/local-definition.ts',
        // A worker thread loads its own file: emulators.ts names it next to the module that starts it.
        'dynalite-worker': 'shared/local/runtime/dynalite-worker.mjs',
        ...Object.fromEntries(
          Object.entries(HANDLER_SETS).map(([set, file]) => [
            file.replace(/\.mjs$/, ''),
            `handler-set:${set}`,
          ]),
        ),
      },
      outdir: staging,
      outExtension: { '.js': '.mjs' },
      bundle: true,
      // Shared code in shared chunks: module state (e.g. the parked-task hints route and complete share) stays
      // one instance per process, as when the sources are loaded directly.
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node22',
      // A package's ES module build before its CommonJS one (esbuild's default for node is the reverse): the
      // AWS SDK's CommonJS builds were bundled as hundreds of functions that run at their first require, which
      // V8 compiles then, on every start (the compile cache holds only what is compiled with the module); ES
      // modules are compiled with the module and tree-shaken. 6.5 MB of modules became 5.9 MB; `bench:ab
      // startup`, 5 pairs: 0.801 of the overhead.
      mainFields: ['module', 'main'],
      // Dependencies are bundled too, as the deployed Lambda bundles are: resolving, reading and compiling the
      // thousand files of the AWS SDK, Powertools, zod and the Step Functions interpreter one by one was a third
      // of a `meta-agent run` start. fauxqs too, with fastify and the rest of its tree (fauxqs-files.ts imports
      // its store classes by file, so they are this bundle's copy). Left external: what only a synthesis needs
      // (the CDK, esbuild) and native code (dynalite's LevelDB, on its own thread).
      external: [...BUILD_EXTERNALS],
      // ESM bundles still meet CommonJS dependencies that call `require`; give them one.
      banner: { js: ESM_REQUIRE_BANNER },
      plugins: [requireBuiltins, deferredImports, handlerSets(handlers)],
      sourcemap: 'linked',
      // Node decodes a module's UTF-8 source into a string of one byte a character only when the file is all
      // ASCII; one non-ASCII character (a dash or an emoji in a dependency's comment) made whole chunks two
      // bytes a character, slower to decode and to compile. esbuild escapes non-ASCII in code but keeps it in
      // comments: no comments or indentation are written (9.8 MB of modules became 6.7 MB; `bench:ab startup`,
      // 5 pairs: 0.845 of the overhead), and licence comments go to a .LEGAL.txt file beside each module.
      // Names are kept, and the linked source maps still map stack traces (META_AGENT_DEBUG).
      minifyWhitespace: true,
      legalComments: 'external',
      metafile: true,
      logLevel: 'error',
    });
    const definitionModule = await import(pathToFileURL(join(staging, 'local-definition.mjs')).href);
    const { StateMachine } = await import('aws-local-stepfunctions');
    const local = definitionModule.synthesizeLocalDefinition({ rolesConfig: [] });
    // Validated here once (asl-validator, as the interpreter's constructor does), not at every start. On a
    // copy: the validator annotates the definition it is given.
    new StateMachine(structuredClone(local.definition));
    writeFileSync(join(staging, DEFINITION_FILE), `${JSON.stringify(local)}\n`);
    // The project's own files; what the bundles took from node_modules is fixed by the lock file, an input of
    // every build (hashing those thousands of files would cost every start more than it could catch).
    // Modules the build's plugins make (a namespace before the colon) are not files: the build script, an
    // input itself, is what makes them.
    const inputs = Object.keys(result.metafile.inputs)
      .filter((p) => !p.split('/').includes('node_modules') && !/^[a-z-]+:/.test(p))
      .map((p) => relative(ROOT, join(ROOT, p)));
    writeFileSync(join(staging, MANIFEST_FILE), `${JSON.stringify(manifestOf(ROOT, inputs), null, 1)}\n`);
    rmSync(outdir, { recursive: true, force: true });
    renameSync(staging, outdir);
    log(
      `cli: ${relative(ROOT, outdir)} (${inputs.length} sources) in ${Math.round(performance.now() - started)} ms`,
    );
    return { outdir, metafile: result.metafile };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/**
 * The dashboard (web/): Vite bundles the Preact app into static files in dist/web, which `meta-agent serve`
 * serves at / and the stack deploys to S3 behind CloudFront.
 * @param {{ log?: (line: string) => void }} [options]
 */
export async function buildWeb({ log = () => {} } = {}) {
  const started = performance.now();
  const { build: viteBuild } = await import('vite');
  await viteBuild({ configFile: join(ROOT, 'web', 'vite.config.ts') });
  log(`web: dist/web in ${Math.round(performance.now() - started)} ms`);
}

/** The build's steps, in the order they run (the CLI's definition synthesizes the stack, which hosts web). */
export const STEPS = { web: buildWeb, cli: buildCli };

async function main(argv) {
  const unknown = argv.filter((s) => !Object.hasOwn(STEPS, s));
  if (unknown.length > 0) {
    process.stderr.write(
      `build: unknown step ${unknown.join(', ')}; steps: ${Object.keys(STEPS).join(', ')}\n`,
    );
    return 2;
  }
  const log = (line) => process.stdout.write(`${line}\n`);
  for (const name of argv.length > 0 ? argv : Object.keys(STEPS)) await STEPS[name]({ log });
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = await main(process.argv.slice(2));
}
