/**
 * One synthesized stack per test process (synthesis takes seconds): the app as infra/app.ts builds it, with
 * bundling skipped, plus helpers to read the template.
 */
import { createRequire } from 'node:module';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { addMetaAgentStack } from '../../infra/config';
import type { MetaAgentStack } from '../../infra/stack';

export interface Synthesized {
  readonly app: App;
  readonly stack: MetaAgentStack;
  readonly template: Template;
}

let synthesized: Synthesized | undefined;

/** The default stack (built-in roles), synthesized once. */
export function synthesizeDefaultStack(): Synthesized {
  if (!synthesized) {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = addMetaAgentStack(app, []);
    synthesized = { app, stack, template: Template.fromStack(stack) };
  }
  return synthesized;
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
