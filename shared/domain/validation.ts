/**
 * Batch validation: every problem at once, each with its JSON path and a sentence a user can act on.
 * FIRST CUT: signatures are the contract; the foundation work completes and tests them.
 */
import { type Batch, BatchSchema } from './schemas';

export interface ValidationIssue {
  /** JSON path of the offending value, e.g. `$.tasks[3].dependsOn[0]`. */
  path: string;
  message: string;
}

export class BatchValidationError extends Error {
  constructor(readonly issues: ValidationIssue[]) {
    super(issues.map((i) => `${i.path}: ${i.message}`).join('\n'));
    this.name = 'BatchValidationError';
  }
}

/** Parses JSON text, turning a syntax error into a BatchValidationError. */
export function parseBatchJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new BatchValidationError([{ path: '$', message: `malformed JSON: ${(error as Error).message}` }]);
  }
}

export type BatchValidation = { ok: true; batch: Batch } | { ok: false; issues: ValidationIssue[] };

/** Validates a parsed batch against the wire format, the DAG rules and the known roles. */
export function validateBatch(raw: unknown, knownRoles: ReadonlySet<string>): BatchValidation {
  const parsed = BatchSchema.safeParse(raw);
  if (!parsed.success) {
    return {
      ok: false,
      issues: parsed.error.issues.map((i) => ({ path: `$.${i.path.join('.')}`, message: i.message })),
    };
  }
  const issues: ValidationIssue[] = [];
  const ids = new Set(parsed.data.tasks.map((t) => t.id));
  parsed.data.tasks.forEach((task, i) => {
    if (task.role !== undefined && !knownRoles.has(task.role))
      issues.push({ path: `$.tasks[${i}].role`, message: `unknown role "${task.role}"` });
    (task.dependsOn ?? []).forEach((dep, j) => {
      if (!ids.has(dep))
        issues.push({ path: `$.tasks[${i}].dependsOn[${j}]`, message: `unknown dependency "${dep}"` });
    });
  });
  return issues.length > 0 ? { ok: false, issues } : { ok: true, batch: parsed.data };
}

/** validateBatch that throws BatchValidationError. */
export function assertValidBatch(raw: unknown, knownRoles: ReadonlySet<string>): Batch {
  const result = validateBatch(raw, knownRoles);
  if (!result.ok) throw new BatchValidationError(result.issues);
  return result.batch;
}
