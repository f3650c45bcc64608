/**
 * The deployed functions against the handlers they run: every function gets the variables its handler needs
 * (it loads with exactly the template's environment, and statically it has every variable of the container
 * members it touches), and its role allows every AWS action its handler's use cases call, on the resource
 * its variables name. Catches a missing bind (e.g. cancel without the agents table) before a deploy does.
 */

import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { addMetaAgentStack } from '../../infra/config';
import { SecretEnvVar } from '../../shared/adapters/secrets';
import { EnvVar } from '../../shared/config';
import { testApp } from '../support/cdk-app';
import { defaultTemplateJson } from './fixture';
import { HandlerAnalysis, type HandlerNeeds, handlerNames, REPO_ROOT } from './handler-analysis';
import { loadInChild } from './load-in-child';
import {
  allows,
  offlineAwsEnv,
  plainEnv,
  referencedIds,
  type TemplateFunction,
  templateFunctions,
  unusedLoopbackPort,
} from './template-functions';

type TemplateJson = Parameters<typeof templateFunctions>[0];

/**
 * Actions a handler may call only when the deployment configures them: the executors read provider keys
 * from Secrets Manager or SSM only when the variable naming the secret or the prefix is set.
 */
const CONDITIONAL_ACTIONS: Readonly<Record<string, string>> = {
  'secretsmanager:GetSecretValue': SecretEnvVar.SecretId,
  'ssm:GetParameter': SecretEnvVar.SsmPrefix,
};

const needs = new Map<string, HandlerNeeds>();
let defaultJson: TemplateJson;
/** The TypeScript program and a full synthesis take seconds each; more on a busy 2-core machine. */
const SETUP_TIMEOUT_MS = 180_000;

beforeAll(() => {
  const analysis = new HandlerAnalysis();
  for (const handler of handlerNames()) needs.set(handler, analysis.needs(handler));
  defaultJson = defaultTemplateJson() as TemplateJson;
}, SETUP_TIMEOUT_MS);

let configuredJson: TemplateJson | undefined;

/** A stack with every optional binding configured (provider secret and SSM prefix), synthesized once. */
function configuredStack(): TemplateJson {
  configuredJson ??= Template.fromStack(
    addMetaAgentStack(
      testApp({
        context: {
          'aws:cdk:bundling-stacks': [],
          providerSecretName: 'meta-agent/providers',
          providerSsmPrefix: '/meta-agent/providers',
        },
      }),
      [],
    ),
  ).toJSON() as TemplateJson;
  return configuredJson;
}

function needsOf(fn: TemplateFunction): HandlerNeeds {
  const found = needs.get(fn.handler);
  if (!found)
    throw new Error(`function ${fn.logicalId} runs ${fn.handler}, which is no functions/*.ts entry`);
  return found;
}

/** Variables a function's handler requires that its environment lacks, as `handler (id): NAME`. */
function missingVariables(json: TemplateJson): string[] {
  return templateFunctions(json).flatMap((fn) =>
    [...needsOf(fn).requiredEnv]
      .filter((v) => !(v in fn.env))
      .map((v) => `${fn.handler} (${fn.logicalId}): ${v}`),
  );
}

/** Actions a function's handler calls that its role does not allow on the right resource. */
function missingGrants(json: TemplateJson): string[] {
  const gaps = new Set<string>();
  for (const fn of templateFunctions(json)) {
    for (const use of needsOf(fn).actions) {
      const condition = CONDITIONAL_ACTIONS[use.action];
      if (condition !== undefined && !(condition in fn.env)) continue;
      const resourceIds = use.resourceVar === undefined ? undefined : referencedIds(fn.env[use.resourceVar]);
      if (!allows(fn.statements, use.action, resourceIds)) {
        gaps.add(
          `${fn.handler} (${fn.logicalId}): ${use.action} on ${use.resourceVar ?? 'any resource'} (${use.via})`,
        );
      }
    }
  }
  return [...gaps].sort();
}

describe('what the analysis reads from the handlers', () => {
  it('sees the agent reservations cancel frees, the subscriptions the notifier deletes and the models workers call', () => {
    const uses = (handler: string) =>
      needs.get(handler)?.actions.map((a) => `${a.action}@${a.resourceVar ?? '-'}`) ?? [];

    expect(needs.get('cancel')?.requiredEnv).toContain(EnvVar.AgentsTable);
    expect(uses('cancel')).toContain(`dynamodb:UpdateItem@${EnvVar.AgentsTable}`);
    expect(uses('notifier')).toContain(`dynamodb:BatchWriteItem@${EnvVar.TasksTable}`);
    expect(uses('notifier')).toContain(`execute-api:ManageConnections@${EnvVar.WebSocketEndpoint}`);
    expect(uses('agent-worker')).toContain('bedrock:InvokeModel@-');
    expect(uses('submit')).toContain(`states:StartExecution@${EnvVar.StateMachineArn}`);
    // Fleet-wide provider limits: workers take slots, GET /agents reads them (tasks table items).
    expect(uses('agent-worker')).toContain(`dynamodb:PutItem@${EnvVar.TasksTable}`);
    expect(uses('agents-api')).toContain(`dynamodb:Query@${EnvVar.TasksTable}`);
  });

  it('finds no AWS call in the read-only status handler beyond reads of the tasks table', () => {
    const actions = new Set(needs.get('status')?.actions.map((a) => a.action));

    expect([...actions].sort()).toEqual(['dynamodb:GetItem', 'dynamodb:Query']);
  });
});

describe('every deployed function against its handler', () => {
  it('runs each handler entry in at least one function, and no function runs anything else', () => {
    const deployed = new Set(templateFunctions(defaultJson).map((fn) => fn.handler));

    expect([...deployed].sort()).toEqual(handlerNames());
  });

  it('loads every handler module with exactly the environment its function gets', async () => {
    const port = await unusedLoopbackPort();
    const cases = templateFunctions(defaultJson).map((fn) => ({
      id: `${fn.handler} (${fn.logicalId})`,
      path: `${REPO_ROOT}/functions/${fn.handler}.ts`,
      env: { ...plainEnv(fn, defaultJson), ...offlineAwsEnv(port) },
    }));

    const results = await loadInChild(cases, { typescript: true });

    const failures = Object.entries(results)
      .filter(([, r]) => !r.ok)
      .map(([id, r]) => `${id}: ${r.error?.split('\n')[0]}`);
    expect(failures).toEqual([]);
    expect(Object.keys(results)).toHaveLength(cases.length);
  });

  it(
    'gives every function each variable its handler requires, in the default and a fully configured stack',
    () => {
      expect(missingVariables(defaultJson)).toEqual([]);
      expect(missingVariables(configuredStack())).toEqual([]);
    },
    SETUP_TIMEOUT_MS,
  );

  it('lets every function call what its handler calls, on the table, state machine or API its variables name', () => {
    expect(missingGrants(defaultJson)).toEqual([]);
  });

  it('lets the workers read the provider keys when a secret and an SSM prefix are configured', () => {
    const configured = configuredStack();
    const workers = templateFunctions(configured).filter((fn) => fn.handler === 'agent-worker');

    expect(missingGrants(configured)).toEqual([]);
    for (const worker of workers) {
      expect(worker.env[SecretEnvVar.SecretId], worker.logicalId).toBe('meta-agent/providers');
      expect(worker.env[SecretEnvVar.SsmPrefix], worker.logicalId).toBe('/meta-agent/providers');
    }
  });
});
