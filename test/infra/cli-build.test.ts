/**
 * The install-time CLI build (scripts/build.mjs): what `npx meta-agent` runs once `npm install` is done. Built
 * here into a directory of its own inside the package (the bundles resolve its node_modules), removed after.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Metafile } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { synthesizeLocalDefinition } from '../../infra/local-definition';
import { buildCli } from '../../scripts/build.mjs';
import { CLI_BUILD_DIR, DEFINITION_FILE, MANIFEST_FILE, manifestOf } from '../../scripts/build-state.mjs';
import { loadLocalDefinition } from '../../shared/local/definition-cache';
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

/** The packages an output file loads as it is imported (static imports, followed through shared chunks). */
function staticPackages(output: string): Set<string> {
  const outputs = metafile.outputs;
  const staging = Object.keys(outputs)[0]?.split('/').slice(0, 2).join('/') ?? '';
  const packages = new Set<string>();
  const seen = new Set<string>();
  const walk = (path: string) => {
    if (seen.has(path)) return;
    seen.add(path);
    for (const i of outputs[path]?.imports ?? []) {
      if (i.kind !== 'import-statement') continue;
      if (i.external) packages.add(i.path);
      else walk(i.path);
    }
  };
  walk(`${staging}/${output}`);
  return packages;
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

  it('runs a batch without loading the CDK, a provider SDK or the ASL validator', () => {
    const heavy = /^(aws-cdk-lib|constructs|cdk-nag|esbuild|asl-validator|@anthropic-ai\/sdk|openai)(\/|$)/;
    const run = chunkOf('shared/local/cli/commands/run.ts');
    const handlers = Object.keys(metafile.outputs)
      .map((p) => p.split('/').slice(2).join('/'))
      .filter((p) => p.startsWith('functions/') && p.endsWith('.mjs'));

    expect(handlers.length).toBeGreaterThan(10);
    for (const output of ['main.mjs', run, ...handlers]) {
      expect(
        [...staticPackages(output)].filter((p) => heavy.test(p)),
        output,
      ).toEqual([]);
    }
  });

  it('records every source it bundled in its manifest', () => {
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

  it('starts `plan` from the bundle on plain Node', async () => {
    const entry = join(outdir, 'main.mjs');
    const script = `const { main } = await import(${JSON.stringify(entry)}); process.exitCode = await main(['plan', 'examples/auth-feature.json']);`;

    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
      cwd: REPO_ROOT,
    });

    expect(stdout).toContain('6 tasks, 4 levels');
  });
});
