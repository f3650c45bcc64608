/**
 * The real handlers on the embedded runtime: the deployed state machine definition (synthesized from the
 * CDK construct), dynalite, fauxqs and the loopback Step Functions endpoint, driven through the API
 * handlers. Shows submit -> gate/route/dispatch/worker/record-attempt/complete -> finalize, failure
 * recovery (error and crash), status, cancel and redrive working together.
 */
import type { APIGatewayProxyResult } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { synthesizeLocalDefinition } from '../../../infra/local-definition';
import { resolveRoles } from '../../../shared/domain/roles';
import type { BatchResult } from '../../../shared/domain/schemas';
import { type AslDefinition, type LambdaHandler, LocalRuntime } from '../../../shared/local/runtime';
import { LOCAL_HANDLERS } from '../../../shared/local/system';
import { apiEvent } from '../../support/api-events';

type ApiHandler = (event: ReturnType<typeof apiEvent>) => Promise<APIGatewayProxyResult>;

/** Short heartbeats, so a crashed worker is noticed in about two seconds. */
const HEARTBEAT_SECONDS = 2;
const POLL_MS = 100;
const FINISH_WITHIN_MS = 30_000;

let runtime: LocalRuntime;
let api: Record<'submit' | 'status' | 'cancel' | 'redrive', ApiHandler>;

beforeAll(async () => {
  const { definition, taskStates } = synthesizeLocalDefinition();
  const loaded: Record<string, LambdaHandler> = {};
  runtime = await LocalRuntime.start({
    definition: definition as unknown as AslDefinition,
    taskStates,
    roles: resolveRoles([]),
    handlers: async () => {
      for (const name of LOCAL_HANDLERS)
        loaded[name] = (await import(`../../../functions/${name}.ts`)).handler;
      return loaded;
    },
    agentHandler: 'agent-worker',
    env: {
      HEARTBEAT_SECONDS: String(HEARTBEAT_SECONDS),
      POWERTOOLS_METRICS_DISABLED: 'true',
      POWERTOOLS_LOG_LEVEL: 'SILENT',
    },
  });
  api = {
    submit: loaded.submit as unknown as ApiHandler,
    status: loaded.status as unknown as ApiHandler,
    cancel: loaded.cancel as unknown as ApiHandler,
    redrive: loaded.redrive as unknown as ApiHandler,
  };
});

afterAll(async () => {
  await runtime?.stop();
});

async function submit(tasks: unknown[]): Promise<string> {
  const response = await api.submit(apiEvent({ body: JSON.stringify({ tasks }) }));
  expect(response.statusCode).toBe(202);
  return JSON.parse(response.body).batchId;
}

async function status(batchId: string): Promise<BatchResult> {
  const response = await api.status(apiEvent({ method: 'GET', pathParameters: { id: batchId } }));
  return JSON.parse(response.body);
}

