/**
 * The pure parts of `npm run bench:ab` (benchmarks/ab.ts): which benchmarks it can run, the figures it reads
 * from each one's result file, the order of the turns and the summary.
 */
import { median, round } from './lib';

export type Side = 'base' | 'head';
export type Figures = Record<string, number>;

export interface AbBenchmark {
  /** The benchmark's script under benchmarks/. */
  readonly script: string;
  /** Its result file under benchmarks/results/, for the environment it runs with. */
  readonly result: (env: NodeJS.ProcessEnv) => string;
  /** The figures compared, read from the result file. */
  readonly figures: (result: unknown) => Figures;
}

type Json = Record<string, unknown>;

function at(value: unknown, path: readonly string[]): unknown {
  let current = value;
  for (const key of path) current = (current as Json | undefined)?.[key];
  return current;
}

/** The figures at `paths` (name -> path in the result), each a finite number or an error naming it. */
function read(result: unknown, file: string, paths: Record<string, readonly string[]>): Figures {
  const figures: Figures = {};
  for (const [name, path] of Object.entries(paths)) {
    const value = at(result, path);
    if (typeof value !== 'number' || !Number.isFinite(value))
      throw new Error(`${file}: ${path.join('.')} is not a number (got ${JSON.stringify(value)})`);
    figures[name] = value;
  }
  return figures;
}

export const AB_BENCHMARKS: Readonly<Record<string, AbBenchmark>> = {
  startup: {
    script: 'startup.bench.ts',
    result: () => 'startup.json',
    figures: (r) =>
      read(r, 'startup.json', {
        overheadMs: ['median', 'overheadMs'],
        beforeFirstTaskMs: ['median', 'beforeFirstTaskMs'],
        afterLastTaskMs: ['median', 'afterLastTaskMs'],
      }),
  },
  contention: {
    script: 'contention.bench.ts',
    result: (env) => (env.BENCH_ROUTES === 'unbounded' ? 'contention-unbounded.json' : 'contention.json'),
    figures: (r) =>
      read(r, 'contention.json', {
        tasksPerMinute: ['medianTasksPerMinute'],
        routesPerTask: ['medianRoutesPerTask'],
        lostRaces: ['medianLostRaces'],
      }),
  },
  compare: {
    script: 'compare.bench.ts',
    result: () => 'compare.json',
    figures: (r) => {
      const dags = at(r, ['dags']);
      if (!Array.isArray(dags)) throw new Error('compare.json: dags is not a list');
      return {
        ...read(r, 'compare.json', {
          layeredRatio: ['medianRatioLayered', 'meta-agent'],
          chainRatio: ['chain', 'ratio', 'meta-agent'],
          chainMsPerHop: ['chain', 'msPerHop', 'meta-agent'],
        }),
        ...Object.fromEntries(
          dags.map((row: unknown) => {
            const name = String(at(row, ['dag']));
            return [
              `${name}Ratio`,
              read(row, `compare.json ${name}`, { r: ['ratio', 'meta-agent'] }).r as number,
            ];
          }),
        ),
      };
    },
  },
  hop: {
    script: 'hop.bench.ts',
    result: () => 'hop.json',
    figures: (r) =>
      read(r, 'hop.json', {
        medianHopMs: ['medianHopMs'],
        // One task's work ending to the next one's starting: what the chain's makespan pays.
        workHopMs: ['medianWorkHopMs'],
        busyMsPerChain: ['medianBusyMsPerChain'],
        cpuMsPerChain: ['medianCpuMsPerChain'],
      }),
  },
  'sdk-call': {
    script: 'sdk-call.bench.ts',
    result: () => 'sdk-call.json',
    figures: (r) => {
      const medians = at(r, ['medianMicrosPerCall']);
      if (typeof medians !== 'object' || medians === null)
        throw new Error('sdk-call.json: medianMicrosPerCall is not an object');
      return read(
        r,
        'sdk-call.json',
        Object.fromEntries(Object.keys(medians).map((k) => [k, ['medianMicrosPerCall', k]])),
      );
    },
  },
};

/**
 * The turns of `pairs` pairs: base head, head base, base head, ... Each side goes first as often as the
 * other, so a machine that speeds up or slows down during the series weighs on both alike.
 */
export function turnOrder(pairs: number): Side[] {
  if (!Number.isInteger(pairs) || pairs < 1)
    throw new Error(`pairs must be a whole number >= 1 (got ${pairs})`);
  return Array.from({ length: pairs }, (_, i): Side[] =>
    i % 2 === 0 ? ['base', 'head'] : ['head', 'base'],
  ).flat();
}

export interface AbRow {
  figure: string;
  base: number[];
  head: number[];
  baseMedian: number;
  headMedian: number;
  /** Median of head / base within each pair. */
  pairRatio: number;
}

/**
 * Per figure both sides report: each side's values in turn order, their medians, and the median of the
 * pairs' ratios.
 */
export function summarise(base: readonly Figures[], head: readonly Figures[]): AbRow[] {
  if (base.length === 0 || base.length !== head.length)
    throw new Error(`unpaired samples: ${base.length} base, ${head.length} head`);
  // A figure one side's benchmark does not report (added or renamed since) is left out.
  const names = Object.keys(base[0] as Figures).filter((name) => name in (head[0] as Figures));
  return names.map((figure) => {
    const b = base.map((f) => f[figure] as number);
    const h = head.map((f) => f[figure] as number);
    const ratios = b.flatMap((value, i) => (value === 0 ? [] : [(h[i] as number) / value]));
    return {
      figure,
      base: b,
      head: h,
      baseMedian: round(median(b), 3),
      headMedian: round(median(h), 3),
      pairRatio: ratios.length === 0 ? Number.NaN : round(median(ratios), 3),
    };
  });
}
