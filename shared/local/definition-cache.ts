/**
 * The state machine definition the embedded runtime runs, without a CDK synthesis at every start.
 *
 * The install-time build (scripts/build.mjs) synthesizes the local definition from the CDK construct once,
 * validates it, and stores it in dist/cli with the hashes of every file it was built from. A start whose
 * sources still hash the same reads that file (a few milliseconds); otherwise it synthesizes in process, as
 * before the cache existed (loading aws-cdk-lib and building the stack take seconds), and the runtime
 * validates what it got. The cache is keyed on the sources, never trusted on its own.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LocalDefinition } from '../../infra/local-definition';
import { buildState, CLI_BUILD_DIR, DEFINITION_FILE } from '../../scripts/build-state.mjs';

export interface LoadedDefinition extends LocalDefinition {
  /** Where it came from: a build (validated when it was built) or a synthesis now (not validated yet). */
  readonly source: 'build' | 'synthesis';
}

/** The package root, when this module runs from its source file (shared/local/). */
const SOURCE_ROOT = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..');

/**
 * The local state machine definition: from a build directory the caller already checked (`trustedBuildDir`,
 * the built CLI after bin/meta-agent.js compared its manifest), from the build under `root` (default: this
 * package) when its manifest matches the sources, else synthesized now.
 */
export async function loadLocalDefinition(
  options: { trustedBuildDir?: string; root?: string } = {},
): Promise<LoadedDefinition> {
  const root = options.root ?? SOURCE_ROOT;
  const dir = options.trustedBuildDir ?? (buildState(root).fresh ? join(root, CLI_BUILD_DIR) : undefined);
  if (dir !== undefined) {
    const cached = readCached(join(dir, DEFINITION_FILE));
    if (cached) return { ...cached, source: 'build' };
  }
  // Imported only here: aws-cdk-lib and the stack's constructs are most of a cold start.
  const { synthesizeLocalDefinition } = await import('../../infra/local-definition');
  return { ...synthesizeLocalDefinition({ rolesConfig: [] }), source: 'synthesis' };
}

function readCached(file: string): LocalDefinition | undefined {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<LocalDefinition>;
    if (typeof parsed.definition === 'object' && typeof parsed.taskStates === 'object')
      return parsed as LocalDefinition;
  } catch {
    // Missing or unreadable: synthesize.
  }
  return undefined;
}
