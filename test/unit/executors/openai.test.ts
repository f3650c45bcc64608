import { afterEach, describe, expect, it } from 'vitest';
import { createExecutor, ProviderLimiter } from '../../../shared/adapters/executors';
import type { SecretResolver } from '../../../shared/adapters/secrets';
import { type FakeProvider, type Reply, startFakeProvider } from './fake-provider';
import { describeProviderContract, makeRequest } from './provider-contract';

const API_KEY = 'sk-openai-test-key';
const secrets: SecretResolver = async (provider) => {
  if (provider !== 'openai') throw new Error(`unexpected provider ${provider}`);
  return API_KEY;
};

const success: Reply = {
  status: 200,
  json: {
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1_700_000_000,
    model: 'gpt-test',
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: 'def health(): return {"ok": True}', refusal: null },
        finish_reason: 'stop',
        logprobs: null,
      },
    ],
    usage: {
      prompt_tokens: 30,
      completion_tokens: 12,
      total_tokens: 42,
      prompt_tokens_details: { cached_tokens: 10 },
    },
  },
};

const error = (status: number, headers?: Record<string, string>): Reply => ({
  status,
  json: { error: { message: 'nope', type: status === 429 ? 'rate_limit_exceeded' : 'server_error' } },
  ...(headers ? { headers } : {}),
});

describeProviderContract({
  name: 'openai',
  model: 'gpt-test',
  success,
  error,
  create: (server, deps) =>
    createExecutor(
      { name: 'openai', model: 'gpt-test' },
      {
        ...deps,
        secrets,
        env: { OPENAI_BASE_URL: `${server.url}/v1` },
      },
    ),
});

describe('openai executor', () => {
  let server: FakeProvider | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('posts system and user messages to /v1/chat/completions with a bearer key and returns the text', async () => {
    server = await startFakeProvider([success]);
    const executor = createExecutor(
      { name: 'openai', model: 'gpt-test' },
      {
        secrets,
        env: { OPENAI_BASE_URL: `${server.url}/v1` },
        limiter: new ProviderLimiter(),
      },
    );
    const request = makeRequest();

    const outcome = await executor.execute(request, new AbortController().signal);

    const received = server.requests[0];
    expect(received?.url).toBe('/v1/chat/completions');
    expect(received?.headers.authorization).toBe(`Bearer ${API_KEY}`);
    const body = JSON.parse(received?.body ?? '{}');
    expect(body.model).toBe('gpt-test');
    expect(body.messages[0].role).toBe('system');
    expect(body.messages[1]).toEqual({ role: 'user', content: request.prompt });
    expect(outcome).toEqual({
      executor: 'openai',
      simulated: false,
      output: { text: 'def health(): return {"ok": True}', stopReason: 'stop', model: 'gpt-test' },
      // prompt_tokens counts the cached ones too: they are cache reads, not uncached input.
      usage: { inputTokens: 20, outputTokens: 12, cacheReadTokens: 10 },
      calls: [{ inputTokens: 20, outputTokens: 12, cacheReadTokens: 10 }],
    });
  });
});
