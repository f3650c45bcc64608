import { spawn } from 'node:child_process';
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

/** A result report without what differs from run to run (times, agent ids): for comparing two runs. */
export function reportShape(result: BatchResult) {
  return {
    status: result.status,
    keys: Object.keys(result).sort(),
    tasks: result.tasks.map((t) => ({
      id: t.id,
      status: t.status,
      role: t.role,
      attempts: t.attempts.map((a) => a.status),
      keys: Object.keys(t).sort(),
    })),
  };
}

/**
 * Runs `meta-agent ARGS` in a child process, sends it SIGINT once its stdout shows `marker`, and answers
 * its exit code (null when it had to be killed after `exitWithinMs`), its stdout and whether it was
 * interrupted.
 */
export async function runUntilInterrupted(
  args: string[],
  marker: string,
  exitWithinMs: number,
): Promise<{ code: number | null; out: string; interrupted: boolean; elapsedMs: number }> {
  const child = spawn(process.execPath, ['bin/meta-agent.js', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let interrupted = false;
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    if (!interrupted && out.includes(marker)) {
      interrupted = true;
      child.kill('SIGINT');
    }
  });
  const started = Date.now();
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve(null);
    }, exitWithinMs);
    child.on('exit', (exitCode) => {
      clearTimeout(timer);
      resolve(exitCode);
    });
  });
  return { code, out, interrupted, elapsedMs: Date.now() - started };
}
