import { describe, expect, it } from 'vitest';
import type { AgentRegistry } from '../../../shared/ports';
import { putAgent } from '../../../shared/usecases/agents';
import { RequestValidationError } from '../../../shared/usecases/errors';
import { agentOf, catalog, ManualClock } from '../../support/fixtures';

describe('PUT /agents/{id} with a model', () => {
  it('refuses a retired model with its path, and takes a current one', async () => {
    const existing = agentOf('code_reviewer', 'code_reviewer-1');
    const updates: unknown[] = [];
    const agents = {
      get: async () => existing,
      update: async (_id: string, patch: unknown) => {
        updates.push(patch);
        return existing;
      },
      clearCredentials: async () => undefined,
    } as unknown as AgentRegistry;
    const deps = { agents, catalog, clock: new ManualClock(Date.UTC(2026, 11, 3)) };

    const refused = await putAgent(deps, 'code_reviewer-1', {
      executor: { name: 'anthropic', model: 'claude-sonnet-4-5' },
    }).catch((e: unknown) => e);
    await putAgent(deps, 'code_reviewer-1', { executor: { name: 'anthropic', model: 'claude-sonnet-5-5' } });

    expect(refused).toBeInstanceOf(RequestValidationError);
    expect((refused as RequestValidationError).issues).toEqual([
      { path: '$.executor.model', message: expect.stringContaining('reached its end of life on 2026-11-30') },
    ]);
    expect(updates).toEqual([{ executor: { name: 'anthropic', model: 'claude-sonnet-5-5' } }]);
  });
});