/** The batch's status once `holds` is true of it (read every POLL_MS); an error naming `what` after FINISH_WITHIN_MS. */
async function statusOnce(
  batchId: string,
  what: string,
  holds: (result: BatchResult) => boolean,
): Promise<BatchResult> {
  const deadline = Date.now() + FINISH_WITHIN_MS;
  for (;;) {
    const result = await status(batchId);
    if (holds(result)) return result;
    if (Date.now() > deadline) throw new Error(`batch ${batchId} not ${what}: ${JSON.stringify(result)}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

const finished = (batchId: string) =>
  statusOnce(batchId, 'finished', (result) => result.status !== 'RUNNING');

const summary = (result: BatchResult) => result.tasks.map((t) => [t.id, t.status]);
/** Whether each task of `expected` ([id, status]) has its status in `result`. */
const sameStatuses = (result: BatchResult, expected: [string, string][]) =>
  expected.every(([id, want]) => result.tasks.find((t) => t.id === id)?.status === want);

describe('handlers on the embedded runtime', () => {
  it('runs a diamond, recovering an error and a crash on other agents, to a PARTIAL result', async () => {
    const batchId = await submit([
      { id: 'schema', description: 'design the schema', role: 'database_designer' },
      {
        id: 'api',
        description: 'write the endpoint',
        role: 'python_backend_coder',
        dependsOn: ['schema'],
        input: { simulate: { failAttempts: 1, failMode: 'error' } },
      },
      {
        id: 'ui',
        description: 'build the form',
        role: 'typescript_frontend_agent',
        dependsOn: ['schema'],
        input: { simulate: { failAttempts: 1, failMode: 'crash' } },
      },
      {
        id: 'audit',
        description: 'audit the login flow',
        role: 'security_auditor',
        input: { simulate: { failAttempts: 9 } },
      },
      {
        id: 'docs',
        description: 'document it',
        role: 'documentation_writer',
        dependsOn: ['api', 'ui', 'audit'],
      },
    ]);

    const result = await finished(batchId);

    expect(result.status).toBe('PARTIAL');
    expect(summary(result)).toEqual([
      ['schema', 'SUCCEEDED'],
      ['api', 'SUCCEEDED'],
      ['ui', 'SUCCEEDED'],
      ['audit', 'FAILED'],
      ['docs', 'SKIPPED'],
    ]);
    const [, api, ui] = result.tasks;
    expect(api?.attempts.map((a) => a.status)).toEqual(['FAILED', 'SUCCEEDED']);
    expect(ui?.attempts.map((a) => a.status)).toEqual(['TIMED_OUT', 'SUCCEEDED']);
    expect(ui?.attempts[0]?.error).toContain('States.HeartbeatTimeout');
    expect(ui?.attempts[0]?.agentId).not.toBe(ui?.attempts[1]?.agentId);
    expect(result.tasks[4]?.reason).toContain('audit (FAILED)');
    expect(result.makespanMs).toBeGreaterThan(0);
  });

  it('cancels a running batch, then redrives only what did not succeed', async () => {
    const batchId = await submit([
      { id: 'quick', description: 'review the code', role: 'code_reviewer' },
      {
        id: 'slow',
        description: 'design the schema',
        role: 'database_designer',
        input: { simulate: { durationMs: 3_000 } },
      },
      { id: 'after', description: 'write the endpoint', role: 'python_backend_coder', dependsOn: ['slow'] },
    ]);
    // Cancelled once quick is done and slow runs (a fixed second was both too long and, on a loaded machine,
    // not always enough).
    await statusOnce(batchId, 'with quick done and slow running', (result) =>
      sameStatuses(result, [
        ['quick', 'SUCCEEDED'],
        ['slow', 'RUNNING'],
      ]),
    );

    const cancel = await api.cancel(apiEvent({ method: 'DELETE', pathParameters: { id: batchId } }));
    const cancelled: BatchResult = JSON.parse(cancel.body);
    const redrive = await api.redrive(apiEvent({ method: 'POST', pathParameters: { id: batchId } }));
    const result = await finished(batchId);

    expect(cancel.statusCode).toBe(200);
    expect(summary(cancelled)).toEqual([
      ['quick', 'SUCCEEDED'],
      ['slow', 'CANCELLED'],
      ['after', 'CANCELLED'],
    ]);
    expect(redrive.statusCode).toBe(202);
    expect(JSON.parse(redrive.body).taskIds).toEqual(['slow', 'after']);
    expect(result.status).toBe('SUCCEEDED');
    expect(result.tasks[1]?.attempts.map((a) => a.status)).toEqual(['CANCELLED', 'SUCCEEDED']);
  });

  it('answers 409 to a redrive while the batch runs', async () => {
    const batchId = await submit([
      { id: 'slow', description: 'x', role: 'code_reviewer', input: { simulate: { durationMs: 1_000 } } },
    ]);

    const response = await api.redrive(apiEvent({ method: 'POST', pathParameters: { id: batchId } }));

    expect(response.statusCode).toBe(409);
    expect((await finished(batchId)).status).toBe('SUCCEEDED');
  });
});
