/**
 * The size of a task's and a batch's DynamoDB item, and the budgets that keep each within DynamoDB's 400 KB
 * (attribute names and values) however its run goes: every attempt used, every review rejected with the
 * longest comment, the longest errors and reasons. A write past 400 KB is refused with a ValidationException,
 * and the outcome it carried (a success, a failure, a decision) was lost.
 *
 * A task item is its fixed part, written at submission (the task as submitted, its dependents), and its run
 * state, which grows while it runs. Every growing field is bounded by a named constant (the texts are shortened
 * with a marker by the store, shortenText), so the run state of a task has a worst case, runStateReserve, which
 * depends on the task's own settings (its attempts, its approval, whether it expands). A task whose fixed part
 * and reserve together pass TASK_ITEM_BUDGET_BYTES is refused at submission (taskItemIssues: a 400 that names
 * the task and its largest field), so nothing is lost at run time. The store's size fallback (task-store.ts
 * sendKeepingOutcome) stays as the last line of defence.
 *
 * The arithmetic (KiB = 1,024 bytes):
 * - bookkeeping: keys, counters, times, role, agent, gate token and the approval wait's token: TASK_BOOKKEEPING_BYTES (6 KiB);
 * - the output: an inline output (INLINE_OUTPUT_MAX_BYTES, 64 KiB) or an artifact reference: OUTPUT_RESERVE_BYTES (65 KiB);
 * - an attempt: its context record (MAX_CONTEXT_RECORD_BYTES, 8 KiB), its error (MAX_STORED_ERROR_BYTES, 1 KiB),
 *   agent, times, usage, cost, hold, permanent failure (2 KiB): ATTEMPT_RESERVE_BYTES (11 KiB), times maxAttempts;
 * - routing: the requirements twice (on the task and in its decision, 8 KiB each) and the decision's listed agents
 *   (MAX_DECISION_AGENTS_LISTED candidates of 384 bytes and rejections of 256): ROUTING_RESERVE_BYTES (37 KiB);
 * - the reason: MAX_STORED_ERROR_BYTES;
 * - with an approval: maxAttempts + 3 records (one per attempt's review, the one before dispatch, one being taken
 *   back, the wait's `decided` copy) of MAX_STORED_COMMENT_BYTES (4 KiB) and 1.5 KiB of fields, and an undelivered
 *   answer's error: (maxAttempts + 3) × 5.5 KiB + 1 KiB;
 * - with a validator role (approval.by): MAX_REVIEWS_PER_ATTEMPT failed reviews per attempt of
 *   MAX_STORED_ERROR_BYTES and 256 bytes of fields: 3 × maxAttempts × 1.25 KiB;
 * - an expanding task: the ids it added (MAX_TASKS_PER_EXPANSION of MAX_TASK_ID_CHARS): about 12.6 KiB;
 * - a task downstream of an expanding task: the dependencies expansions may add to it (MAX_ADDED_DEPENDENCIES_PER_TASK
 *   ids in dependsOn and releasedBy, and as many expanding tasks in expandedFrom): about 37.7 KiB;
 * - MEASUREMENT_MARGIN_BYTES (4 KiB) for what the estimate rounds (a context record is bounded as JSON).
 * At the default 3 attempts without approval the reserve is 146 KiB (149,696 bytes), leaving 253 KiB for the
 * fixed part: the largest description (32,768 characters of 4 bytes, 128 KiB), input (64 KiB) and output schema
 * (16 KiB) with 100 dependencies of 128 characters (13 KiB, twice: dependsOn and, once released, releasedBy) fit.
 * At 10 attempts with approvals by a validator and an expansion it is 346 KiB (354,100 bytes): the fixed part may
 * take 54 KiB, and a larger task is refused at submission.
 *
 * The batch item: its task ids are bounded by MAX_EXECUTION_INPUT_BYTES (each id travels in the execution input as
 * `{"taskId":"<id>","hasDeps":false},`, 31 bytes besides the id, so 2,000 ids take at most 262,144 - 62,000 bytes of
 * characters: about 196 KiB in the item), then MAX_EXPANSION_TASKS_PER_BATCH added ids (63 KiB) and as many
 * expanding task ids in `expandedBy` (63 KiB), the cancel reason (MAX_STORED_ERROR_BYTES) and small fields: at most
 * about 330 KiB (BATCH_ITEM_WORST_BYTES, 337,812 bytes).
 */

