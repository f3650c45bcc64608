/**
 * Batch validation: every problem at once, each with its JSON path (`$.tasks[3].dependsOn[0]`) and a
 * sentence a user can act on. Structural problems come from the wire-format schemas (zod); the
 * cross-task rules (unique ids, known dependencies, no cycle, known roles, input size) run on every task
 * whose id and dependencies are readable, even when other fields of that task are wrong, so one pass
 * over the file shows the user everything to fix.
 */
import type { z } from 'zod';
import { contextIssues } from './context-validation';
import { findCycles, MAX_REPORTED_CYCLES } from './dag';
import { submittedTaskParts, taskItemIssues } from './item-size';
import { firstTooDeep, type JsonPathSegment } from './json-depth';
import { firstDuplicateKey } from './json-duplicates';
import { locateJsonSyntaxError } from './json-location';
import {
  DEFAULT_APPROVAL_TIMEOUT_SECONDS,
  DEFAULT_CONTEXT_BUDGET_BYTES,
  ID_RULE,
  MAX_APPROVAL_TIMEOUT_SECONDS,
  MAX_ATTEMPTS_LIMIT,
  MAX_BATCH_ID_CHARS,
  MAX_BUDGET_TOKENS,
  MAX_BUDGET_USD,
  MAX_CONTEXT_BUDGET_BYTES,
  MAX_CONTEXT_IDS,
  MAX_DEPENDENCIES_PER_TASK,
  MAX_DESCRIPTION_CHARS,
  MAX_EXECUTION_INPUT_BYTES,
  MAX_INPUT_BYTES,
  MAX_INPUT_DEPTH,
  MAX_REQUIREMENT_CHARS,
  MAX_REQUIREMENT_ENTRIES,
  MAX_SIMULATED_DURATION_MS,
  MAX_SIMULATED_OUTPUT_BYTES,
  MAX_SIMULATED_VERDICTS,
  MAX_TASK_TIMEOUT_SECONDS,
  MAX_TASKS_PER_BATCH,
  MIN_BUDGET_USD,
  MIN_CONTEXT_BUDGET_BYTES,
  MIN_TASK_TIMEOUT_SECONDS,
  TASK_ID_PATTERN,
} from './limits';
import {
  type Batch,
  BatchOptionsSchema,
  BatchSchema,
  BudgetSchema,
  RequirementsSchema,
  SimulateSchema,
  type Task,
  TaskSchema,
} from './schemas';
import { characterCount, utf8Length } from './utf8';
import { executionInput } from './workflow';
import { workflowIssues } from './workflow-validation';

export interface ValidationIssue {
  /** JSON path of the offending value, e.g. `$.tasks[3].dependsOn[0]`. */
  path: string;
  message: string;
}

export class BatchValidationError extends Error {
  constructor(
    readonly issues: ValidationIssue[],
    /** Where the batch came from (a file path), when known: the issues' paths are inside it. */
    readonly source?: string,
  ) {
    super(issues.map((i) => `${source ? `${source}: ` : ''}${i.path}: ${i.message}`).join('\n'));
    this.name = 'BatchValidationError';
  }
}

/**
 * A byte order mark before JSON text: RFC 8259 lets a parser ignore it, editors on Windows write it, and
 * JSON.parse refuses it with an invisible character as the reason.
 */
const BYTE_ORDER_MARK = 0xfeff;

/** `text` without a leading byte order mark (see BYTE_ORDER_MARK): JSON batch text, and the CLI's text files. */
export function withoutByteOrderMark(text: string): string {
  return text.charCodeAt(0) === BYTE_ORDER_MARK ? text.slice(1) : text;
}

/**
 * Parses JSON text (a leading byte order mark ignored, as `run` does for a file and the API for a body),
 * turning a syntax error into a BatchValidationError that gives line and column, and a duplicate key (which
 * JSON.parse would drop all but the last of) into one that gives its path.
 */
export function parseBatchJson(body: string): unknown {
  const text = withoutByteOrderMark(body);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    const where = locateJsonSyntaxError(text);
    const message = where
      ? `malformed JSON at line ${where.line}, column ${where.column}: ${where.reason}`
      : `malformed JSON: ${(error as Error).message}`;
    throw new BatchValidationError([{ path: '$', message }]);
  }
  const duplicate = duplicateKeyIssue(text);
  if (duplicate) throw new BatchValidationError([duplicate]);
  return parsed;
}

