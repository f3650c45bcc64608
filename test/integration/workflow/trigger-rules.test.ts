/**
 * Trigger rules on the embedded runtime: the deployed state machine and handlers run each rule end to end
 * (the rules under every interleaving are the property test in dynamo-adapters.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatchResult, TaskResult } from '../../../shared/domain/schemas';
import { EmbeddedSystem } from '../../../shared/local/system';

let system: EmbeddedSystem;
let result: BatchResult;

const byId = (id: string): TaskResult => {
  const task = result.tasks.find((t) => t.id === id);
  if (!task) throw new Error(`no task ${id}`);
  return task;
};

const simulated = (simulate: Record<string, unknown>) => ({ input: { simulate } });

beforeAll(async () => {
  system = await EmbeddedSystem.start({ scalerIntervalMs: 0 });
  const { batchId } = await system.submit({
    batchId: 'trigger-rules',
    options: { maxAttempts: 1 },
    tasks: [
      { id: 'broken', description: 'Write the failing migration', ...simulated({ failAttempts: 1 }) },
      { id: 'fine', description: 'Write the schema' },
      { id: 'slow', description: 'Write the slow report', ...simulated({ durationMs: 2_500 }) },
      { id: 'skipped', description: 'Review the migration', dependsOn: ['broken'] },
      {
        id: 'cleanup',
        description: 'Clean up whatever happened',
        dependsOn: ['broken', 'fine'],
        trigger: 'all_done',
      },
      {
        id: 'first',
        description: 'Announce the first report',
        dependsOn: ['slow', 'fine'],
        trigger: 'one_success',
      },
      { id: 'none-ok', description: 'Notify nobody', dependsOn: ['broken'], trigger: 'one_success' },
      {
        id: 'tolerant',
        description: 'Summarise what succeeded',
        dependsOn: ['skipped', 'fine'],
        trigger: 'none_failed_min_one_success',
      },
      {
        id: 'strict',
        description: 'Summarise with no failure',
        dependsOn: ['broken', 'fine'],
        trigger: 'none_failed_min_one_success',
      },
      { id: 'default', description: 'Deploy', dependsOn: ['broken', 'fine'] },
    ],
  });
  result = await system.waitForBatch(batchId);
}, 60_000);

afterAll(async () => {
  await system?.stop();
});

describe('trigger rules on the embedded runtime', () => {
  it('runs an all_done task after a failed dependency, passing a marker and never its output', () => {
    const cleanup = byId('cleanup');
    expect(cleanup.status).toBe('SUCCEEDED');
    expect(cleanup.attempts).toHaveLength(1);
    const items = cleanup.attempts[0]?.context?.items ?? [];
    expect(items.map((i) => [i.taskId, i.kind, i.bytes])).toEqual([
      ['broken', 'failed', 0],
      ['fine', 'passed', expect.any(Number)],
    ]);
    expect(cleanup.startedAt).toBeGreaterThanOrEqual(byId('broken').finishedAt ?? Infinity);
  });

  it('starts a one_success task at the first success, once, while another dependency still runs', () => {
    const first = byId('first');
    expect(first.status).toBe('SUCCEEDED');
    expect(first.attempts).toHaveLength(1);
    expect(first.startedAt).toBeGreaterThanOrEqual(byId('fine').finishedAt ?? Infinity);
    expect(first.startedAt).toBeLessThan(byId('slow').finishedAt ?? 0);
    expect(first.attempts[0]?.context?.items.find((i) => i.taskId === 'slow')?.kind).toBe('pending');
  });

  it('skips a one_success task none of whose dependencies succeeded, with the rule as the reason', () => {
    expect(byId('none-ok')).toMatchObject({
      status: 'SKIPPED',
      attempts: [],
      reason: 'skipped: trigger one_success: no dependency succeeded (broken (FAILED))',
    });
  });

  it('runs none_failed_min_one_success past a skipped dependency, and skips it after a failed one', () => {
    expect(byId('skipped').status).toBe('SKIPPED');
    expect(byId('tolerant').status).toBe('SUCCEEDED');
    expect(byId('strict')).toMatchObject({
      status: 'SKIPPED',
      reason: 'skipped: trigger none_failed_min_one_success: 1 dependency failed (broken (FAILED))',
    });
  });

  it('keeps all_success the default: a failed dependency skips the task', () => {
    expect(byId('default')).toMatchObject({
      status: 'SKIPPED',
      reason: 'skipped: dependency broken (FAILED) did not succeed',
    });
    expect(result.status).toBe('PARTIAL');
  });
});
