import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CfnDeletionPolicy } from 'aws-cdk-lib';
import type { CfnTable } from 'aws-cdk-lib/aws-dynamodb';
import type { CfnEventSourceMapping, CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { describe, expect, it } from 'vitest';
import {
  addMetaAgentStack,
  ContextValueError,
  RolesConfigFileError,
  readRolesConfigFile,
} from '../../infra/config';
import { RoleQueueUrlsTooLargeError } from '../../infra/constructs/role-workers';
import { ModelConfigError } from '../../shared/domain/models';
import { BUILTIN_ROLES } from '../../shared/domain/roles';
import { testApp } from '../support/cdk-app';

// These tests only construct the stack (a few hundred ms); the full synthesis is shared in stack.test.ts.
const noBundling = { 'aws:cdk:bundling-stacks': [] };

const newRole = (name: string, queueConcurrency = 7) => ({
  name,
  description: 'Writes Rust services',
  specializations: { languages: ['rust'], frameworks: ['axum'], skills: ['api'] },
  keywords: ['rust'],
  promptTemplate: 'You are {{role}}. {{description}}',
  defaults: { queueConcurrency },
});

describe('stack configuration', () => {
  it('refuses to synthesize a role on a retired model, before building anything', () => {
    const retired = {
      roles: [
        { name: 'code_reviewer', defaults: { executor: { name: 'anthropic', model: 'claude-sonnet-4-5' } } },
      ],
    };

    expect(() => addMetaAgentStack(testApp({ context: noBundling }), retired)).toThrow(ModelConfigError);
    expect(() => addMetaAgentStack(testApp({ context: noBundling }), retired)).toThrow(
      'role code_reviewer: anthropic model "claude-sonnet-4-5" reached its end of life on 2026-11-30',
    );
  });

  it('retains stateful resources by default and destroys them in a dev stack', () => {
    const prod = addMetaAgentStack(testApp({ context: noBundling }), []);
    const dev = addMetaAgentStack(testApp({ context: { ...noBundling, dev: 'true' } }), []);
    const policyOf = (stack: typeof prod) =>
      (stack.tables.tasks.node.defaultChild as CfnTable).cfnOptions.deletionPolicy;
    expect(policyOf(prod)).toBe(CfnDeletionPolicy.RETAIN);
    expect(policyOf(dev)).toBe(CfnDeletionPolicy.DELETE);
  });

  it('adds a queue and a worker for a role from the role config file, with its queue concurrency', () => {
    const dir = mkdtempSync(join(tmpdir(), 'roles-'));
    const file = join(dir, 'roles.json');
    writeFileSync(file, JSON.stringify({ roles: [newRole('rust_backend_coder', 9)] }));
    let stack: ReturnType<typeof addMetaAgentStack>;
    try {
      stack = addMetaAgentStack(testApp({ context: { ...noBundling, rolesConfig: file } }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const worker = stack.roleWorkers.byRole.get('rust_backend_coder');
    expect(stack.roleWorkers.byRole.size).toBe(BUILTIN_ROLES.length + 1);
    const mapping = worker?.worker.fn.node
      .findAll()
      .find((c) => (c as CfnEventSourceMapping).cfnResourceType === 'AWS::Lambda::EventSourceMapping') as
      | CfnEventSourceMapping
      | undefined;
    expect(stack.resolve(mapping?.scalingConfig)).toEqual({ maximumConcurrency: 9 });
  });

  it('refuses a catalog whose queue URLs would overflow the Lambda environment', () => {
    const roles = Array.from({ length: 12 }, (_, i) =>
      newRole(`extra_role_with_a_long_descriptive_name_${i}`),
    );
    expect(() => addMetaAgentStack(testApp({ context: noBundling }), { roles })).toThrow(
      RoleQueueUrlsTooLargeError,
    );
  });

  it('counts the routing settings, which every worker holds, in the environment check', () => {
    const build = (extra: number, routing?: Record<string, unknown>) =>
      addMetaAgentStack(testApp({ context: noBundling }), {
        roles: Array.from({ length: extra }, (_, i) => newRole(`extra_role_${i}`)),
        ...(routing ? { routing } : {}),
      });
    const fits = (extra: number) => {
      try {
        build(extra);
        return true;
      } catch (error) {
        if (error instanceof RoleQueueUrlsTooLargeError) return false;
        throw error;
      }
    };
    // The most roles that fit without routing settings (fewer than a role's worth of room left).
    let extra = 0;
    while (extra < 20 && fits(extra + 1)) extra++;
    expect(extra).toBeLessThan(20);

    const routing = { assist: { provider: 'bedrock', model: 'm'.repeat(256) } };
    expect(() => build(extra, routing)).toThrow(RoleQueueUrlsTooLargeError);
    expect(() => build(extra, routing)).toThrow(/ROUTING_CONFIG/);
  });

  it('reserves one concurrent scaler run unless told to reserve none, and rejects a malformed value', () => {
    const reservedOf = (context: Record<string, unknown>) => {
      const stack = addMetaAgentStack(testApp({ context: { ...noBundling, ...context } }), []);
      return stack.resolve(
        (stack.scaler.handler.fn.node.defaultChild as CfnFunction).reservedConcurrentExecutions,
      );
    };
    expect(reservedOf({})).toBe(1);
    expect(reservedOf({ scalerReservedConcurrency: '0' })).toBeUndefined();
    expect(() => reservedOf({ scalerReservedConcurrency: 'many' })).toThrow(ContextValueError);
  });

  it('names the file when the role config cannot be read', () => {
    expect(() => readRolesConfigFile('/nonexistent/roles.json')).toThrow(RolesConfigFileError);
    expect(() => readRolesConfigFile('/nonexistent/roles.json')).toThrow(/\/nonexistent\/roles\.json/);
  });
});
