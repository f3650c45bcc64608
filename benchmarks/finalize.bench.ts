/**
 * What Finalize reads of a finished batch (not a test): `npm run bench:finalize`.
 *
 * Finalize, every batch's last step, reads the batch's tasks to build its result without outputs. It read
 * whole task items (listTasks: definitions, inputs, inline outputs of up to INLINE_OUTPUT_MAX_BYTES and gate
 * state); it now reads their summaries (listTaskSummaries, a projection of what the result shows). This runs
 * batches of TASKS simulated tasks with no dependencies on the embedded runtime, their outputs of each size of
 * OUTPUT_SIZES (0: the simulated executor's short summary), then times both reads of each finished batch in
 * turn, ROUNDS times (BENCH_RUNS, default 30), and prints their medians and the finalize handler's duration in
 * the runs. Writes benchmarks/results/finalize.json.
 */
import { documentClient } from '../shared/adapters/dynamodb/client';
import { DynamoTaskStore } from '../shared/adapters/dynamodb/task-store';
import { resolveRoles } from '../shared/domain/roles';
import type { Batch } from '../shared/domain/schemas';
import { EmbeddedSystem } from '../shared/local/system';
import {
  benchOptions,
  DAG_ROLES,
  emulatorDynamo,
  failures,
  generousOptions,
  median,
  round,
  runBatch,
  writeResult,
} from './lib';

const TASKS = 60;
const OUTPUT_SIZES = [0, 8 * 1024, 32 * 1024];
const ROUNDS = Number(process.env.BENCH_RUNS ?? 30);

function batchOf(outputBytes: number): Batch {
  return {
    batchId: `finalize-${outputBytes}`,
    tasks: Array.from({ length: TASKS }, (_, i) => ({
      id: `f-${i}`,
      description: `Benchmark task f-${i}`,
      role: DAG_ROLES[i % DAG_ROLES.length] as string,
      input: { simulate: { durationMs: 5, ...(outputBytes > 0 ? { outputBytes } : {}) } },
    })),
  };
}

async function main(): Promise<void> {
  const system = await EmbeddedSystem.start(benchOptions(generousOptions([...resolveRoles().keys()], 20)));
  const finalizeMs: number[] = [];
  const stop = system.runtime.runner.observeInvocations((t) => {
    if (t.handlerName === 'finalize') finalizeMs.push(t.durationMs);
  });
  try {
    const { emulators } = system.runtime;
    const store = new DynamoTaskStore(emulators.tasksTableName, documentClient(emulatorDynamo(emulators)));
    const rows = [];
    for (const outputBytes of OUTPUT_SIZES) {
      finalizeMs.length = 0;
      const { result } = await runBatch(system, batchOf(outputBytes));
      const failed = failures(result);
      if (failed.length > 0) throw new Error(`outputs of ${outputBytes} bytes: ${failed.join('; ')}`);
      const whole: number[] = [];
      const summaries: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        let started = performance.now();
        await store.listTasks(result.batchId);
        whole.push(performance.now() - started);
        started = performance.now();
        await store.listTaskSummaries(result.batchId);
        summaries.push(performance.now() - started);
      }
      const row = {
        outputBytes,
        tasks: TASKS,
        listTasksMs: round(median(whole)),
        listTaskSummariesMs: round(median(summaries)),
        finalizeHandlerMs: round(median(finalizeMs)),
      };
      rows.push(row);
      console.log(
        `${TASKS} tasks, outputs of ${outputBytes} bytes: whole items ${row.listTasksMs} ms, summaries ` +
          `${row.listTaskSummariesMs} ms (medians of ${ROUNDS}); the run's finalize handler ${row.finalizeHandlerMs} ms`,
      );
    }
    const file = writeResult('finalize.json', {
      benchmark: 'Finalize reads: whole task items against their summaries',
      date: new Date().toISOString(),
      node: process.version,
      rounds: ROUNDS,
      rows,
    });
    console.log(`wrote ${file}`);
  } finally {
    stop();
    await system.stop();
  }
}

await main();
