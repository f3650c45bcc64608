import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_TASK_ESTIMATE_MS } from '../../../shared/domain/dag';
import {
  CHAIN_LEAD_MS,
  capacityWaitSeconds,
  desiredScale,
  expiredLeases,
  freshWaiting,
  LEASE_MARGIN_MS,
  leaseExpiry,
  leaseKey,
  MAX_CAPACITY_WAIT_SECONDS,
  MAX_CHAIN_LEAD_STEPS,
  MAX_WORK_LEAD_MS,
  MIN_QUEUE_CONCURRENCY,
  PRIORITY_LEAD_MS,
  WAITING_FRESH_MS,
  WORK_LEAD_PER_MS,
  waitingLeadMs,
} from '../../../shared/domain/pool';
import { BUDGET_WAIT_SECONDS, CAPACITY_WAIT_SECONDS } from '../../../shared/domain/workflow';

const defaultsArb = fc
  .record({
    capacity: fc.integer({ min: 1, max: 100 }),
    minAgents: fc.integer({ min: 0, max: 50 }),
    extraAgents: fc.integer({ min: 0, max: 50 }),
    queueConcurrency: fc.integer({ min: 2, max: 1000 }),
  })
  .map(({ extraAgents, ...d }) => ({ ...d, maxAgents: Math.max(1, d.minAgents + extraAgents) }));
const backlogArb = fc.record({ queued: fc.nat(5_000), waiting: fc.nat(5_000), liveSlots: fc.nat(5_000) });

describe('desiredScale', () => {
  it('keeps agents within [minAgents, maxAgents] and concurrency within [2, queueConcurrency]', () => {
    fc.assert(
      fc.property(defaultsArb, backlogArb, (defaults, backlog) => {
        const plan = desiredScale(defaults, backlog);
        expect(plan.agents).toBeGreaterThanOrEqual(defaults.minAgents);
        expect(plan.agents).toBeLessThanOrEqual(defaults.maxAgents);
        expect(plan.concurrency).toBeGreaterThanOrEqual(MIN_QUEUE_CONCURRENCY);
        expect(plan.concurrency).toBeLessThanOrEqual(defaults.queueConcurrency);
      }),
    );
  });

  it('never asks for less when the backlog grows', () => {
    fc.assert(
      fc.property(
        defaultsArb,
        backlogArb,
        fc.nat(1_000),
        fc.nat(1_000),
        fc.nat(1_000),
        (defaults, backlog, dq, dw, ds) => {
          const before = desiredScale(defaults, backlog);
          const after = desiredScale(defaults, {
            queued: backlog.queued + dq,
            waiting: backlog.waiting + dw,
            liveSlots: backlog.liveSlots + ds,
          });
          expect(after.agents).toBeGreaterThanOrEqual(before.agents);
          expect(after.concurrency).toBeGreaterThanOrEqual(before.concurrency);
        },
      ),
    );
  });

  it('asks for enough agents to hold every queued and waiting task when the bounds allow', () => {
    const plan = desiredScale(
      { capacity: 2, minAgents: 1, maxAgents: 10, queueConcurrency: 20 },
      { queued: 5, waiting: 4 },
    );

    expect(plan).toEqual({ agents: 5, concurrency: 9 });
  });

  it('keeps a poller for every slot of the live agents', () => {
    const plan = desiredScale(
      { capacity: 4, minAgents: 0, maxAgents: 6, queueConcurrency: 20 },
      { queued: 0, waiting: 0, liveSlots: 12 },
    );

    expect(plan.concurrency).toBe(12);
  });

  it('falls back to the floor with no backlog', () => {
    expect(
      desiredScale(
        { capacity: 2, minAgents: 0, maxAgents: 5, queueConcurrency: 5 },
        { queued: 0, waiting: 0 },
      ),
    ).toEqual({ agents: 0, concurrency: MIN_QUEUE_CONCURRENCY });
  });
});

describe('leases', () => {
  it('expires a lease after the task timeout plus the margin', () => {
    expect(leaseExpiry(1_000, 30)).toBe(1_000 + 30_000 + LEASE_MARGIN_MS);
  });

  it('names one lease per attempt of a task', () => {
    expect(leaseKey('b1', 't1', 1)).not.toBe(leaseKey('b1', 't1', 2));
  });

  it('lists only the leases past their expiry, oldest first', () => {
    expect(expiredLeases({ a: 50, b: 200, c: 10, d: 100 }, 100)).toEqual(['c', 'a']);
  });
});

