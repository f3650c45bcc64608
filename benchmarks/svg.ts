/**
 * A small dependency-free SVG chart writer for the benchmark reports: line charts (optionally log x) and
 * grouped bar charts, with axes, ticks, labels and a legend.
 */

const WIDTH = 720;
const HEIGHT = 420;
const MARGIN = { top: 66, right: 30, bottom: 70, left: 80 };
const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b'];
const TICKS = 5;
const FONT = 'font-family="sans-serif"';

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

const escapeXml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A "nice" upper bound and step for `max` (1, 2 or 5 times a power of ten). */
function niceScale(max: number): { top: number; step: number } {
  if (!(max > 0)) return { top: 1, step: 1 / TICKS };
  const raw = max / TICKS;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
  return { top: Math.ceil(max / step) * step, step };
}

function formatTick(value: number): string {
  if (Math.abs(value) >= 1000) return `${Math.round(value / 100) / 10}k`.replace('.0k', 'k');
  return String(Math.round(value * 100) / 100);
}

function frame(title: string, yLabel: string, xLabel: string, body: string[]): string {
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="24" text-anchor="middle" font-size="18" font-weight="bold" ${FONT}>${escapeXml(title)}</text>`,
    `<text x="${WIDTH / 2}" y="${HEIGHT - 15}" text-anchor="middle" font-size="13" ${FONT}>${escapeXml(xLabel)}</text>`,
    `<text transform="translate(20 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle" font-size="13" ${FONT}>${escapeXml(yLabel)}</text>`,
    ...body,
    '</svg>',
  ].join('\n');
}

function yAxis(top: number, step: number, y: (v: number) => number): string[] {
  const out: string[] = [];
  for (let v = 0; v <= top + step / 2; v += step) {
    out.push(
      `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`,
      `<text x="${MARGIN.left - 8}" y="${y(v) + 4}" text-anchor="end" font-size="12" ${FONT}>${formatTick(v)}</text>`,
    );
  }
  out.push(
    `<line x1="${MARGIN.left}" x2="${MARGIN.left}" y1="${MARGIN.top}" y2="${HEIGHT - MARGIN.bottom}" stroke="black"/>`,
    `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${HEIGHT - MARGIN.bottom}" y2="${HEIGHT - MARGIN.bottom}" stroke="black"/>`,
  );
  return out;
}

function legend(names: readonly string[]): string[] {
  return names.flatMap((name, i) => {
    const x = MARGIN.left + 10 + i * 150;
    const y = MARGIN.top - 12;
    return [
      `<rect x="${x}" y="${y - 9}" width="12" height="12" fill="${PALETTE[i % PALETTE.length]}"/>`,
      `<text x="${x + 17}" y="${y + 1}" font-size="12" ${FONT}>${escapeXml(name)}</text>`,
    ];
  });
}

function referenceLine(ref: { y: number; label: string } | undefined, y: (v: number) => number): string[] {
  if (!ref) return [];
  return [
    `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${y(ref.y)}" y2="${y(ref.y)}" stroke="#d62728" stroke-dasharray="6 4"/>`,
    `<text x="${WIDTH - MARGIN.right - 4}" y="${y(ref.y) - 5}" text-anchor="end" font-size="12" fill="#d62728" stroke="#fff" stroke-width="3" paint-order="stroke" ${FONT}>${escapeXml(ref.label)}</text>`,
  ];
}

/** A line chart with markers; x on a log10 scale when `logX`. */
export function lineChart(chart: LineChart): string {
  const xs = chart.series.flatMap((s) => s.points.map(([x]) => x));
  const ys = chart.series.flatMap((s) => s.points.map(([, y]) => y));
  const fx = (x: number) => (chart.logX ? Math.log10(Math.max(x, 1)) : x);
  const xMin = Math.min(...xs.map(fx));
  const xMax = Math.max(...xs.map(fx));
  const { top, step } = niceScale(Math.max(...ys, chart.reference?.y ?? 0));
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (v: number) => MARGIN.left + ((fx(v) - xMin) / (xMax - xMin || 1)) * plotW;
  const y = (v: number) => MARGIN.top + plotH - (v / top) * plotH;
  const body = yAxis(top, step, y);
  for (const v of [...new Set(xs)]) {
    body.push(
      `<text x="${x(v)}" y="${HEIGHT - MARGIN.bottom + 18}" text-anchor="middle" font-size="12" ${FONT}>${formatTick(v)}</text>`,
    );
  }
  chart.series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length];
    const path = s.points.map(([px, py], j) => `${j === 0 ? 'M' : 'L'}${x(px)},${y(py)}`).join(' ');
    body.push(`<path d="${path}" fill="none" stroke="${color}" stroke-width="2"/>`);
    for (const [px, py] of s.points) body.push(`<circle cx="${x(px)}" cy="${y(py)}" r="4" fill="${color}"/>`);
  });
  body.push(...referenceLine(chart.reference, y), ...legend(chart.series.map((s) => s.name)));
  return frame(chart.title, chart.yLabel, chart.xLabel + (chart.logX ? ' (log scale)' : ''), body);
}

/** Grouped bars: one group per category, one bar per series, values printed above the bars. */
export function barChart(chart: BarChart): string {
  const values = chart.series.flatMap((s) => s.values);
  const { top, step } = niceScale(Math.max(...values, chart.reference?.y ?? 0));
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const y = (v: number) => MARGIN.top + plotH - (v / top) * plotH;
  const group = plotW / chart.categories.length;
  const bar = (group * 0.8) / chart.series.length;
  const body = yAxis(top, step, y);
  chart.categories.forEach((category, c) => {
    const x0 = MARGIN.left + c * group + group * 0.1;
    body.push(
      `<text x="${x0 + group * 0.4}" y="${HEIGHT - MARGIN.bottom + 18}" text-anchor="middle" font-size="12" ${FONT}>${escapeXml(category)}</text>`,
    );
    chart.series.forEach((s, i) => {
      const v = s.values[c] ?? 0;
      const bx = x0 + i * bar;
      body.push(
        `<rect x="${bx}" y="${y(v)}" width="${bar - 2}" height="${y(0) - y(v)}" fill="${PALETTE[i % PALETTE.length]}"/>`,
        `<text x="${bx + bar / 2 - 1}" y="${y(v) - 4}" text-anchor="middle" font-size="11" ${FONT}>${formatTick(v)}</text>`,
      );
    });
  });
  body.push(...referenceLine(chart.reference, y), ...legend(chart.series.map((s) => s.name)));
  return frame(chart.title, chart.yLabel, '', body);
}
