/**
 * Routing micro-benchmark (not a test): `npx tsx benchmarks/route.bench.ts`.
 * 50 agents of mixed roles and metrics; every labelled task description; extractRequirements and
 * decideRoute timed separately per call after a warm-up. Writes benchmarks/results/route.json.
 * Target: one routing decision over 50 agents under 50 microseconds (median).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveRoles } from '../shared/domain/roles';
import { decideRoute, extractRequirements, newAgent } from '../shared/domain/routing';
import type { Agent, ExtractedRequirements, Task } from '../shared/domain/schemas';

const AGENTS = 50;
const WARM_UP_ROUNDS = 20;
const MEASURED_ROUNDS = 100;
const TARGET_DECISION_MICROS = 50;
const SEED = 20_261_124;

const here = dirname(fileURLToPath(import.meta.url));

/** Deterministic PRNG (mulberry32) so every run benchmarks the same pool. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function pool(catalog: ReturnType<typeof resolveRoles>): Agent[] {
  const random = prng(SEED);
  const roles = [...catalog.values()];
  const agents: Agent[] = [];
  for (let i = 0; i < AGENTS; i++) {
    const role = roles[i % roles.length];
    if (!role) throw new Error('empty catalog');
    const agent = newAgent(role, `${role.name}-${Math.floor(i / roles.length) + 1}`, 0);
    const attempts = Math.floor(random() * 200);
    const successes = Math.floor(attempts * (0.6 + 0.4 * random()));
    agents.push({
      ...agent,
      status: random() < 0.05 ? 'draining' : 'active',
      reserved: Math.floor(random() * (agent.capacity + 1)),
      attempts,
      successes,
      failures: attempts - successes,
      ...(attempts > 0 ? { ewmaLatencyMs: 5_000 + random() * 90_000 } : {}),
      ...(random() < 0.05 ? { circuit: 'open' as const, circuitOpenUntil: 10 } : {}),
      // Drop part of the vocabulary so agents of one role differ in specialization.
      specializations: agent.specializations.filter(() => random() < 0.7),
    });
  }
  return agents;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;
}

function summary(samplesNs: number[]) {
  const micros = samplesNs.map((ns) => ns / 1_000).sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 100) / 100;
  return {
    samples: micros.length,
    medianMicros: round(percentile(micros, 0.5)),
    p95Micros: round(percentile(micros, 0.95)),
    p99Micros: round(percentile(micros, 0.99)),
  };
}

function main(): void {
  const catalog = resolveRoles();
  const agents = pool(catalog);
  const labelled = JSON.parse(readFileSync(join(here, '../test/fixtures/labelled-tasks.json'), 'utf8')) as {
    description: string;
  }[];
  const tasks: Task[] = labelled.map((t, i) => ({ id: `bench-${i}`, description: t.description }));
  const requirements: ExtractedRequirements[] = tasks.map((t) => extractRequirements(t, catalog));
  const exclude = new Set<string>();
  let sink = 0;

  const extractNs: number[] = [];
  const decideNs: number[] = [];
  for (let round = 0; round < WARM_UP_ROUNDS + MEASURED_ROUNDS; round++) {
    const measured = round >= WARM_UP_ROUNDS;
    for (let i = 0; i < tasks.length; i++) {
      const task = tasks[i] as Task;
      const t0 = process.hrtime.bigint();
      const extracted = extractRequirements(task, catalog);
      const t1 = process.hrtime.bigint();
      const result = decideRoute({
        task,
        requirements: requirements[i] as ExtractedRequirements,
        agents,
        catalog,
        exclude,
        now: 100,
      });
      const t2 = process.hrtime.bigint();
      sink += extracted.roleCandidates.length + (result.kind === 'route' ? 1 : 0);
      if (measured) {
        extractNs.push(Number(t1 - t0));
        decideNs.push(Number(t2 - t1));
      }
    }
  }

  const decide = summary(decideNs);
  const results = {
    benchmark: 'route',
    node: process.version,
    agents: AGENTS,
    tasks: tasks.length,
    warmUpRounds: WARM_UP_ROUNDS,
    measuredRounds: MEASURED_ROUNDS,
    extractRequirements: summary(extractNs),
    decideRoute: decide,
    targetDecisionMicros: TARGET_DECISION_MICROS,
    meetsTarget: decide.medianMicros < TARGET_DECISION_MICROS,
    checksum: sink,
  };
  const out = join(here, 'results/route.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  console.log(JSON.stringify(results, null, 2));
  console.log(`written to ${out}`);
}

main();
