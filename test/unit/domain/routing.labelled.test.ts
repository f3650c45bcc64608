/**
 * Routing accuracy on labelled task descriptions, routed exactly as the CLI `route` command does:
 * extractRequirements + decideRoute against the default pool (one fresh agent per role).
 * labelled-tasks.json was used while developing the extractor; labelled-tasks-holdout.json was written
 * after the last change to the extractor and never tuned against.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BUILTIN_ROLE_NAMES, resolveRoles } from '../../../shared/domain/roles';
import { decideRoute, defaultAgentPool, extractRequirements } from '../../../shared/domain/routing';

interface Labelled {
  role: string;
  description: string;
}

const catalog = resolveRoles();
const pool = defaultAgentPool(catalog, 0);

function load(name: string): Labelled[] {
  return JSON.parse(readFileSync(new URL(`../../fixtures/${name}`, import.meta.url), 'utf8')) as Labelled[];
}

function evaluate(set: Labelled[]) {
  const misses: { want: string; got: string; description: string }[] = [];
  set.forEach((item, i) => {
    const task = { id: `t${i}`, description: item.description };
    const requirements = extractRequirements(task, catalog);
    const result = decideRoute({ task, requirements, agents: pool, catalog, exclude: new Set(), now: 0 });
    const got = result.kind === 'route' ? result.decision.role : `none (${result.role})`;
    if (got !== item.role) misses.push({ want: item.role, got, description: item.description });
  });
  return { accuracy: (set.length - misses.length) / set.length, misses };
}

function report(name: string, set: Labelled[], result: ReturnType<typeof evaluate>): void {
  const lines = result.misses.map((m) => `  ${m.want} -> ${m.got}: ${m.description}`);
  console.log(
    `${name}: accuracy ${(100 * result.accuracy).toFixed(1)}% (${set.length - result.misses.length}/${set.length})` +
      (lines.length > 0 ? `\nmisses (expected -> routed):\n${lines.join('\n')}` : ''),
  );
}

describe('routing accuracy on labelled tasks', () => {
  const labelled = load('labelled-tasks.json');
  const holdout = load('labelled-tasks-holdout.json');

  it('covers every role at least four times with at least 100 descriptions', () => {
    expect(labelled.length).toBeGreaterThanOrEqual(100);
    for (const role of BUILTIN_ROLE_NAMES) {
      expect(labelled.filter((t) => t.role === role).length, role).toBeGreaterThanOrEqual(4);
    }
    expect(new Set(labelled.map((t) => t.description)).size).toBe(labelled.length);
  });

  it('routes at least 90% of the labelled set to the expected role', () => {
    const result = evaluate(labelled);

    report('labelled set', labelled, result);
    expect(result.accuracy).toBeGreaterThanOrEqual(0.9);
  });

  it('routes at least 80% of the held-out set to the expected role', () => {
    const overlap = holdout.filter((h) => labelled.some((l) => l.description === h.description));
    const result = evaluate(holdout);

    report('held-out set', holdout, result);
    expect(overlap).toEqual([]);
    expect(holdout.length).toBeGreaterThanOrEqual(40);
    expect(result.accuracy).toBeGreaterThanOrEqual(0.8);
  });
});
