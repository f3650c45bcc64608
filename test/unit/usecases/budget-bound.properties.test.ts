/**
 * The prompt bound a budget holds (domain/budget.ts promptBytesBound) against prompts rendered the way the
 * agent worker renders them: the context assembled from stored work (usecases/context.ts attemptContext, with
 * the reviews of rejected outputs), then renderPrompt. Random templates, tasks, outputs and budgets: the bound
 * is never passed, and it is reached.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { promptBytesBound } from '../../../shared/domain/budget';
import type { TaskWork } from '../../../shared/domain/context';
import { MIN_CONTEXT_BUDGET_BYTES } from '../../../shared/domain/limits';
import { serializeOutput } from '../../../shared/domain/outputs';
import { renderPrompt, resolveRoles } from '../../../shared/domain/roles';
import { extractRequirements } from '../../../shared/domain/routing';
import type { ApprovalRecord, ArtifactRef, Role, Task } from '../../../shared/domain/schemas';
import { utf8Length } from '../../../shared/domain/utf8';
import { attemptContext, type ContextDeps } from '../../../shared/usecases/context';

const catalog = resolveRoles([]);
const builtIn = catalog.get('python_backend_coder') as Role;
const BATCH = 'b1';
const DEPS = ['d1', 'd2', 'd3'] as const;

/** Text with what JSON escapes and what UTF-8 widens: quotes, newlines, control characters, non-ASCII. */
const textArb = fc
  .array(fc.constantFrom('a', 'b', ' ', '"', '\\', '\n', '\t', '\u0001', 'é', '€', '😀', 'xyz'), {
    maxLength: 400,
  })
  .map((parts) => parts.join(''));

/** Text from a few bytes to several times the largest budget tried. */
const sizedTextArb = fc.oneof(
  textArb,
  fc
    .tuple(
      textArb.filter((t) => t.length > 0),
      fc.integer({ min: 10, max: 60 }),
    )
    .map(([text, times]) => text.repeat(times)),
);

const outputArb: fc.Arbitrary<unknown> = fc.oneof(
  sizedTextArb.map((text) => ({ text })),
  sizedTextArb,
  fc.record({ items: fc.array(textArb, { maxLength: 5 }), name: sizedTextArb, n: fc.integer() }),
);

/** A dependency's work as the store keeps it: inline, or an artifact (whole or ranged reads of its JSON). */
function stored(taskId: string, output: unknown, asArtifact: boolean, artifacts: Map<string, Uint8Array>) {
  if (!asArtifact) return { taskId, status: 'SUCCEEDED' as const, output, dependsOn: [] };
  const serialized = serializeOutput(output);
  const bytes = new TextEncoder().encode(serialized.json);
  const location = `s3://bucket/${taskId}`;
  artifacts.set(location, bytes);
  const ref: ArtifactRef = {
    location,
    bytes: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    contentType: 'application/json',
    format: serialized.format,
    ...(serialized.fields ? { fields: serialized.fields } : {}),
  };
  return { taskId, status: 'SUCCEEDED' as const, outputRef: ref, dependsOn: [] };
}

function contextDeps(work: readonly TaskWork[], artifacts: Map<string, Uint8Array>): ContextDeps {
  const body = (ref: ArtifactRef) => artifacts.get(ref.location) ?? new Uint8Array();
  return {
    store: { getWork: async (_batch, ids) => work.filter((w) => ids.includes(w.taskId)) },
    artifacts: {
      read: async (ref) => body(ref),
      readHead: async (ref, bytes) => body(ref).subarray(0, bytes),
    },
  };
}

/** The prompt the agent worker sends for attempt `attempt` (agent-worker.ts), and the bound held for it. */
async function renderedAndBound(args: {
  role: Role;
  task: Task;
  work: readonly TaskWork[];
  artifacts: Map<string, Uint8Array>;
  approvals: readonly ApprovalRecord[];
  attempt: number;
}) {
  const requirements = extractRequirements(args.task, catalog);
  const context = await attemptContext(contextDeps(args.work, args.artifacts), BATCH, args.task, {
    number: args.attempt,
    approvals: args.approvals,
  });
  const prompt = renderPrompt(args.role, context?.task ?? args.task, requirements, context?.section ?? '');
  const bound = promptBytesBound({
    role: args.role,
    task: args.task,
    requirements,
    approvals: args.approvals,
    attempt: args.attempt,
  });
  return { rendered: utf8Length(prompt), bound };
}

const placeholder = (dep: string, field: boolean) => `{{deps.${dep}.output${field ? '.name' : ''}}}`;
const rejection = (comment: string, attempt: number): ApprovalRecord => ({
  stage: 'after',
  decision: 'reject',
  by: 'person',
  comment,
  attempt,
  at: 1,
});

