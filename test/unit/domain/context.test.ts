import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  boundedContextRecord,
  contextIds,
  dependencyOrder,
  placedCost,
  planContext,
  RECORD_PLACEHOLDER_CHARS,
  type RenderedContext,
  readWhole,
  renderContext,
  type TaskWork,
  wholeReadsOf,
} from '../../../shared/domain/context';
import { MAX_CONTEXT_RECORD_BYTES } from '../../../shared/domain/limits';
import type { ArtifactRef, ContextRecord, Task } from '../../../shared/domain/schemas';
import { utf8Length } from '../../../shared/domain/utf8';
import { storedOutput } from '../../support/stored-output';

const done = (taskId: string, output: unknown, extra: Partial<TaskWork> = {}): TaskWork => ({
  taskId,
  status: 'SUCCEEDED',
  role: 'database_designer',
  agentId: `agent-${taskId}`,
  output,
  dependsOn: [],
  ...extra,
});

/** A stored output: its reference, and its bytes by location. */
function stored(taskId: string, output: unknown): { work: TaskWork; bytes: Map<string, Uint8Array> } {
  const { work, bytes } = storedOutput(taskId, output);
  return { work, bytes: new Map([[work.outputRef?.location as string, bytes]]) };
}

/** Plans, reads what the plan asks (from `bytes`), renders: what the worker does, without I/O. */
function assemble(
  task: Task,
  works: TaskWork[],
  budgetBytes = 100_000,
  bytes = new Map<string, Uint8Array>(),
): RenderedContext {
  const work = new Map(works.map((w) => [w.taskId, w]));
  const whole = new Map(
    wholeReadsOf(task, work, budgetBytes).map((ref) => [
      ref.location,
      readWhole(task, work, budgetBytes, ref, bytes.get(ref.location) as Uint8Array),
    ]),
  );
  const plan = planContext({ batchId: 'b', task, budgetBytes, work, whole });
  const heads = new Map(
    plan.reads.map((r) => [r.ref.location, (bytes.get(r.ref.location) as Uint8Array).subarray(0, r.bytes)]),
  );
  return renderContext(task, plan, heads);
}

const task = (fields: Partial<Task>): Task => ({ id: 't', description: 'Write the endpoint', ...fields });

describe('which work a task receives', () => {
  it('takes its direct dependencies by default, none with "none", and the listed tasks otherwise', () => {
    expect(contextIds({ dependsOn: ['a', 'b', 'a'] })).toEqual(['a', 'b']);
    expect(contextIds({ dependsOn: ['a'], context: 'none' })).toEqual([]);
    expect(contextIds({ dependsOn: ['a'], context: ['root', 'a'] })).toEqual(['root', 'a']);
  });

  it('orders the listed tasks so that each comes after those of them it depends on', () => {
    const work = new Map([
      ['api', done('api', 'x', { dependsOn: ['schema'] })],
      ['schema', done('schema', 'y')],
      ['docs', done('docs', 'z', { dependsOn: ['api'] })],
    ]);

    expect(dependencyOrder(['docs', 'api', 'schema'], work)).toEqual(['schema', 'api', 'docs']);
    expect(dependencyOrder(['b', 'a'], new Map())).toEqual(['b', 'a']);
  });
});

