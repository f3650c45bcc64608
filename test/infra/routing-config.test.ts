/**
 * The config file's `routing` section in the stack: the router (and Complete and the agent workers, which
 * route the dependents whose gate their Complete opens) gets it as ROUTING_CONFIG, and with
 * model-assisted routing it may reach the provider (the workers' credentials) and waits long enough for it.
 */
import type { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { addMetaAgentStack } from '../../infra/config';
import { ROUTE_TIMEOUT_BEYOND_ASSIST_MS } from '../../infra/stack';
import { EnvVar } from '../../shared/config';
import { RoutingConfigError } from '../../shared/domain/routing-config';
import { testApp } from '../support/cdk-app';
import { type Statement, type TemplateFunction, templateFunctions } from './template-functions';

const SYNTH_TIMEOUT_MS = 180_000;
const routing = {
  weights: { specialization: 2, availability: 1, success: 1, speed: 0 },
  assist: { provider: 'bedrock', model: 'anthropic.test-model', threshold: 0.3, timeoutMs: 5_000 },
};

let app: App;
let json: Record<string, unknown>;
let router: TemplateFunction;
let others: TemplateFunction[];

beforeAll(() => {
  app = testApp({ context: { 'aws:cdk:bundling-stacks': [], providerSecretName: 'meta-agent/providers' } });
  json = Template.fromStack(addMetaAgentStack(app, { roles: [], routing })).toJSON() as Record<
    string,
    unknown
  >;
  const fns = templateFunctions(json as Parameters<typeof templateFunctions>[0]);
  router = fns.find((fn) => fn.handler === 'route') as TemplateFunction;
  others = fns.filter((fn) => fn.handler !== 'route' && fn.handler !== 'agent-worker');
}, SYNTH_TIMEOUT_MS);

const withAction = (statements: readonly Statement[], action: string) =>
  statements.filter((st) => [st.Action].flat().includes(action));

describe('routing config in the stack', () => {
  it('gives the router the routing section, with the assist defaults filled in', () => {
    const config = JSON.parse(String(router.env[EnvVar.RoutingConfig]));

    expect(config.weights).toEqual(routing.weights);
    expect(config.assist).toMatchObject({ ...routing.assist, candidates: 4 });
    // Complete routes the dependents whose gate it opens, and Gate a task whose dependencies ended before it
    // armed (hop latency), with the router's own section; they ask no model (with assist on they leave those
    // tasks to the router), so they get no provider grant below. RecordAttempt hands a failed attempt's slot
    // to a parked task, scored with the same section.
    const routers = others.filter((fn) => ['complete', 'gate', 'record-attempt'].includes(fn.handler));
    expect(routers.map((fn) => fn.handler).sort()).toEqual(['complete', 'gate', 'record-attempt']);
    for (const fn of routers) expect(fn.env[EnvVar.RoutingConfig]).toBe(router.env[EnvVar.RoutingConfig]);
    for (const fn of others.filter((f) => !routers.includes(f)))
      expect(fn.env[EnvVar.RoutingConfig], fn.logicalId).toBeUndefined();
    // So does every agent worker, running the Complete of its own attempts.
    const workers = templateFunctions(json as Parameters<typeof templateFunctions>[0]).filter(
      (fn) => fn.handler === 'agent-worker',
    );
    expect(workers.length).toBeGreaterThan(1);
    for (const fn of workers)
      expect(fn.env[EnvVar.RoutingConfig], fn.logicalId).toBe(router.env[EnvVar.RoutingConfig]);
  });

  it('lets the router ask the provider (Bedrock and the provider keys) and wait for its answer', () => {
    // The models of the region, its inference profiles, and the models those route to (see grantBedrock).
    expect(withAction(router.statements, 'bedrock:InvokeModel')).toHaveLength(2);
    expect(withAction(router.statements, 'secretsmanager:GetSecretValue')).toHaveLength(1);
    for (const fn of others)
      expect(withAction(fn.statements, 'bedrock:InvokeModel'), fn.logicalId).toEqual([]);
    const resources = (json.Resources ?? {}) as Record<string, { Properties?: { Timeout?: number } }>;
    expect(resources[router.logicalId]?.Properties?.Timeout).toBe(
      (routing.assist.timeoutMs + ROUTE_TIMEOUT_BEYOND_ASSIST_MS) / 1000,
    );
  });

  it('acknowledges the router grants: cdk-nag finds nothing', () => {
    const report = new AwsSolutionsChecks(app).validateScope(app);

    expect(report.violations.map((v) => `${v.ruleName}: ${v.violatingResources.length}`)).toEqual([]);
  });

  it('refuses a bad routing section with its JSON path', () => {
    const build = () =>
      addMetaAgentStack(testApp({ context: { 'aws:cdk:bundling-stacks': [] } }), {
        routing: { assist: { provider: 'nobody' } },
      });

    expect(build).toThrow(RoutingConfigError);
    expect(build).toThrow('$.routing.assist.provider');
  });
});
