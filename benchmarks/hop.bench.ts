/**
 * Where a dependency hop's time goes (not a test): `npm run bench:hop`.
 *
 * Runs a chain of HOP_TASKS (12) simulated tasks of HOP_MS (250) ms on the embedded runtime (the state
 * machine, handlers and emulators of `meta-agent run`), once to warm it and then BENCH_RUNS (3) times. A hop
 * is one task's work ending to the next one's starting (what the chain's makespan pays); the batch's result
 * gives a shorter one, to the next attempt's start, which Route writes before the dispatch. Beside the hops it
 * records every emulator call of the in-process transport (service, action, and for DynamoDB the table or
 * index, the item's key and the expression) and every state machine Lambda invocation, and prints:
 * - the median hops, and the main thread's busy time and the process's CPU per chain;
 * - for the hop nearest the median, each call and invocation in it, in order, with its offsets from the
 *   hop's start (what runs in series and what waits);
 * - per kind of call across every hop: calls per hop and median duration.
 * HOP_TRACE=0 leaves the calls and invocations untraced (the hops and CPU figures alone, without the tracer's
 * own cost).
 * HOP_RTT_MS=n models AWS: every call but the SQS long polls takes n ms more (half before the emulator answers,
 * half after, as a network round trip would), and the handlers run as on DynamoDB, whose calls do not compete
 * (SINGLE_THREADED_STORE off: none of the embedded runtime's orderings for a store answering one request at a
 * time). What a protocol change saves in round trips on the way to the next dispatch shows there.
 * Writes benchmarks/results/hop.json (figures for `bench:ab -- BASE hop`). `bench:compare` measures what the
 * hop does to makespans; this shows what to cut.
 */

import { SimulatedExecutor } from '../shared/adapters/executors/simulated';
import { bodyText, InProcessHttpHandler } from '../shared/adapters/in-process-transport';
import { EnvVar } from '../shared/config';
import type { BatchResult } from '../shared/domain/schemas';
import { EmbeddedSystem } from '../shared/local/system';
import {
  benchOptions,
  chainBatch,
  DAG_ROLES,
  failures,
  generousOptions,
  median,
  round,
  runBatch,
  writeResult,
} from './lib';

const TASKS = Number(process.env.HOP_TASKS ?? 12);
const TASK_MS = Number(process.env.HOP_MS ?? 250);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const TRACE = process.env.HOP_TRACE !== '0';
const RTT_MS = Number(process.env.HOP_RTT_MS ?? 0);
if (!Number.isFinite(RTT_MS) || RTT_MS < 0)
  throw new Error(`HOP_RTT_MS must be a number of ms >= 0, got ${process.env.HOP_RTT_MS}`);
/** Tasks of one role in flight, as in bench:compare. */
const PER_ROLE = 4;
/** The chain's task ids: `t0`, `t1`, ... (chainBatch's prefix). */
const ID = 't';

interface Span {
  kind: 'call' | 'lambda';
  /** What the timeline prints: a DynamoDB call with its item's key. */
  name: string;
  /** What calls are grouped by across hops: the name without the key. */
  group: string;
  start: number;
  end: number;
}

const spans: Span[] = [];
let recording = false;

/** `DynamoDB_20120810.UpdateItem` to `dynamodb UpdateItem`; other calls by method and path. */
function callOf(request: { headers: Record<string, string>; method: string; path: string; body?: unknown }) {
  const target = Object.entries(request.headers).find(([k]) => k.toLowerCase() === 'x-amz-target')?.[1];
  if (!target) {
    const name = `${request.method} ${request.path.split('?')[0]}`;
    return { name, group: name };
  }
  const [service = '', action = ''] = target.split('.');
  const short = service.startsWith('DynamoDB')
    ? 'dynamodb'
    : service.startsWith('AmazonSQS')
      ? 'sqs'
      : service.startsWith('AWSStepFunctions')
        ? 'states'
        : service;
  const head = `${short} ${action}`;
  if (short !== 'dynamodb') return { name: head, group: head };
  const { where, key, expression } = dynamoDetail(request.body);
  return { name: `${head} ${where} ${key} ${expression}`, group: `${head} ${where} ${expression}` };
}

/** A DynamoDB call's table or index (less the stack's prefix), item key and expression, each shortened. */
function dynamoDetail(body: unknown): { where: string; key: string; expression: string } {
  const input = JSON.parse(bodyText(body)) as {
    TableName?: string;
    IndexName?: string;
    RequestItems?: Record<string, unknown>;
    Key?: Record<string, Record<string, string>>;
    UpdateExpression?: string;
    KeyConditionExpression?: string;
  };
  const table = input.IndexName ?? input.TableName ?? Object.keys(input.RequestItems ?? {}).join('+');
  const key = Object.values(input.Key ?? {})
    .map((value) => Object.values(value)[0])
    .join('|');
  const expression = input.UpdateExpression ?? input.KeyConditionExpression ?? '';
  return { where: table.replace(/^.*?-/, ''), key: key.slice(0, 40), expression: expression.slice(0, 40) };
}

