/**
 * Phase 2 SCWT suite as a benchmark (not a test): `npm run bench:scwt`.
 *
 * Runs against the embedded runtime by default, or against a deployed API when META_AGENT_API_URL is set
 * (with META_AGENT_API_KEY sent as x-api-key): batches are submitted and polled over HTTP with fetch and the
 * same gates apply. Gates: parallel execution, intelligent routing, dynamic spawning (and idle
 * termination), load balancing, failure recovery, suite success rate. Prints the gate table, writes
 * benchmarks/results/scwt-<timestamp>.json and scwt-latest.json, compares with the previous latest (a
 * regression is a drop beyond the named tolerances) and exits 0 only when every gate passes.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Batch, BatchResult, TaskResult } from '../shared/domain/schemas';
import { BatchResultSchema } from '../shared/domain/schemas';
import { EmbeddedSystem } from '../shared/local/system';
import { RESULTS_DIR, round, writeResult } from './lib';

const PARALLEL_MAX_MS = 60_000;
const ROUTING_MIN_ACCURACY = 0.8;
const SUCCESS_MIN_RATE = 0.95;
const IDLE_TERMINATION_MAX_MS = 30_000;
/** Regression tolerances against the previous latest run. */
const TOLERANCE = { successRate: 0.02, routingAccuracy: 0.03, executionTimeRatio: 1.25 } as const;
/** The role the spawning gate overrides: no standing agents, one task per agent, idle after 2 s. */
const SPAWN_ROLE = 'devops_engineer';
const SPAWN_TASKS = 3;
const SPAWN_OVERRIDE = {
  name: SPAWN_ROLE,
  defaults: { minAgents: 0, maxAgents: 4, capacity: 1, idleTtlSeconds: 2 },
};
const SCALER_INTERVAL_MS = 1_000;
const HEARTBEAT_SECONDS = 2;
const POLL_MS = 250;
const LOAD_ROLE = 'typescript_frontend_agent';
const LOAD_TASKS = 20;

interface AgentView {
  agentId: string;
  role: string;
  status: string;
  capacity: number;
}

/** Where batches go: the embedded system in process, or a deployed API over HTTP. */
interface Target {
  readonly name: string;
  submit(batch: Batch): Promise<string>;
  result(batchId: string): Promise<BatchResult>;
  agents(role?: string): Promise<AgentView[]>;
  stop(): Promise<void>;
}

class EmbeddedTarget implements Target {
  readonly name = 'embedded';
  constructor(private readonly system: EmbeddedSystem) {}

  static async start(): Promise<EmbeddedTarget> {
    return new EmbeddedTarget(
      await EmbeddedSystem.start({
        roles: [SPAWN_OVERRIDE],
        heartbeatSeconds: HEARTBEAT_SECONDS,
        scalerIntervalMs: SCALER_INTERVAL_MS,
      }),
    );
  }

  async submit(batch: Batch): Promise<string> {
    return (await this.system.submit(batch)).batchId;
  }

  result(batchId: string): Promise<BatchResult> {
    return this.system.result(batchId);
  }

  async agents(role?: string): Promise<AgentView[]> {
    const response = await this.system.request({
      method: 'GET',
      path: '/agents',
      ...(role ? { query: { role } } : {}),
    });
    return (JSON.parse(response.body) as { agents: AgentView[] }).agents;
  }

  stop(): Promise<void> {
    return this.system.stop();
  }
}

/** A deployed API's answer outside 2xx. */
class RemoteApiError extends Error {
  constructor(method: string, path: string, status: number, body: string) {
    super(`${method} ${path} answered ${status}: ${body.slice(0, 500)}`);
    this.name = 'RemoteApiError';
  }
}

class HttpTarget implements Target {
  readonly name: string;
  constructor(
    private readonly baseUrl: string,
    private readonly apiKey: string | undefined,
  ) {
    this.name = `http ${baseUrl}`;
  }

