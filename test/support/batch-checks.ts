import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { forgetNewNpxInstalls, npxInstalls } from '../../scripts/npx-installs';
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

/** A Ctrl-C repeated this soon is the same key press delivered twice (well inside SIGINT_REPEAT_MS). */
const REPEAT_GAP_MS = 50;

/**
 * Node options that make a process report Node 20 (process.versions.node), as a machine's own older Node would,
 * unless it is the CLI run again on the project's pinned Node (META_AGENT_PINNED_NODE, bin/meta-agent.js).
 */
export const AS_OLDER_NODE = [
  '--import',
  "data:text/javascript,if(!process.env.META_AGENT_PINNED_NODE)Object.defineProperty(process.versions,'node',{value:'20.20.2'})",
];

/**
 * Runs `meta-agent ARGS` (with node, through `npx` as a user types it, or started by an older Node) in a
 * process group of its own, as a terminal runs a foreground job, sends SIGINT to the whole group once its
 * stdout shows `marker` (what Ctrl-C does: every process of the job gets it; `twice` delivers it again 50 ms
 * later; `only` sends that signal to the started process alone instead), and answers its exit code and
 * signal (code null when it had to be killed after `exitWithinMs`), its stdout by the time it exited and
 * whether it was interrupted.
 */
export async function runUntilInterrupted(
  args: string[],
  marker: string,
  exitWithinMs: number,
  options: {
    via?: 'node' | 'npx' | 'older-node';
    twice?: boolean;
    /** Sent to the started process alone instead (as `kill PID` does), not to its process group. */
    only?: NodeJS.Signals;
  } = {},
): Promise<{
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  /** What it wrote on stderr. */
  err: string;
  interrupted: boolean;
  elapsedMs: number;
  /** Through npx: the installs of this checkout npx made in its cache (removed again). */
  npxInstalled: string[];
}> {
  const [command, ...prefix] =
    options.via === 'npx'
      ? ['npx', 'meta-agent']
      : options.via === 'older-node'
        ? [process.execPath, ...AS_OLDER_NODE, 'bin/meta-agent.js']
        : [process.execPath, 'bin/meta-agent.js'];
  const npxBefore = options.via === 'npx' ? npxInstalls() : undefined;
  const child = spawn(command as string, [...prefix, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const group = -(child.pid as number);
  let out = '';
  let interrupted = false;
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    if (!interrupted && out.includes(marker)) {
      interrupted = true;
      if (options.only) process.kill(child.pid as number, options.only);
      else process.kill(group, 'SIGINT');
      if (options.twice) setTimeout(() => process.kill(group, 'SIGINT'), REPEAT_GAP_MS);
    }
  });
  let err = '';
  child.stderr.on('data', (chunk: Buffer) => {
    err += chunk.toString();
  });
  const started = Date.now();
  const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    const timer = setTimeout(() => {
      process.kill(group, 'SIGKILL');
      resolve({ code: null, signal: 'SIGKILL' });
    }, exitWithinMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
  const npxInstalled = npxBefore ? forgetNewNpxInstalls(npxBefore, ROOT) : [];
  return { ...exit, out, err, interrupted, elapsedMs: Date.now() - started, npxInstalled };
}