/** Times every in-process emulator call (benchmark only). */
function traceCalls(): void {
  const handle = InProcessHttpHandler.prototype.handle;
  InProcessHttpHandler.prototype.handle = async function traced(
    this: InProcessHttpHandler,
    request,
    options,
  ) {
    const start = performance.now();
    try {
      return await handle.call(this, request, options);
    } finally {
      const end = performance.now();
      // Named only while a chain is recorded (naming a DynamoDB call parses its body).
      const call = recording ? callOf(request as Parameters<typeof callOf>[0]) : undefined;
      // A poller's long poll waits for messages by design; it is not work of the hop.
      if (call && call.group !== 'sqs ReceiveMessage') spans.push({ kind: 'call', ...call, start, end });
    }
  };
}

/** A network round trip of `ms` on every in-process call but an SQS long poll (HOP_RTT_MS, benchmark only). */
function addRoundTrips(ms: number): void {
  const handle = InProcessHttpHandler.prototype.handle;
  const halfWay = () => new Promise((resolve) => setTimeout(resolve, ms / 2));
  InProcessHttpHandler.prototype.handle = async function faraway(
    this: InProcessHttpHandler,
    request,
    options,
  ) {
    // SQS's JSON protocol names the action in this header; a long poll waits for messages by design.
    if (String(request.headers['x-amz-target'] ?? '').endsWith('.ReceiveMessage'))
      return handle.call(this, request, options);
    await halfWay();
    const answer = await handle.call(this, request, options);
    await halfWay();
    return answer;
  };
}

/** Times every simulated task's work, traced or not (two clock reads a task). */
function timeWork(work: Map<string, { start: number; end: number }>): void {
  const execute = SimulatedExecutor.prototype.execute;
  SimulatedExecutor.prototype.execute = async function timed(this: SimulatedExecutor, request, signal) {
    const start = performance.now();
    try {
      return await execute.call(this, request, signal);
    } finally {
      if (recording) work.set(request.taskId, { start, end: performance.now() });
    }
  };
}

/**
 * One task's work ending to the next one's starting (performance.now() times), for each hop. The result's hop
 * ends at the next task's startedAt, which Route writes when it starts the attempt; what follows (the dispatch
 * through the state machine and the role queue, the worker's claim and context) falls inside that task's time.
 * This is the hop the chain's makespan pays.
 */
function workGaps(work: Map<string, { start: number; end: number }>): { from: number; to: number }[] {
  return Array.from({ length: TASKS - 1 }, (_, i) => {
    const from = work.get(`${ID}${i}`)?.end;
    const to = work.get(`${ID}${i + 1}`)?.start;
    if (from === undefined || to === undefined) throw new Error(`${ID}${i} or ${ID}${i + 1} did no work`);
    return { from, to };
  });
}

/** Each task's end to the next one's start, from the batch's result (epoch milliseconds). */
function hopsOf(result: BatchResult): number[] {
  const byId = new Map(result.tasks.map((t) => [t.id, t]));
  return Array.from({ length: TASKS - 1 }, (_, i) => {
    const from = byId.get(`${ID}${i}`)?.finishedAt;
    const to = byId.get(`${ID}${i + 1}`)?.startedAt;
    if (from === undefined || to === undefined) throw new Error(`${ID}${i} or ${ID}${i + 1} has no times`);
    return to - from;
  });
}

interface TracedHop {
  from: number;
  to: number;
  inside: Span[];
}

/** The traced calls between one task's work and the next one's (workGaps). */
function tracedHops(gaps: readonly { from: number; to: number }[], calls: Span[]): TracedHop[] {
  return gaps.map(({ from, to }) => ({
    from,
    to,
    inside: calls.filter((s) => s.end >= from && s.start <= to).sort((a, b) => a.start - b.start),
  }));
}

const ms = (value: number, width = 8) => round(value).toFixed(2).padStart(width);

