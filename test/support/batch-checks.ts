import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Batch, BatchResult } from '../../shared/domain/schemas';
import { ROOT } from './fake-io';

/** An example batch from examples/. */
export function example(name: string): Batch {
  return JSON.parse(readFileSync(join(ROOT, 'examples', name), 'utf8')) as Batch;
}

/**
 * Every (task, dependency) pair where the task started before the dependency finished: empty when the
 * dependency order was respected.
 */
export function dependencyViolations(batch: Batch, result: BatchResult): string[] {
  const byId = new Map(result.tasks.map((t) => [t.id, t]));
  const violations: string[] = [];
  for (const task of batch.tasks) {
    const started = byId.get(task.id)?.startedAt;
    if (started === undefined) continue;
    for (const dep of task.dependsOn ?? []) {
      const finished = byId.get(dep)?.finishedAt;
      if (finished === undefined || started < finished)
        violations.push(`${task.id} started before ${dep} finished`);
    }
  }
  return violations;
}
