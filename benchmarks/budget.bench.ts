/**
 * Budget benchmark (not a test): the latency a batch budget adds to each attempt, as the use cases run it on
 * the embedded runtime's dynalite: Route (score, reserve a slot, start the attempt; with a budget also hold the
 * attempt's worst case, one conditional ADD on the ledger) and Complete (the task's status, the agent's
 * metrics; with a budget also settle the hold, one conditional ADD), one attempt at a time, with and without a
 * budget, interleaved so both see the same machine. Run: `npm run bench:budget`. Prints the medians and writes
 * benchmarks/results/budget.json.
 */
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { DynamoAgentRegistry } from '../shared/adapters/dynamodb/agent-registry';
import { DynamoBudgetLedger } from '../shared/adapters/dynamodb/budget-ledger';
import { documentClient } from '../shared/adapters/dynamodb/client';
import { DynamoTaskStore } from '../shared/adapters/dynamodb/task-store';
import { limitsOf } from '../shared/domain/budget';
import { PriceTable } from '../shared/domain/costs';
import { resolveRoles } from '../shared/domain/roles';
import { newAgent } from '../shared/domain/routing';
import type { Budget, Task } from '../shared/domain/schemas';
import { startEmulators } from '../shared/local/runtime/emulators';
import type { Callbacks, StoredBatch } from '../shared/ports';
import { completeTask } from '../shared/usecases/complete';
import { type RouteDeps, routeTask } from '../shared/usecases/route';
import { storedTasksOf } from '../shared/usecases/submit';
import { distribution, emulatorDynamo, round, writeResult } from './lib';

const WARMUP_ATTEMPTS = 30;
const MEASURED_ATTEMPTS = 300;
const ROLE = 'python_backend_coder';
/** Far above what the measured attempts spend: the bench measures the writes, never an exhausted budget. */
const BUDGET: Budget = { maxCostUsd: 1_000, maxTokens: 1_000_000_000 };

const callbacks: Callbacks = {
  succeed: async () => true,
  fail: async () => true,
  heartbeat: async () => true,
};

async function main(): Promise<void> {
  const emulators = await startEmulators({ roles: [] });
  const dynamo = emulatorDynamo(emulators);
  try {
    const doc = documentClient(dynamo);
    const store = new DynamoTaskStore(emulators.tasksTableName, doc);
    const agents = new DynamoAgentRegistry(emulators.agentsTableName, doc);
    const ledger = new DynamoBudgetLedger(emulators.tasksTableName, doc);
    const catalog = resolveRoles([]);
    const role = catalog.get(ROLE);
    if (!role) throw new Error(`no role ${ROLE}`);
    const clock = { now: () => Date.now() };
    await agents.put({ ...newAgent(role, `${ROLE}-1`, clock.now()), capacity: 1_000 });
    const routeDeps: RouteDeps = {
      store,
      agents,
      catalog,
      clock,
      roleQueueUrls: { [ROLE]: 'https://sqs.local/queue' },
      heartbeatSeconds: 60,
      budget: { ledger, prices: new PriceTable() },
      callbacks,
    };
    const completeDeps = { store, agents, callbacks, clock, catalog, ledger };

    /** A batch of `count` independent tasks, with or without a budget (and its ledger). */
    const batchOf = async (batchId: string, count: number, budget: Budget | undefined) => {
      const tasks: Task[] = Array.from({ length: count }, (_, i) => ({
        id: `t${i}`,
        description: 'Write the FastAPI login endpoint',
        role: ROLE,
      }));
      const batch: StoredBatch = {
        batchId,
        status: 'RUNNING',
        createdAt: clock.now(),
        startedAt: clock.now(),
        maxAttempts: 1,
        failFast: false,
        taskIds: tasks.map((t) => t.id),
        ...(budget ? { budget } : {}),
      };
      if (budget) await ledger.open(batchId, limitsOf(budget));
      await store.createBatch(batch, storedTasksOf(batchId, { tasks }, 1));
      return tasks.map((t) => t.id);
    };

    /** One attempt: Route, then Complete with the worker's answer (usage and cost); milliseconds. */
    const attempt = async (batchId: string, taskId: string): Promise<number> => {
      const startedAt = performance.now();
      const routed = await routeTask(routeDeps, { batchId, taskId });
      if (routed.decision !== 'DISPATCH') throw new Error(`${taskId}: ${JSON.stringify(routed)}`);
      await completeTask(completeDeps, {
        batchId,
        taskId,
        outcome: 'SUCCEEDED',
        agentId: routed.agentId,
        attempt: routed.attempt,
        result: {
          status: 'SUCCEEDED',
          agentId: routed.agentId,
          attempt: routed.attempt,
          durationMs: 0,
          finishedAt: clock.now(),
          output: { done: true },
          usage: { inputTokens: 1_200, outputTokens: 300 },
          costUsd: 0.0054,
        },
      });
      return performance.now() - startedAt;
    };

    const total = WARMUP_ATTEMPTS + MEASURED_ATTEMPTS;
    const [plainIds, budgetIds] = await Promise.all([
      batchOf('bench-plain', total, undefined),
      batchOf('bench-budget', total, BUDGET),
    ]);
    const plain: number[] = [];
    const budgeted: number[] = [];
    for (let i = 0; i < total; i++) {
      const a = await attempt('bench-plain', plainIds[i] as string);
      const b = await attempt('bench-budget', budgetIds[i] as string);
      if (i < WARMUP_ATTEMPTS) continue;
      plain.push(a);
      budgeted.push(b);
    }
    const ledgerState = await ledger.get('bench-budget');
    const result = {
      when: new Date().toISOString(),
      cpus: cpus().length,
      attempts: MEASURED_ATTEMPTS,
      writesPerAttempt:
        'hold: one conditional UpdateItem (ADD held/left, SET the attempt hold) at Route; settle: one conditional UpdateItem (ADD held/left/spent, REMOVE the hold) at Complete, beside the writes Complete makes anyway',
      withoutBudgetMs: distribution(plain),
      withBudgetMs: distribution(budgeted),
      addedMedianMs: round(distribution(budgeted).p50 - distribution(plain).p50),
      ledgerAfter: ledgerState,
    };
    const file = writeResult('budget.json', result);
    console.log(
      [
        `budget, added latency per attempt (Route + Complete on dynalite, ${result.cpus} CPUs, ${MEASURED_ATTEMPTS} attempts each):`,
        `  without a budget: median ${result.withoutBudgetMs.p50} ms, p95 ${result.withoutBudgetMs.p95} ms`,
        `  with a budget:    median ${result.withBudgetMs.p50} ms, p95 ${result.withBudgetMs.p95} ms`,
        `  added: ${result.addedMedianMs} ms at the median`,
        `written to ${file}`,
      ].join('\n'),
    );
  } finally {
    dynamo.destroy();
    await emulators.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