function printTrace(traced: TracedHop[], hopMs: number): void {
  const typical = traced.reduce((a, b) =>
    Math.abs(b.to - b.from - hopMs) < Math.abs(a.to - a.from - hopMs) ? b : a,
  );
  console.log(
    `\nThe traced hop nearest the median (${ms(typical.to - typical.from, 0)} ms), from its start:`,
  );
  for (const s of typical.inside) {
    const name = s.kind === 'lambda' ? `λ ${s.name}` : s.name;
    console.log(
      `${ms(s.start - typical.from)} ${ms(s.end - typical.from)}  ${name}  (${ms(s.end - s.start, 0)} ms)`,
    );
  }
  const byGroup = new Map<string, number[]>();
  for (const hop of traced) {
    for (const s of hop.inside) {
      const group = s.kind === 'lambda' ? `λ ${s.group}` : s.group;
      const durations = byGroup.get(group) ?? [];
      durations.push(s.end - s.start);
      byGroup.set(group, durations);
    }
  }
  console.log('\nAcross all traced hops: calls per hop, median duration (ms), call');
  for (const [group, durations] of [...byGroup].sort((a, b) => b[1].length - a[1].length)) {
    console.log(
      `${(durations.length / traced.length).toFixed(2).padStart(5)} ${ms(median(durations))}  ${group}`,
    );
  }
}

async function main(): Promise<void> {
  const work = new Map<string, { start: number; end: number }>();
  timeWork(work);
  if (RTT_MS > 0) addRoundTrips(RTT_MS);
  if (TRACE) traceCalls();
  const options = generousOptions(DAG_ROLES, PER_ROLE);
  const system = await EmbeddedSystem.start(
    benchOptions(
      RTT_MS > 0 ? { ...options, env: { ...options.env, [EnvVar.SingleThreadedStore]: 'false' } } : options,
    ),
  );
  const stopObserving = system.runtime.runner.observeInvocations((t) => {
    const end = performance.now();
    if (recording && TRACE)
      spans.push({
        kind: 'lambda',
        name: t.handlerName,
        group: t.handlerName,
        start: end - t.durationMs,
        end,
      });
  });
  const hops: number[] = [];
  const hopsOfWork: number[] = [];
  const busyMs: number[] = [];
  const cpuMs: number[] = [];
  const traced: TracedHop[] = [];
  try {
    // The first chain warms every path (first calls, compiled code) and is not counted.
    await runBatch(system, chainBatch('hop-0', ID, TASKS, TASK_MS));
    for (let run = 1; run <= RUNS; run++) {
      spans.length = 0;
      work.clear();
      const loop = performance.eventLoopUtilization();
      const cpu = process.cpuUsage();
      recording = true;
      const { result } = await runBatch(system, chainBatch(`hop-${run}`, ID, TASKS, TASK_MS));
      recording = false;
      busyMs.push(performance.eventLoopUtilization(loop).active);
      const used = process.cpuUsage(cpu);
      cpuMs.push((used.user + used.system) / 1000);
      const failed = failures(result);
      if (failed.length > 0) throw new Error(`chain ${run}: ${failed.join('; ')}`);
      hops.push(...hopsOf(result));
      const gaps = workGaps(work);
      hopsOfWork.push(...gaps.map(({ from, to }) => round(to - from)));
      if (TRACE) traced.push(...tracedHops(gaps, [...spans]));
    }
  } finally {
    stopObserving();
    await system.stop();
  }
  const medianHopMs = median(hops);
  const medianWorkHopMs = median(hopsOfWork);
  const range = (values: number[]) => `${round(Math.min(...values))} to ${round(Math.max(...values))}`;
  console.log(
    `${hops.length} hops (${RUNS} chains of ${TASKS} tasks of ${TASK_MS} ms${TRACE ? ', traced' : ''}` +
      `${RTT_MS > 0 ? `, ${RTT_MS} ms a round trip` : ''}): ` +
      `work to work, median ${round(medianWorkHopMs)} ms (${range(hopsOfWork)}); in the result (to the ` +
      `next attempt's start, written by Route), median ${round(medianHopMs)} ms (${range(hops)}); per chain, ` +
      `main thread busy ${round(median(busyMs))} ms, process CPU ${round(median(cpuMs))} ms`,
  );
  if (TRACE) printTrace(traced, medianWorkHopMs);
  const file = writeResult('hop.json', {
    date: new Date().toISOString(),
    node: process.version,
    tasks: TASKS,
    taskMs: TASK_MS,
    runs: RUNS,
    traced: TRACE,
    rttMs: RTT_MS,
    medianHopMs: round(medianHopMs),
    hopsMs: hops,
    medianWorkHopMs: round(medianWorkHopMs),
    workHopsMs: hopsOfWork,
    medianBusyMsPerChain: round(median(busyMs)),
    medianCpuMsPerChain: round(median(cpuMs)),
  });
  console.log(`\nwrote ${file}`);
}

await main();
