/**
 * The largest task the validation accepts, run through its attempts on the real write path (DynamoTaskStore on
 * dynalite): every attempt's context record (what the context builder passed) is kept with the attempt, and
 * the task item must stay within DynamoDB's 400 KB whatever the task names.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { documentClient } from '../../../shared/adapters/dynamodb/client';
import { DynamoTaskStore } from '../../../shared/adapters/dynamodb/task-store';
import type { TaskWork } from '../../../shared/domain/context';
import {
  MAX_ATTEMPTS_LIMIT,
  MAX_CONTEXT_IDS,
  MAX_CONTEXT_RECORD_BYTES,
  MAX_DESCRIPTION_CHARS,
  MAX_INPUT_BYTES,
  MAX_OUTPUT_SCHEMA_BYTES,
  MAX_PLACEHOLDERS_PER_TASK,
  MAX_TASK_ID_CHARS,
} from '../../../shared/domain/limits';
import { resolveRoles } from '../../../shared/domain/roles';
import type { ContextRecord, RoutingDecision, Task } from '../../../shared/domain/schemas';
import { utf8Length } from '../../../shared/domain/utf8';
import { validateBatch } from '../../../shared/domain/validation';
import { INLINE_OUTPUT_MAX_BYTES } from '../../../shared/domain/workflow';
import { assembleContext } from '../../../shared/usecases/context';
import { type LocalDynamo, startDynalite } from '../../support/dynalite';
import { batchOf, uniqueId } from '../../support/fixtures';

let dynamo: LocalDynamo | undefined;
afterAll(() => dynamo?.stop());

/** An id of the longest length, numbered. */
const longId = (n: number) => `dep-${n}-`.padEnd(MAX_TASK_ID_CHARS, 'x');

/** `count` placeholders naming fields of the dependencies, as long as `chars` allows each. */
function placeholders(from: number, count: number, chars: number): string[] {
  return Array.from({ length: count }, (_, i) => {
    const head = `{{deps.${longId(from + i)}.output.`;
    return `${head}${'f'.repeat(chars - head.length - 2)}}}`;
  });
}

/** The largest task: 100 dependencies of 128-character ids in its context, 100 placeholders of the longest. */
function largestBatch(): { tasks: Task[]; big: Task } {
  const deps = Array.from({ length: MAX_CONTEXT_IDS }, (_, i) => ({
    id: longId(i),
    description: 'Produce the fields',
    // An open object: any field path may name one of its fields.
    outputSchema: { type: 'object' },
  }));
  const inDescription = MAX_PLACEHOLDERS_PER_TASK / 2;
  const inInput = MAX_PLACEHOLDERS_PER_TASK - inDescription;
  const description = placeholders(0, inDescription, Math.floor(MAX_DESCRIPTION_CHARS / inDescription)).join(
    '',
  );
  // Each input entry `"pNN":"<placeholder>",` costs 9 bytes besides its placeholder.
  const input = Object.fromEntries(
    placeholders(inDescription, inInput, Math.floor((MAX_INPUT_BYTES - 2) / inInput) - 9).map((p, i) => [
      `p${String(i).padStart(2, '0')}`,
      p,
    ]),
  );
  const raw = {
    tasks: [
      ...deps,
      {
        id: 'big',
        description,
        input,
        dependsOn: deps.map((d) => d.id),
        context: deps.map((d) => d.id),
        outputSchema: { type: 'object', description: 'd'.repeat(MAX_OUTPUT_SCHEMA_BYTES - 64) },
      },
    ],
    options: { maxAttempts: MAX_ATTEMPTS_LIMIT },
  };
  const validated = validateBatch(raw, new Set(resolveRoles().keys()));
  if (!validated.ok) throw new Error(JSON.stringify(validated.issues.slice(0, 3)));
  const tasks = validated.batch.tasks;
  return { tasks, big: tasks.at(-1) as Task };
}

