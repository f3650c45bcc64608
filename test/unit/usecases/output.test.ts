import { describe, expect, it } from 'vitest';
import { OUTPUT_RESPONSE_MAX_BYTES, OUTPUT_URL_TTL_SECONDS } from '../../../shared/domain/limits';
import { serializeOutput } from '../../../shared/domain/outputs';
import { NotFoundError, type StoredTask, type TaskStore } from '../../../shared/ports';
import { getTaskOutput } from '../../../shared/usecases/output';
import { batchOf } from '../../support/fixtures';
import { MemoryArtifacts } from '../../support/memory-artifacts';

function storeWith(task: Partial<StoredTask>): TaskStore {
  const [base] = batchOf('b', [{ id: 't', description: 'x' }]).tasks;
  return { getTask: async () => (base ? { ...base, ...task } : undefined) } as unknown as TaskStore;
}

describe('getTaskOutput', () => {
  it('answers an inline output as its JSON', async () => {
    const store = storeWith({ status: 'SUCCEEDED', output: { text: 'done' } });

    const output = await getTaskOutput({ store, artifacts: new MemoryArtifacts() }, 'b', 't');

    expect(output).toEqual({ kind: 'body', json: '{"text":"done"}' });
  });

  it('reads a stored artifact up to OUTPUT_RESPONSE_MAX_BYTES whole, and redirects above it', async () => {
    const artifacts = new MemoryArtifacts();
    const small = serializeOutput({ text: 's'.repeat(100) });
    const large = serializeOutput({ text: 'l'.repeat(OUTPUT_RESPONSE_MAX_BYTES) });
    const smallRef = await artifacts.put('outputs/b/t/attempt-1.json', small.json, small);
    const largeRef = await artifacts.put('outputs/b/t/attempt-2.json', large.json, large);

    const body = await getTaskOutput({ store: storeWith({ outputRef: smallRef }), artifacts }, 'b', 't');
    const redirect = await getTaskOutput({ store: storeWith({ outputRef: largeRef }), artifacts }, 'b', 't');

    expect(body).toEqual({ kind: 'body', json: small.json, ref: smallRef });
    expect(redirect).toEqual({
      kind: 'redirect',
      url: `https://memory.invalid/outputs/b/t/attempt-2.json?expires=${OUTPUT_URL_TTL_SECONDS}`,
      ref: largeRef,
      expiresInSeconds: OUTPUT_URL_TTL_SECONDS,
    });
    expect(artifacts.reads).toEqual([{ location: smallRef.location }]);
  });

  it('says why a task has no output', async () => {
    const artifacts = new MemoryArtifacts();
    const missing = (status: StoredTask['status']) =>
      getTaskOutput({ store: storeWith({ status }), artifacts }, 'b', 't').catch((e: unknown) => e);

    expect(await missing('FAILED')).toEqual(
      new NotFoundError('output', 'b/t', 'task "t" has no output: it is FAILED'),
    );
    expect((await missing('RUNNING')) as Error).toHaveProperty(
      'message',
      'task "t" has no output: it is RUNNING (not finished yet)',
    );
    expect(
      await getTaskOutput(
        { store: { getTask: async () => undefined } as unknown as TaskStore, artifacts },
        'b',
        'x',
      ).catch((e: unknown) => (e as Error).message),
    ).toBe('task "b/x" not found');
  });
});
