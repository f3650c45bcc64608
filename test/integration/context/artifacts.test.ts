/**
 * On the embedded runtime with the simulated executor: the examples pass work along their edges, and outputs
 * are kept at any size: a large output is kept whole in the artifacts bucket (the S3
 * of fauxqs) and only its reference in the task item; the output route returns it whole (in the body, or by
 * a redirect to a download URL above OUTPUT_RESPONSE_MAX_BYTES); an output over MAX_OUTPUT_BYTES fails its
 * task once, with the reason, and is not retried.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sizedTextOutput } from '../../../shared/adapters/executors/simulated';
import { MAX_OUTPUT_BYTES, OUTPUT_RESPONSE_MAX_BYTES } from '../../../shared/domain/limits';
import type { BatchResult, TaskResult } from '../../../shared/domain/schemas';
import { EmbeddedSystem } from '../../../shared/local/system';
import { example } from '../../support/batch-checks';

const MIB = 1024 * 1024;

let system: EmbeddedSystem;
let result: BatchResult;

function task(id: string): TaskResult {
  const found = result.tasks.find((t) => t.id === id);
  if (!found) throw new Error(`no task ${id}`);
  return found;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** The output the simulated executor makes for `outputBytes` (its summary names the agent that ran it). */
function expectedJson(t: TaskResult, bytes: number): string {
  const summary = `[simulated] ${t.role} agent ${t.agentId} completed task ${t.id} (attempt ${t.attempts.length})`;
  return JSON.stringify(sizedTextOutput(summary, bytes));
}

beforeAll(async () => {
  system = await EmbeddedSystem.start({ scalerIntervalMs: 0 });
  const { batchId } = await system.submit({
    batchId: 'artifacts',
    options: { maxAttempts: 3 },
    tasks: [
      { id: 'small', description: 'Write the README section', role: 'documentation_writer' },
      {
        id: 'big',
        description: 'Generate the client library',
        role: 'typescript_frontend_agent',
        input: { simulate: { outputBytes: MIB } },
      },
      {
        id: 'huge',
        description: 'Generate the fixtures',
        role: 'test_generator',
        input: { simulate: { outputBytes: OUTPUT_RESPONSE_MAX_BYTES + MIB } },
      },
      {
        id: 'over',
        description: 'Dump the whole database',
        role: 'database_designer',
        input: { simulate: { outputBytes: MAX_OUTPUT_BYTES + 1 } },
      },
    ],
  });
  result = await system.waitForBatch(batchId);
}, 120_000);

afterAll(async () => {
  await system?.stop();
});

describe('outputs at any size', () => {
  it('keeps a small output inline in the result and returns the same JSON from the output route', async () => {
    const small = task('small');

    expect(small.outputRef).toBeUndefined();
    expect(JSON.parse(await system.output('artifacts', 'small'))).toEqual(small.output);
  });

  it('stores a 1 MiB output whole in the artifacts bucket and reports its size, sha256 and location', async () => {
    const big = task('big');
    const json = expectedJson(big, MIB);

    expect(big.status).toBe('SUCCEEDED');
    expect(big.output).toBeUndefined();
    expect(big.outputRef).toEqual({
      location: expect.stringMatching(
        /^s3:\/\/meta-agent-artifacts-[a-z0-9]+\/outputs\/artifacts\/big\/attempt-1\.json$/,
      ),
      bytes: MIB,
      sha256: sha256(json),
      contentType: 'application/json',
      format: 'text',
    });
    const body = await system.output('artifacts', 'big');
    expect(Buffer.byteLength(body)).toBe(MIB);
    expect(sha256(body)).toBe(sha256(json));
  });

  it('answers an output over OUTPUT_RESPONSE_MAX_BYTES with a redirect to a download URL that gives it whole', async () => {
    const huge = task('huge');
    const route = await system.request({ method: 'GET', path: '/batches/artifacts/tasks/huge/output' });

    expect(route.statusCode).toBe(303);
    expect(route.headers.location).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/meta-agent-artifacts-/);
    const body = await system.output('artifacts', 'huge');
    expect(sha256(body)).toBe(huge.outputRef?.sha256);
    expect(body).toBe(expectedJson(huge, OUTPUT_RESPONSE_MAX_BYTES + MIB));
  });

  it('fails a task whose output is over MAX_OUTPUT_BYTES once, with the reason, without a retry', () => {
    const over = task('over');

    expect(over.status).toBe('FAILED');
    expect(over.attempts).toHaveLength(1);
    expect(over.attempts[0]?.error).toContain('OutputTooLargeError');
    expect(over.reason).toContain(`the output is ${MAX_OUTPUT_BYTES + 1} bytes`);
    expect(over.reason).toContain(`at most ${MAX_OUTPUT_BYTES} bytes`);
    expect(over.outputRef).toBeUndefined();
  });

  it('answers 404 with the reason for a task without an output', async () => {
    const route = await system.request({ method: 'GET', path: '/batches/artifacts/tasks/over/output' });

    expect(route.statusCode).toBe(404);
    expect(JSON.parse(route.body).message).toBe('task "over" has no output: it is FAILED');
  });
});

describe('the examples', () => {
  it('passes the schema to the endpoint and the schema, endpoint and form to the tests (auth-feature)', async () => {
    const { batchId } = await system.submit({ ...example('auth-feature.json'), batchId: 'auth-example' });
    const run = await system.waitForBatch(batchId);
    const attempt = (id: string) => run.tasks.find((t) => t.id === id)?.attempts.at(-1);

    expect(run.status).toBe('SUCCEEDED');
    expect(attempt('login-api')?.context?.items.map((i) => [i.taskId, i.kind])).toEqual([
      ['users-schema', 'passed'],
    ]);
    expect(attempt('auth-tests')?.context?.items.map((i) => i.taskId)).toEqual([
      'users-schema',
      'login-api',
      'login-form',
    ]);
    const tests = run.tasks.find((t) => t.id === 'auth-tests')?.output as {
      context?: { received: unknown[] };
    };
    expect(tests.context?.received).toHaveLength(3);
  });

  it('reads fields of a structured plan downstream (plan-then-build)', async () => {
    const { batchId } = await system.submit(example('plan-then-build.json'));
    const run = await system.waitForBatch(batchId);
    const api = run.tasks.find((t) => t.id === 'reset-api');

    expect(run.status).toBe('SUCCEEDED');
    expect(api?.attempts.at(-1)?.context?.items).toEqual([
      {
        taskId: 'reset-schema',
        kind: 'passed',
        bytes: expect.any(Number),
        totalBytes: expect.any(Number),
        cut: false,
      },
      expect.objectContaining({
        taskId: 'plan',
        placeholder: '{{deps.plan.output.steps[1].title}}',
        kind: 'passed',
        cut: false,
      }),
      expect.objectContaining({
        taskId: 'plan',
        placeholder: '{{deps.plan.output.risks}}',
        kind: 'passed',
        cut: false,
      }),
    ]);
  });
});
