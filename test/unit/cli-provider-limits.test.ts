import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../shared/local/cli/main';
import { fakeIO } from '../support/fake-io';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meta-agent-provider-limits-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('meta-agent run with costs.providerLimits', () => {
  it('exits 2 before running anything when a limit is zero, negative, fractional or malformed, naming each path', async () => {
    const config = join(dir, 'bad-limits.json');
    await writeFile(
      config,
      JSON.stringify({
        costs: {
          providerLimits: [
            { provider: 'anthropic', maxConcurrent: 0 },
            { provider: 'openai', maxConcurrent: -2 },
            { provider: 'http', maxConcurrent: 1.5 },
            { provider: 'bedrock', requestsPerMinute: 'fast' },
          ],
        },
      }),
    );
    const io = fakeIO();

    expect(await main(['run', 'examples/auth-feature.json', '--config', config], io)).toBe(2);

    for (const path of [
      '$.costs.providerLimits[0].maxConcurrent',
      '$.costs.providerLimits[1].maxConcurrent',
      '$.costs.providerLimits[2].maxConcurrent',
      '$.costs.providerLimits[3].requestsPerMinute',
    ])
      expect(io.err).toContain(path);
    expect(io.out).toBe('');
  });
});
