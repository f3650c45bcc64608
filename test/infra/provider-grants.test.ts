/**
 * What the agent workers may reach to run an executor: Bedrock models of the region, and the provider keys
 * (a Secrets Manager secret and/or SSM SecureStrings under a prefix) when the context names them.
 */
import type { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { addMetaAgentStack } from '../../infra/config';
import { ParameterPrefixError } from '../../infra/constructs/role-workers';
import { SecretEnvVar } from '../../shared/adapters/secrets';
import { testApp } from '../support/cdk-app';
import { type Statement, type TemplateFunction, templateFunctions } from './template-functions';

const SECRET = 'meta-agent/providers';
const PREFIX = '/meta-agent/providers/';

let app: App;
let workers: TemplateFunction[];
let others: TemplateFunction[];

/** A full synthesis takes seconds; much longer on a busy 2-core machine. */
const SYNTH_TIMEOUT_MS = 180_000;

beforeAll(() => {
  app = testApp({
    context: { 'aws:cdk:bundling-stacks': [], providerSecretName: SECRET, providerSsmPrefix: PREFIX },
  });
  const json = Template.fromStack(addMetaAgentStack(app, [])).toJSON() as Parameters<
    typeof templateFunctions
  >[0];
  const fns = templateFunctions(json);
  workers = fns.filter((fn) => fn.handler === 'agent-worker');
  others = fns.filter((fn) => fn.handler !== 'agent-worker');
}, SYNTH_TIMEOUT_MS);

const withAction = (statements: readonly Statement[], action: string) =>
  statements.filter((st) => [st.Action].flat().includes(action));
const text = (value: unknown) => JSON.stringify(value);

describe('router provider grants', () => {
  it('lets the router read the provider keys (to tell a credentials mark of a replaced key), as the workers do', () => {
    const route = others.find((fn) => fn.handler === 'route');
    expect(route).toBeDefined();
    if (!route) return;
    expect(text(withAction(route.statements, 'secretsmanager:GetSecretValue')[0]?.Resource)).toContain(
      `:secret:${SECRET}-??????`,
    );
    expect(route.env[SecretEnvVar.SecretId]).toBe(SECRET);
    expect(text(withAction(route.statements, 'ssm:GetParameter')[0]?.Resource)).toContain(
      ':parameter/meta-agent/providers/*',
    );
    expect(route.env[SecretEnvVar.SsmPrefix]).toBe('/meta-agent/providers');
  });
});

describe('agent worker provider grants', () => {
  it('lets every worker invoke the foundation models and inference profiles of its region, and the models a profile routes to only through it', () => {
    const arn = (...parts: unknown[]) =>
      text({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ...parts]] });
    const profiles = arn(
      ':bedrock:',
      { Ref: 'AWS::Region' },
      ':',
      { Ref: 'AWS::AccountId' },
      ':inference-profile/*',
    );
    for (const worker of workers) {
      const invoke = withAction(worker.statements, 'bedrock:InvokeModel');
      expect(invoke, worker.logicalId).toHaveLength(2);
      expect([invoke[0]?.Action].flat()).toContain('bedrock:InvokeModelWithResponseStream');
      expect([invoke[0]?.Resource].flat().map(text)).toEqual([
        arn(':bedrock:', { Ref: 'AWS::Region' }, '::foundation-model/*'),
        profiles,
      ]);
      expect([invoke[1]?.Resource].flat().map(text)).toEqual([
        arn(':bedrock:*::foundation-model/*'),
        arn(':bedrock:::foundation-model/*'),
      ]);
      expect(text(invoke[1]?.Condition)).toBe(
        text({ StringLike: { 'bedrock:InferenceProfileArn': JSON.parse(profiles) } }),
      );
    }
    for (const fn of others)
      expect(withAction(fn.statements, 'bedrock:InvokeModel'), fn.logicalId).toEqual([]);
  });

  it('lets every worker read the named secret only, and tells it the secret name', () => {
    for (const worker of workers) {
      const read = withAction(worker.statements, 'secretsmanager:GetSecretValue');
      expect(read, worker.logicalId).toHaveLength(1);
      expect(text(read[0]?.Resource)).toContain(`:secret:${SECRET}-??????`);
      expect(worker.env[SecretEnvVar.SecretId]).toBe(SECRET);
    }
  });

  it('lets every worker read parameters under the prefix and decrypt them only through SSM', () => {
    for (const worker of workers) {
      const get = withAction(worker.statements, 'ssm:GetParameter');
      expect(get, worker.logicalId).toHaveLength(1);
      expect([get[0]?.Action].flat()).toContain('ssm:GetParameters');
      expect(text(get[0]?.Resource)).toContain(':parameter/meta-agent/providers/*');
      const decrypt = withAction(worker.statements, 'kms:Decrypt');
      expect(decrypt, worker.logicalId).toHaveLength(1);
      expect(text(decrypt[0]?.Condition)).toContain('kms:ViaService');
      expect(text(decrypt[0]?.Condition)).toContain('ssm.');
      expect(worker.env[SecretEnvVar.SsmPrefix]).toBe('/meta-agent/providers');
    }
    for (const fn of others.filter((f) => f.handler !== 'route'))
      expect(withAction(fn.statements, 'ssm:GetParameter'), fn.logicalId).toEqual([]);
  });

  it('acknowledges every new wildcard with a reason: cdk-nag finds nothing', () => {
    const report = new AwsSolutionsChecks(app).validateScope(app);

    expect(report.violations.map((v) => `${v.ruleName}: ${v.violatingResources.length}`)).toEqual([]);
  });

  it('refuses an SSM prefix that names no parameter path', () => {
    const build = () =>
      addMetaAgentStack(
        testApp({ context: { 'aws:cdk:bundling-stacks': [], providerSsmPrefix: '/bad prefix' } }),
        [],
      );

    expect(build).toThrow(ParameterPrefixError);
  });
});
