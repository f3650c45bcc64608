/**
 * Placeholders that put a dependency's work into a task's description or input:
 * `{{deps.<id>.output}}` (its whole output) and `{{deps.<id>.output.<field path>}}` (one field of a
 * structured output, e.g. `{{deps.schema.output.tables[0].name}}`). Validation checks them at submit; the
 * context builder substitutes them when an attempt starts, within the task's context budget.
 */
import { MAX_TASK_ID_CHARS } from './limits';
import type { FieldPath } from './outputs';

/** One placeholder found in a text. */
export interface Placeholder {
  /** The placeholder as written, e.g. `{{deps.schema.output.tables}}`. */
  readonly text: string;
  readonly taskId: string;
  /** Empty for the whole output. */
  readonly path: FieldPath;
  /** Offset of `text` in the string it was found in. */
  readonly index: number;
}

/**
 * `{{ deps.<id>.output<path> }}`. The id is the shortest run of id characters followed by `.output` (so an id
 * that itself contains `.output` cannot be named; validation says so), at most MAX_TASK_ID_CHARS of them:
 * unbounded, every `.output` of a long run was a place the id might end, each tried against the rest of the
 * run, so `{{deps.` and 32 KiB of `.output.output...` took seconds to scan (quadratic backtracking) at every
 * submit and every attempt; bounded, each start tries at most a handful.
 */
const PLACEHOLDER = new RegExp(
  `\\{\\{\\s*deps\\.([A-Za-z0-9._:-]{1,${MAX_TASK_ID_CHARS}}?)\\.output((?:\\.[A-Za-z_$][A-Za-z0-9_$-]*|\\[\\d+\\])*)\\s*\\}\\}`,
  'g',
);
/** Anything that starts like a placeholder, to name the ones that do not parse. */
const PLACEHOLDER_LIKE = /\{\{\s*deps\b[^}]*\}?\}?/g;
const PATH_STEP = /\.([A-Za-z_$][A-Za-z0-9_$-]*)|\[(\d+)\]/g;

function parsePath(text: string): FieldPath {
  const path: (string | number)[] = [];
  for (const step of text.matchAll(PATH_STEP)) {
    if (step[1] !== undefined) path.push(step[1]);
    else path.push(Number(step[2]));
  }
  return path;
}

/** The placeholders in `text`, in order. */
export function findPlaceholders(text: string): Placeholder[] {
  if (!text.includes('{{')) return [];
  return [...text.matchAll(PLACEHOLDER)].map((m) => ({
    text: m[0],
    taskId: m[1] as string,
    path: parsePath(m[2] ?? ''),
    index: m.index,
  }));
}

/** Text that looks like a placeholder (`{{deps...`) but is not one, e.g. `{{deps.schema}}`. */
export function malformedPlaceholders(text: string): string[] {
  if (!text.includes('{{')) return [];
  const valid = new Set(findPlaceholders(text).map((p) => p.index));
  return [...text.matchAll(PLACEHOLDER_LIKE)].filter((m) => !valid.has(m.index)).map((m) => m[0]);
}

/** Where a placeholder sits in a task: its description, or a string of its input at a JSON path. */
export interface PlaceholderSite {
  readonly placeholder: Placeholder;
  readonly where: 'description' | 'input';
  /** For `input`: the path of the string inside `input` (keys and indexes). */
  readonly inputPath: readonly (string | number)[];
  /** The string is this placeholder and nothing else (an input value can then become the value itself). */
  readonly exact: boolean;
}

type InputPath = (string | number)[];

/** Calls `visit` with every string value of `input` (at any depth; keys are not read) and its path. */
function eachInputString(input: unknown, visit: (text: string, path: InputPath) => void): void {
  const walk = (value: unknown, path: InputPath): void => {
    if (typeof value === 'string') visit(value, path);
    else if (Array.isArray(value)) for (let i = 0; i < value.length; i++) walk(value[i], [...path, i]);
    else if (typeof value === 'object' && value !== null)
      for (const [key, v] of Object.entries(value)) walk(v, [...path, key]);
  };
  walk(input, []);
}

/** Every placeholder of a task's description and input. */
export function placeholderSites(task: {
  description: string;
  input?: Record<string, unknown> | undefined;
}): PlaceholderSite[] {
  const sites: PlaceholderSite[] = [];
  for (const placeholder of findPlaceholders(task.description))
    sites.push({ placeholder, where: 'description', inputPath: [], exact: false });
  eachInputString(task.input, (text, inputPath) => {
    const found = findPlaceholders(text);
    for (const placeholder of found)
      sites.push({
        placeholder,
        where: 'input',
        inputPath,
        exact: found.length === 1 && placeholder.text === text,
      });
  });
  return sites;
}

/** Every string of a task's description and input, with its path under `input` (for malformed checks). */
export function taskStrings(task: {
  description: string;
  input?: Record<string, unknown> | undefined;
}): { where: 'description' | 'input'; inputPath: InputPath; text: string }[] {
  const out: { where: 'description' | 'input'; inputPath: InputPath; text: string }[] = [
    { where: 'description', inputPath: [], text: task.description },
  ];
  eachInputString(task.input, (text, inputPath) => out.push({ where: 'input', inputPath, text }));
  return out;
}

/**
 * Replaces the placeholders of a task by `replacement(site)`: a string is inserted in place of the
 * placeholder text; any other value replaces an `exact` input string as a whole (a string's JSON value).
 */
export function substitutePlaceholders<T extends { description: string; input?: Record<string, unknown> }>(
  task: T,
  sites: readonly PlaceholderSite[],
  replacement: (site: PlaceholderSite, n: number) => unknown,
): T {
  const values = new Map<PlaceholderSite, unknown>();
  for (let n = 0; n < sites.length; n++) {
    const site = sites[n] as PlaceholderSite;
    values.set(site, replacement(site, n));
  }
  const inText = (text: string, own: readonly PlaceholderSite[]): string => {
    let out = '';
    let at = 0;
    for (const site of [...own].sort((a, b) => a.placeholder.index - b.placeholder.index)) {
      const value = values.get(site);
      out +=
        text.slice(at, site.placeholder.index) + (typeof value === 'string' ? value : JSON.stringify(value));
      at = site.placeholder.index + site.placeholder.text.length;
    }
    return out + text.slice(at);
  };
  const description = inText(
    task.description,
    sites.filter((s) => s.where === 'description'),
  );
  const inputSites = sites.filter((s) => s.where === 'input');
  if (task.input === undefined || inputSites.length === 0) return { ...task, description };
  const key = (path: readonly (string | number)[]) => JSON.stringify(path);
  const byPath = new Map<string, PlaceholderSite[]>();
  for (const site of inputSites)
    byPath.set(key(site.inputPath), [...(byPath.get(key(site.inputPath)) ?? []), site]);
  const rebuild = (value: unknown, path: (string | number)[]): unknown => {
    if (typeof value === 'string') {
      const own = byPath.get(key(path));
      if (!own) return value;
      const only = own[0];
      if (own.length === 1 && only?.exact) {
        const replaced = values.get(only);
        return replaced;
      }
      return inText(value, own);
    }
    if (Array.isArray(value)) return value.map((v, i) => rebuild(v, [...path, i]));
    if (typeof value === 'object' && value !== null)
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, rebuild(v, [...path, k])]));
    return value;
  };
  return { ...task, description, input: rebuild(task.input, []) as Record<string, unknown> };
}