describe('the context section', () => {
  it("shows each dependency's id, role, agent and whole output, in dependency order", () => {
    const result = assemble(task({ dependsOn: ['api', 'schema'] }), [
      done('schema', { text: 'CREATE TABLE users (id uuid);', stopReason: 'end_turn', model: 'm' }),
      done('api', { endpoint: '/login' }, { dependsOn: ['schema'], role: 'python_backend_coder' }),
    ]);

    expect(result.section).toContain(
      '--- schema (role database_designer, agent agent-schema) ---\nCREATE TABLE users (id uuid);\n\n',
    );
    expect(result.section).toContain(
      '--- api (role python_backend_coder, agent agent-api) ---\n{"endpoint":"/login"}\n\n',
    );
    expect(result.section.indexOf('--- schema')).toBeLessThan(result.section.indexOf('--- api'));
    expect(result.items.map((i) => [i.taskId, i.cut, i.output])).toEqual([
      ['schema', false, { text: 'CREATE TABLE users (id uuid);', stopReason: 'end_turn', model: 'm' }],
      ['api', false, { endpoint: '/login' }],
    ]);
    expect(result.record.usedBytes).toBe(utf8Length(result.section));
    expect(result.record.items.map((i) => i.kind)).toEqual(['passed', 'passed']);
  });

  it('passes a marker, never the output, for a dependency that failed, was skipped or has not finished', () => {
    const result = assemble(task({ dependsOn: ['a', 'b', 'c'] }), [
      done('a', { secret: 'must not leak' }, { status: 'FAILED', reason: 'failed after 3 attempts' }),
      done('b', undefined, { status: 'SKIPPED' }),
      done('c', undefined, { status: 'RUNNING' }),
    ]);

    expect(result.section).not.toContain('must not leak');
    expect(result.section).toContain(
      '[no output of a: it FAILED: failed after 3 attempts; its output is never passed on]',
    );
    expect(result.section).toContain('[no output of b: it SKIPPED');
    expect(result.section).toContain(
      '[no output of c: it had not finished (RUNNING) when this task started]',
    );
    expect(result.record.items.map((i) => [i.kind, i.bytes, i.cut])).toEqual([
      ['failed', 0, false],
      ['skipped', 0, false],
      ['pending', 0, false],
    ]);
  });

  it('gives every output a fair share: small ones whole, a large one cut with a marker naming the whole', () => {
    const large = 'L'.repeat(50_000);
    const result = assemble(
      task({ dependsOn: ['small', 'large'], contextBudgetBytes: 10_000 }),
      [done('small', 'tiny output'), done('large', large)],
      10_000,
    );

    expect(result.section).toContain('tiny output');
    expect(result.section).toMatch(
      /\[cut: \d+ of 50002 bytes of large's output shown; the whole output: GET \/batches\/b\/tasks\/large\/output \(50002 bytes\)\]/,
    );
    expect(result.record.usedBytes).toBeLessThanOrEqual(10_000);
    expect(result.record.usedBytes).toBeGreaterThan(9_000);
    const cut = result.items.find((i) => i.taskId === 'large');
    expect(cut?.cut).toBe(true);
    expect(cut?.excerpt?.startsWith('LLLL')).toBe(true);
  });

  it('reads only the first bytes of a large stored output and names its location, size and sha256 when cut', () => {
    const text = `${'line of generated code\n'.repeat(50_000)}`;
    const { work, bytes } = stored('gen', { text, stopReason: 'end_turn' });
    const dependent = task({ dependsOn: ['gen'] });
    const planned = planContext({
      batchId: 'b',
      task: dependent,
      budgetBytes: 4_000,
      work: new Map([['gen', work]]),
    });

    const result = assemble(dependent, [work], 4_000, bytes);

    expect(planned.reads).toHaveLength(1);
    expect(planned.reads[0]?.bytes).toBeLessThan(4_000);
    expect(result.section).toContain('line of generated code\nline of generated code\n');
    expect(result.section).toContain(
      `the whole output: ${work.outputRef?.location} (${work.outputRef?.bytes} bytes, sha256 ${'f'.repeat(64)})]`,
    );
    expect(result.record.usedBytes).toBeLessThanOrEqual(4_000);
    expect(result.items[0]).toMatchObject({
      cut: true,
      ref: work.outputRef,
      totalBytes: work.outputRef?.bytes,
    });
  });

  it('leaves out the last dependencies, saying how many, when even their headers pass the budget', () => {
    const ids = Array.from({ length: 100 }, (_, i) => `dependency-with-a-long-name-${i}`);
    const result = assemble(
      task({ dependsOn: ids }),
      ids.map((id) => done(id, 'x'.repeat(100))),
      1_024,
    );

    expect(result.record.usedBytes).toBeLessThanOrEqual(1_024);
    expect(result.section).toMatch(
      /\[\d+ more tasks left out: their headers alone would pass the context budget of 1024 bytes\]/,
    );
    // (Listed, or counted past MAX_CONTEXT_RECORD_BYTES.)
    const omitted = result.record.items.filter((i) => i.kind === 'omitted').length;
    expect(omitted + (result.record.unlisted?.kinds.omitted ?? 0)).toBeGreaterThan(80);
  });

  it('keeps the whole request within the budget whatever the outputs weigh (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(30_000), fc.boolean(), fc.boolean()), { minLength: 1, maxLength: 20 }),
        fc.integer({ min: 1_024, max: 60_000 }),
        (deps, budget) => {
          const works: TaskWork[] = [];
          const bytes = new Map<string, Uint8Array>();
          deps.forEach(([size, isStored, isText], i) => {
            const output = isText ? { text: `é"${'x'.repeat(size)}` } : { data: 'y'.repeat(size) };
            if (isStored) {
              const s = stored(`d${i}`, output);
              works.push(s.work);
              for (const [k, v] of s.bytes) bytes.set(k, v);
            } else works.push(done(`d${i}`, output));
          });
          const dependent = task({
            dependsOn: works.map((w) => w.taskId),
            description: 'Use {{deps.d0.output}} here',
            input: { exact: '{{deps.d0.output}}', inside: 'see {{deps.d0.output}}' },
          });

          const result = assemble(dependent, works, budget, bytes);

          const inserted =
            placedCost(result.task.description, false) -
            placedCost('Use  here', false) +
            placedCost(JSON.stringify(result.task.input), false) -
            placedCost(JSON.stringify({ exact: '', inside: 'see ' }), false);
          expect(result.record.usedBytes).toBeLessThanOrEqual(budget);
          expect(utf8Length(result.section) + inserted).toBeLessThanOrEqual(budget + 2);
          for (const item of result.items)
            if (!item.cut && item.kind === 'passed') expect(item.bytes).toBeGreaterThanOrEqual(0);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('placeholders', () => {
  it('puts an output into the description, and a JSON output as the value of an input string that is only it', () => {
    const result = assemble(
      task({
        dependsOn: ['schema', 'notes'],
        context: 'none',
        description: 'Implement against {{deps.notes.output}}.',
        input: { schema: '{{deps.schema.output}}', hint: 'table {{deps.schema.output.tables[0].name}}!' },
      }),
      [done('schema', { tables: [{ name: 'users' }] }), done('notes', { text: 'the notes', model: 'm' })],
    );

    expect(result.section).toBe('');
    expect(result.task.description).toBe('Implement against the notes.');
    expect(result.task.input).toEqual({ schema: { tables: [{ name: 'users' }] }, hint: 'table users!' });
    expect(result.record.items.map((i) => i.placeholder)).toEqual([
      '{{deps.notes.output}}',
      '{{deps.schema.output}}',
      '{{deps.schema.output.tables[0].name}}',
    ]);
  });

  it('reads a field of a stored output whole, and says so when the output has no such field', () => {
    const { work, bytes } = stored('plan', { steps: ['a', 'b'], notes: 'n'.repeat(70_000) });
    const dependent = task({
      dependsOn: ['plan'],
      context: 'none',
      description: 'Do {{deps.plan.output.steps[1]}} then {{deps.plan.output.missing}}',
    });

    expect(wholeReadsOf(dependent, new Map([['plan', work]]), 100_000)).toEqual([work.outputRef]);
    const result = assemble(dependent, [work], 100_000, bytes);

    expect(result.task.description).toBe('Do b then [no field missing in the output of plan]');
  });

  it('keeps of an output read whole only what fits the budget: a field larger than it by its start', () => {
    const { work, bytes } = stored('plan', { steps: ['a', 'b'], notes: `${'n'.repeat(200_000)}END` });
    const dependent = task({
      dependsOn: ['plan'],
      context: 'none',
      description: 'Do {{deps.plan.output.steps[1]}}: {{deps.plan.output.notes}}',
    });
    const works = new Map([['plan', work]]);
    const ref = work.outputRef as ArtifactRef;

    const kept = readWhole(dependent, works, 10_000, ref, bytes.get(ref.location) as Uint8Array);
    const result = assemble(dependent, [work], 10_000, bytes);

    expect(kept.value).toBeUndefined();
    expect(kept.sites.get(0)).toEqual({ type: 'value', value: 'b' });
    expect(kept.sites.get(1)).toEqual({ type: 'clipped', text: 'n'.repeat(10_001) });
    expect(result.task.description).toMatch(/^Do b: n+\n\[cut: \d+ of \d+ bytes of plan's output shown; /);
    expect(result.record.usedBytes).toBeLessThanOrEqual(10_000);
  });

  it('reads a JSON output placed in input by its first bytes when the budget could not hold it whole', () => {
    const big = stored('big', { rows: 'r'.repeat(300_000) });
    const small = stored('small', { rows: ['a', 'b'] });
    const dependent = task({
      dependsOn: ['big', 'small'],
      context: 'none',
      input: { data: '{{deps.big.output}}', sample: '{{deps.small.output}}' },
    });
    const work = new Map([
      ['big', big.work],
      ['small', small.work],
    ]);

    expect(wholeReadsOf(dependent, work, 100_000)).toEqual([small.work.outputRef]);
    const result = assemble(
      dependent,
      [big.work, small.work],
      100_000,
      new Map([...big.bytes, ...small.bytes]),
    );

    const input = result.task.input as { data: string; sample: unknown };
    expect(input.sample).toEqual({ rows: ['a', 'b'] });
    expect(input.data.startsWith('{"rows":"rrr')).toBe(true);
    expect(input.data).toContain(`[cut: `);
    expect(input.data).toContain(`of ${big.work.outputRef?.bytes} bytes of big's output shown`);
    expect(result.record.usedBytes).toBeLessThanOrEqual(100_000);
  });

  it('marks a placeholder whose task did not succeed instead of passing anything', () => {
    const result = assemble(
      task({ dependsOn: ['a'], context: 'none', description: 'x {{deps.a.output}} y' }),
      [done('a', 'secret', { status: 'FAILED' })],
    );

    expect(result.task.description).toBe('x [no output of a: it FAILED; its output is never passed on] y');
  });
});

describe("an attempt's context record", () => {
  type Item = ContextRecord['items'][number];
  const item = (n: number, extra: Partial<Item> = {}): Item => ({
    taskId: `task-${n}-`.padEnd(128, 'x'),
    kind: 'passed',
    bytes: n,
    totalBytes: 10 * n,
    cut: n % 2 === 0,
    ...extra,
  });
  const record = (items: Item[]): ContextRecord => ({ budgetBytes: 100_000, usedBytes: 12_345, items });
  const bytesOf = (value: unknown) => utf8Length(JSON.stringify(value));

  it('is kept as it is when it fits MAX_CONTEXT_RECORD_BYTES', () => {
    const small = record([item(1), item(2, { placeholder: '{{deps.a.output.x}}' })]);

    expect(boundedContextRecord(small)).toEqual(small);
  });

  it("shortens placeholders' texts first, then lists items while they fit and counts the rest", () => {
    const long = `{{deps.a.output.${'f'.repeat(2_000)}}}`;
    const few = record([item(1, { placeholder: long }), item(2, { placeholder: long })]);
    const many = record(Array.from({ length: 200 }, (_, i) => item(i + 1, { placeholder: long })));

    const shortened = boundedContextRecord(few, 1_024);
    const bounded = boundedContextRecord(many);

    expect(shortened.items.map((i) => i.placeholder)).toEqual([
      `${long.slice(0, RECORD_PLACEHOLDER_CHARS - 1)}\u2026`,
      `${long.slice(0, RECORD_PLACEHOLDER_CHARS - 1)}\u2026`,
    ]);
    expect(shortened.unlisted).toBeUndefined();
    expect(bytesOf(bounded)).toBeLessThanOrEqual(MAX_CONTEXT_RECORD_BYTES);
    expect(bytesOf(bounded)).toBeGreaterThan(MAX_CONTEXT_RECORD_BYTES - 500);
    expect(bounded.usedBytes).toBe(12_345);
    const listed = bounded.items.length;
    expect(bounded.items.map((i) => i.taskId)).toEqual(many.items.slice(0, listed).map((i) => i.taskId));
    const left = many.items.slice(listed);
    expect(bounded.unlisted).toEqual({
      count: left.length,
      bytes: left.reduce((s, i) => s + i.bytes, 0),
      totalBytes: left.reduce((s, i) => s + i.totalBytes, 0),
      cut: left.filter((i) => i.cut).length,
      kinds: { passed: left.length },
    });
  });

  it('keeps what an earlier bound counted when items are added in front (a rejection) and bounded again', () => {
    const many = record(Array.from({ length: 200 }, (_, i) => item(i + 1)));
    const once = boundedContextRecord(many);
    const rejection = item(0, { kind: 'rejection', bytes: 7, totalBytes: 7, cut: false });

    const twice = boundedContextRecord({ ...once, items: [rejection, ...once.items] });

    expect(bytesOf(twice)).toBeLessThanOrEqual(MAX_CONTEXT_RECORD_BYTES);
    expect(twice.items[0]).toEqual(rejection);
    expect(twice.items.length + (twice.unlisted?.count ?? 0)).toBe(201);
    expect(twice.unlisted?.kinds).toEqual({ passed: twice.unlisted?.count });
    const all = [rejection, ...many.items];
    expect((twice.unlisted?.bytes ?? 0) + twice.items.reduce((s, i) => s + i.bytes, 0)).toBe(
      all.reduce((s, i) => s + i.bytes, 0),
    );
  });
});
