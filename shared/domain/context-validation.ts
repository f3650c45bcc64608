/**
 * Validation of the work a task takes from others (README "Passing work between tasks"): every id in its
 * `context` list and in its placeholders must be a dependency or a transitive ancestor (work flows along the
 * edges only: anything else might not have finished, or might depend on this very task), placeholder-like
 * text that does not parse is named rather than left as literal text, an `outputSchema` must be a valid JSON
 * Schema of an object, and a field path must be one the dependency's schema can have.
 */
import { MAX_PLACEHOLDERS_PER_TASK } from './limits';
import { outputSchemaProblem, schemaFieldProblem } from './output-schema';
import { formatFieldPath } from './outputs';
import { findPlaceholders, malformedPlaceholders, type Placeholder, taskStrings } from './placeholders';
import { formatPath, type ValidationIssue } from './validation';

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

interface Node {
  readonly raw: Record<string, unknown>;
  readonly deps: readonly string[];
}

/** Ancestors of a task: everything reachable through dependsOn (cycles are reported elsewhere). */
function ancestorsOf(
  id: string,
  nodes: ReadonlyMap<string, Node>,
  memo: Map<string, Set<string>>,
): Set<string> {
  const known = memo.get(id);
  if (known) return known;
  const out = new Set<string>();
  memo.set(id, out); // a cycle stops here instead of recursing for ever
  for (const dep of nodes.get(id)?.deps ?? []) {
    out.add(dep);
    for (const further of ancestorsOf(dep, nodes, memo)) out.add(further);
  }
  return out;
}

function notAnAncestor(what: string, id: string, taskId: string): string {
  return (
    `${what} names "${id}", which is not a dependency or an ancestor of task "${taskId}": work is passed only ` +
    `along dependsOn; add "${id}" to dependsOn (of "${taskId}" or of one of its dependencies) or remove it`
  );
}

/** The issues of one id named by a task's context list or placeholder, or undefined when it is fine. */
function idIssue(
  what: string,
  id: string,
  taskId: string,
  nodes: ReadonlyMap<string, Node>,
  memo: Map<string, Set<string>>,
): string | undefined {
  if (id === taskId) return `${what} names the task itself; a task cannot take its own output`;
  if (!nodes.has(id)) {
    const hint = id.includes('.output')
      ? ' (an id that contains ".output" cannot be named in a placeholder: rename the task)'
      : '';
    return `${what} names "${id}", but no task in this batch has that id${hint}`;
  }
  if (!ancestorsOf(taskId, nodes, memo).has(id)) return notAnAncestor(what, id, taskId);
  return undefined;
}

/**
 * A field path into a dependency's output needs that dependency to declare its output's shape, and a path the
 * shape can have.
 */
function fieldIssue(placeholder: Placeholder, dependency: Node): string | undefined {
  if (placeholder.path.length === 0) return undefined;
  const schema = dependency.raw.outputSchema;
  if (!isRecord(schema)) {
    return (
      `${placeholder.text} reads the field ${formatFieldPath(placeholder.path)}, but task "${placeholder.taskId}" ` +
      `has no outputSchema, so its output has no fields to address: give "${placeholder.taskId}" an outputSchema ` +
      `or use {{deps.${placeholder.taskId}.output}}`
    );
  }
  if (outputSchemaProblem(schema) !== undefined) return undefined; // reported on the dependency itself
  const problem = schemaFieldProblem(schema, placeholder.path);
  return problem === undefined ? undefined : `${placeholder.text} cannot be read: ${problem}`;
}

/** An outputSchema that cannot work, and a simulated answer that could never fit one. */
function outputSchemaIssues(raw: Record<string, unknown>, index: number): ValidationIssue[] {
  const schema = raw.outputSchema;
  if (!isRecord(schema)) return [];
  const issues: ValidationIssue[] = [];
  const problem = outputSchemaProblem(schema);
  if (problem) issues.push({ path: formatPath(['tasks', index, 'outputSchema']), message: problem });
  const simulate = isRecord(raw.input) ? raw.input.simulate : undefined;
  if (isRecord(simulate) && simulate.outputBytes !== undefined) {
    issues.push({
      path: formatPath(['tasks', index, 'input', 'simulate', 'outputBytes']),
      message:
        "outputBytes makes a text answer, which cannot fit the task's outputSchema; give input.simulate.output (the structured output to return) or leave both out for a generated sample",
    });
  }
  return issues;
}

/**
 * Every problem of the context lists and placeholders of a batch's tasks (those with a readable id).
 * `around`: tasks already in the batch that these may take work from (an expansion's), checked for nothing.
 */
export function contextIssues(
  rawTasks: readonly unknown[],
  around: readonly unknown[] = [],
): ValidationIssue[] {
  const nodes = new Map<string, Node>();
  for (const raw of [...rawTasks, ...around]) {
    if (!isRecord(raw) || typeof raw.id !== 'string' || nodes.has(raw.id)) continue;
    const deps = Array.isArray(raw.dependsOn)
      ? raw.dependsOn.filter((d): d is string => typeof d === 'string')
      : [];
    nodes.set(raw.id, { raw, deps });
  }
  const memo = new Map<string, Set<string>>();
  const issues: ValidationIssue[] = [];
  rawTasks.forEach((raw, index) => {
    if (!isRecord(raw) || typeof raw.id !== 'string') return;
    const taskId = raw.id;
    for (const issue of outputSchemaIssues(raw, index)) issues.push(issue);
    if (Array.isArray(raw.context)) {
      raw.context.forEach((id, position) => {
        if (typeof id !== 'string') return;
        const problem = idIssue('context', id, taskId, nodes, memo);
        if (problem)
          issues.push({ path: formatPath(['tasks', index, 'context', position]), message: problem });
      });
    }
    const strings = taskStrings({
      description: typeof raw.description === 'string' ? raw.description : '',
      input: isRecord(raw.input) ? raw.input : undefined,
    });
    const placeholders = strings.reduce((count, { text }) => count + findPlaceholders(text).length, 0);
    if (placeholders > MAX_PLACEHOLDERS_PER_TASK) {
      issues.push({
        path: formatPath(['tasks', index]),
        message: `the task holds ${placeholders} placeholders in its description and input; at most ${MAX_PLACEHOLDERS_PER_TASK} are allowed (MAX_PLACEHOLDERS_PER_TASK): name a task's output once, or pass it through context instead`,
      });
      return;
    }
    for (const { where, inputPath, text } of strings) {
      const path = formatPath(
        where === 'description' ? ['tasks', index, 'description'] : ['tasks', index, 'input', ...inputPath],
      );
      for (const bad of malformedPlaceholders(text)) {
        issues.push({
          path,
          message: `"${bad}" is not a placeholder: write {{deps.<task id>.output}} or {{deps.<task id>.output.<field>}}`,
        });
      }
      for (const placeholder of findPlaceholders(text)) {
        const what = `the placeholder ${placeholder.text}`;
        const problem = idIssue(what, placeholder.taskId, taskId, nodes, memo);
        const dependency = nodes.get(placeholder.taskId);
        const field = problem === undefined && dependency ? fieldIssue(placeholder, dependency) : undefined;
        if (problem ?? field) issues.push({ path, message: (problem ?? field) as string });
      }
    }
  });
  return issues;
}
