import { describe, expect, it } from 'vitest';
import { RoutingDecisionSchema } from '../../shared/domain/schemas';
import { main } from '../../shared/local/cli/main';
import { fakeIO } from '../support/fake-io';

describe('meta-agent route', () => {
  it('prints one decision per task of the auth example, each with its score breakdown', async () => {
    const io = fakeIO();

    const code = await main(['route', 'examples/auth-feature.json', '--json'], io);

    expect(code).toBe(0);
    const { decisions } = JSON.parse(io.out) as { decisions: unknown[] };
    expect(decisions).toHaveLength(6);
    for (const decision of decisions) {
      const parsed = RoutingDecisionSchema.parse(decision);
      expect(parsed.score).toBeGreaterThan(0);
      expect(parsed.agentId.startsWith(parsed.role)).toBe(true);
    }
  });

  it('routes the schema task to the database designer and the review to the security auditor', async () => {
    const io = fakeIO();

    await main(['route', 'examples/auth-feature.json', '--json'], io);

    const { decisions } = JSON.parse(io.out) as { decisions: { taskId: string; role: string }[] };
    const roleOf = (id: string) => decisions.find((d) => d.taskId === id)?.role;
    expect(roleOf('users-schema')).toBe('database_designer');
    expect(roleOf('login-api')).toBe('python_backend_coder');
    expect(roleOf('login-form')).toBe('typescript_frontend_agent');
  });

  it('prints a table naming role and score without --json', async () => {
    const io = fakeIO();

    const code = await main(['route', 'examples/auth-feature.json'], io);

    expect(code).toBe(0);
    expect(io.out).toMatch(/users-schema\s+database_designer\s+0\.\d{3}/);
  });

  it('exits 2 with the path of the problem on an invalid batch and routes nothing', async () => {
    const io = fakeIO();

    const code = await main(['route', 'test/fixtures/does-not-exist.json', '--json'], io);

    expect(code).toBe(2);
    expect(io.out).toBe('');
    expect(io.err).toContain('does-not-exist.json');
  });
});
