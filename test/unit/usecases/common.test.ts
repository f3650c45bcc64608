import { describe, expect, it } from 'vitest';
import { effectiveHeartbeatSeconds, executionNameFor, gateOutput } from '../../../shared/usecases/common';

describe('executionNameFor', () => {
  it('uses the batch id itself when Step Functions accepts it', () => {
    expect(executionNameFor('batch-1', '-redrive-2')).toBe('batch-1-redrive-2');
  });

  it('replaces characters execution names forbid and keeps distinct ids distinct', () => {
    const a = executionNameFor('team:a.1');
    const b = executionNameFor('team_a.1');

    expect(a).toMatch(/^team_a\.1-[0-9a-f]{10}$/);
    expect(a).not.toBe(b);
  });

  it('fits a 128-character id and its suffix into 80 characters', () => {
    const name = executionNameFor('x'.repeat(128), '-redrive-12');

    expect(name.length).toBeLessThanOrEqual(80);
    expect(name.endsWith('-redrive-12')).toBe(true);
  });
});

describe('gateOutput', () => {
  const counts = (failedDeps: number) => ({ pendingDeps: 0, failedDeps, skippedDeps: 0, succeededDeps: 2 });
  it('proceeds by default only when no dependency failed, and never with a reason to stop', () => {
    expect(gateOutput(undefined, counts(0))).toEqual({ proceed: true, failedDeps: 0 });
    expect(gateOutput(undefined, counts(2))).toMatchObject({ proceed: false, failedDeps: 2 });
    expect(gateOutput('all_done', counts(2))).toEqual({ proceed: true, failedDeps: 2 });
    expect(gateOutput('all_done', counts(0), 'batch cancelled')).toEqual({
      proceed: false,
      failedDeps: 0,
      reason: 'batch cancelled',
    });
  });
});

describe('effectiveHeartbeatSeconds', () => {
  it('stays below the timeout, as Step Functions requires', () => {
    expect(effectiveHeartbeatSeconds(60, 300)).toBe(60);
    expect(effectiveHeartbeatSeconds(60, 10)).toBe(9);
  });
});
