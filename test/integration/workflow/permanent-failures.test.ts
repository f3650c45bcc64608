/**
 * Permanent provider failures on the embedded runtime (the same RecordAttempt, Route and state machine as on
 * AWS), with the Anthropic executor pointed at a local stand-in of the Messages API: a failure its executor
 * configuration will repeat (a bad key, an unknown model) is retried only on an agent whose configuration
 * differs in what caused it, else the task fails after the one attempt, with a reason that says so.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { BatchResult } from '../../../shared/domain/schemas';
import { EmbeddedSystem } from '../../../shared/local/system';
import { anthropicText, taskOf } from '../../support/provider-replies';
import {
  type FakeProvider,
  type RecordedRequest,
  type Reply,
  startFakeProvider,
} from '../../unit/executors/fake-provider';

const BAD_KEY_MODEL = 'claude-bad-key';
const UNKNOWN_MODEL = 'claude-unknown';
const GOOD_MODEL = 'claude-good';
const ROLE = 'python_backend_coder';

/** The stand-in answers by the model asked for: a 401, a 404, or the work. */
function reply(_index: number, request: RecordedRequest): Reply {
  const { model } = JSON.parse(request.body) as { model: string };
  if (model === BAD_KEY_MODEL)
    return {
      status: 401,
      json: { type: 'error', error: { type: 'authentication_error', message: 'invalid x-api-key' } },
    };
  if (model === UNKNOWN_MODEL)
    return {
      status: 404,
      json: { type: 'error', error: { type: 'not_found_error', message: `model: ${model}` } },
    };
  return anthropicText(`work of ${taskOf(request)}`);
}

let provider: FakeProvider;
let secretsDir: string;
let secrets: string;
let system: EmbeddedSystem | undefined;

beforeAll(async () => {
  provider = await startFakeProvider(reply);
  secretsDir = await mkdtemp(join(tmpdir(), 'meta-agent-permanent-'));
  secrets = join(secretsDir, 'secrets.json');
  await writeFile(secrets, JSON.stringify({ anthropic: 'sk-ant-test' }), { mode: 0o600 });
});

afterEach(async () => {
  await system?.stop();
  system = undefined;
});

afterAll(async () => {
  await provider?.close();
  await rm(secretsDir, { recursive: true, force: true });
});

/** A system whose role's agents (the default one and any spawned) call `model`. */
async function systemWith(model: string): Promise<EmbeddedSystem> {
  system = await EmbeddedSystem.start({
    scalerIntervalMs: 0,
    roles: [{ name: ROLE, defaults: { executor: { name: 'anthropic', model } } }],
    env: { ANTHROPIC_BASE_URL: provider.url, META_AGENT_SECRETS_FILE: secrets },
  });
  return system;
}

const requestsFor = (taskId: string) => provider.requests.filter((r) => taskOf(r) === taskId);

async function run(sys: EmbeddedSystem, batchId: string, taskId: string): Promise<BatchResult> {
  await sys.submit({
    batchId,
    options: { maxAttempts: 3 },
    tasks: [
      {
        id: taskId,
        description: 'Write the FastAPI health endpoint',
        role: ROLE,
        requirements: { languages: ['python'], frameworks: ['fastapi'] },
      },
      { id: `${taskId}-docs`, description: 'Document the health endpoint', role: ROLE, dependsOn: [taskId] },
    ],
  });
  return sys.waitForBatch(batchId);
}