import { dependentsOf, soleDependentRoles } from './dag';
import {
  DEFAULT_MAX_ATTEMPTS,
  MAX_ADDED_DEPENDENCIES_PER_TASK,
  MAX_CONTEXT_RECORD_BYTES,
  MAX_DECISION_AGENTS_LISTED,
  MAX_EXECUTION_INPUT_BYTES,
  MAX_EXPANSION_TASKS_PER_BATCH,
  MAX_REQUIREMENT_CHARS,
  MAX_REQUIREMENT_ENTRIES,
  MAX_REVIEWS_PER_ATTEMPT,
  MAX_STORED_COMMENT_BYTES,
  MAX_STORED_ERROR_BYTES,
  MAX_TASK_ID_CHARS,
  MAX_TASKS_PER_BATCH,
  MAX_TASKS_PER_EXPANSION,
} from './limits';
import type { Batch, RoutingDecision, Task } from './schemas';
import { utf8Length, utf8Prefix } from './utf8';
import type { ValidationIssue } from './validation';
import { INLINE_OUTPUT_MAX_BYTES } from './workflow';

/** DynamoDB's largest item: 400 KB of attribute names and values (its documentation's KB are 1,024 bytes). */
export const DYNAMODB_ITEM_MAX_BYTES = 400 * 1024;
/** What a task item may take at its worst (fixed part and run state): DynamoDB's limit. */
export const TASK_ITEM_BUDGET_BYTES = DYNAMODB_ITEM_MAX_BYTES;
/** Keys, counters, times, role, agent, the gate's and the approval wait's tokens (Step Functions tokens are long). */
export const TASK_BOOKKEEPING_BYTES = 6 * 1024;
/** An inline output or the reference of an artifact. */
export const OUTPUT_RESERVE_BYTES = INLINE_OUTPUT_MAX_BYTES + 1024;
/** One attempt: its context record, its error, and its agent, times, usage, cost, hold and permanent failure. */
export const ATTEMPT_RESERVE_BYTES = MAX_CONTEXT_RECORD_BYTES + MAX_STORED_ERROR_BYTES + 2 * 1024;
/** The requirements as extracted (explicit role, three lists, role candidates, a routing question's answer). */
export const REQUIREMENTS_RESERVE_BYTES =
  3 * MAX_REQUIREMENT_ENTRIES * (MAX_REQUIREMENT_CHARS + 1) + 2 * 1024;
/** The requirements (on the task and in the decision) and the decision with its listed agents. */
export const ROUTING_RESERVE_BYTES =
  2 * REQUIREMENTS_RESERVE_BYTES + MAX_DECISION_AGENTS_LISTED * (384 + 256) + 1024;
/** One approval record: its comment and its stage, decision, reviewer, caller, attempt, time, usage and cost. */
export const APPROVAL_RECORD_RESERVE_BYTES = MAX_STORED_COMMENT_BYTES + 1536;
/**
 * Approval records a task holds at most besides one per attempt: the decision before dispatch, a decision being
 * taken back (the wait timed out as it arrived), and the wait's `decided` copy of the latest.
 */
export const APPROVAL_RECORDS_BEYOND_ATTEMPTS = 3;
/** One failed validator review: its error, the validator's id, the attempt and the time. */
export const REVIEW_FAILURE_RESERVE_BYTES = MAX_STORED_ERROR_BYTES + 256;
/** The ids an expanding task records as added. */
export const EXPANDED_TASKS_RESERVE_BYTES = MAX_TASKS_PER_EXPANSION * (MAX_TASK_ID_CHARS + 1) + 16;
/** The dependencies expansions may add to a task: ids in dependsOn and releasedBy, expanding tasks in expandedFrom. */
export const EXPANSION_DEPENDENCIES_RESERVE_BYTES =
  MAX_ADDED_DEPENDENCIES_PER_TASK * (2 * (MAX_TASK_ID_CHARS + 1) + MAX_TASK_ID_CHARS) + 16;
/** What the estimate may round: records bounded as JSON, numbers counted at their DynamoDB size. */
export const MEASUREMENT_MARGIN_BYTES = 4 * 1024;

/** The batch item's worst case (see the file comment): within DynamoDB's limit. */
export const BATCH_ITEM_WORST_BYTES =
  // task ids of the submitted batch: each is 31 bytes of the execution input besides its characters, and 1 of the item
  MAX_EXECUTION_INPUT_BYTES -
  MAX_TASKS_PER_BATCH * 30 +
  // ids an expansion added, and the expanding tasks
  MAX_EXPANSION_TASKS_PER_BATCH * (2 * MAX_TASK_ID_CHARS + 1) +
  MAX_STORED_ERROR_BYTES +
  TASK_BOOKKEEPING_BYTES;