const templateArb = fc
  .record({
    description: fc.integer({ min: 0, max: 3 }),
    input: fc.integer({ min: 0, max: 3 }),
    context: fc.integer({ min: 0, max: 3 }),
    filler: fc.constantFrom('', 'Role {{role}} ({{roleDescription}}), task {{taskId}}.\n'),
  })
  .map(({ description, input, context, filler }) =>
    [
      filler,
      ...Array.from({ length: description }, () => 'D: {{description}}\n'),
      ...Array.from({ length: input }, () => 'I: {{input}}\n'),
      ...Array.from({ length: context }, () => '{{context}}'),
      'Requirements: {{requirements}}',
    ].join(''),
  );

describe('the prompt bound a budget holds', () => {
  it('is never passed by a prompt rendered from random templates, tasks, outputs and reviews', async () => {
    await fc.assert(
      fc.asyncProperty(
        templateArb,
        fc.record({
          outputs: fc.array(fc.tuple(outputArb, fc.boolean()), { minLength: 3, maxLength: 3 }),
          inDescription: fc.array(fc.tuple(fc.constantFrom(...DEPS), fc.boolean()), { maxLength: 3 }),
          inInput: fc.array(fc.tuple(fc.constantFrom(...DEPS), fc.boolean(), fc.boolean()), { maxLength: 3 }),
          section: fc.subarray([...DEPS]),
          budget: fc.integer({ min: MIN_CONTEXT_BUDGET_BYTES, max: 4_096 }),
          reviews: fc.array(textArb, { maxLength: 2 }),
        }),
        async (template, c) => {
          const artifacts = new Map<string, Uint8Array>();
          const work = DEPS.map((id, i) => {
            const [output, asArtifact] = c.outputs[i] as [unknown, boolean];
            return stored(id, output, asArtifact, artifacts);
          });
          const input: Record<string, unknown> = {};
          c.inInput.forEach(([dep, field, exact], i) => {
            input[`k${i}`] = exact ? placeholder(dep, field) : `see ${placeholder(dep, field)} "here"`;
          });
          const task: Task = {
            id: 't',
            description: `Use ${c.inDescription.map(([dep, field]) => placeholder(dep, field)).join(' and ')}`,
            role: 'python_backend_coder',
            dependsOn: [...DEPS],
            context: c.section.length > 0 ? c.section : 'none',
            contextBudgetBytes: c.budget,
            ...(c.inInput.length > 0 ? { input } : {}),
          };
          const approvals = c.reviews.map((comment, i) => rejection(comment, i + 1));
          const { rendered, bound } = await renderedAndBound({
            role: { ...builtIn, promptTemplate: template },
            task,
            work,
            artifacts,
            approvals,
            attempt: approvals.length + 1,
          });
          expect(rendered).toBeLessThanOrEqual(bound);
        },
      ),
      { numRuns: 300 },
    );
  }, 120_000);

  it("is reached, within the cut marker's digits, by a built-in template (one of each placeholder)", async () => {
    // A dependency whose output is larger than the budget fills the section to it: its first bytes and a cut
    // marker, whose byte counts the planner reserves at their widest (the shown count may take fewer digits).
    const MARKER_DIGITS_SLACK = 6;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: MIN_CONTEXT_BUDGET_BYTES, max: 200_000 }),
        fc.array(textArb, { maxLength: 2 }),
        async (budget, reviews) => {
          const task: Task = {
            id: 't',
            description: 'Build on the plan',
            role: 'python_backend_coder',
            dependsOn: ['plan'],
            contextBudgetBytes: budget,
          };
          const approvals = reviews.map((comment, i) => rejection(comment, i + 1));
          const output = { text: 'p'.repeat(2 * budget) };
          const { rendered, bound } = await renderedAndBound({
            role: builtIn,
            task,
            work: [{ taskId: 'plan', status: 'SUCCEEDED', output, dependsOn: [] }],
            artifacts: new Map(),
            approvals,
            attempt: approvals.length + 1,
          });
          expect(rendered).toBeLessThanOrEqual(bound);
          expect(bound - rendered).toBeLessThanOrEqual(MARKER_DIGITS_SLACK);
        },
      ),
      { numRuns: 50 },
    );
  }, 120_000);

  it('counts the separator of a section appended to a template without {{context}}', async () => {
    const task: Task = { id: 't', description: 'Write it again', role: 'python_backend_coder' };
    const approvals = [rejection('The tests are missing', 1)];
    const { rendered, bound } = await renderedAndBound({
      role: { ...builtIn, promptTemplate: 'Task {{taskId}}: {{description}} ({{input}})' },
      task,
      work: [],
      artifacts: new Map(),
      approvals,
      attempt: 2,
    });

    expect(rendered).toBe(bound);
  });
});
