/** Builders for stored items and agents used across tests. */
import { resolveRoles } from '../../shared/domain/roles';
import { newAgent } from '../../shared/domain/routing';
import type { Agent, Task } from '../../shared/domain/schemas';
import type { Callbacks, Clock, StoredBatch, StoredTask } from '../../shared/ports';
import { storedTasksOf } from '../../shared/usecases/submit';

export const catalog = resolveRoles([]);

/** A clock the test moves by hand. */
export class ManualClock implements Clock {
  constructor(public time = 1_700_000_000_000) {}
  now(): number {
    return this.time;
  }
  advance(ms: number): void {
    this.time += ms;
  }
}

export function agentOf(role: string, agentId: string, overrides: Partial<Agent> = {}, now = 0): Agent {
  const template = catalog.get(role);
  if (!template) throw new Error(`no role ${role}`);
  return { ...newAgent(template, agentId, now), ...overrides };
}

export function batchOf(
  batchId: string,
  tasks: Task[],
  options: { maxAttempts?: number; failFast?: boolean } = {},
): { batch: StoredBatch; tasks: StoredTask[] } {
  const maxAttempts = options.maxAttempts ?? 3;
  return {
    batch: {
      batchId,
      status: 'RUNNING',
      createdAt: 1,
      startedAt: 1,
      maxAttempts,
      failFast: options.failFast ?? false,
      taskIds: tasks.map((t) => t.id),
    },
    tasks: storedTasksOf(batchId, { tasks, options }, maxAttempts),
  };
}

let counter = 0;
/** A batch id unique within the test process. */
export const uniqueId = (prefix = 'b') => `${prefix}-${++counter}-${Math.random().toString(36).slice(2, 8)}`;

/** Callbacks that remember every answer. */
export function recordingCallbacks() {
  const answers: { token: string; output: unknown }[] = [];
  const callbacks: Callbacks = {
    succeed: async (token, output) => {
      answers.push({ token, output });
      return true;
    },
    fail: async () => true,
    heartbeat: async () => true,
  };
  return { answers, callbacks };
}
