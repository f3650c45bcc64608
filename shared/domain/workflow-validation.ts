/**
 * Validation of workflow control (README "Workflow control"): trigger rules, approvals and expanding tasks,
 * beyond what the wire-format schema says of each field alone.
 */
import { DEFAULT_TRIGGER_RULE } from './trigger';
import { formatPath, type ValidationIssue } from './validation';

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Issues of the workflow fields of every readable task (paths under `$.tasks`). */
export function workflowIssues(rawTasks: readonly unknown[]): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  rawTasks.forEach((raw, index) => {
    if (!isRecord(raw)) return;
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