/**
 * The size DynamoDB counts for a value: a string's UTF-8 bytes, a number's at most 21, a boolean or null 1, a
 * list or map 3 bytes plus 1 per element plus its elements (and a map's names), a set its elements. Never less
 * than DynamoDB's own count.
 */
export function dynamoSizeOf(value: unknown): number {
  if (typeof value === 'string') return utf8Length(value);
  if (typeof value === 'number') return 21;
  if (typeof value === 'boolean' || value === null) return 1;
  if (value instanceof Set) return [...value].reduce((sum: number, v) => sum + dynamoSizeOf(v), 0);
  if (Array.isArray(value)) return value.reduce((sum: number, v) => sum + 1 + dynamoSizeOf(v), 3);
  if (typeof value === 'object' && value !== undefined) {
    let sum = 3;
    for (const [name, v] of Object.entries(value)) {
      if (v === undefined) continue;
      sum += 1 + utf8Length(name) + dynamoSizeOf(v);
    }
    return sum;
  }
  return 0;
}

/**
 * `text` within `maxBytes` of UTF-8: whole when it fits, else its first bytes and a marker that says it was
 * shortened and how long it was (the marker counts in `maxBytes`).
 */
export function shortenText(text: string, maxBytes: number): string {
  const bytes = utf8Length(text);
  if (bytes <= maxBytes) return text;
  const marker = ` […shortened: ${bytes} bytes in all]`;
  return utf8Prefix(text, Math.max(0, maxBytes - utf8Length(marker))) + marker;
}

/** What of a task decides its run state's worst case. */
export interface RunStateShape {
  readonly maxAttempts: number;
  readonly task: Pick<Task, 'approval' | 'expands'>;
  /** Downstream of an expanding task: expansions may add to its dependencies (awaitingExpansion). */
  readonly awaitsExpansion?: boolean;
}

/** The worst case of a task's run state, in bytes (see the file comment). */
export function runStateReserve({ maxAttempts, task, awaitsExpansion }: RunStateShape): number {
  const { approval } = task;
  const approvals =
    approval?.before || approval?.after
      ? (maxAttempts + APPROVAL_RECORDS_BEYOND_ATTEMPTS) * APPROVAL_RECORD_RESERVE_BYTES +
        MAX_STORED_ERROR_BYTES
      : 0;
  const reviews =
    approval?.after && approval.by !== undefined
      ? maxAttempts * MAX_REVIEWS_PER_ATTEMPT * REVIEW_FAILURE_RESERVE_BYTES
      : 0;
  return (
    TASK_BOOKKEEPING_BYTES +
    OUTPUT_RESERVE_BYTES +
    maxAttempts * ATTEMPT_RESERVE_BYTES +
    ROUTING_RESERVE_BYTES +
    MAX_STORED_ERROR_BYTES +
    approvals +
    reviews +
    (task.expands ? EXPANDED_TASKS_RESERVE_BYTES : 0) +
    (awaitsExpansion ? EXPANSION_DEPENDENCIES_RESERVE_BYTES : 0) +
    MEASUREMENT_MARGIN_BYTES
  );
}

/** A task item's fixed part as the submission writes it. */
export interface FixedTaskPart extends RunStateShape {
  readonly task: Task;
  readonly dependents: readonly string[];
  readonly dependentRoles?: Readonly<Record<string, string>>;
}

/** The fields of the fixed part a refusal may name, each with its size in the item. */
export function fixedPartSizes(part: FixedTaskPart): Record<string, number> {
  const { input, outputSchema, description, dependsOn, ...others } = part.task;
  const deps = dependsOn ?? [];
  return {
    description: utf8Length(description),
    input: input === undefined ? 0 : utf8Length(JSON.stringify(input)),
    outputSchema: outputSchema === undefined ? 0 : utf8Length(JSON.stringify(outputSchema)),
    // Each dependency once in dependsOn, and once more in releasedBy when it finished.
    dependsOn: 2 * dynamoSizeOf(deps),
    dependents: dynamoSizeOf(part.dependents) + dynamoSizeOf(part.dependentRoles ?? {}),
    others: dynamoSizeOf(others),
  };
}

/**
 * The fixed parts of a submitted batch's task items, as submission writes them (usecases/submit.ts storedTasksOf:
 * each task's dependents, the roles of those that depend on it alone, the batch's attempts).
 */