describe('permanent provider failures', () => {
  it('ends the task after one attempt when the only configured agent answers 401, naming provider, model and why it was not retried', async () => {
    const sys = await systemWith(BAD_KEY_MODEL);

    const result = await run(sys, 'bad-key', 'bad-key-task');

    const task = result.tasks.find((t) => t.id === 'bad-key-task');
    expect(task?.status).toBe('FAILED');
    expect(task?.attempts).toHaveLength(1);
    expect(task?.attempts[0]).toMatchObject({
      status: 'FAILED',
      permanent: { cause: 'credentials', executor: { name: 'anthropic', model: BAD_KEY_MODEL } },
    });
    expect(requestsFor('bad-key-task')).toHaveLength(1);
    expect(task?.reason).toContain(`anthropic (model ${BAD_KEY_MODEL}) rejected the call with HTTP 401`);
    expect(task?.reason).toContain('not retried: the failure is permanent (credentials)');
    expect(result.tasks.find((t) => t.id === 'bad-key-task-docs')?.status).toBe('SKIPPED');
  }, 60_000);

  it('marks a refused key fleet-wide: a new task fails at once without a call, until PUT /agents clears the mark', async () => {
    const sys = await systemWith(BAD_KEY_MODEL);
    await run(sys, 'marked-1', 'first-task');
    expect(requestsFor('first-task')).toHaveLength(1);

    // Another batch's task of the same role: no call with the key known to be bad, the mark named.
    const second = await run(sys, 'marked-2', 'second-task');

    const task = second.tasks.find((t) => t.id === 'second-task');
    expect(requestsFor('second-task')).toHaveLength(0);
    expect(task?.status).toBe('FAILED');
    expect(task?.attempts).toHaveLength(0);
    expect(task?.reason).toContain(
      'not retried: the failure is permanent (credentials) for anthropic, marked fleet-wide',
    );
    expect(task?.reason).toContain('by task marked-1/first-task on agent');
    expect(second.tasks.find((t) => t.id === 'second-task-docs')?.status).toBe('SKIPPED');

    // An operator gives an agent of the provider another key's model (the stand-in refuses by model): the
    // mark goes, and the next task calls again.
    const put = await sys.request({
      method: 'PUT',
      path: '/agents/fixed',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ role: ROLE, executor: { name: 'anthropic', model: GOOD_MODEL } }),
    });
    expect(put.statusCode).toBe(201);
    const third = await run(sys, 'marked-3', 'third-task');

    expect(third.tasks.find((t) => t.id === 'third-task')?.status).toBe('SUCCEEDED');
    expect(requestsFor('third-task').length).toBeGreaterThanOrEqual(1);
  }, 120_000);

  it('does not hand the slot of an attempt refused for its key to a task parked for it', async () => {
    // One agent of one slot: the second task parks for it while the first one's call is refused.
    system = await EmbeddedSystem.start({
      scalerIntervalMs: 0,
      roles: [
        {
          name: ROLE,
          defaults: { executor: { name: 'anthropic', model: BAD_KEY_MODEL }, maxAgents: 1, capacity: 1 },
        },
      ],
      env: { ANTHROPIC_BASE_URL: provider.url, META_AGENT_SECRETS_FILE: secrets },
    });
    const tasks = ['parked-a', 'parked-b'].map((id) => ({
      id,
      description: 'Write the FastAPI health endpoint',
      role: ROLE,
    }));
    await system.submit({ batchId: 'parked', options: { maxAttempts: 3 }, tasks });
    const result = await system.waitForBatch('parked');

    expect(result.tasks.map((t) => t.status)).toEqual(['FAILED', 'FAILED']);
    expect(requestsFor('parked-a').length + requestsFor('parked-b').length).toBe(1);
  }, 120_000);

  it('retries a 404 for an unknown model on the agent with another model', async () => {
    const sys = await systemWith(UNKNOWN_MODEL);
    // Two agents of the role: one with the role's model, specialised in the task's stack (its first attempt goes
    // there), and one with another model.
    const putAgent = (agentId: string, body: unknown) =>
      sys.request({
        method: 'PUT',
        path: `/agents/${agentId}`,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const first = await putAgent(`${ROLE}-1`, {
      role: ROLE,
      specializations: ['python', 'fastapi'],
      executor: { name: 'anthropic', model: UNKNOWN_MODEL },
    });
    const other = await putAgent('other-model', {
      role: ROLE,
      specializations: ['cobol'],
      executor: { name: 'anthropic', model: GOOD_MODEL },
    });
    expect([first.statusCode, other.statusCode]).toEqual([201, 201]);

    const result = await run(sys, 'unknown-model', 'unknown-model-task');

    const task = result.tasks.find((t) => t.id === 'unknown-model-task');
    expect(task?.status).toBe('SUCCEEDED');
    expect(task?.attempts.map((a) => [a.status, a.permanent?.cause])).toEqual([
      ['FAILED', 'request'],
      ['SUCCEEDED', undefined],
    ]);
    expect(task?.attempts.map((a) => a.agentId)).toEqual([`${ROLE}-1`, 'other-model']);
    const models = requestsFor('unknown-model-task').map(
      (r) => (JSON.parse(r.body) as { model: string }).model,
    );
    expect(models).toEqual([UNKNOWN_MODEL, GOOD_MODEL]);
    expect(result.status).toBe('SUCCEEDED');
  }, 60_000);
});