/**
 * The issue of the first duplicate key in JSON text that parsed (see json-duplicates.ts), or undefined: every
 * request body is refused with it, since JSON.parse would keep only the last value (an approval's
 * `{"decision":"reject","decision":"approve"}` approved).
 */
export function duplicateKeyIssue(text: string): ValidationIssue | undefined {
  const duplicate = firstDuplicateKey(text);
  if (!duplicate) return undefined;
  return {
    path: formatPath(duplicate.path),
    message: `duplicate key "${duplicate.key}" (line ${duplicate.line}): the object already has it, and JSON would keep only the last one; give each key once`,
  };
}

export type BatchValidation = { ok: true; batch: Batch } | { ok: false; issues: ValidationIssue[] };

// ------------------------------------------------------------------------------------------ paths

type PathSegment = string | number;

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** Formats a path as `$.tasks[3].dependsOn[0]`; keys that are not identifiers use `["a key"]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '$';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else {
      const key = String(segment);
      out += IDENTIFIER.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
    }
  }
  return out;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function valueAt(root: unknown, path: readonly PathSegment[]): unknown {
  let value = root;
  for (const segment of path) {
    if (typeof segment === 'number') value = Array.isArray(value) ? value[segment] : undefined;
    else value = isRecord(value) ? value[segment] : undefined;
  }
  return value;
}

/** A short, human description of a value for "got ..." clauses. */
function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return `a list of ${value.length}`;
  if (typeof value === 'string') {
    return value.length > 40 ? `a string of ${characterCount(value)} characters` : JSON.stringify(value);
  }
  if (typeof value === 'object') return 'an object';
  return String(value);
}

// ------------------------------------------------------------------------------- field rules

/**
 * What each field must be, in words, keyed by its path with array indexes written `[]`. A zod issue on
 * that field is reported with this sentence and what was found, instead of zod's generic wording.
 */
const FIELD_RULES: Record<string, string> = {
  '': 'a batch must be a JSON object with a "tasks" array',
  batchId: `batchId must be ${ID_RULE}`,
  tasks: `tasks must be a list of 1 to ${MAX_TASKS_PER_BATCH} tasks`,
  'tasks[]': 'each task must be an object with at least "id" and "description"',
  'tasks[].id': `a task id must be ${ID_RULE}`,
  'tasks[].description': `description must be a string of 1 to ${MAX_DESCRIPTION_CHARS} characters, not only whitespace`,
  'tasks[].role': 'role must be a role name of 1 to 64 characters (omit it to let routing choose)',
  'tasks[].requirements':
    'requirements must be an object with optional languages, frameworks and skills lists',
  'tasks[].dependsOn': `dependsOn must be a list of at most ${MAX_DEPENDENCIES_PER_TASK} task ids`,
  'tasks[].dependsOn[]': `a dependency must be a task id: ${ID_RULE}`,
  'tasks[].priority': 'priority must be 1, 2 or 3 (1 is highest, 2 the default)',
  'tasks[].timeoutSeconds': `timeoutSeconds must be a whole number from ${MIN_TASK_TIMEOUT_SECONDS} to ${MAX_TASK_TIMEOUT_SECONDS}`,
  'tasks[].input': 'input must be a JSON object',
  'tasks[].context': `context must be "dependencies" (the default), "none", or a list of at most ${MAX_CONTEXT_IDS} task ids (dependencies or their ancestors)`,
  'tasks[].context[]': 'a context entry must be a task id: 1-128 characters of A-Z a-z 0-9 . _ : -',
  'tasks[].outputSchema': 'outputSchema must be a JSON Schema: an object with "type": "object"',
  'tasks[].approval':
    'approval must be an object with optional before, after (true or false), by (a validator role) and timeoutSeconds',
  'tasks[].approval.before': 'approval.before must be true or false',
  'tasks[].approval.after': 'approval.after must be true or false',
  'tasks[].approval.by': 'approval.by must be a role name of 1 to 64 characters',
  'tasks[].approval.timeoutSeconds': `approval.timeoutSeconds must be a whole number of seconds from 1 to ${MAX_APPROVAL_TIMEOUT_SECONDS} (a year; default ${DEFAULT_APPROVAL_TIMEOUT_SECONDS})`,
  'tasks[].trigger':
    'trigger must be "all_success" (the default), "all_done", "one_success" or "none_failed_min_one_success"',
  'tasks[].contextBudgetBytes': `contextBudgetBytes must be a whole number of bytes from ${MIN_CONTEXT_BUDGET_BYTES} to ${MAX_CONTEXT_BUDGET_BYTES} (default ${DEFAULT_CONTEXT_BUDGET_BYTES})`,
  'tasks[].input.simulate':
    'input.simulate must be an object with optional durationMs, failAttempts, failMode, output and outputBytes',
  'tasks[].input.simulate.durationMs': `durationMs must be a whole number of milliseconds from 0 to ${MAX_SIMULATED_DURATION_MS}`,
  'tasks[].input.simulate.failAttempts': `failAttempts must be a whole number from 0 to ${MAX_ATTEMPTS_LIMIT}`,
  'tasks[].input.simulate.failMode': 'failMode must be "error", "crash" or "timeout"',
  'tasks[].input.simulate.outputBytes': `outputBytes must be a whole number of bytes from 0 to ${MAX_SIMULATED_OUTPUT_BYTES}, without output`,
  'tasks[].input.simulate.verdicts': `verdicts must be a list of at most ${MAX_SIMULATED_VERDICTS} simulated reviews, each { "accept": true | false, "comments"?, "durationMs"? } or { "fail": "error" | "invalid" | "crash" | "timeout" }`,
  options: 'options must be an object with optional maxAttempts, failFast and budget',
  'options.maxAttempts': `maxAttempts must be a whole number from 1 to ${MAX_ATTEMPTS_LIMIT}`,
  'options.failFast': 'failFast must be true or false',
  'options.budget': 'budget must be an object with maxCostUsd, maxTokens or both',
  // One nano-dollar written out: the ledger's unit, below which a budget would round to nothing.
  'options.budget.maxCostUsd': `maxCostUsd must be a number of US dollars from ${MIN_BUDGET_USD.toFixed(9)} to ${MAX_BUDGET_USD}`,
  'options.budget.maxTokens': `maxTokens must be a whole number from 1 to ${MAX_BUDGET_TOKENS}`,
};
for (const list of ['languages', 'frameworks', 'skills']) {
  const rule = `requirements.${list} must be a list of at most ${MAX_REQUIREMENT_ENTRIES} strings of 1 to ${MAX_REQUIREMENT_CHARS} characters`;
  FIELD_RULES[`tasks[].requirements.${list}`] = rule;
  FIELD_RULES[`tasks[].requirements.${list}[]`] = rule;
}

/** The fields each object accepts, for "unknown field" messages. */
const ALLOWED_FIELDS: Record<string, readonly string[]> = {
  '': Object.keys(BatchSchema.shape),
  'tasks[]': Object.keys(TaskSchema.shape),
  'tasks[].requirements': Object.keys(RequirementsSchema.shape),
  'tasks[].input.simulate': Object.keys(SimulateSchema.shape),
  options: Object.keys(BatchOptionsSchema.shape),
  'options.budget': Object.keys(BudgetSchema.shape),
};

const OBJECT_NAMES: Record<string, string> = {
  '': 'a batch',
  'tasks[]': 'a task',
  'tasks[].requirements': 'requirements',
  'tasks[].input.simulate': 'input.simulate',
  options: 'options',
  'options.budget': 'a budget',
};

/** `tasks[3].dependsOn[0]` -> `tasks[].dependsOn[]`: the key of FIELD_RULES. */
function ruleKey(path: readonly PathSegment[]): string {
  let key = '';
  for (const segment of path) {
    if (typeof segment === 'number') key += '[]';
    else key += key === '' ? segment : `.${segment}`;
  }
  return key;
}

function sizeOf(value: unknown): string | undefined {
  if (typeof value === 'string') return `${characterCount(value)} characters`;
  if (Array.isArray(value)) return `${value.length} entries`;
  return undefined;
}

function issueFromZod(
  issue: z.core.$ZodIssue,
  raw: unknown,
  base: readonly PathSegment[],
): ValidationIssue[] {
  const path = [...base, ...(issue.path as PathSegment[])];
  if (issue.code === 'unrecognized_keys') {
    const key = ruleKey(path);
    const allowed = ALLOWED_FIELDS[key] ?? [];
    const name = OBJECT_NAMES[key] ?? 'this object';
    return issue.keys.map((field) => {
      const guess = closestNames(field, allowed, 1)[0];
      const hint = guess ? ` (did you mean "${guess}"?)` : '';
      return {
        path: formatPath([...path, field]),
        message: `unknown field "${field}"${hint}; ${name} accepts ${allowed.join(', ')}`,
      };
    });
  }
  const rule = FIELD_RULES[ruleKey(path)];
  const actual = valueAt(raw, path);
  if (rule === undefined) return [{ path: formatPath(path), message: issue.message }];
  if (actual === undefined) {
    const field = path[path.length - 1];
    return [{ path: formatPath(path), message: `missing required field "${String(field)}": ${rule}` }];
  }
  const size = issue.code === 'too_big' || issue.code === 'too_small' ? sizeOf(actual) : undefined;
  return [{ path: formatPath(path), message: `${rule}; got ${size ?? describeValue(actual)}` }];
}

/**
 * The issues of a failed zod parse in words. Two checks of one value can fail at once (a number past both the
 * safe integers and the field's maximum) and read the same once put in words: each sentence is said once.
 */
function issuesFromZod(
  zodIssues: readonly z.core.$ZodIssue[],
  raw: unknown,
  base: readonly PathSegment[],
): ValidationIssue[] {
  const seen = new Set<string>();
  const issues: ValidationIssue[] = [];
  for (const zodIssue of zodIssues) {
    for (const issue of issueFromZod(zodIssue, raw, base)) {
      const key = `${issue.path}\n${issue.message}`;
      if (seen.has(key)) continue;
      seen.add(key);
      issues.push(issue);
    }
  }
  return issues;
}

// --------------------------------------------------------------------------------- suggestions

/**
 * Edit distance, for "did you mean" hints, giving up (returning `limit + 1`) as soon as every cell of a
 * row exceeds `limit`, so comparing against thousands of long ids stays cheap.
 */
function editDistance(a: string, b: string, limit: number): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      const cell = Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, substitution);
      current.push(cell);
      rowMin = Math.min(rowMin, cell);
    }
    if (rowMin > limit) return limit + 1;
    previous = current;
  }
  return previous[b.length] as number;
}

/** Names at most this many edits away (or sharing a word) count as "close". */
const MAX_SUGGESTION_DISTANCE = 3;
/** Role suggestions listed with an unknown role. */
const MAX_ROLE_SUGGESTIONS = 3;
/** Unknown dependencies that get a "did you mean" (each costs a scan of all ids). */
const MAX_DEPENDENCY_SUGGESTIONS = 50;
/**
 * Issues listed in one report; the rest are counted in a last issue. A batch of 2,000 tasks with 100
 * unknown dependencies each would otherwise yield a 200,000-line error nobody reads.
 */
export const MAX_REPORTED_ISSUES = 200;

/** Up to `limit` names close to `wanted`: small edit distance, or sharing a word of a snake_case name. */
function closestNames(wanted: string, names: Iterable<string>, limit: number): string[] {
  const lower = wanted.toLowerCase();
  const words = new Set(lower.split(/[_\-.:\s]+/).filter((w) => w.length >= 3));
  const scored: { name: string; score: number }[] = [];
  for (const name of names) {
    const candidate = name.toLowerCase();
    if (Math.abs(candidate.length - lower.length) <= MAX_SUGGESTION_DISTANCE) {
      const distance = editDistance(lower, candidate, MAX_SUGGESTION_DISTANCE);
      if (distance <= MAX_SUGGESTION_DISTANCE && distance < lower.length) {
        scored.push({ name, score: distance });
        continue;
      }
    }
    const shared = candidate.split(/[_\-.:]+/).filter((w) => words.has(w)).length;
    if (shared > 0 || (lower.length >= 4 && candidate.includes(lower)))
      scored.push({ name, score: MAX_SUGGESTION_DISTANCE + 1 - Math.min(shared, 1) * 0.5 });
  }
  return scored
    .sort((a, b) => a.score - b.score || a.name.localeCompare(b.name))
    .slice(0, limit)
    .map((s) => s.name);
}

// ---------------------------------------------------------------------------- cross-task rules

/** What the cross-task rules can read of one raw task, whatever else is wrong with it. */
interface ReadableTask {
  index: number;
  id?: string;
  /** Valid-looking dependency ids with their position in dependsOn. */
  deps: { id: string; position: number }[];
}

function readable(rawTask: unknown, index: number): ReadableTask {
  if (!isRecord(rawTask)) return { index, deps: [] };
  const id = typeof rawTask.id === 'string' && TASK_ID_PATTERN.test(rawTask.id) ? rawTask.id : undefined;
  const deps: ReadableTask['deps'] = [];
  if (Array.isArray(rawTask.dependsOn)) {
    rawTask.dependsOn.forEach((dep, position) => {
      if (typeof dep === 'string' && TASK_ID_PATTERN.test(dep)) deps.push({ id: dep, position });
    });
  }
  return { index, ...(id === undefined ? {} : { id }), deps };
}

function crossTaskIssues(
  raw: Record<string, unknown>,
  rawTasks: readonly unknown[],
  knownRoles: ReadonlySet<string>,
  existingIds: ReadonlySet<string>,
): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const tasks = rawTasks.map(readable);
  const firstIndex = new Map<string, number>();
  for (const task of tasks) {
    if (task.id === undefined) continue;
    const first = firstIndex.get(task.id);
    if (existingIds.has(task.id)) {
      issues.push({
        path: `$.tasks[${task.index}].id`,
        message: `duplicate task id "${task.id}": the batch already has a task with that id; give every task a unique id`,
      });
    } else if (first === undefined) firstIndex.set(task.id, task.index);
    else {
      issues.push({
        path: `$.tasks[${task.index}].id`,
        message: `duplicate task id "${task.id}": $.tasks[${first}] already uses it; give every task a unique id`,
      });
    }
  }

  let suggestionsLeft = MAX_DEPENDENCY_SUGGESTIONS;
  for (const task of tasks) {
    const listed = new Map<string, number>();
    for (const dep of task.deps) {
      const path = `$.tasks[${task.index}].dependsOn[${dep.position}]`;
      const earlier = listed.get(dep.id);
      if (earlier !== undefined) {
        issues.push({
          path,
          message: `"${dep.id}" is already listed at dependsOn[${earlier}]; list each dependency once`,
        });
        continue;
      }
      listed.set(dep.id, dep.position);
      if (dep.id === task.id) {
        issues.push({
          path,
          message: `task "${task.id}" depends on itself; remove "${dep.id}" from its dependsOn`,
        });
      } else if (!firstIndex.has(dep.id) && !existingIds.has(dep.id)) {
        const names = [...firstIndex.keys(), ...existingIds];
        const guess = suggestionsLeft-- > 0 ? closestNames(dep.id, names, 1)[0] : undefined;
        const hint = guess ? ` Did you mean "${guess}"?` : '';
        issues.push({
          path,
          message: `unknown dependency "${dep.id}": no task in this batch has that id.${hint}`,
        });
      }
    }
  }

  // Cycles over the tasks with a readable, unique id (a duplicate's edges would be ambiguous).
  const nodes = tasks.filter((t) => t.id !== undefined && firstIndex.get(t.id) === t.index);
  // One more than is listed, to know whether any was left out.
  const found = findCycles(
    nodes.map((t) => ({ id: t.id as string, dependsOn: t.deps.map((d) => d.id) })),
    MAX_REPORTED_CYCLES + 1,
  );
  const cycles = found.slice(0, MAX_REPORTED_CYCLES);
  for (const cycle of cycles) {
    const head = tasks[firstIndex.get(cycle[0] as string) as number] as ReadableTask;
    const position = head.deps.find((d) => d.id === cycle[1])?.position ?? 0;
    issues.push({
      path: `$.tasks[${head.index}].dependsOn[${position}]`,
      message:
        `dependency cycle: ${[...cycle, cycle[0]].join(' -> ')} (each task waits for the next, so none can ` +
        'start); remove one of these dependencies',
    });
  }
  if (found.length > cycles.length) {
    issues.push({
      path: '$.tasks',
      message: `more dependency cycles than the ${MAX_REPORTED_CYCLES} listed: break these, then check again for the rest`,
    });
  }

  rawTasks.forEach((rawTask, index) => {
    if (!isRecord(rawTask)) return;
    const role = rawTask.role;
    if (typeof role === 'string' && role.length > 0 && role.length <= 64 && !knownRoles.has(role)) {
      const close = closestNames(role, knownRoles, MAX_ROLE_SUGGESTIONS);
      const hint =
        close.length > 0
          ? `close role names: ${close.join(', ')}`
          : 'omit "role" to let routing choose, or add the role in the config';
      issues.push({ path: `$.tasks[${index}].role`, message: `unknown role "${role}"; ${hint}` });
    }
    // approval.by: the validator role whose agents review the output must exist like any routed role.
    const by = isRecord(rawTask.approval) ? rawTask.approval.by : undefined;
    if (typeof by === 'string' && by.length > 0 && by.length <= 64 && !knownRoles.has(by)) {
      const close = closestNames(by, knownRoles, MAX_ROLE_SUGGESTIONS);
      issues.push({
        path: `$.tasks[${index}].approval.by`,
        message: `unknown validator role "${by}"; ${close.length > 0 ? `close role names: ${close.join(', ')}` : 'name a role of the catalog or add it in the config'}`,
      });
    }
    const input = rawTask.input;
    if (isRecord(input)) {
      const bytes = utf8Length(JSON.stringify(input));
      if (bytes > MAX_INPUT_BYTES) {
        issues.push({
          path: `$.tasks[${index}].input`,
          message: `input is ${bytes} bytes as JSON (UTF-8); at most ${MAX_INPUT_BYTES} are allowed: pass large material by reference (a URL or object key)`,
        });
      }
      if ('simulate' in input) {
        const parsed = SimulateSchema.safeParse(input.simulate);
        if (!parsed.success) {
          for (const found of issuesFromZod(parsed.error.issues, raw, ['tasks', index, 'input', 'simulate']))
            issues.push(found);
        }
      }
    }
  });
  return issues;
}

// ------------------------------------------------------------------------------------ ordering

function parsePath(path: string): PathSegment[] {
  const segments: PathSegment[] = [];
  const pattern = /\.([A-Za-z_$][A-Za-z0-9_$]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/g;
  for (let m = pattern.exec(path); m !== null; m = pattern.exec(path)) {
    if (m[1] !== undefined) segments.push(m[1]);
    else if (m[2] !== undefined) segments.push(Number(m[2]));
    else segments.push(JSON.parse(m[3] as string) as string);
  }
  return segments;
}

/**
 * Sorts issues by where their path appears in the document: array positions in order, object keys in
 * the order the user wrote them (absent keys after present ones), a value before what is inside it.
 */
function sortByAppearance(issues: ValidationIssue[], raw: unknown): ValidationIssue[] {
  const keyed = issues.map((issue, n) => {
    const segments = parsePath(issue.path);
    const rank: number[] = [];
    let value = raw;
    for (const segment of segments) {
      if (typeof segment === 'number') {
        rank.push(segment);
        value = Array.isArray(value) ? value[segment] : undefined;
      } else {
        const keys = isRecord(value) ? Object.keys(value) : [];
        const at = keys.indexOf(segment);
        rank.push(at === -1 ? Number.MAX_SAFE_INTEGER : at);
        value = isRecord(value) ? value[segment] : undefined;
      }
    }
    return { issue, rank, n };
  });
  keyed.sort((a, b) => {
    for (let i = 0; i < Math.min(a.rank.length, b.rank.length); i++) {
      const d = (a.rank[i] as number) - (b.rank[i] as number);
      if (d !== 0) return d;
    }
    return a.rank.length - b.rank.length || a.n - b.n;
  });
  const sorted = keyed.map((k) => k.issue);
  if (sorted.length <= MAX_REPORTED_ISSUES) return sorted;
  const hidden = sorted.length - MAX_REPORTED_ISSUES;
  return [
    ...sorted.slice(0, MAX_REPORTED_ISSUES),
    {
      path: '$',
      message: `${hidden} more problem${hidden === 1 ? '' : 's'} not listed; fix the ones above first`,
    },
  ];
}

// ------------------------------------------------------------------------- fields not built yet

/**
 * Wire-format fields that are part of the contract (schemas.ts) but whose behaviour is not built yet:
 * refused, so a batch never runs with a field silently ignored. Each feature removes its entries.
 */
export const UNSUPPORTED_TASK_FIELDS: ReadonlySet<string> = new Set<string>();
export const UNSUPPORTED_OPTION_FIELDS: ReadonlySet<string> = new Set<string>();

function unsupportedFieldIssues(raw: Record<string, unknown>): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const note = 'is not supported by this version of meta-agent yet; remove it';
  if (Array.isArray(raw.tasks)) {
    raw.tasks.forEach((task, index) => {
      if (!isRecord(task)) return;
      for (const field of Object.keys(task))
        if (UNSUPPORTED_TASK_FIELDS.has(field))
          issues.push({ path: formatPath(['tasks', index, field]), message: `"${field}" ${note}` });
    });
  }
  if (isRecord(raw.options)) {
    for (const field of Object.keys(raw.options))
      if (UNSUPPORTED_OPTION_FIELDS.has(field))
        issues.push({ path: formatPath(['options', field]), message: `"${field}" ${note}` });
  }
  return issues;
}

/** The paths of the numbers in `value` that JSON.parse could only read as ±Infinity (an overflowing literal). */
function overflowingNumbers(value: unknown, path: JsonPathSegment[], found: JsonPathSegment[][]): void {
  if (typeof value === 'number' && !Number.isFinite(value)) found.push(path);
  else if (Array.isArray(value))
    value.forEach((item, index) => {
      overflowingNumbers(item, [...path, index], found);
    });
  else if (isRecord(value))
    for (const key of Object.keys(value)) overflowingNumbers(value[key], [...path, key], found);
}

/**
 * A number literal beyond a 64-bit float (1e400) parses as Infinity, which JSON cannot write back: in a task's
 * input it would be stored, given to the agent and answered as null, silently. The fields with rules of their
 * own (priority, timeoutSeconds, input.simulate...) name it in their own sentence; an outputSchema's keywords
 * are numbers the schema check refuses.
 */
function overflowIssues(raw: Record<string, unknown>): ValidationIssue[] {
  if (!Array.isArray(raw.tasks)) return [];
  const found: JsonPathSegment[][] = [];
  raw.tasks.forEach((task, index) => {
    if (!isRecord(task)) return;
    if ('input' in task) overflowingNumbers(task.input, ['tasks', index, 'input'], found);
  });
  return found.map((path) => ({
    path: formatPath(path),
    message: `a number beyond what JSON numbers hold here (±${Number.MAX_VALUE}): it would be kept as null; write it as a string`,
  }));
}

// ------------------------------------------------------------------------------------------ entry

const TopLevelSchema = BatchSchema.omit({ tasks: true });

/** Levels above a task's input: the batch object, its tasks list, the task object. */
const LEVELS_ABOVE_INPUT = 3;
/** The deepest a valid batch document nests. */
const MAX_BATCH_DEPTH = MAX_INPUT_DEPTH + LEVELS_ABOVE_INPUT;

/**
 * Tasks already in a running batch, for validating tasks added to it (an expansion, domain/expansion.ts):
 * their ids are taken, and the added tasks may depend on them and take their work.
 */
export interface BatchSurroundings {
  readonly existing: readonly Task[];
}

/**
 * Validates a parsed batch against the wire format, the DAG rules and the known roles, reporting every
 * problem it can find at once, sorted by where it appears in the document. With `surroundings`, `raw` holds
 * tasks added to a running batch: the batch's own limits are the caller's (domain/expansion.ts).
 */
export function validateBatch(
  raw: unknown,
  knownRoles: ReadonlySet<string>,
  surroundings?: BatchSurroundings,
): BatchValidation {
  if (!isRecord(raw)) {
    const found = Array.isArray(raw) ? 'a list' : describeValue(raw);
    return {
      ok: false,
      issues: [{ path: '$', message: `a batch must be a JSON object with a "tasks" array; got ${found}` }],
    };
  }
  // Before anything walks the document: past this depth a recursive walk could overflow the stack.
  const tooDeep = firstTooDeep(raw, MAX_BATCH_DEPTH);
  if (tooDeep) {
    // Only a task's free JSON (input, outputSchema) nests this deep legitimately; elsewhere the rule is the
    // field's own, and naming the input there would send the user looking in the wrong place.
    const [top, , field] = tooDeep;
    const free = top === 'tasks' && (field === 'input' || field === 'outputSchema') ? field : undefined;
    return {
      ok: false,
      issues: [
        {
          path: formatPath(tooDeep),
          message:
            free === undefined
              ? "nested too deep: no field of a batch nests this far (only a task's input and outputSchema " +
                `are free JSON, nested at most ${MAX_INPUT_DEPTH} levels of objects and lists)`
              : `nested too deep: a task's ${free} may nest at most ${MAX_INPUT_DEPTH} levels of objects and lists`,
        },
      ],
    };
  }
  const issues: ValidationIssue[] = [];
  const rawTasks = raw.tasks;
  if (Array.isArray(rawTasks) && rawTasks.length > MAX_TASKS_PER_BATCH) {
    // Refuse early: checking every task of an oversize batch would only make the refusal slow.
    issues.push({
      path: '$.tasks',
      message: `the batch has ${rawTasks.length} tasks; at most ${MAX_TASKS_PER_BATCH} are allowed: split it into several batches`,
    });
    const { tasks: _ignored, ...rest } = raw;
    const parsed = TopLevelSchema.safeParse(rest);
    if (!parsed.success) for (const found of issuesFromZod(parsed.error.issues, raw, [])) issues.push(found);
    return { ok: false, issues: sortByAppearance(issues, raw) };
  }
  if (Array.isArray(rawTasks) && rawTasks.length === 0) {
    issues.push({ path: '$.tasks', message: 'the batch has no tasks: give at least one task' });
  }
  const parsed = BatchSchema.safeParse(raw);
  if (!parsed.success) {
    // The empty-batch case already has its own sentence.
    const zodIssues = parsed.error.issues.filter(
      (issue) => !(issue.code === 'too_small' && formatPath(issue.path) === '$.tasks'),
    );
    for (const found of issuesFromZod(zodIssues, raw, [])) issues.push(found);
  }
  if (Array.isArray(rawTasks)) {
    const around = surroundings?.existing ?? [];
    const existingIds = new Set(around.map((t) => t.id));
    for (const issue of crossTaskIssues(raw, rawTasks, knownRoles, existingIds)) issues.push(issue);
    for (const issue of contextIssues(rawTasks, around)) issues.push(issue);
    for (const issue of workflowIssues(rawTasks)) issues.push(issue);
  }
  for (const issue of unsupportedFieldIssues(raw)) issues.push(issue);
  const overflows = overflowIssues(raw);
  if (overflows.length > 0) {
    const named = new Set(issues.map((issue) => issue.path));
    for (const issue of overflows) if (!named.has(issue.path)) issues.push(issue);
  }
  if (issues.length > 0 || !parsed.success) return { ok: false, issues: sortByAppearance(issues, raw) };
  if (surroundings) return { ok: true, batch: parsed.data };
  const tooLarge = executionInputIssue(parsed.data);
  if (tooLarge) return { ok: false, issues: [tooLarge] };
  // A task whose DynamoDB item could pass 400 KB at its worst (item-size.ts), refused wherever a batch is checked:
  // `plan` and `route` as `run`, `serve` and the API. (An expansion checks the tasks it adds: usecases/expand.ts.)
  const items = taskItemIssues(submittedTaskParts(parsed.data));
  if (items.length > 0) return { ok: false, issues: items };
  return { ok: true, batch: parsed.data };
}

