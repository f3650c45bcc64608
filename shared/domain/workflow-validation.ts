/**
 * Validation of workflow control (README "Workflow control"): trigger rules, approvals and expanding tasks,
 * beyond what the wire-format schema says of each field alone.
 */
import { DEFAULT_TRIGGER_RULE } from './trigger';
import { formatPath, type ValidationIssue } from './validation';

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Issues of a task's `approval` beyond its schema. */
function approvalIssues(approval: Record<string, unknown>, index: number): ValidationIssue[] {
  const at = (field: string) => formatPath(['tasks', index, 'approval', field]);
  const issues: ValidationIssue[] = [];
  if (approval.before !== true && approval.after !== true) {
    issues.push({
      path: formatPath(['tasks', index, 'approval']),
      message:
        'approval asks for nothing: set "before": true (approve the task before it is dispatched) and/or "after": true (approve its output)',
    });
  }
  if (approval.by !== undefined && approval.after !== true) {
    issues.push({
      path: at('by'),
      message: '"by" names the validator role that reviews the output: it needs "after": true',
    });
  }
  return issues;
}

/** Issues of the workflow fields of every readable task (paths under `$.tasks`). */
export function workflowIssues(rawTasks: readonly unknown[]): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  rawTasks.forEach((raw, index) => {
    if (!isRecord(raw)) return;
    if (isRecord(raw.approval)) issues.push(...approvalIssues(raw.approval, index));
    const deps = Array.isArray(raw.dependsOn) ? raw.dependsOn.length : 0;
    const trigger = raw.trigger;
    // A rule decides how a task reacts to its dependencies' outcomes: one without any is never asked.
    if (typeof trigger === 'string' && trigger !== DEFAULT_TRIGGER_RULE && deps === 0) {
      issues.push({
        path: formatPath(['tasks', index, 'trigger']),
        message: `trigger "${trigger}" decides when a task runs given its dependencies' outcomes, and this task has no dependsOn; add its dependencies or remove "trigger"`,
      });
    }
  });
  return issues;
}
