/**
 * The config file's `costs` section in the stack: every function gets it as COSTS_CONFIG (workers price and
 * limit calls, the router reserves budgets, submit applies the default budget, the agents API shows the
 * limits), and a bad section fails the synth with the JSON path of each problem.
 */
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { addMetaAgentStack } from '../../infra/config';
import { EnvVar } from '../../shared/config';
import { CostsConfigError } from '../../shared/domain/costs';
import { testApp } from '../support/cdk-app';
import { type TemplateFunction, templateFunctions } from './template-functions';

const SYNTH_TIMEOUT_MS = 180_000;
const costs = {
  prices: [{ provider: 'anthropic', model: 'claude-x', inputUsdPerMTok: 1, outputUsdPerMTok: 5 }],
};

let fns: TemplateFunction[];

beforeAll(() => {
  const app = testApp({ context: { 'aws:cdk:bundling-stacks': [] } });
  const json = Template.fromStack(addMetaAgentStack(app, { costs })).toJSON();
  fns = templateFunctions(json as Parameters<typeof templateFunctions>[0]);
}, SYNTH_TIMEOUT_MS);

describe('costs config in the stack', () => {
  it('gives the costs section to the functions that price, limit or budget', () => {
    for (const handler of ['agent-worker', 'route', 'submit', 'agents-api', 'redrive']) {
      const fn = fns.find((f) => f.handler === handler);
      expect(JSON.parse(String(fn?.env[EnvVar.CostsConfig])), handler).toEqual(costs);
    }
  });

  it('refuses a negative budget and a malformed price with their JSON paths, keeping the built-in roles', () => {
    const build = () =>
      addMetaAgentStack(testApp({ context: { 'aws:cdk:bundling-stacks': [] } }), {
        costs: { budget: { maxCostUsd: -1 }, prices: [{ provider: 'anthropic', inputUsdPerMTok: 1 }] },
      });

    expect(build).toThrow(CostsConfigError);
    expect(build).toThrow('$.costs.budget.maxCostUsd');
    expect(build).toThrow('$.costs.prices[0].outputUsdPerMTok');
  });
});
