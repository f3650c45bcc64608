/**
 * Fleet-wide provider limits on dynalite: two limiters (two workers' processes, each with its own client)
 * share the slots and buckets of the tasks table; a dead holder's lease lapses; a 429 lowers the limit for
 * every worker; the requests- and tokens-per-minute buckets make requests wait.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { documentClient } from '../../../shared/adapters/dynamodb/client';
import { DynamoProviderLimitStore } from '../../../shared/adapters/dynamodb/provider-limits';
import { FleetLimiter } from '../../../shared/adapters/executors/fleet-limiter';
import type { ProviderLimit } from '../../../shared/domain/costs';
import type { LimiterTuning } from '../../../shared/domain/provider-limits';
import { countingClient, type LocalDynamo, startDynalite } from '../../support/dynalite';

let dynamo: LocalDynamo;
let stores: DynamoProviderLimitStore[];

beforeAll(async () => {
  dynamo = await startDynalite();
  // Two clients: two worker processes that share nothing but the table.
  stores = [0, 1].map(
    () => new DynamoProviderLimitStore(dynamo.tasksTable, documentClient(countingClient(dynamo).client)),
  );
});

afterAll(async () => {
  await dynamo?.stop();
});

/** One limiter per store, for the models given (each test its own model, so its own items). */
function limiters(limits: ProviderLimit[], tuning: Partial<LimiterTuning> = {}): FleetLimiter[] {
  return stores.map((store) => new FleetLimiter({ store, limits, tuning }));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('fleet-wide provider limits on DynamoDB', () => {
  it('never lets two workers together hold more slots than the limit, and every caller gets one', async () => {
    const model = 'cap-test';
    const fleet = limiters([{ provider: 'anthropic', model, maxConcurrent: 4 }]);
    let holding = 0;
    let most = 0;
    let done = 0;

    await Promise.all(
      Array.from({ length: 24 }, async (_, i) => {
        const limiter = fleet[i % 2] as FleetLimiter;
        const permit = await limiter.acquire({ provider: 'anthropic', model }, AbortSignal.timeout(60_000));
        holding += 1;
        most = Math.max(most, holding);
        await sleep(20 + (i % 5) * 10);
        holding -= 1;
        await permit.release();
        done += 1;
      }),
    );

    expect(done).toBe(24);
    // The cap is the safety property; how many holds overlap below it depends on the emulator's speed (DynamoDB
    // Local takes longer per write than a hold lasts), so only overlap itself is asked of it.
    expect(most).toBeLessThanOrEqual(4);
    expect(most).toBeGreaterThanOrEqual(2);
    expect((await stores[0]?.read('anthropic/cap-test'))?.slots).toEqual([]);
  });

  it("gives a crashed holder's slot back once its lease lapses, not before", async () => {
    const model = 'crash-test';
    const [limiter] = limiters([{ provider: 'openai', model, maxConcurrent: 1 }], { leaseMs: 800 });
    const key = 'openai/crash-test';
    // A worker took the only slot and died: nobody renews or releases it.
    const takenAt = Date.now();
    expect(await stores[1]?.takeSlot(key, 0, 'dead-worker', takenAt + 800, takenAt)).toBe(true);

    const permit = await limiter?.acquire({ provider: 'openai', model }, AbortSignal.timeout(10_000));
    const waited = Date.now() - takenAt;

    expect(waited).toBeGreaterThanOrEqual(800);
    expect((await stores[0]?.read(key))?.slots.map((s) => s.holder)).not.toContain('dead-worker');
    await permit?.release();
  });

  it('keeps a live holder’s slot past its first lease by renewing it', async () => {
    const model = 'renew-test';
    const [first, second] = limiters([{ provider: 'openai', model, maxConcurrent: 1 }], { leaseMs: 300 });
    const permit = await first?.acquire({ provider: 'openai', model }, AbortSignal.timeout(5_000));

    // Three leases long: without renewals the slot would have been taken over.
    const refused = await second?.acquire({ provider: 'openai', model }, AbortSignal.timeout(900)).then(
      () => 'granted',
      (error: unknown) => (error as Error).name,
    );
    expect(refused).toBe('TimeoutError');

    await permit?.release();
    const next = await second?.acquire({ provider: 'openai', model }, AbortSignal.timeout(5_000));
    await next?.release();
  });

  it('lowers the slots of every worker after a 429, for the cool-down', async () => {
    const model = 'throttle-test';
    const [first, second] = limiters([{ provider: 'anthropic', model, maxConcurrent: 4 }]);
    const target = { provider: 'anthropic' as const, model };
    const throttled = await first?.acquire(target, AbortSignal.timeout(5_000));
    await throttled?.afterRequest({ throttled: true });
    await throttled?.release();

    // The other worker now gets two slots (half of four), not a third.
    const granted = [
      await second?.acquire(target, AbortSignal.timeout(5_000)),
      await second?.acquire(target, AbortSignal.timeout(5_000)),
    ];
    const third = await second?.acquire(target, AbortSignal.timeout(500)).then(
      () => 'granted',
      (error: unknown) => (error as Error).name,
    );

    expect(third).toBe('TimeoutError');
    const state = await stores[1]?.read('anthropic/throttle-test');
    expect(state?.rate).toMatchObject({ factor: 0.5, throttles: 1 });
    for (const permit of granted) await permit?.release();
  });

  it('makes requests wait for the requests-per-minute bucket shared by the workers', async () => {
    const model = 'rpm-test';
    // 120 a minute: a burst of 20 (ten seconds' worth), then 2 a second.
    const fleet = limiters([{ provider: 'openai', model, requestsPerMinute: 120 }]);
    const permits = await Promise.all(
      fleet.map((l) => l.acquire({ provider: 'openai', model }, AbortSignal.timeout(5_000))),
    );
    const startedAt = Date.now();

    await Promise.all(
      Array.from({ length: 22 }, (_, i) => permits[i % 2]?.beforeRequest(AbortSignal.timeout(10_000))),
    );

    // Two requests beyond the burst, at two a second.
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(900);
    for (const permit of permits) await permit.release();
  });

  it('charges the tokens an answer used and holds the next request until the bucket refills', async () => {
    const model = 'tpm-test';
    // 600 a minute: 100 at once, 10 a second back.
    const [limiter] = limiters([{ provider: 'anthropic', model, tokensPerMinute: 600 }]);
    const permit = await limiter?.acquire({ provider: 'anthropic', model }, AbortSignal.timeout(5_000));
    await permit?.beforeRequest(AbortSignal.timeout(5_000));
    await permit?.afterRequest({ tokens: 110 });
    const spentAt = Date.now();

    await permit?.beforeRequest(AbortSignal.timeout(10_000));

    expect(Date.now() - spentAt).toBeGreaterThanOrEqual(900);
    await permit?.release();
  });
});
