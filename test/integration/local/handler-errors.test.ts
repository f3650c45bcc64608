/**
 * A handler error that outlives the state machine's retries (here: Route on a deployment without the role's
 * queue) fails its task with the error and skips its dependents; the batch still ends. Without the Catch the
 * child execution would end with the task unfinished, and on AWS its dependents' gates would wait forever.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvVar } from '../../../shared/config';
import { EmbeddedSystem } from '../../../shared/local/system';

let system: EmbeddedSystem;

beforeAll(async () => {
  // A deployment whose router knows no role queue: every Route throws ConfigurationError.
  system = await EmbeddedSystem.start({ scalerIntervalMs: 0, env: { [EnvVar.RoleQueueUrls]: '{}' } });
});

afterAll(async () => {
  await system?.stop();
});

describe('a handler error in a task', () => {
  it('fails the task with the error, skips its dependents and ends the batch', async () => {
    const { batchId } = await system.submit({
      batchId: 'route-errors',
      tasks: [
        { id: 'docs', description: 'Write the API reference', role: 'documentation_writer' },
        { id: 'review', description: 'Review the API reference', role: 'code_reviewer', dependsOn: ['docs'] },
      ],
    });

    const result = await system.waitForBatch(batchId);

    expect(result.status).toBe('FAILED');
    const [docs, review] = result.tasks;
    expect(docs).toMatchObject({ id: 'docs', status: 'FAILED' });
    expect(docs?.reason).toBe(
      'failed: ConfigurationError: no queue configured for role "documentation_writer" (ROLE_QUEUE_URLS)',
    );
    expect(docs?.attempts).toEqual([]);
    expect(review).toMatchObject({ id: 'review', status: 'SKIPPED' });
    expect(review?.reason).toContain('docs (FAILED)');
    // Nothing was reserved for the task that never dispatched.
    const agents = await system.request({ method: 'GET', path: '/agents' });
    const body = JSON.parse(agents.body) as { agents: { reserved: number }[] };
    expect(body.agents.every((a) => a.reserved === 0)).toBe(true);
  });
});