/**
 * The execution input lists every task id (MAX_EXECUTION_INPUT_BYTES). Measured at its largest: the given
 * batch id or the longest one allowed in place of a generated one, and no task marked as having
 * dependencies (`false` is the longer literal), so a batch that passes always starts.
 */
function executionInputIssue(batch: Batch): ValidationIssue | undefined {
  const input = executionInput(
    batch.batchId ?? 'x'.repeat(MAX_BATCH_ID_CHARS),
    batch.tasks.map((t) => ({ taskId: t.id, hasDeps: false })),
  );
  const bytes = utf8Length(JSON.stringify(input));
  if (bytes <= MAX_EXECUTION_INPUT_BYTES) return undefined;
  const idChars = batch.tasks.reduce((sum, t) => sum + t.id.length, 0);
  return {
    path: '$.tasks',
    message:
      `the ${batch.tasks.length} task ids (${idChars} characters together) make a ${bytes}-byte Step Functions ` +
      `execution input; at most ${MAX_EXECUTION_INPUT_BYTES} bytes are allowed: use shorter task ids or split the batch`,
  };
}

/** validateBatch that throws BatchValidationError. */
export function assertValidBatch(raw: unknown, knownRoles: ReadonlySet<string>): Batch {
  const result = validateBatch(raw, knownRoles);
  if (!result.ok) throw new BatchValidationError(result.issues);
  return result.batch;
}
