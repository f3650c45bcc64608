/**
 * The embedded runtime's scheduled scaler: every scalerIntervalMs while an execution runs, every
 * idleScalerIntervalMs while none does (an idle `serve` paid most of its CPU for 2 s passes with nothing to do).
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { EmbeddedSystem } from '../../../shared/local/system';

const INTERVAL_MS = 50;
const IDLE_INTERVAL_MS = 600;
let system: EmbeddedSystem;

beforeAll(async () => {
  system = await EmbeddedSystem.start({
    scalerIntervalMs: INTERVAL_MS,
    idleScalerIntervalMs: IDLE_INTERVAL_MS,
  });
});

afterAll(async () => {
  await system?.stop();
});

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the scheduled scaler', () => {
  it('runs every idle interval while no batch runs, and every interval while one does', async () => {
    const passes = vi.spyOn(system, 'runScaler');

    // Idle for 1.5 s: every 50 ms would be about 30 passes; every 600 ms, 2 or 3 (6 leaves room for a late tick).
    await pause(1_500);
    const idle = passes.mock.calls.length;
    expect(idle).toBeGreaterThanOrEqual(1);
    expect(idle).toBeLessThanOrEqual(6);

    // A batch of one task that works 1.5 s: passes every 50 ms while it runs (about 30; at least 8 on a loaded
    // machine), where the idle schedule would make 2 or 3.
    const { batchId } = await system.submit({
      batchId: 'scaler-schedule',
      tasks: [
        {
          id: 'a',
          description: 'Write the Python FastAPI endpoint',
          input: { simulate: { durationMs: 1_500 } },
        },
      ],
    });
    await system.waitForBatch(batchId);
    const running = passes.mock.calls.length - idle;
    expect(running).toBeGreaterThanOrEqual(8);

    // Idle again once it ended (its execution may outlive the result by a tick or two).
    const before = passes.mock.calls.length;
    await pause(1_500);
    expect(passes.mock.calls.length - before).toBeLessThanOrEqual(6);
  });
});
