/**
 * Trigger rules: when a task with dependencies runs, given how its dependencies ended (README "Trigger
 * rules"). The dependency gate protocol (ARCHITECTURE.md) keeps four counters on the dependent's item, each
 * changed by one atomic ADD per finished dependency; these pure functions say, from the counters alone,
 * whether the gate's answer is final ("open") and what it is. The store arms a gate only while it is not open,
 * and a release answers an armed gate only on the release that opened it, so the answer is given exactly
 * once, by whichever of the two comes second, under every interleaving.
 */
import type { TriggerRule } from './schemas';

/** The rule of a task that names none: every dependency must succeed. */
export const DEFAULT_TRIGGER_RULE: TriggerRule = 'all_success';

/** How a dependency ended, as its Complete (or a cancel) releases its dependents. */
export type DependencyOutcome = 'SUCCEEDED' | 'FAILED' | 'SKIPPED' | 'CANCELLED';

/** The gate's counters on a dependent's item. */
export interface GateCounts {
  /** Dependencies not finished yet. */
  readonly pendingDeps: number;
  /** Dependencies that finished without succeeding: FAILED, SKIPPED or CANCELLED. */
  readonly failedDeps: number;
  /** Of those, the SKIPPED ones (none_failed_min_one_success allows them). */
  readonly skippedDeps: number;
  /** Dependencies that SUCCEEDED. */
  readonly succeededDeps: number;
}

/** What one release adds to each counter. */
export function releaseDelta(outcome: DependencyOutcome): {
  pendingDeps: -1;
  failedDeps: 0 | 1;
  skippedDeps: 0 | 1;
  succeededDeps: 0 | 1;
} {
  return {
    pendingDeps: -1,
    failedDeps: outcome === 'SUCCEEDED' ? 0 : 1,
    skippedDeps: outcome === 'SKIPPED' ? 1 : 0,
    succeededDeps: outcome === 'SUCCEEDED' ? 1 : 0,
  };
}

/**
 * Whether the gate's answer is final: every dependency finished, or (one_success) one succeeded, which is
 * enough whatever the others do. Monotone: once open, later releases keep it open.
 */
export function gateOpen(rule: TriggerRule | undefined, counts: GateCounts): boolean {
  if (counts.pendingDeps <= 0) return true;
  return (rule ?? DEFAULT_TRIGGER_RULE) === 'one_success' && counts.succeededDeps > 0;
}

/** The counters before the release that led to `after` (the release applied `releaseDelta(outcome)`). */
export function countsBefore(after: GateCounts, outcome: DependencyOutcome): GateCounts {
  const delta = releaseDelta(outcome);
  return {
    pendingDeps: after.pendingDeps - delta.pendingDeps,
    failedDeps: after.failedDeps - delta.failedDeps,
    skippedDeps: after.skippedDeps - delta.skippedDeps,
    succeededDeps: after.succeededDeps - delta.succeededDeps,
  };
}

/** true when the release of a dependency that ended with `outcome`, which led to `after`, opened the gate. */
export function openedBy(
  rule: TriggerRule | undefined,
  after: GateCounts,
  outcome: DependencyOutcome,
): boolean {
  return gateOpen(rule, after) && !gateOpen(rule, countsBefore(after, outcome));
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/**
 * The decision of an open gate: whether the task runs, and why not when it does not. Only meaningful once
 * `gateOpen` holds (a one_success gate opened by a success proceeds though others are pending).
 */
export function gateDecision(
  rule: TriggerRule | undefined,
  counts: GateCounts,
): { proceed: boolean; reason?: string } {
  const failed = counts.failedDeps - counts.skippedDeps;
  switch (rule ?? DEFAULT_TRIGGER_RULE) {
    case 'all_success':
      return counts.failedDeps === 0
        ? { proceed: true }
        : {
            proceed: false,
            reason: `${plural(counts.failedDeps, 'dependency', 'dependencies')} did not succeed`,
          };
    case 'all_done':
      return { proceed: true };
    case 'one_success':
      return counts.succeededDeps > 0
        ? { proceed: true }
        : { proceed: false, reason: 'trigger one_success: no dependency succeeded' };
    case 'none_failed_min_one_success':
      if (failed > 0)
        return {
          proceed: false,
          reason: `trigger none_failed_min_one_success: ${plural(failed, 'dependency', 'dependencies')} failed`,
        };
      return counts.succeededDeps > 0
        ? { proceed: true }
        : { proceed: false, reason: 'trigger none_failed_min_one_success: no dependency succeeded' };
  }
}
