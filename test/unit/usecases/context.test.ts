/**
 * The context use case's reads of stored outputs: a field placeholder needs its output whole, and each such
 * output is read and parsed once per attempt, one at a time, and kept only for what the task takes of it.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { TaskWork } from '../../../shared/domain/context';
import type { ArtifactRef, Task } from '../../../shared/domain/schemas';
import { assembleContext } from '../../../shared/usecases/context';
import { storedOutput } from '../../support/stored-output';

const MIB = 1024 * 1024;

const stored = storedOutput;

/** An artifact store over `outputs` that counts whole reads and the most of them in flight at once. */
function artifactsOf(outputs: { work: TaskWork; bytes: Uint8Array }[]) {
  const byLocation = new Map(outputs.map((o) => [o.work.outputRef?.location, o.bytes]));
  const counts = { whole: 0, inFlight: 0, maxInFlight: 0 };
  const read = async (ref: ArtifactRef, bytes = ref.bytes) => {
    const whole = bytes >= ref.bytes ? 1 : 0;
    counts.whole += whole;
    counts.inFlight += whole;
    counts.maxInFlight = Math.max(counts.maxInFlight, counts.inFlight);
    await new Promise((resolve) => setTimeout(resolve, 5));
    counts.inFlight -= whole;
    return (byLocation.get(ref.location) as Uint8Array).subarray(0, bytes);
  };
  return { counts, artifacts: { read: (ref: ArtifactRef) => read(ref), readHead: read } };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("the work a task's attempt reads of stored outputs", () => {
  it('reads and parses each output a field placeholder names once, one output at a time', async () => {
    const plan = stored('plan', { steps: ['a', 'b'], notes: 'n'.repeat(3 * MIB) });
    const schema = stored('schema', { tables: ['users'], dump: 'd'.repeat(3 * MIB) });
    const { counts, artifacts } = artifactsOf([plan, schema]);
    const fields = Array.from({ length: 49 }, (_, i) => `{{deps.plan.output.steps[${i % 2}]}}`);
    const task: Task = {
      id: 'build',
      description: `Build ${fields.join(' ')} on {{deps.schema.output.tables[0]}}`,
      dependsOn: ['plan', 'schema'],
      input: { tables: '{{deps.schema.output.tables}}' },
    };
    const parse = vi.spyOn(JSON, 'parse');

    const context = await assembleContext(
      { store: { getWork: async () => [plan.work, schema.work] }, artifacts },
      'b',
      task,
    );

    // Each whole output parsed once (and the section's excerpts of them, read by their first bytes, never).
    expect(parse.mock.calls.filter(([text]) => String(text).length > MIB)).toHaveLength(2);
    expect(counts.whole).toBe(2);
    expect(counts.maxInFlight).toBe(1);
    expect(context?.task.description).toBe(
      `Build ${Array.from({ length: 49 }, (_, i) => ['a', 'b'][i % 2]).join(' ')} on users`,
    );
    expect(context?.task.input).toEqual({ tables: ['users'] });
  });
});
