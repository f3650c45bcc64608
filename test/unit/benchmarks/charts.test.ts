import { describe, expect, it } from 'vitest';
import { barChart, lineChart } from '../../../benchmarks/charts';

describe('benchmark charts (Vega-Lite, rendered to SVG in Node)', () => {
  it('draws a log-x line chart with its title, axis titles, legend and goal line', async () => {
    const svg = await lineChart({
      title: 'Throughput by batch size',
      xLabel: 'tasks in the batch',
      yLabel: 'tasks per minute',
      logX: true,
      series: [
        {
          name: 'tasks/min',
          points: [
            [10, 500],
            [100, 3000],
            [1000, 6000],
          ],
        },
      ],
      reference: { y: 6000, label: 'goal 6000' },
    });

    expect(svg).toMatch(/^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    for (const text of [
      'Throughput by batch size',
      'tasks in the batch',
      'tasks per minute',
      'tasks/min',
      'goal 6000',
    ])
      expect(svg).toContain(text);
    expect(svg).toMatch(/<path[^>]*class="mark-line|role-mark/);
  });

  it('draws grouped bars with the value of each bar written above it', async () => {
    const svg = await barChart({
      title: 'Latency per task (ms)',
      yLabel: 'milliseconds',
      categories: ['route handler', 'queue wait'],
      series: [
        { name: 'p50', values: [3.5, 12] },
        { name: 'p99', values: [99, 250] },
      ],
    });

    for (const text of ['Latency per task (ms)', 'route handler', 'queue wait', 'p50', 'p99', '3.5', '250'])
      expect(svg).toContain(text);
  });
});
