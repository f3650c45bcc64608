import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AB_BENCHMARKS, summarise, turnOrder } from '../../../benchmarks/ab-lib';

const committed = (file: string): unknown =>
  JSON.parse(readFileSync(new URL(`../../../benchmarks/results/${file}`, import.meta.url), 'utf8'));

describe('bench:ab', () => {
  it('alternates which side goes first, pair by pair', () => {
    expect(turnOrder(3)).toEqual(['base', 'head', 'head', 'base', 'base', 'head']);
    expect(() => turnOrder(0)).toThrow(/pairs/);
    expect(() => turnOrder(1.5)).toThrow(/pairs/);
  });

  it("reads each benchmark's figures from its committed result file", () => {
    for (const [name, bench] of Object.entries(AB_BENCHMARKS)) {
      const figures = bench.figures(committed(bench.result({})));
      expect(Object.keys(figures).length, name).toBeGreaterThan(0);
      for (const value of Object.values(figures)) expect(Number.isFinite(value), name).toBe(true);
    }
    expect(AB_BENCHMARKS.contention?.result({ BENCH_ROUTES: 'unbounded' })).toBe('contention-unbounded.json');
    const compare = AB_BENCHMARKS.compare?.figures(committed('compare.json'));
    expect(compare).toMatchObject({ chainRatio: expect.any(Number), 'layered-11Ratio': expect.any(Number) });
  });

  it('names the figure a result file lacks, instead of comparing nothing', () => {
    expect(() => AB_BENCHMARKS.startup?.figures({ median: { overheadMs: 900 } })).toThrow(
      'startup.json: median.beforeFirstTaskMs is not a number (got undefined)',
    );
    expect(() => AB_BENCHMARKS.compare?.figures({})).toThrow('compare.json: dags is not a list');
  });

  it('summarises each figure: medians per side and the median of head / base within pairs', () => {
    const rows = summarise([{ ms: 100 }, { ms: 200 }, { ms: 150 }], [{ ms: 90 }, { ms: 160 }, { ms: 150 }]);
    expect(rows).toEqual([
      {
        figure: 'ms',
        base: [100, 200, 150],
        head: [90, 160, 150],
        baseMedian: 150,
        headMedian: 150,
        pairRatio: 0.9,
      },
    ]);
    expect(() => summarise([{ ms: 1 }], [])).toThrow('unpaired samples: 1 base, 0 head');
    // A figure only one side reports is left out.
    expect(summarise([{ ms: 1, old: 2 }], [{ ms: 2, added: 3 }]).map((r) => r.figure)).toEqual(['ms']);
  });
});
