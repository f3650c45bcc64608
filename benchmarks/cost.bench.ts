/**
 * Cost control benchmark (not a test): the latency the fleet-wide provider limiter adds to each provider call,
 * as the worker runs it: take a leased slot, take a request from the requests-per-minute bucket, charge the
 * answer's tokens to the tokens-per-minute bucket, give the slot back, against the embedded runtime's dynalite.
 * Measured alone (one call at a time) and with 8 calls at once (below the cap: contention on the items, no
 * waiting for a slot), against the per-process semaphore it replaces. Run: `npm run bench:cost`. Prints the
 * median and p95 per call and writes benchmarks/results/cost.json.
 */
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { documentClient } from '../shared/adapters/dynamodb/client';
import { DynamoProviderLimitStore } from '../shared/adapters/dynamodb/provider-limits';
import { FleetLimiter } from '../shared/adapters/executors/fleet-limiter';
import { type CallLimiter, ProviderLimiter } from '../shared/adapters/executors/policy';
import { startEmulators } from '../shared/local/runtime/emulators';
import { distribution, emulatorDynamo, round, writeResult } from './lib';

const WARMUP_CALLS = 20;
const MEASURED_CALLS = 200;
const CONCURRENT_CALLERS = 8;
/** Tokens an answer reports (charged to the tokens-per-minute bucket). */
const ANSWER_TOKENS = 1_500;
const TARGET = { provider: 'anthropic' as const, model: 'claude-bench' };
/** Calls under a concurrency limit only (the default: no per-minute limits), a separate limit item. */
const SLOTS_ONLY = { provider: 'anthropic' as const, model: 'claude-bench-slots' };

/** One call's limiter work: slot, request, token charge, release; the provider call itself takes no time. */
async function limitedCall(limiter: CallLimiter, target = TARGET): Promise<number> {
  const signal = AbortSignal.timeout(60_000);
  const startedAt = performance.now();
  const permit = await limiter.acquire(target, signal);
  await permit.beforeRequest(signal);
  await permit.afterRequest({ tokens: ANSWER_TOKENS });
  await permit.release();
  return performance.now() - startedAt;
}

/** `calls` calls through `limiter`, `parallel` at a time; each call's milliseconds. */
async function measure(
  limiter: CallLimiter,
  calls: number,
  parallel: number,
  target = TARGET,
): Promise<number[]> {
  const samples: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < calls) {
        next += 1;
        samples.push(await limitedCall(limiter, target));
      }
    }),
  );
  return samples;
}

async function main(): Promise<void> {
  const emulators = await startEmulators({ roles: [] });
  const dynamo = emulatorDynamo(emulators);
  try {
    const store = new DynamoProviderLimitStore(emulators.tasksTableName, documentClient(dynamo));
    // Generous rates: the bench measures the writes, never a wait for a token or a slot.
    const fleet = new FleetLimiter({
      store,
      limits: [
        {
          ...TARGET,
          maxConcurrent: 100,
          requestsPerMinute: 1_000_000,
          tokensPerMinute: 1_000_000_000,
        },
        { ...SLOTS_ONLY, maxConcurrent: 100 },
      ],
    });
    const local = new ProviderLimiter(100);
    await measure(fleet, WARMUP_CALLS, 1);
    const result = {
      when: new Date().toISOString(),
      cpus: cpus().length,
      calls: MEASURED_CALLS,
      answerTokens: ANSWER_TOKENS,
      writesPerCall:
        'slot: query + conditional put; request: one atomic ADD (a conditional reset when idle); tokens: one atomic ADD; release: conditional delete',
      semaphoreMs: distribution(await measure(local, MEASURED_CALLS, 1)),
      slotsOnlyAloneMs: distribution(await measure(fleet, MEASURED_CALLS, 1, SLOTS_ONLY)),
      slotsOnlyConcurrentMs: {
        callers: CONCURRENT_CALLERS,
        ...distribution(await measure(fleet, MEASURED_CALLS, CONCURRENT_CALLERS, SLOTS_ONLY)),
      },
      fleetAloneMs: distribution(await measure(fleet, MEASURED_CALLS, 1)),
      fleetConcurrentMs: {
        callers: CONCURRENT_CALLERS,
        ...distribution(await measure(fleet, MEASURED_CALLS, CONCURRENT_CALLERS)),
      },
    };
    const file = writeResult('cost.json', result);
    console.log(
      [
        `provider limiter, added latency per call (dynalite on ${result.cpus} CPUs, ${MEASURED_CALLS} calls):`,
        `  per-process semaphore: median ${round(result.semaphoreMs.p50, 3)} ms`,
        `  slots only, one call at a time: median ${result.slotsOnlyAloneMs.p50} ms, p95 ${result.slotsOnlyAloneMs.p95} ms`,
        `  slots only, ${CONCURRENT_CALLERS} calls at once: median ${result.slotsOnlyConcurrentMs.p50} ms, p95 ${result.slotsOnlyConcurrentMs.p95} ms`,
        `  slots and per-minute buckets, one call at a time: median ${result.fleetAloneMs.p50} ms, p95 ${result.fleetAloneMs.p95} ms`,
        `  slots and per-minute buckets, ${CONCURRENT_CALLERS} calls at once: median ${result.fleetConcurrentMs.p50} ms, p95 ${result.fleetConcurrentMs.p95} ms`,
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
