/**
 * Dependency analysis over a validated batch (ids unique, dependencies known, no cycle).
 * FIRST CUT: signatures are the contract; the foundation work completes and tests them.
 */
import { DEFAULT_PRIORITY } from './limits';
import type { Task } from './schemas';

/** Ids of the tasks that depend on each task. */
export function dependentsOf(tasks: readonly Task[]): Map<string, string[]> {
  const dependents = new Map<string, string[]>(tasks.map((t) => [t.id, []]));
  for (const task of tasks) for (const dep of task.dependsOn ?? []) dependents.get(dep)?.push(task.id);
  return dependents;
}

/**
 * A topological order that is stable and priority-aware: among ready tasks, lower priority number first,
 * then submission order.
 */
export function topologicalOrder(tasks: readonly Task[]): string[] {
  const index = new Map(tasks.map((t, i) => [t.id, i]));
  const pending = new Map(tasks.map((t) => [t.id, new Set(t.dependsOn ?? []).size]));
  const dependents = dependentsOf(tasks);
  const key = (id: string) => {
    const i = index.get(id) ?? 0;
    return (tasks[i]?.priority ?? DEFAULT_PRIORITY) * tasks.length + i;
  };
  const ready = tasks.filter((t) => pending.get(t.id) === 0).map((t) => t.id);
  const order: string[] = [];
  while (ready.length > 0) {
    ready.sort((a, b) => key(a) - key(b));
    const id = ready.shift() as string;
    order.push(id);
    for (const d of dependents.get(id) ?? []) {
      const left = (pending.get(d) ?? 0) - 1;
      pending.set(d, left);
      if (left === 0) ready.push(d);
    }
  }
  return order;
}