describe('freshWaiting', () => {
  it('counts waiting marks younger than the freshness window only', () => {
    const now = 100_000;
    const capacity = (at: number) => ({ at, waitingFor: 'capacity' as const });

    expect(
      freshWaiting(
        { a: capacity(now), b: capacity(now - WAITING_FRESH_MS), c: capacity(now - WAITING_FRESH_MS - 1) },
        now,
      ),
    ).toBe(2);
  });

  it('does not count a task waiting for its batch budget: an agent more would not run it', () => {
    const now = 100_000;

    expect(
      freshWaiting(
        {
          a: { at: now, waitingFor: 'budget' },
          b: { at: now, waitingFor: 'capacity' },
          c: { at: now - 1, waitingFor: 'budget' },
        },
        now,
      ),
    ).toBe(1);
  });
});

describe('capacityWaitSeconds', () => {
  it('doubles the wait with each consecutive WAIT up to its cap', () => {
    expect([1, 2, 3, 10].map((waits) => capacityWaitSeconds(waits, 30))).toEqual([30, 60, 60, 60]);
    // A wait for budget starts shorter and doubles up to the same cap.
    const budget = [1, 2, 3, 4, 5, 6, 7, 1_000].map((waits) =>
      capacityWaitSeconds(waits, BUDGET_WAIT_SECONDS),
    );
    expect(budget).toEqual([2, 4, 8, 16, 32, 60, 60, 60]);
  });

  it('never waits less than the base, nor longer than the cap (or the base, when longer), never less later', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 1, max: 120 }), (waits, base) => {
        const wait = capacityWaitSeconds(waits, base);
        return (
          wait >= base &&
          wait <= Math.max(base, MAX_CAPACITY_WAIT_SECONDS) &&
          capacityWaitSeconds(waits + 1, base) >= wait
        );
      }),
    );
  });

  it('waits no longer than until an open circuit admits a probe, and at least a second', () => {
    expect(capacityWaitSeconds(1, 30, 2.2)).toBe(3);
    expect(capacityWaitSeconds(2, 30, 90)).toBe(60);
    expect(capacityWaitSeconds(1, 30, 0)).toBe(1);
  });

  it('keeps a waiting mark fresh for longer than the longest wait, so the scaler never prunes a parked one', () => {
    expect(WAITING_FRESH_MS).toBeGreaterThan(MAX_CAPACITY_WAIT_SECONDS * 1000);
    expect(MAX_CAPACITY_WAIT_SECONDS).toBe(capacityWaitSeconds(1_000, CAPACITY_WAIT_SECONDS));
  });
});

describe('waitingLeadMs', () => {
  it('leads by the priority above the default and by each task of the chain ahead, up to a bound', () => {
    expect(waitingLeadMs(undefined, undefined)).toBe(0);
    expect(waitingLeadMs(2, 0)).toBe(0);
    expect(waitingLeadMs(1, 0)).toBe(PRIORITY_LEAD_MS);
    expect(waitingLeadMs(3, 0)).toBe(-PRIORITY_LEAD_MS);
    expect(waitingLeadMs(undefined, 4)).toBe(4 * CHAIN_LEAD_MS);
    expect(waitingLeadMs(1, 4)).toBe(PRIORITY_LEAD_MS + 4 * CHAIN_LEAD_MS);
    expect(waitingLeadMs(undefined, MAX_CHAIN_LEAD_STEPS + 500)).toBe(MAX_CHAIN_LEAD_STEPS * CHAIN_LEAD_MS);
  });

  it('leads by the estimated work ahead when the task has it (a default-estimate task as a chain step), up to a bound', () => {
    expect(waitingLeadMs(undefined, 7, DEFAULT_TASK_ESTIMATE_MS)).toBe(CHAIN_LEAD_MS);
    expect(waitingLeadMs(undefined, 0, 650)).toBe(650 * WORK_LEAD_PER_MS);
    expect(waitingLeadMs(1, 0, 650)).toBe(PRIORITY_LEAD_MS + 650 * WORK_LEAD_PER_MS);
    // More work ahead leads further, whatever the chain's length.
    expect(waitingLeadMs(undefined, 1, 600)).toBeGreaterThan(waitingLeadMs(undefined, 3, 30));
    expect(waitingLeadMs(undefined, 0, 10 * 60 * 60_000)).toBe(MAX_WORK_LEAD_MS);
    expect(waitingLeadMs(undefined, 0, -5)).toBe(0);
    // A priority step still outweighs a long chain of default-estimate work (as ten chain steps).
    expect(waitingLeadMs(1, 0, 0)).toBeGreaterThan(waitingLeadMs(2, 0, 9 * DEFAULT_TASK_ESTIMATE_MS));
  });
});
