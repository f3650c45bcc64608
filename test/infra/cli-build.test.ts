/**
 * The install-time CLI build (scripts/build.mjs): what `npx meta-agent` runs once `npm install` is done. Built
 * here into a directory of its own inside the package (the bundles resolve its node_modules), removed after.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { build, type Metafile } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { synthesizeLocalDefinition } from '../../infra/local-definition';
import { BUILD_EXTERNALS, buildCli, deferredImports } from '../../scripts/build.mjs';
import {
  CLI_BUILD_DIR,
  DEFINITION_FILE,
  HANDLER_SETS,
  MANIFEST_FILE,
  manifestOf,
} from '../../scripts/build-state.mjs';
import { loadLocalDefinition } from '../../shared/local/definition-cache';
import { LOCAL_HANDLERS, PROGRESS_HANDLERS } from '../../shared/local/system';
import { REPO_ROOT } from './handler-analysis';

/** esbuild and one synthesis of the stack: seconds, more on a busy 2-core machine. */
const BUILD_TIMEOUT_MS = 180_000;

let outdir: string;
let metafile: Metafile;

beforeAll(async () => {
  outdir = join(REPO_ROOT, 'dist', `cli-check-${process.pid}`);
  ({ metafile } = await buildCli({ outdir }));
}, BUILD_TIMEOUT_MS);
afterAll(() => {
  rmSync(outdir, { recursive: true, force: true });
});

/** A package's name from a path into node_modules (the innermost package, for nested installs). */
function packageOf(path: string): string | undefined {
  return /.*node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)?.[1];
}

/** The build's staging directory, which the metafile's output paths start with. */
function staging(): string {
  return Object.keys(metafile.outputs)[0]?.split('/').slice(0, 2).join('/') ?? '';
}

/** The metafile's record of an output, by its path in the build. */
function outputOf(output: string): Metafile['outputs'][string] {
  const found = metafile.outputs[`${staging()}/${output}`];
  if (!found) throw new Error(`the build has no ${output}`);
  return found;
}

/**
 * The packages an output file loads as it is imported (static imports, followed through shared chunks): those
 * it imports from node_modules (`external`) and those bundled into the files it loads (`bundled`, from the
 * source files in `inputs`).
 */
function staticPackages(output: string): {
  external: Set<string>;
  bundled: Set<string>;
  inputs: Set<string>;
} {
  const outputs = metafile.outputs;
  const found = { external: new Set<string>(), bundled: new Set<string>(), inputs: new Set<string>() };
  const seen = new Set<string>();
  const walk = (path: string) => {
    if (seen.has(path)) return;
    seen.add(path);
    for (const input of Object.keys(outputs[path]?.inputs ?? {})) {
      found.inputs.add(input);
      const name = packageOf(input);
      if (name !== undefined) found.bundled.add(name);
    }
    for (const i of outputs[path]?.imports ?? []) {
      if (i.kind !== 'import-statement') continue;
      if (!i.external) walk(i.path);
      else if (!isBuiltin(i.path)) found.external.add(i.path);
    }
  };
  walk(`${staging()}/${output}`);
  return found;
}

/** The chunk a dynamic import of `source` lands in. */
function chunkOf(source: string): string {
  const found = Object.entries(metafile.outputs).find(
    ([, o]) => o.entryPoint === undefined && source in o.inputs,
  );
  if (!found) throw new Error(`${source} is in no chunk`);
  return found[0].split('/').slice(2).join('/');
}

