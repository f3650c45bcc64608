import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { TriggerRule } from '../../../shared/domain/schemas';
import {
  type DependencyOutcome,
  type GateCounts,
  gateDecision,
  gateOpen,
  openedBy,
  releaseDelta,
} from '../../../shared/domain/trigger';

const RULES: TriggerRule[] = ['all_success', 'all_done', 'one_success', 'none_failed_min_one_success'];
const OUTCOMES: DependencyOutcome[] = ['SUCCEEDED', 'FAILED', 'SKIPPED', 'CANCELLED'];

const initial = (n: number): GateCounts => ({
  pendingDeps: n,
  failedDeps: 0,
  skippedDeps: 0,
  succeededDeps: 0,
});

function apply(counts: GateCounts, outcome: DependencyOutcome): GateCounts {
  const d = releaseDelta(outcome);
  return {
    pendingDeps: counts.pendingDeps + d.pendingDeps,
    failedDeps: counts.failedDeps + d.failedDeps,
    skippedDeps: counts.skippedDeps + d.skippedDeps,
    succeededDeps: counts.succeededDeps + d.succeededDeps,
  };
}

/** The rules as the README states them, over the dependencies' final outcomes. */
function runsUnder(rule: TriggerRule, outcomes: readonly DependencyOutcome[]): boolean {
  const some = (o: DependencyOutcome) => outcomes.includes(o);
  switch (rule) {
    case 'all_success':
      return outcomes.every((o) => o === 'SUCCEEDED');
    case 'all_done':
      return true;
    case 'one_success':
      return some('SUCCEEDED');
    case 'none_failed_min_one_success':
      return !some('FAILED') && !some('CANCELLED') && some('SUCCEEDED');
  }
}

describe('trigger rules', () => {
  it('decides each rule from how the dependencies ended', () => {
    const done = (s: number, f: number, k: number): GateCounts => ({
      pendingDeps: 0,
      succeededDeps: s,
      failedDeps: f + k,
      skippedDeps: k,
    });
    expect(gateDecision(undefined, done(2, 0, 0))).toEqual({ proceed: true });
    expect(gateDecision('all_success', done(1, 1, 0))).toEqual({
      proceed: false,
      reason: '1 dependency did not succeed',
    });
    expect(gateDecision('all_done', done(0, 2, 1)).proceed).toBe(true);
    expect(gateDecision('one_success', done(0, 1, 1))).toEqual({
      proceed: false,
      reason: 'trigger one_success: no dependency succeeded',
    });
    expect(gateDecision('none_failed_min_one_success', done(1, 0, 2)).proceed).toBe(true);
    expect(gateDecision('none_failed_min_one_success', done(1, 1, 0))).toEqual({
      proceed: false,
      reason: 'trigger none_failed_min_one_success: 1 dependency failed',
    });
    expect(gateDecision('none_failed_min_one_success', done(0, 0, 2)).reason).toBe(
      'trigger none_failed_min_one_success: no dependency succeeded',
    );
  });

  it('opens a one_success gate at the first success, and every other rule only when all have finished', () => {
    const oneSucceeded: GateCounts = { pendingDeps: 2, failedDeps: 0, skippedDeps: 0, succeededDeps: 1 };
    expect(gateOpen('one_success', oneSucceeded)).toBe(true);
    for (const rule of ['all_success', 'all_done', 'none_failed_min_one_success'] as const)
      expect(gateOpen(rule, oneSucceeded)).toBe(false);
  });

  it('is opened by exactly one release, never early, and decides as its rule says, for every order of outcomes', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...RULES),
        fc.array(fc.constantFrom(...OUTCOMES), { minLength: 1, maxLength: 8 }),
        (rule, outcomes) => {
          let counts = initial(outcomes.length);
          expect(gateOpen(rule, counts)).toBe(false);
          const openers: number[] = [];
          let decisionAtOpen: boolean | undefined;
          outcomes.forEach((outcome, i) => {
            counts = apply(counts, outcome);
            if (openedBy(rule, counts, outcome)) {
              openers.push(i);
              decisionAtOpen = gateDecision(rule, counts).proceed;
            }
          });
          expect(openers).toHaveLength(1);
          const firstSuccess = outcomes.indexOf('SUCCEEDED');
          const expectedOpener =
            rule === 'one_success' && firstSuccess >= 0 ? firstSuccess : outcomes.length - 1;
          expect(openers[0]).toBe(expectedOpener);
          expect(decisionAtOpen).toBe(runsUnder(rule, outcomes));
        },
      ),
      { numRuns: 500 },
    );
  });
});
