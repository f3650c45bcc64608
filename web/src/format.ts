/** Small formatting helpers shared by the views. */

export function ms(value: number | undefined): string {
  if (value === undefined) return '–';
  if (value < 1000) return `${Math.round(value)} ms`;
  if (value < 60_000) return `${(value / 1000).toFixed(1)} s`;
  return `${Math.floor(value / 60_000)} min ${Math.round((value % 60_000) / 1000)} s`;
}

export function usd(value: number | null | undefined): string {
  if (value === undefined) return '–';
  if (value === null) return 'unknown price';
  return `$${value < 0.01 ? value.toFixed(4) : value.toFixed(2)}`;
}

export function time(epochMs: number | undefined): string {
  return epochMs === undefined ? '–' : new Date(epochMs).toLocaleString();
}

export function percent(value: number | undefined): string {
  return value === undefined ? '–' : `${Math.round(value * 100)}%`;
}

export const term = (value: number) => value.toFixed(2);

/** A route of the page: `#/batches/b-1/tasks/t`. */
export const href = (...parts: string[]) => `#/${parts.map(encodeURIComponent).join('/')}`;
