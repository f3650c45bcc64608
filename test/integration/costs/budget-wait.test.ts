/**
 * A task whose attempt does not fit its batch's budget until another attempt settles waits for it: parked on
 * a waiting mark like a capacity wait, until its wait's timeout (BUDGET_WAIT_SECONDS) or a release of its
 * role's slot offers it again. Before, its WAIT wrote no mark, its park found nothing to park on and woke it
 * at once: Route and WaitForCapacity ran back to back, hundreds of times a second, for as long as the other
 * attempt ran (on AWS, two Lambda invocations and about 13 history events a round, which a Standard child
 * execution's 25,000 would not hold for long).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attemptWorstCase } from '../../../shared/domain/budget';
import { PriceTable } from '../../../shared/domain/costs';
import { extractRequirements } from '../../../shared/domain/requirements';
import type { BatchResult, Task } from '../../../shared/domain/schemas';
import { StateName } from '../../../shared/domain/workflow';
import { EmbeddedSystem } from '../../../shared/local/system';

const ROLE = 'python_backend_coder';
const RUN_MS = 1_500;

let system: EmbeddedSystem;

beforeAll(async () => {
  system = await EmbeddedSystem.start({ scalerIntervalMs: 0 });
});

afterAll(async () => {
  await system?.stop();
});

describe('a task waiting for budget', () => {
  it('waits parked while the attempt that holds the budget runs, then runs', async () => {
    const tasks: Task[] = ['first', 'second'].map((id) => ({
      id,
      description: `Write the ${id} endpoint in Python`,
      role: ROLE,
      input: { simulate: { durationMs: RUN_MS } },
    }));
    const role = system.catalog.get(ROLE);
    const [first] = tasks;
    if (!role || !first) throw new Error(`no role ${ROLE}`);
    const worst = attemptWorstCase({
      role,
      task: first,
      requirements: extractRequirements(first, system.catalog),
      attempt: 1,
      executor: role.defaults.executor,
      prices: new PriceTable(),
    }).tokens;
    const routes = new Map<string, number>();
    const stop = system.runtime.runner.observeInvocations((call) => {
      const taskId = (call.event as { taskId?: unknown } | null)?.taskId;
      if (call.stateName === StateName.Route && typeof taskId === 'string')
        routes.set(taskId, (routes.get(taskId) ?? 0) + 1);
    });
    let result: BatchResult;
    try {
      // One attempt's worst case fits, two do not; the second fits once the first settles (it uses far less).
      const { batchId } = await system.submit({
        batchId: 'budget-wait',
        options: { budget: { maxTokens: Math.floor(worst * 1.5) } },
        tasks,
      });
      result = await system.waitForBatch(batchId);
    } finally {
      stop();
    }

    const [ran, waited] = result.tasks;
    expect(result.tasks.map((t) => t.status)).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    // The budget held: one attempt at a time.
    expect(waited?.startedAt).toBeGreaterThanOrEqual(ran?.finishedAt ?? Number.POSITIVE_INFINITY);
    // Its Route, the budget WAIT's timeout (2 s) or a release's offer: a few routes, not hundreds.
    const firstToRun = ran?.id ?? '';
    const waiter = waited?.id ?? '';
    expect(routes.get(firstToRun)).toBe(1);
    expect(routes.get(waiter)).toBeGreaterThanOrEqual(1);
    expect(routes.get(waiter)).toBeLessThanOrEqual(4);
  }, 30_000);
});