  async #call(method: string, path: string, body?: unknown): Promise<unknown> {
    const response = await fetch(new URL(path.replace(/^\//, ''), `${this.baseUrl.replace(/\/?$/, '/')}`), {
      method,
      headers: {
        'content-type': 'application/json',
        ...(this.apiKey ? { 'x-api-key': this.apiKey } : {}),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    if (!response.ok) throw new RemoteApiError(method, path, response.status, text);
    return JSON.parse(text);
  }

  async submit(batch: Batch): Promise<string> {
    return ((await this.#call('POST', '/batches', batch)) as { batchId: string }).batchId;
  }

  async result(batchId: string): Promise<BatchResult> {
    return BatchResultSchema.parse(await this.#call('GET', `/batches/${encodeURIComponent(batchId)}`));
  }

  async agents(role?: string): Promise<AgentView[]> {
    const query = role ? `?role=${encodeURIComponent(role)}` : '';
    return ((await this.#call('GET', `/agents${query}`)) as { agents: AgentView[] }).agents;
  }

  async stop(): Promise<void> {}
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function run(target: Target, batch: Batch): Promise<{ result: BatchResult; wallMs: number }> {
  const started = performance.now();
  const batchId = await target.submit(batch);
  for (;;) {
    const result = await target.result(batchId);
    if (result.status !== 'RUNNING') return { result, wallMs: performance.now() - started };
    await sleep(POLL_MS);
  }
}

interface Gate {
  name: string;
  measured: string;
  threshold: string;
  pass: boolean;
  details?: unknown;
}

const unique = (prefix: string) => `${prefix}-${Date.now().toString(36)}`;
const simulate = (durationMs: number, extra: Record<string, unknown> = {}) => ({
  simulate: { durationMs, ...extra },
});

/** Tasks of every batch, for the suite's success rate. */
const allTasks: TaskResult[] = [];

function record(result: BatchResult): BatchResult {
  allTasks.push(...result.tasks);
  return result;
}

async function parallelGate(target: Target): Promise<Gate & { executionMs: number }> {
  const specs: [string, string, number][] = [
    ['python_backend_coder', 'Write the Python FastAPI endpoint for invoices', 4_000],
    ['typescript_frontend_agent', 'Build the React invoice list with filters', 3_500],
    ['database_designer', 'Design the PostgreSQL schema for invoices', 2_500],
    ['test_generator', 'Write unit tests for the invoice totals', 3_000],
    ['documentation_writer', 'Document the invoice API for developers', 2_000],
    ['security_auditor', 'Audit the invoice export for injection flaws', 5_000],
  ];
  const batch: Batch = {
    batchId: unique('scwt-parallel'),
    tasks: specs.map(([role, description, ms], i) => ({
      id: `p${i}`,
      description,
      role,
      input: simulate(ms),
    })),
  };
  const sequentialMs = specs.reduce((sum, [, , ms]) => sum + ms, 0);
  const { result, wallMs } = await run(target, batch);
  record(result);
  const ok = result.tasks.every((t) => t.status === 'SUCCEEDED');
  const pass = ok && wallMs < sequentialMs / 2 && wallMs < PARALLEL_MAX_MS;
  return {
    name: 'parallel execution',
    measured: `${round(wallMs / 1000, 2)} s for ${round(sequentialMs / 1000)} s of work`,
    threshold: `< ${sequentialMs / 2000} s and < ${PARALLEL_MAX_MS / 1000} s`,
    pass,
    executionMs: round(wallMs),
    details: { sequentialMs, wallMs: round(wallMs), makespanMs: result.makespanMs, status: result.status },
  };
}

async function routingGate(target: Target): Promise<Gate & { accuracy: number }> {
  const labelled = JSON.parse(
    readFileSync(join(RESULTS_DIR, '../../test/fixtures/labelled-tasks-holdout.json'), 'utf8'),
  ) as { role: string; description: string }[];
  const batch: Batch = {
    batchId: unique('scwt-routing'),
    tasks: labelled.map((l, i) => ({ id: `r${i}`, description: l.description, input: simulate(0) })),
  };
  const { result } = await run(target, batch);
  record(result);
  const byId = new Map(result.tasks.map((t) => [t.id, t]));
  const perRole: Record<string, { labelled: number; correct: number; routed: number }> = {};
  const confusions: { description: string; expected: string; got: string | undefined }[] = [];
  const counter = (role: string) => {
    perRole[role] ??= { labelled: 0, correct: 0, routed: 0 };
    return perRole[role];
  };
  let correct = 0;
  labelled.forEach((l, i) => {
    const got = byId.get(`r${i}`)?.role;
    const expected = counter(l.role);
    expected.labelled++;
    if (got !== undefined) counter(got).routed++;
    if (got === l.role) {
      correct++;
      expected.correct++;
    } else confusions.push({ description: l.description, expected: l.role, got });
  });
  const accuracy = correct / labelled.length;
  return {
    name: 'intelligent routing',
    measured: `${round(accuracy * 100, 1)}% (${correct}/${labelled.length})`,
    threshold: `> ${ROUTING_MIN_ACCURACY * 100}%`,
    pass: accuracy > ROUTING_MIN_ACCURACY,
    accuracy: round(accuracy, 4),
    details: { perRole, confusions },
  };
}

async function spawningGate(target: Target): Promise<Gate> {
  const live = (agents: AgentView[]) => agents.filter((a) => a.status !== 'terminated');
  // Start from an empty pool (minAgents 0): agents left by earlier batches must idle out first.
  const drainStarted = performance.now();
  let before = new Set(live(await target.agents(SPAWN_ROLE)).map((a) => a.agentId));
  while (before.size > 0 && performance.now() - drainStarted < IDLE_TERMINATION_MAX_MS) {
    await sleep(POLL_MS * 2);
    before = new Set(live(await target.agents(SPAWN_ROLE)).map((a) => a.agentId));
  }
  const batch: Batch = {
    batchId: unique('scwt-spawn'),
    tasks: Array.from({ length: SPAWN_TASKS }, (_, i) => ({
      id: `s${i}`,
      description: `Write the Terraform module for environment ${i}`,
      role: SPAWN_ROLE,
      input: simulate(1_500),
    })),
  };
  const { result } = await run(target, batch);
  record(result);
  const used = new Set(result.tasks.flatMap((t) => t.attempts.map((a) => a.agentId)));
  const spawned = [...used].filter((id) => !before.has(id));
  const completed = result.tasks.every((t) => t.status === 'SUCCEEDED');
  // Idle termination: the spawned agents must leave the live pool on the scaler's schedule.
  const waitStarted = performance.now();
  let stillLive = spawned;
  while (performance.now() - waitStarted < IDLE_TERMINATION_MAX_MS) {
    const liveIds = new Set(live(await target.agents(SPAWN_ROLE)).map((a) => a.agentId));
    stillLive = spawned.filter((id) => liveIds.has(id));
    if (stillLive.length === 0) break;
    await sleep(POLL_MS * 2);
  }
  const terminatedAfterMs = stillLive.length === 0 ? round(performance.now() - waitStarted) : undefined;
  const pass = completed && spawned.length > 0 && stillLive.length === 0;
  return {
    name: 'dynamic spawning',
    measured:
      `${spawned.length} spawned (${before.size} before), tasks ${completed ? 'done' : 'NOT done'}, ` +
      (terminatedAfterMs === undefined
        ? `${stillLive.length} still live after ${IDLE_TERMINATION_MAX_MS / 1000} s`
        : `all terminated ${round(terminatedAfterMs / 1000, 1)} s after the batch`),
    threshold: `>= 1 spawned, all terminated within ${IDLE_TERMINATION_MAX_MS / 1000} s idle`,
    pass,
    details: { before: [...before], spawned, stillLive, terminatedAfterMs },
  };
}

/** Highest number of overlapping attempt intervals per agent. */
function peakConcurrentPerAgent(result: BatchResult): Record<string, number> {
  const events = new Map<string, [number, number][]>();
  for (const task of result.tasks) {
    for (const a of task.attempts) {
      const list = events.get(a.agentId) ?? [];
      list.push([a.startedAt, 1], [a.finishedAt ?? Number.POSITIVE_INFINITY, -1]);
      events.set(a.agentId, list);
    }
  }
  const peaks: Record<string, number> = {};
  for (const [agentId, list] of events) {
    // Ends before starts at the same instant: a slot freed and reused is not an overlap.
    list.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
    let now = 0;
    let peak = 0;
    for (const [, delta] of list) {
      now += delta;
      peak = Math.max(peak, now);
    }
    peaks[agentId] = peak;
  }
  return peaks;
}

async function loadBalancingGate(target: Target): Promise<Gate> {
  const batch: Batch = {
    batchId: unique('scwt-load'),
    tasks: Array.from({ length: LOAD_TASKS }, (_, i) => ({
      id: `l${i}`,
      description: `Build the React settings panel number ${i}`,
      role: LOAD_ROLE,
      input: simulate(800),
    })),
  };
  const { result } = await run(target, batch);
  record(result);
  const agents = await target.agents(LOAD_ROLE);
  const capacity = new Map(agents.map((a) => [a.agentId, a.capacity]));
  const counts: Record<string, number> = {};
  for (const t of result.tasks) if (t.agentId) counts[t.agentId] = (counts[t.agentId] ?? 0) + 1;
  const peaks = peakConcurrentPerAgent(result);
  const over = Object.entries(peaks).filter(([id, peak]) => peak > (capacity.get(id) ?? 0));
  const used = Object.keys(counts).length;
  const ok = result.tasks.every((t) => t.status === 'SUCCEEDED');
  return {
    name: 'load balancing',
    measured: `${used} agents, max ${Math.max(...Object.values(counts))} tasks/agent, peak concurrent ${Math.max(...Object.values(peaks))}, ${over.length} over capacity`,
    threshold: '> 1 agent used, none above its capacity',
    pass: ok && used > 1 && over.length === 0,
    details: { counts, peakConcurrent: peaks, capacity: Object.fromEntries(capacity), over },
  };
}

async function failureRecoveryGate(target: Target): Promise<Gate> {
  const batch: Batch = {
    batchId: unique('scwt-recovery'),
    options: { maxAttempts: 3 },
    tasks: [
      {
        id: 'f-schema',
        description: 'Design the orders schema',
        role: 'database_designer',
        input: simulate(300),
      },
      {
        id: 'f-crash',
        description: 'Write the Python endpoint that lists orders',
        role: 'python_backend_coder',
        dependsOn: ['f-schema'],
        timeoutSeconds: 30,
        input: simulate(500, { failAttempts: 1, failMode: 'crash' }),
      },
      {
        id: 'f-after',
        description: 'Document the orders endpoint',
        role: 'documentation_writer',
        dependsOn: ['f-crash'],
        input: simulate(200),
      },
    ],
  };
  const { result, wallMs } = await run(target, batch);
  record(result);
  const crashed = result.tasks.find((t) => t.id === 'f-crash');
  const agents = crashed?.attempts.map((a) => a.agentId) ?? [];
  const rerouted = agents.length >= 2 && new Set(agents).size === agents.length;
  const pass = result.status === 'SUCCEEDED' && crashed?.status === 'SUCCEEDED' && rerouted;
  return {
    name: 'failure recovery',
    measured: `batch ${result.status}, crashed task ${crashed?.status} after ${agents.length} attempts on ${new Set(agents).size} agents (${round(wallMs / 1000, 1)} s)`,
    threshold: 'batch SUCCEEDED, task re-routed to another agent',
    pass,
    details: { attempts: crashed?.attempts },
  };
}

function compare(current: Record<string, number>, previous: Record<string, number> | undefined) {
  if (!previous) return { previous: null, regressions: [] as string[] };
  const regressions: string[] = [];
  if (current.successRate !== undefined && previous.successRate !== undefined) {
    if (current.successRate < previous.successRate - TOLERANCE.successRate)
      regressions.push(
        `success rate ${current.successRate} < ${previous.successRate} - ${TOLERANCE.successRate}`,
      );
  }
  if (current.routingAccuracy !== undefined && previous.routingAccuracy !== undefined) {
    if (current.routingAccuracy < previous.routingAccuracy - TOLERANCE.routingAccuracy)
      regressions.push(
        `routing accuracy ${current.routingAccuracy} < ${previous.routingAccuracy} - ${TOLERANCE.routingAccuracy}`,
      );
  }
  if (current.executionMs !== undefined && previous.executionMs !== undefined) {
    if (current.executionMs > previous.executionMs * TOLERANCE.executionTimeRatio)
      regressions.push(
        `parallel execution ${current.executionMs} ms > ${previous.executionMs} ms x ${TOLERANCE.executionTimeRatio}`,
      );
  }
  return { previous, regressions };
}

function table(gates: Gate[]): string {
  const rows = [
    ['gate', 'measured', 'threshold', 'result'],
    ...gates.map((g) => [g.name, g.measured, g.threshold, g.pass ? 'PASS' : 'FAIL']),
  ];
  const widths = [0, 1, 2, 3].map((c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join(' | ')).join('\n');
}

async function guarded<T extends Gate>(name: string, gate: () => Promise<T>): Promise<T | Gate> {
  try {
    return await gate();
  } catch (error) {
    return {
      name,
      measured: `error: ${error instanceof Error ? error.message : String(error)}`,
      threshold: '-',
      pass: false,
    };
  }
}

async function main(): Promise<number> {
  const url = process.env.META_AGENT_API_URL;
  const target: Target = url
    ? new HttpTarget(url, process.env.META_AGENT_API_KEY)
    : await EmbeddedTarget.start();
  const started = performance.now();
  const gates: Gate[] = [];
  try {
    // Spawning first: the pool of its role is still empty.
    gates.push(await guarded('dynamic spawning', () => spawningGate(target)));
    gates.push(await guarded('parallel execution', () => parallelGate(target)));
    gates.push(await guarded('intelligent routing', () => routingGate(target)));
    gates.push(await guarded('load balancing', () => loadBalancingGate(target)));
    gates.push(await guarded('failure recovery', () => failureRecoveryGate(target)));
  } finally {
    await target.stop();
  }
  const succeeded = allTasks.filter((t) => t.status === 'SUCCEEDED').length;
  const successRate = allTasks.length === 0 ? 0 : succeeded / allTasks.length;
  gates.push({
    name: 'success rate',
    measured: `${round(successRate * 100, 1)}% (${succeeded}/${allTasks.length} tasks)`,
    threshold: `> ${SUCCESS_MIN_RATE * 100}%`,
    pass: successRate > SUCCESS_MIN_RATE,
  });

  const metrics: Record<string, number> = { successRate: round(successRate, 4) };
  const parallel = gates.find((g) => g.name === 'parallel execution') as { executionMs?: number } | undefined;
  if (parallel?.executionMs !== undefined) metrics.executionMs = parallel.executionMs;
  const routing = gates.find((g) => g.name === 'intelligent routing') as { accuracy?: number } | undefined;
  if (routing?.accuracy !== undefined) metrics.routingAccuracy = routing.accuracy;

  const latestFile = join(RESULTS_DIR, 'scwt-latest.json');
  const previous = existsSync(latestFile)
    ? (JSON.parse(readFileSync(latestFile, 'utf8')) as { metrics?: Record<string, number> }).metrics
    : undefined;
  const comparison = compare(metrics, previous);
  const passed = gates.every((g) => g.pass);
  const report = {
    benchmark: 'SCWT phase 2',
    date: new Date().toISOString(),
    target: target.name,
    durationMs: round(performance.now() - started),
    passed,
    metrics,
    tolerance: TOLERANCE,
    comparison,
    gates,
  };
  const stamp = report.date.replace(/[:.]/g, '-');
  writeResult(`scwt-${stamp}.json`, report);
  writeResult('scwt-latest.json', report);
  console.log(`SCWT against ${target.name}\n\n${table(gates)}\n`);
  if (comparison.previous) {
    console.log(
      comparison.regressions.length === 0
        ? 'no regression against the previous run'
        : `REGRESSIONS:\n- ${comparison.regressions.join('\n- ')}`,
    );
  }
  console.log(passed ? 'every gate passed' : 'some gate FAILED');
  return passed ? 0 : 1;
}

process.exitCode = await main();
