/**
 * Context assembly benchmark (not a test): the work of 20 dependencies of 100 KiB each, stored as artifacts,
 * assembled for their dependent as the worker does it (one BatchGetItem against dynalite, S3 range reads
 * against fauxqs, planning and rendering), on the embedded runtime's emulators. Run:
 * `npm run bench:context`. Prints the median and p95 assembly time and the largest request (the rendered
 * prompt), and writes benchmarks/results/context.json.
 */
import { writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { S3Client } from '@aws-sdk/client-s3';
import { documentClient } from '../shared/adapters/dynamodb/client';
import { DynamoTaskStore } from '../shared/adapters/dynamodb/task-store';
import { S3ArtifactStore } from '../shared/adapters/s3/artifact-store';
import { DEFAULT_CONTEXT_BUDGET_BYTES } from '../shared/domain/limits';
import { artifactKey, serializeOutput } from '../shared/domain/outputs';
import { extractRequirements } from '../shared/domain/requirements';
import { renderPrompt, resolveRoles } from '../shared/domain/roles';
import type { RoutingDecision, Task } from '../shared/domain/schemas';
import { utf8Length } from '../shared/domain/utf8';
import { LOCAL_CREDENTIALS, startEmulators } from '../shared/local/runtime/emulators';
import { assembleContext } from '../shared/usecases/context';
import { distribution, emulatorDynamo, RESULTS_DIR } from './lib';

const DEPENDENCIES = 20;
const OUTPUT_BYTES = 100 * 1024;
const WARMUP_ITERATIONS = 5;
const MEASURED_ITERATIONS = 50;
const BATCH_ID = 'context-bench';

/** An LLM answer of exactly `bytes` bytes of JSON: numbered lines of code-like text. */
function answer(taskId: string, bytes: number): { text: string; stopReason: string; model: string } {
  const shell = { text: '', stopReason: 'end_turn', model: 'bench' };
  const overhead = JSON.stringify(shell).length;
  let text = '';
  for (let n = 0; JSON.stringify(text).length - 2 + overhead < bytes - 60; n++)
    text += `export const ${taskId.replace(/-/g, '_')}_${n} = ${n}; // generated line ${n}\n`;
  text += 'x'.repeat(bytes - overhead - (JSON.stringify(text).length - 2));
  return { ...shell, text };
}

async function main(): Promise<void> {
  const emulators = await startEmulators({ roles: [] });
  const dynamo = emulatorDynamo(emulators);
  const s3 = new S3Client({
    region: emulators.region,
    endpoint: emulators.s3Endpoint,
    credentials: LOCAL_CREDENTIALS,
    forcePathStyle: true,
  });
  try {
    const store = new DynamoTaskStore(emulators.tasksTableName, documentClient(dynamo));
    const artifacts = new S3ArtifactStore(emulators.artifactsBucketName, s3);
    const ids = Array.from({ length: DEPENDENCIES }, (_, i) => `component-${i}`);
    const dependent: Task = {
      id: 'integration',
      description: 'Integrate the generated components into the application shell',
      role: 'typescript_frontend_agent',
      dependsOn: ids,
    };
    const tasks: Task[] = [...ids.map((id) => ({ id, description: `Generate ${id}` })), dependent];
    await store.createBatch(
      {
        batchId: BATCH_ID,
        status: 'RUNNING',
        createdAt: 0,
        startedAt: 0,
        maxAttempts: 3,
        failFast: false,
        taskIds: tasks.map((t) => t.id),
      },
      tasks.map((task, index) => ({
        batchId: BATCH_ID,
        taskId: task.id,
        index,
        task,
        status: 'READY',
        pendingDeps: 0,
        failedDeps: 0,
        dependents: [],
        maxAttempts: 3,
        attemptCount: 0,
        attempts: [],
        releasedBy: [],
      })),
    );
    const decision = { role: 'typescript_frontend_agent', requirements: {} } as unknown as RoutingDecision;
    for (const id of ids) {
      const serialized = serializeOutput(answer(id, OUTPUT_BYTES));
      const outputRef = await artifacts.put(artifactKey(BATCH_ID, id, 1), serialized.json, serialized);
      await store.startAttempt(BATCH_ID, id, 1, `agent-${id}`, decision, 1);
      await store.transitionTask(BATCH_ID, id, 'SUCCEEDED', {
        at: 2,
        attempt: { number: 1, finishedAt: 2, outputRef },
      });
    }
    const role = resolveRoles().get('typescript_frontend_agent');
    if (!role) throw new Error('no role');
    const requirements = extractRequirements(dependent, resolveRoles());
    const samples: number[] = [];
    let largestRequest = 0;
    let usedBytes = 0;
    for (let i = 0; i < WARMUP_ITERATIONS + MEASURED_ITERATIONS; i++) {
      const started = performance.now();
      const context = await assembleContext({ store, artifacts }, BATCH_ID, dependent);
      const prompt = renderPrompt(role, context?.task ?? dependent, requirements, context?.section ?? '');
      const elapsed = performance.now() - started;
      if (i >= WARMUP_ITERATIONS) samples.push(elapsed);
      largestRequest = Math.max(largestRequest, utf8Length(prompt));
      usedBytes = context?.record.usedBytes ?? 0;
    }
    const timing = distribution(samples);
    const result = {
      benchmark: 'context assembly',
      date: new Date().toISOString(),
      machine: { cpus: cpus().length, node: process.version },
      dependencies: DEPENDENCIES,
      outputBytesEach: OUTPUT_BYTES,
      budgetBytes: DEFAULT_CONTEXT_BUDGET_BYTES,
      iterations: MEASURED_ITERATIONS,
      assemblyMs: timing,
      usedBytes,
      largestRequestBytes: largestRequest,
    };
    await writeFile(join(RESULTS_DIR, 'context.json'), `${JSON.stringify(result, null, 2)}\n`);
    console.log(
      `context of ${DEPENDENCIES} dependencies x ${OUTPUT_BYTES} bytes: median ${timing.p50} ms, ` +
        `p95 ${timing.p95} ms; ${usedBytes} bytes of dependency work (budget ${DEFAULT_CONTEXT_BUDGET_BYTES}); ` +
        `largest request (prompt) ${largestRequest} bytes`,
    );
  } finally {
    dynamo.destroy();
    s3.destroy();
    await emulators.stop();
  }
}

await main();
