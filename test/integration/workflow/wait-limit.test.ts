/**
 * A task that waits without end for a slot (its role's one slot held by a long task) fails with
 * WaitLimitExceeded after MAX_WAIT_ROUNDS WAITs of its execution, with a reason that says what to do, instead
 * of waiting until Step Functions' history of its execution runs out (25,000 events, about 15 a round), which
 * would end the execution with the task unfinished and its dependents waiting. Here each wait times out after
 * 1 ms instead of 30 to 60 s, so the rounds take seconds (at 5 ms, the waits alone were 6 s of 11).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_WAIT_ROUNDS, WAIT_LIMIT_ERROR } from '../../../shared/domain/limits';
import type { BatchResult } from '../../../shared/domain/schemas';
import { StateName } from '../../../shared/domain/workflow';
import { EmbeddedSystem } from '../../../shared/local/system';

const ROLE = 'documentation_writer';
const DEADLINE_MS = 90_000;

let system: EmbeddedSystem;

beforeAll(async () => {
  system = await EmbeddedSystem.start({
    scalerIntervalMs: 0,
    roles: [{ name: ROLE, defaults: { capacity: 1, minAgents: 1, maxAgents: 1 } }],
    timeoutOverrides: { [StateName.WaitForCapacity]: 0.001 },
  });
});

afterAll(async () => {
  await system?.stop();
});

describe('a task that waits without end', () => {
  it(
    'fails with WaitLimitExceeded after MAX_WAIT_ROUNDS waits, and its dependent is skipped',
    async () => {
      let waits = 0;
      const stop = system.runtime.runner.observeInvocations((call) => {
        if (call.stateName === StateName.WaitForCapacity) waits += 1;
      });
      const { batchId } = await system.submit({
        batchId: 'wait-limit',
        tasks: [
          {
            id: 'holder',
            description: 'Write the long guide',
            role: ROLE,
            input: { simulate: { durationMs: 600_000 } },
          },
          { id: 'waiter', description: 'Write the short guide', role: ROLE },
          {
            id: 'after',
            description: 'Write the index of the short guide',
            role: ROLE,
            dependsOn: ['waiter'],
          },
        ],
      });
      const started = Date.now();
      let result: BatchResult = await system.result(batchId);
      const statusOf = (id: string) => result.tasks.find((t) => t.id === id)?.status;
      try {
        while (statusOf('after') !== 'SKIPPED' && Date.now() - started < DEADLINE_MS) {
          await new Promise((resolve) => setTimeout(resolve, 200));
          result = await system.result(batchId);
        }
      } finally {
        stop();
      }

      const waiter = result.tasks.find((t) => t.id === 'waiter');
      expect(waiter?.status).toBe('FAILED');
      expect(waiter?.reason).toContain(`${WAIT_LIMIT_ERROR}: the task waited ${MAX_WAIT_ROUNDS} times`);
      expect(waiter?.attempts).toEqual([]);
      expect(statusOf('after')).toBe('SKIPPED');
      // One park per counted WAIT: exactly the limit, none past it.
      expect(waits).toBe(MAX_WAIT_ROUNDS);
      expect(statusOf('holder')).toBe('RUNNING');
    },
    DEADLINE_MS + 20_000,
  );
});
