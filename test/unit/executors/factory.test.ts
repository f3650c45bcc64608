import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  AnthropicExecutor,
  BedrockExecutor,
  createExecutor,
  ExecutorConfigError,
  HttpExecutor,
  OpenAiExecutor,
  ProviderLimiter,
} from '../../../shared/adapters/executors';
import type { ExecutorConfig } from '../../../shared/domain/schemas';
import { type FakeProvider, startFakeProvider } from './fake-provider';
import { makeRequest } from './provider-contract';

describe('createExecutor', () => {
  let server: FakeProvider | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('builds every provider from its config alone', () => {
    expect(createExecutor({ name: 'bedrock' })).toBeInstanceOf(BedrockExecutor);
    expect(createExecutor({ name: 'anthropic' })).toBeInstanceOf(AnthropicExecutor);
    expect(createExecutor({ name: 'openai' })).toBeInstanceOf(OpenAiExecutor);
    expect(createExecutor({ name: 'http', url: 'https://agents.example.com/run' })).toBeInstanceOf(
      HttpExecutor,
    );
  });

  it('refuses an unknown executor name', () => {
    const config = { name: 'mystery' } as unknown as ExecutorConfig;

    expect(() => createExecutor(config)).toThrow(ExecutorConfigError);
  });

  it('refuses a base URL that is not http(s)', () => {
    expect(() => createExecutor({ name: 'openai' }, { env: { OPENAI_BASE_URL: 'ftp://x' } })).toThrow(
      ExecutorConfigError,
    );
  });

  it('refuses a PROVIDER_MAX_CONCURRENCY that is not a positive integer', () => {
    expect(() => createExecutor({ name: 'bedrock' }, { env: { PROVIDER_MAX_CONCURRENCY: 'lots' } })).toThrow(
      /PROVIDER_MAX_CONCURRENCY/,
    );
  });

  it('takes the API key from the secrets file named in the environment when no resolver is injected', async () => {
    dir = await mkdtemp(join(tmpdir(), 'meta-agent-factory-'));
    const secretsFile = join(dir, 'secrets.json');
    await writeFile(secretsFile, JSON.stringify({ openai: 'sk-from-file' }));
    server = await startFakeProvider([
      {
        status: 200,
        json: {
          id: 'c',
          object: 'chat.completion',
          created: 1,
          model: 'm',
          choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
        },
      },
    ]);
    const executor = createExecutor(
      { name: 'openai', model: 'm' },
      {
        env: { OPENAI_BASE_URL: `${server.url}/v1`, META_AGENT_SECRETS_FILE: secretsFile },
        limiter: new ProviderLimiter(),
      },
    );

    const outcome = await executor.execute(makeRequest(), new AbortController().signal);

    expect(server.requests[0]?.headers.authorization).toBe('Bearer sk-from-file');
    expect(outcome.output).toMatchObject({ text: 'ok' });
  });
});
