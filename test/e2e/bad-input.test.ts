/**
 * Bad input never starts work: 400 with the JSON path of every problem, and no batch is created.
 */
import { describe, expect, it } from 'vitest';
import { SHORT_TASK_MS } from './support/batches';
import { ApiClient, uniqueBatchId } from './support/client';
import { readE2eConfig } from './support/env';

const api = new ApiClient(readE2eConfig());

interface ErrorBody {
  issues?: { path: string; message: string }[];
}

const simulate = { simulate: { durationMs: SHORT_TASK_MS } };

describe('a batch with bad input', () => {
  it('rejects a dependency cycle with 400 at the dependency that closes it, and creates nothing', async () => {
    const batchId = uniqueBatchId('cycle');
    const batch = {
      batchId,
      tasks: [
        { id: 'schema', description: 'Design the schema', dependsOn: ['seed'], input: simulate },
        { id: 'migrate', description: 'Write the migration', dependsOn: ['schema'], input: simulate },
        { id: 'seed', description: 'Seed the tables', dependsOn: ['migrate'], input: simulate },
      ],
    };

    const response = await api.submit(batch);

    expect(response.status, JSON.stringify(response.body)).toBe(400);
    const issues = (response.body as ErrorBody).issues ?? [];
    expect(issues, JSON.stringify(response.body)).toContainEqual({
      path: expect.stringMatching(/^\$\.tasks\[[0-2]\]\.dependsOn\[0\]$/),
      message: expect.stringContaining('cycle'),
    });
    expect((await api.getBatch(batchId)).status).toBe(404);
  });

  it('rejects an unknown dependency with 400 at its exact path, and creates nothing', async () => {
    const batchId = uniqueBatchId('unknown-dep');
    const batch = {
      batchId,
      tasks: [
        { id: 'api', description: 'Write the endpoint', input: simulate },
        { id: 'tests', description: 'Test the endpoint', dependsOn: ['api', 'fixtures'], input: simulate },
      ],
    };

    const response = await api.submit(batch);

    expect(response.status, JSON.stringify(response.body)).toBe(400);
    const issues = (response.body as ErrorBody).issues ?? [];
    expect(issues, JSON.stringify(response.body)).toContainEqual({
      path: '$.tasks[1].dependsOn[1]',
      message: expect.stringContaining('fixtures'),
    });
    expect((await api.getBatch(batchId)).status).toBe(404);
  });
});
