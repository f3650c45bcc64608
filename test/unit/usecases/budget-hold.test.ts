/**
 * holdAttempt (usecases/budget.ts) exhausts a budget with the limit the next attempt cannot fit even once the
 * attempts in flight settle: the limit its reason states.
 */
import { describe, expect, it } from 'vitest';
import type { BudgetAmount, LedgerState } from '../../../shared/domain/budget';
import { resolveRoles } from '../../../shared/domain/roles';
import { extractRequirements } from '../../../shared/domain/routing';
import type { Task } from '../../../shared/domain/schemas';
import type { BudgetLedger } from '../../../shared/ports';
import { holdAttempt } from '../../../shared/usecases/budget';
import { storedTasksOf } from '../../../shared/usecases/submit';

const catalog = resolveRoles([]);
const task: Task = {
  id: 'api',
  description: 'Write the FastAPI login endpoint',
  role: 'python_backend_coder',
};
const [stored] = storedTasksOf('b', { tasks: [task] }, 3);

/** A ledger that refuses every hold, answering `state`, and records the reason it is exhausted with. */
function refusingLedger(state: LedgerState) {
  const exhausted: string[] = [];
  const ledger: BudgetLedger = {
    open: async () => {},
    reserve: async () => ({ held: false, state }),
    settle: async () => true,
    dropHold: async () => true,
    get: async () => state,
    setLimits: async () => {},
    exhaust: async (_batchId: string, reason: string) => {
      exhausted.push(reason);
      return reason;
    },
  };
  return { ledger, exhausted };
}

describe('an attempt that does not fit its budget', () => {
  it('is refused with the limit it passes with nothing in flight, not one only the holds in flight pass', async () => {
    const inFlight: BudgetAmount = { nanoUsd: 1_000_000_000_000, tokens: 1 };
    // The cost limit is passed only with the holds in flight counted; the token limit without them too.
    const { ledger, exhausted } = refusingLedger({
      maxNanoUsd: 500_000_000_000,
      maxTokens: 100,
      spent: { nanoUsd: 0, tokens: 99 },
      reserved: inFlight,
    });

    const outcome = await holdAttempt(
      { budget: { ledger }, catalog },
      { batchId: 'b', budget: { maxCostUsd: 500, maxTokens: 100 } },
      stored as NonNullable<typeof stored>,
      'python_backend_coder',
      { name: 'simulated' },
      extractRequirements(task, catalog),
    );

    expect(outcome.kind).toBe('cancel');
    expect(exhausted).toHaveLength(1);
    expect(exhausted[0]).toMatch(/^budget exhausted: 99 of 100 tokens spent/);
  });
});