export function submittedTaskParts(batch: Batch): FixedTaskPart[] {
  const maxAttempts = batch.options?.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  const dependents = dependentsOf(batch.tasks);
  const dependentRoles = soleDependentRoles(batch.tasks);
  return batch.tasks.map((task) => {
    const roles = dependentRoles.get(task.id);
    return {
      task,
      maxAttempts,
      dependents: dependents.get(task.id) ?? [],
      ...(roles ? { dependentRoles: roles } : {}),
    };
  });
}

/**
 * The tasks whose item could pass TASK_ITEM_BUDGET_BYTES at their worst, each as an issue at its largest field
 * (`pathOf(index, field)`), saying what the fixed part and the reserve take and what to do.
 */
export function taskItemIssues(
  parts: readonly FixedTaskPart[],
  pathOf: (index: number, field: string) => string = (index, field) => `$.tasks[${index}].${field}`,
): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const awaiting = awaitingExpansion(parts.map((part) => part.task));
  parts.forEach((part, index) => {
    const sizes = fixedPartSizes(part);
    const fixed = Object.values(sizes).reduce((sum, n) => sum + n, 0);
    const reserve = runStateReserve({
      ...part,
      awaitsExpansion: part.awaitsExpansion || awaiting.has(part.task.id),
    });
    if (fixed + reserve <= TASK_ITEM_BUDGET_BYTES) return;
    const [largest] = Object.entries(sizes)
      .filter(([field]) => field !== 'others')
      .sort((a, b) => b[1] - a[1]) as [[string, number]];
    const field = largest[0] === 'dependents' ? 'id' : largest[0];
    const listed = Object.entries(sizes)
      .filter(([, n]) => n > 0)
      .map(([name, n]) => `${name} ${n}`)
      .join(', ');
    issues.push({
      path: pathOf(index, field),
      message:
        `task "${part.task.id}" takes ${fixed} bytes of its DynamoDB item as submitted (${listed}) and its run ` +
        `may add ${reserve} (${part.maxAttempts} attempts${part.task.approval ? ', approvals' : ''}${part.task.expands ? ', an expansion' : ''}` +
        `${awaiting.has(part.task.id) ? ', dependencies added by expansions' : ''}, ` +
        `an inline output); at most ${TASK_ITEM_BUDGET_BYTES} bytes fit in one item: shorten its ${largest[0]} ` +
        `(${largest[1]} bytes) by ${fixed + reserve - TASK_ITEM_BUDGET_BYTES} bytes or more, pass large material ` +
        'by reference, or ask for fewer attempts',
    });
  });
  return issues;
}

/**
 * The decision as the task item keeps it: its first `max` candidates (the winner first) and rejections, the others
 * counted.
 */
export function listedDecision(
  decision: RoutingDecision,
  max: number = MAX_DECISION_AGENTS_LISTED,
): RoutingDecision {
  // A decision made elsewhere (a test's, an older item's) may lack a list: nothing to bound there.
  const candidates = decision.candidates ?? [];
  const rejected = decision.rejected ?? [];
  if (candidates.length <= max && rejected.length <= max) return decision;
  const moreCandidates = candidates.length - max;
  const moreRejected = rejected.length - max;
  return {
    ...decision,
    candidates: candidates.slice(0, max),
    rejected: rejected.slice(0, max),
    ...(moreCandidates > 0
      ? { unlistedCandidates: (decision.unlistedCandidates ?? 0) + moreCandidates }
      : {}),
    ...(moreRejected > 0 ? { unlistedRejected: (decision.unlistedRejected ?? 0) + moreRejected } : {}),
  };
}

/**
 * The ids of the tasks downstream of an expanding task among `tasks` (its dependents, theirs, and so on): an
 * expansion adds its tasks to the dependencies of the expanding task's dependents, which pass them on to the tasks
 * a nested expansion adds.
 */
export function awaitingExpansion(tasks: readonly Pick<Task, 'id' | 'dependsOn' | 'expands'>[]): Set<string> {
  const dependents = dependentsOf(tasks);
  const found = new Set<string>();
  const next = tasks.filter((task) => task.expands).map((task) => task.id);
  for (let id = next.pop(); id !== undefined; id = next.pop()) {
    for (const dependent of dependents.get(id) ?? []) {
      if (found.has(dependent)) continue;
      found.add(dependent);
      next.push(dependent);
    }
  }
  return found;
}
