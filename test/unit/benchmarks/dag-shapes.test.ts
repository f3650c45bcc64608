import { describe, expect, it } from 'vitest';
import { listSchedule } from '../../../benchmarks/executors';
import {
  layeredDag,
  lowerBound,
  median,
  RANDOM_DAG_SHAPE,
  REFERENCE_DAG_SHAPE,
} from '../../../benchmarks/lib';

/** bench:compare's per-role limit and seeds (the first three of the 50 below). */
const PER_ROLE = 4;
const SEEDS = Array.from({ length: 50 }, (_, i) => 11 * (i + 1));

/** The ideal executor's makespan (readiness order, no hop cost) over the lower bound, per seed. */
function idealRatios(shape: typeof RANDOM_DAG_SHAPE): number[] {
  return SEEDS.map((seed) => {
    const batch = layeredDag(`l-${seed}`, { seed, ...shape });
    return listSchedule(batch, PER_ROLE, 'readiness') / lowerBound(batch, () => PER_ROLE).boundMs;
  });
}

describe('the layered DAG families of bench:compare', () => {
  it('the goal family is one the ideal executor reaches the bound on, as issue 14 measured it', () => {
    const ratios = idealRatios(REFERENCE_DAG_SHAPE);
    expect(median(ratios)).toBeLessThanOrEqual(1.001);
    // bench:compare's three DAGs, one by one.
    for (const ratio of ratios.slice(0, 3)) expect(ratio).toBeLessThanOrEqual(1.001);
  });

  it('the contended family is one where the roles limit even the ideal executor (reported beside the goal)', () => {
    const ratios = idealRatios(RANDOM_DAG_SHAPE);
    expect(median(ratios)).toBeGreaterThan(1.05);
  });

  it('the goal family differs from the contended one in batch size alone', () => {
    const { tasks: _goal, ...goalRest } = REFERENCE_DAG_SHAPE;
    const { tasks: _contended, ...contendedRest } = RANDOM_DAG_SHAPE;
    expect(goalRest).toEqual(contendedRest);
    expect(REFERENCE_DAG_SHAPE.tasks[1]).toBeLessThan(RANDOM_DAG_SHAPE.tasks[1]);
  });
});