describe('the CLI build', () => {
  it(
    'stores the definition that synthesizing the CDK construct gives now',
    () => {
      const cached = JSON.parse(readFileSync(join(outdir, DEFINITION_FILE), 'utf8'));

      expect(cached).toEqual(synthesizeLocalDefinition({ rolesConfig: [] }));
    },
    BUILD_TIMEOUT_MS,
  );

  /** Every output of the build, relative to it. */
  function outputFiles(): string[] {
    return Object.keys(metafile.outputs).map((p) => p.split('/').slice(2).join('/'));
  }

  /** main.mjs, the chunk of `run` and the handler sets: what a `meta-agent run` or `serve` start loads. */
  function runOutputs(): string[] {
    return [
      'main.mjs',
      chunkOf('shared/local/cli/commands/run.ts'),
      HANDLER_SETS.local,
      HANDLER_SETS.progress,
    ];
  }

  // Two handler modules, not one per handler: each bundle entry splits the shared code into more chunks, and a
  // start resolves, reads and links every module it loads.
  it('bundles every handler once, into its handler set, which exports it by name', () => {
    const handlerOutputs = outputFiles().filter((p) => p.startsWith('functions/') && p.endsWith('.mjs'));
    expect(handlerOutputs.sort()).toEqual([HANDLER_SETS.local, HANDLER_SETS.progress].sort());
    // A handler's own module is bundled into its set's module (the code it shares with others, into chunks).
    const handlersOf = (set: string) =>
      Object.keys(outputOf(set).inputs).flatMap((input) => /^functions\/([^/]+)\.ts$/.exec(input)?.[1] ?? []);
    expect(handlersOf(HANDLER_SETS.local).sort()).toEqual([...LOCAL_HANDLERS].sort());
    expect(handlersOf(HANDLER_SETS.progress).sort()).toEqual([...PROGRESS_HANDLERS].sort());
    expect(outputOf(HANDLER_SETS.local).exports).toEqual(['handlers']);
    expect(outputOf(HANDLER_SETS.progress).exports).toEqual(['handlers']);
  });

  // The ASL validator is not in the list: the Step Functions interpreter imports it (bundled or not), but a
  // definition from the build is not validated again at start (EmbeddedSystem passes validate: false).
  it('runs a batch without loading the CDK, esbuild or a provider SDK', () => {
    const heavy = /^(aws-cdk-lib|constructs|cdk-nag|esbuild|@anthropic-ai\/sdk|openai)(\/|$)/;

    for (const output of runOutputs()) {
      const { external, bundled } = staticPackages(output);
      expect(
        [...external, ...bundled].filter((p) => heavy.test(p)),
        output,
      ).toEqual([]);
    }
  });

  it('bundles what a run loads (the AWS SDK, Powertools, zod, the interpreter) instead of importing it', () => {
    for (const output of runOutputs()) {
      const { external, bundled } = staticPackages(output);

      expect(
        [...external].filter((p) => !BUILD_EXTERNALS.includes(p)),
        output,
      ).toEqual([]);
      if (output.startsWith('functions/'))
        expect([...bundled], output).toEqual(
          expect.arrayContaining(['@aws-sdk/client-dynamodb', '@aws-lambda-powertools/logger', 'zod']),
        );
    }
    expect([...staticPackages(chunkOf('shared/local/runtime/execution-runner.ts')).bundled]).toContain(
      'aws-local-stepfunctions',
    );
  });

  // fauxqs' fastify app is built at the first request that needs it (emulators.ts startFauxqs): its chunk is
  // imported dynamically, so loading fastify, its router and schema compilers is no part of a start.
  it("leaves fauxqs' fastify app out of what a run loads, in a chunk imported when it is first needed", () => {
    for (const output of runOutputs()) {
      const { bundled } = staticPackages(output);
      expect(
        [...bundled].filter((p) => /^(fastify|@fastify\/|find-my-way|avvio|light-my-request)/.test(p)),
        output,
      ).toEqual([]);
    }
    // Its stores and SQS actions are loaded with the runtime.
    expect(runOutputs().some((output) => staticPackages(output).bundled.has('fauxqs'))).toBe(true);
    // esbuild makes the target of a dynamic import an entry point of its own.
    const app = Object.entries(metafile.outputs).find(
      ([, o]) => o.entryPoint === 'node_modules/fauxqs/dist/app.js',
    );
    expect(app, 'the output of fauxqs/dist/app.js').toBeDefined();
    const appOutput = (app?.[0] ?? '').split('/').slice(2).join('/');
    expect([...staticPackages(appOutput).bundled]).toEqual(
      expect.arrayContaining(['fastify', 'find-my-way']),
    );
  });

  // A package's CommonJS build is bundled as functions that run at its first require, which V8 compiles only
  // then, at every start (the compile cache holds what was compiled with the module); its ES module build is
  // compiled with the module, and tree-shaken.
  it("bundles the AWS SDK's ES module builds, not its CommonJS ones", () => {
    const sdk = /node_modules\/@(aws-sdk|smithy)\//;
    const inputs = new Set(runOutputs().flatMap((output) => [...staticPackages(output).inputs]));
    const bundled = [...inputs].filter((p) => sdk.test(p));

    expect(bundled.length).toBeGreaterThan(100);
    expect(bundled.filter((p) => p.includes('/dist-cjs/'))).toEqual([]);
  });

  it('records every source of the project it bundled in its manifest, and the lock file for the packages', () => {
    const manifest = JSON.parse(readFileSync(join(outdir, MANIFEST_FILE), 'utf8')) as {
      inputs: Record<string, string>;
    };

    expect(Object.keys(manifest.inputs)).toEqual(
      expect.arrayContaining([
        'shared/local/cli/main.ts',
        'functions/route.ts',
        'infra/constructs/orchestration.ts',
        'shared/domain/workflow.ts',
        'package-lock.json',
      ]),
    );
    // The packages' files are many and fixed by the lock file: hashing them would slow every start.
    expect(Object.keys(manifest.inputs).filter((p) => p.includes('node_modules'))).toEqual([]);
  });

  it(
    'serves the definition from a build whose sources are unchanged, and synthesizes once one changed',
    async () => {
      // A package root of its own whose build lists one source: the definition follows that source's hash.
      const root = mkdtempSync(join(REPO_ROOT, 'dist', 'cli-root-'));
      try {
        cpSync(outdir, join(root, CLI_BUILD_DIR), { recursive: true });
        writeFileSync(join(root, 'source.ts'), 'export {};\n');
        writeFileSync(
          join(root, CLI_BUILD_DIR, MANIFEST_FILE),
          JSON.stringify(manifestOf(root, ['source.ts'])),
        );

        const fresh = await loadLocalDefinition({ root });
        writeFileSync(join(root, 'source.ts'), 'export const changed = true;\n');
        const stale = await loadLocalDefinition({ root });

        expect(fresh.source).toBe('build');
        expect(stale.source).toBe('synthesis');
        expect(stale.definition).toEqual(fresh.definition);
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    },
    BUILD_TIMEOUT_MS,
  );

  // bin/meta-agent.js preloads dist/cli/dynalite-worker.mjs for a local run or serve (dynalite-preload.mjs), and
  // startDynalite adopts it only if it asks for that same file: its chunk must sit beside the worker.
  it("names the dynalite thread the entry point preloads, from the runtime's chunk", () => {
    const chunk = chunkOf('shared/local/runtime/emulators.ts');
    const code = readFileSync(join(outdir, chunk), 'utf8');

    expect(outputFiles()).toContain('dynalite-worker.mjs');
    expect(chunk).not.toContain('/');
    expect(code).toMatch(/new URL\(\s*"\.\/dynalite-worker\.mjs",\s*import\.meta\.url\s*\)/);
    expect(code).toContain('meta-agent.dynalite-preload');
  });

  /**
   * Bundles `entry` (an ES module's code, in a directory of dist/) with the build's deferredImports plugin and
   * imports it; checks that the stand-in for `specifier` replaced its import, and that the module at
   * `packageFile` is bundled, wrapped to run when required, and required only inside the stand-in.
   */
  async function bundledWithDeferral(
    entry: string,
    specifier: string,
    packageFile: string,
  ): Promise<Record<string, (...args: never[]) => unknown>> {
    const dir = mkdtempSync(join(REPO_ROOT, 'dist', 'cli-deferred-'));
    try {
      writeFileSync(join(dir, 'entry.ts'), entry);
      const { metafile: built } = await build({
        absWorkingDir: REPO_ROOT,
        entryPoints: [join(dir, 'entry.ts')],
        outfile: join(dir, 'out.mjs'),
        bundle: true,
        format: 'esm',
        platform: 'node',
        mainFields: ['module', 'main'],
        banner: {
          js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
        },
        plugins: [deferredImports],
        logLevel: 'error',
        metafile: true,
      });
      // The stand-in replaced the import; the package itself is bundled, not external.
      expect(Object.keys(built.inputs)).toContain(`deferred-import:${specifier}`);
      expect(
        Object.keys(built.inputs).some((input) => input.endsWith(packageFile)),
        packageFile,
      ).toBe(true);
      const code = readFileSync(join(dir, 'out.mjs'), 'utf8');
      const wrapper = new RegExp(
        `(require_\\w+)\\s*=\\s*__commonJS\\(\\{\\s*"[^"]*${packageFile.replaceAll('/', '\\/').replaceAll('.', '\\.')}"`,
      ).exec(code)?.[1];
      expect(wrapper, packageFile).toBeDefined();
      expect(code.split(`${wrapper}()`).length - 1).toBe(1);
      expect(code).toMatch(
        new RegExp(`function deferred\\d*\\(\\.\\.\\.args\\)\\s*\\{\\s*const loaded = ${wrapper}\\(\\)`),
      );
      return await import(pathToFileURL(join(dir, 'out.mjs')).href);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  // asl-validator (and jsonata, which it loads) runs at its first call, not at load: the interpreter still
  // validates a definition it is asked to validate, through the bundled copy.
  it('bundles the ASL validator to run at its first call, and it still validates', async () => {
    expect(Object.keys(metafile.inputs).some((i) => /node_modules\/asl-validator\//.test(i))).toBe(true);
    const bundled = await bundledWithDeferral(
      `import { StateMachine } from 'aws-local-stepfunctions';
export const validate = (definition) => new StateMachine(definition);
export const skip = (definition) => new StateMachine(definition, { validationOptions: { noValidate: true } });`,
      'asl-validator',
      'node_modules/asl-validator/dist/src/validator.js',
    );
    const valid = { StartAt: 'A', States: { A: { Type: 'Pass', End: true } } };
    const invalid = { StartAt: 'Missing', States: { A: { Type: 'Pass', End: true } } };

    expect(() => bundled.validate?.(valid as never)).not.toThrow();
    expect(() => bundled.validate?.(invalid as never)).toThrow(/State machine definition is invalid/);
    expect(() => bundled.skip?.(invalid as never)).not.toThrow();
  });

  // Ajv for JSON Schema 2020-12 and ajv-formats (the draft's vocabularies and meta-schemas) are evaluated at
  // the first output schema compiled, not by every start of the CLI; structured outputs validate as before.
  it('bundles Ajv and ajv-formats to load at the first output schema, and outputs are still validated', async () => {
    const bundled = await bundledWithDeferral(
      `export { outputMisfits, outputSchemaProblem } from ${JSON.stringify(join(REPO_ROOT, 'shared/domain/output-schema.ts'))};`,
      'ajv/dist/2020.js',
      'node_modules/ajv/dist/2020.js',
    );
    const schema = {
      type: 'object',
      properties: { email: { type: 'string', format: 'email' }, count: { type: 'integer' } },
      required: ['email'],
      additionalProperties: false,
    };

    expect(bundled.outputSchemaProblem?.(schema as never)).toBeUndefined();
    expect(bundled.outputSchemaProblem?.({ type: 'object', propertees: {} } as never)).toMatch(/propertees/);
    expect(bundled.outputMisfits?.(schema as never, { email: 'a@example.com', count: 2 } as never)).toEqual(
      [],
    );
    const misfits = bundled.outputMisfits?.(
      schema as never,
      { email: 'not an email', extra: 1 } as never,
    ) as string[];
    expect(misfits.join('\n')).toMatch(/format "email"/);
    expect(misfits.join('\n')).toMatch(/extra/);
  });

  // An ES module import of node:http reads all its exports, whose WebSocket getters load Node's undici (about
  // 30 ms of every start); the build has the bundled code require node:http and node:https instead.
  it("loads `run` (fauxqs and fastify included) without Node's fetch implementation, undici", async () => {
    const modules = ['main.mjs', chunkOf('shared/local/cli/commands/run.ts')].map(
      (output) => pathToFileURL(join(outdir, output)).href,
    );
    const script = `for (const m of ${JSON.stringify(modules)}) await import(m); console.log(JSON.stringify(process.moduleLoadList));`;

    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
      cwd: REPO_ROOT,
    });
    const loaded = JSON.parse(stdout) as string[];

    expect(loaded).toEqual(expect.arrayContaining(['NativeModule http', 'NativeModule https']));
    expect(loaded.filter((m) => m.includes('undici'))).toEqual([]);
  });

  // Node reads an ES module's source as UTF-8 into a string: one byte a character when every byte is ASCII,
  // two when a single one is not (a comment's dash or emoji was enough). Comments and indentation are not
  // written, and licence comments go to .LEGAL.txt files beside the modules.
  it('writes every module in ASCII, keeping licence notices beside the modules', () => {
    const files = readdirSync(outdir, { recursive: true, encoding: 'utf8' });
    const modules = files.filter((f) => f.endsWith('.mjs'));
    expect(modules.length).toBeGreaterThan(20);

    for (const file of modules) {
      const bytes = readFileSync(join(outdir, file));
      expect(
        bytes.findIndex((b) => b > 0x7f),
        file,
      ).toBe(-1);
    }
    const notices = files.filter((f) => f.endsWith('.LEGAL.txt'));
    expect(notices.length).toBeGreaterThan(0);
    expect(notices.map((f) => readFileSync(join(outdir, f), 'utf8')).join('\n')).toMatch(/License/);
  });

  it('starts `plan` from the bundle on plain Node', async () => {
    const entry = join(outdir, 'main.mjs');
    const script = `const { main } = await import(${JSON.stringify(entry)}); process.exitCode = await main(['plan', 'examples/auth-feature.json']);`;

    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
      cwd: REPO_ROOT,
    });

    expect(stdout).toContain('6 tasks, 4 levels');
  });
});