describe('the task item of the largest task the validation accepts', () => {
  it('keeps every attempt and its context record within DynamoDB item size, and the task outcome', async () => {
    dynamo = await startDynalite();
    const store = new DynamoTaskStore(dynamo.tasksTable, documentClient(dynamo.client));
    const { tasks, big } = largestBatch();
    expect(big.description.length).toBeGreaterThan(MAX_DESCRIPTION_CHARS - 100);
    expect(utf8Length(JSON.stringify(big.input))).toBeGreaterThan(MAX_INPUT_BYTES - 200);
    const batchId = uniqueId('record');
    const { batch, tasks: stored } = batchOf(batchId, tasks, { maxAttempts: MAX_ATTEMPTS_LIMIT });
    await store.createBatch(batch, stored);
    // Every dependency succeeded with a field the placeholders name and a small output.
    const work: TaskWork[] = tasks.slice(0, -1).map((t) => ({
      taskId: t.id,
      status: 'SUCCEEDED',
      role: 'python_backend_coder',
      agentId: 'agent-1',
      output: { [`${'f'.repeat(10)}`]: 'value' },
      dependsOn: [],
    }));
    const contextDeps = {
      store: { getWork: async () => work },
      artifacts: {
        read: async () => new Uint8Array(),
        readHead: async () => new Uint8Array(),
      },
    };
    const decision = { role: 'python_backend_coder', requirements: {} } as unknown as RoutingDecision;
    const records: ContextRecord[] = [];
    // The largest output kept in the item.
    const output = { text: 'o'.repeat(INLINE_OUTPUT_MAX_BYTES - 20) };
    for (let attempt = 1; attempt <= MAX_ATTEMPTS_LIMIT; attempt++) {
      await store.startAttempt(batchId, 'big', attempt, `agent-${attempt}`, decision, attempt * 10);
      const context = await assembleContext(contextDeps, batchId, big);
      if (!context) throw new Error('the task takes context');
      records.push(context.record);
      if (attempt < MAX_ATTEMPTS_LIMIT) {
        // A failed attempt: the worker writes its record, RecordAttempt its end.
        await store.setAttemptRecord(batchId, 'big', attempt, { context: context.record });
        await store.finishAttempt(batchId, 'big', attempt, {
          status: 'FAILED',
          at: attempt * 10 + 5,
          error: 'ProviderError: the provider answered 500',
        });
      } else {
        const written = await store.transitionTask(batchId, 'big', 'SUCCEEDED', {
          at: attempt * 10 + 5,
          attempt: { number: attempt, finishedAt: attempt * 10 + 5, context: context.record, output },
        });
        expect(written?.status).toBe('SUCCEEDED');
      }
    }

    const task = await store.getTask(batchId, 'big');
    expect(task?.status).toBe('SUCCEEDED');
    expect(task?.output).toEqual(output);
    expect(task?.attempts.map((a) => a.status)).toEqual([
      ...new Array(MAX_ATTEMPTS_LIMIT - 1).fill('FAILED'),
      'SUCCEEDED',
    ]);
    expect(task?.attempts.map((a) => a.context)).toEqual(records);
    for (const record of records) {
      expect(utf8Length(JSON.stringify(record))).toBeLessThanOrEqual(MAX_CONTEXT_RECORD_BYTES);
      // Every context id and placeholder is accounted for, listed or counted.
      expect(record.items.length + (record.unlisted?.count ?? 0)).toBe(
        MAX_CONTEXT_IDS + MAX_PLACEHOLDERS_PER_TASK,
      );
    }
  }, 120_000);

  it('keeps the outcome of an attempt whose record would pass the item size, with the record counted', async () => {
    dynamo ??= await startDynalite();
    const store = new DynamoTaskStore(dynamo.tasksTable, documentClient(dynamo.client));
    const batchId = uniqueId('record');
    // An item already near 400 KB (larger than validation lets a task be: only the store's own limit holds).
    const { batch, tasks } = batchOf(batchId, [{ id: 'a', description: 'x'.repeat(404_000) }]);
    await store.createBatch(batch, tasks);
    const decision = { role: 'python_backend_coder', requirements: {} } as unknown as RoutingDecision;
    const items = Array.from({ length: 40 }, (_, i) => ({
      taskId: `dep-${i}`.padEnd(MAX_TASK_ID_CHARS, 'x'),
      kind: 'passed' as const,
      bytes: 10,
      totalBytes: 20,
      cut: i % 4 === 0,
    }));
    const context: ContextRecord = { budgetBytes: 100_000, usedBytes: 400, items };
    await store.startAttempt(batchId, 'a', 1, 'agent-1', decision, 10);

    await store.setAttemptRecord(batchId, 'a', 1, { context });
    await store.finishAttempt(batchId, 'a', 1, { status: 'FAILED', at: 15, error: 'boom', context });
    await store.startAttempt(batchId, 'a', 2, 'agent-2', decision, 20);
    const written = await store.transitionTask(batchId, 'a', 'SUCCEEDED', {
      at: 30,
      attempt: { number: 2, finishedAt: 30, context, output: { done: true } },
    });

    expect(written?.status).toBe('SUCCEEDED');
    const task = await store.getTask(batchId, 'a');
    expect(task?.output).toEqual({ done: true });
    expect(task?.attempts.map((a) => a.status)).toEqual(['FAILED', 'SUCCEEDED']);
    const heldId = uniqueId('record');
    const held = batchOf(heldId, [{ id: 'a', description: 'x'.repeat(404_000) }]);
    await store.createBatch(held.batch, held.tasks);
    await store.startAttempt(heldId, 'a', 1, 'agent-1', decision, 10);
    const waiting = await store.awaitApproval(
      heldId,
      'a',
      { stage: 'after', token: 't', since: 20, timeoutSeconds: 60, attempt: 1, reviewer: 'person' },
      { number: 1, finishedAt: 20, context, output: { done: true } },
    );
    expect(waiting?.status).toBe('AWAITING_APPROVAL');
    const counted = {
      budgetBytes: 100_000,
      usedBytes: 400,
      items: [],
      unlisted: expect.objectContaining({ count: 40, cut: 10 }),
    };
    expect(task?.attempts.map((a) => a.context)).toEqual([counted, counted]);
    expect(waiting?.attempts[0]?.context).toEqual(counted);
  }, 120_000);
});
