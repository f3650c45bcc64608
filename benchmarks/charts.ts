/**
 * The benchmark reports' charts, drawn by Vega-Lite (compiled to Vega, rendered to SVG in Node without a
 * browser or canvas): line charts (optionally log x) and grouped bar charts with values on the bars, each
 * with axes, a legend and an optional reference line (a goal).
 */
import * as vega from 'vega';
import * as vegaLite from 'vega-lite';

const WIDTH = 640;
const HEIGHT = 320;

export interface Series {
  readonly name: string;
  readonly points: readonly (readonly [number, number])[];
}

export interface LineChart {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly Series[];
  readonly logX?: boolean;
  /** A horizontal reference line (e.g. a goal). */
  readonly reference?: { readonly y: number; readonly label: string };
}

export interface BarChart {
  readonly title: string;
  readonly yLabel: string;
  readonly categories: readonly string[];
  readonly series: readonly { readonly name: string; readonly values: readonly number[] }[];
  readonly reference?: { readonly y: number; readonly label: string };
}

type Layer = Record<string, unknown>;

function referenceLayers(reference: LineChart['reference']): Layer[] {
  if (!reference) return [];
  const data = { values: [{ y: reference.y, label: reference.label }] };
  return [
    {
      data,
      mark: { type: 'rule', color: '#d62728', strokeDash: [6, 4] },
      encoding: { y: { field: 'y', type: 'quantitative' } },
    },
    {
      data,
      mark: { type: 'text', color: '#d62728', align: 'right', dy: -6, x: 'width' },
      encoding: { y: { field: 'y', type: 'quantitative' }, text: { field: 'label' } },
    },
  ];
}

async function render(title: string, layers: Layer[]): Promise<string> {
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: title, fontSize: 16 },
    width: WIDTH,
    height: HEIGHT,
    background: 'white',
    config: { font: 'sans-serif', legend: { orient: 'top' } },
    layer: layers,
  };
  const compiled = vegaLite.compile(spec as unknown as vegaLite.TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** A line chart with point markers; x on a log10 scale when `logX`. */
export function lineChart(chart: LineChart): Promise<string> {
  const values = chart.series.flatMap((s) => s.points.map(([x, y]) => ({ series: s.name, x, y })));
  return render(chart.title, [
    {
      data: { values },
      mark: { type: 'line', point: true },
      encoding: {
        x: {
          field: 'x',
          type: 'quantitative',
          title: chart.xLabel,
          scale: chart.logX ? { type: 'log' } : { zero: false },
        },
        y: { field: 'y', type: 'quantitative', title: chart.yLabel },
        color: { field: 'series', type: 'nominal', title: null },
      },
    },
    ...referenceLayers(chart.reference),
  ]);
}

/** Grouped bars: one group per category, one bar per series, values printed above the bars. */
export function barChart(chart: BarChart): Promise<string> {
  const values = chart.series.flatMap((s) =>
    chart.categories.map((category, i) => ({ series: s.name, category, value: s.values[i] ?? 0 })),
  );
  const encoding = {
    x: {
      field: 'category',
      type: 'nominal',
      title: null,
      sort: [...chart.categories],
      axis: { labelAngle: 0 },
    },
    xOffset: { field: 'series', type: 'nominal', sort: chart.series.map((s) => s.name) },
    y: { field: 'value', type: 'quantitative', title: chart.yLabel },
  };
  return render(chart.title, [
    {
      data: { values },
      encoding,
      layer: [
        { mark: 'bar', encoding: { color: { field: 'series', type: 'nominal', title: null } } },
        {
          mark: { type: 'text', dy: -6 },
          encoding: { text: { field: 'value', type: 'quantitative', format: '~r' } },
        },
      ],
    },
    ...referenceLayers(chart.reference),
  ]);
}
