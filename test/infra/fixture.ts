/**
 * One synthesized stack per test process (synthesis takes seconds): the app as infra/app.ts builds it, with
 * bundling skipped, plus helpers to read the template.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { addMetaAgentStack } from '../../infra/config';
import type { MetaAgentStack } from '../../infra/stack';
import { testApp } from '../support/cdk-app';

export interface Synthesized {
  readonly app: App;
  readonly stack: MetaAgentStack;
  readonly template: Template;
}

let synthesized: Synthesized | undefined;

/** The default stack (built-in roles), synthesized once. */
export function synthesizeDefaultStack(): Synthesized {
  if (!synthesized) {
    const app = testApp({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = addMetaAgentStack(app, []);
    synthesized = { app, stack, template: Template.fromStack(stack) };
    writeCachedTemplate(synthesized.template.toJSON());
  }
  return synthesized;
}

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Everything the default template is made from: the CDK app and the shared code, the lock file, this file. */
const TEMPLATE_INPUTS = ['infra', 'shared', 'cdk.json', 'package-lock.json', 'test/infra/fixture.ts'];
const CACHE_DIR = join(REPO_ROOT, 'node_modules', '.cache', 'meta-agent-infra-tests');

let inputsHash: string | undefined;

/** Content hash of every template input, so a cached template is used only for exactly these sources. */
function templateInputsHash(): string {
  if (inputsHash) return inputsHash;
  const hash = createHash('sha256');
  const files = TEMPLATE_INPUTS.flatMap((entry) => {
    const path = join(REPO_ROOT, entry);
    try {
      return readdirSync(path, { recursive: true, withFileTypes: true })
        .filter((d) => d.isFile())
        .map((d) => join(d.parentPath, d.name));
    } catch {
      return [path];
    }
  }).sort();
  for (const file of files) hash.update(file).update(readFileSync(file));
  inputsHash = hash.digest('hex').slice(0, 32);
  return inputsHash;
}

function writeCachedTemplate(json: unknown): void {
  mkdirSync(CACHE_DIR, { recursive: true });
  const target = join(CACHE_DIR, `${templateInputsHash()}.json`);
  // Written aside and renamed: test files running in parallel never read half a template.
  const temporary = `${target}.${process.pid}.tmp`;
  writeFileSync(temporary, JSON.stringify(json));
  renameSync(temporary, target);
}

/**
 * The default stack's template as JSON: from the cache when a test process already synthesized these very
 * sources (content hash of infra/, shared/, cdk.json, the lock file), else synthesized (and cached).
 * For tests that read the template only; tests that need the constructs use {@link synthesizeDefaultStack}.
 */
export function defaultTemplateJson(): { Resources: Record<string, Resource> } {
  try {
    return JSON.parse(readFileSync(join(CACHE_DIR, `${templateInputsHash()}.json`), 'utf8'));
  } catch {
    return synthesizeDefaultStack().template.toJSON() as { Resources: Record<string, Resource> };
  }
}

export type Resource = { Type: string; Properties: Record<string, unknown>; DependsOn?: unknown };

/** Resources of one type, by logical id. */
export function resourcesOf(template: Template, type: string): Record<string, Resource> {
  return template.findResources(type) as Record<string, Resource>;
}

type AslValidator = (
  definition: unknown,
  options?: { checkPaths: boolean; checkArn: boolean },
) => { isValid: boolean; errors: unknown[] };

/** asl-validator's JS API (CommonJS, untyped). It annotates its input, so it gets a copy. */
export function validateAsl(definition: unknown): { isValid: boolean; errors: unknown[] } {
  const validator = createRequire(import.meta.url)('asl-validator') as AslValidator;
  return validator(structuredClone(definition), { checkPaths: true, checkArn: true });
}
