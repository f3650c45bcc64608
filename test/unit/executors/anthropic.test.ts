import { afterEach, describe, expect, it } from 'vitest';
import {
  type AnthropicExecutor,
  createExecutor,
  DEFAULT_ANTHROPIC_MODEL,
  ProviderLimiter,
} from '../../../shared/adapters/executors';
import type { SecretResolver } from '../../../shared/adapters/secrets';
import { type FakeProvider, type Reply, recordingSleep, startFakeProvider } from './fake-provider';
import { describeProviderContract, HALF, makeRequest } from './provider-contract';

const API_KEY = 'sk-ant-test-key';
const secrets: SecretResolver = async (provider) => {
  if (provider !== 'anthropic') throw new Error(`unexpected provider ${provider}`);
  return API_KEY;
};

const success: Reply = {
  status: 200,
  json: {
    id: 'msg_01',
    type: 'message',
    role: 'assistant',
    model: 'claude-test-model',
    content: [
      { type: 'text', text: 'from fastapi import FastAPI' },
      { type: 'text', text: '\napp = FastAPI()' },
    ],
    stop_reason: 'end_turn',
    stop_sequence: null,
    usage: {
      input_tokens: 42,
      output_tokens: 17,
      cache_read_input_tokens: 100,
      cache_creation_input_tokens: 8,
    },
  },
};

const error = (status: number, headers?: Record<string, string>): Reply => ({
  status,
  json: {
    type: 'error',
    error: { type: status === 429 ? 'rate_limit_error' : 'api_error', message: 'nope' },
  },
  ...(headers ? { headers } : {}),
});

describeProviderContract({
  name: 'anthropic',
  model: 'claude-test-model',
  success,
  error,
  create: (server, deps) =>
    createExecutor(
      { name: 'anthropic', model: 'claude-test-model' },
      {
        ...deps,
        secrets,
        env: { ANTHROPIC_BASE_URL: server.url },
      },
    ),
});

describe('anthropic executor', () => {
  let server: FakeProvider | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('posts the prompt to /v1/messages with the key from the secret resolver and returns the text', async () => {
    server = await startFakeProvider([success]);
    const executor = createExecutor(
      { name: 'anthropic', model: 'claude-test-model' },
      {
        secrets,
        env: { ANTHROPIC_BASE_URL: server.url },
        limiter: new ProviderLimiter(),
      },
    );
    const request = makeRequest();

    const outcome = await executor.execute(request, new AbortController().signal);

    const received = server.requests[0];
    expect(received?.method).toBe('POST');
    expect(received?.url).toBe('/v1/messages');
    // SDK 1.x sends the key as a bearer token; older ones used x-api-key. Either must carry our secret.
    const sentKey =
      received?.headers['x-api-key'] ?? String(received?.headers.authorization).replace(/^Bearer /, '');
    expect(sentKey).toBe(API_KEY);
    const body = JSON.parse(received?.body ?? '{}');
    expect(body.model).toBe('claude-test-model');
    expect(body.messages).toEqual([{ role: 'user', content: request.prompt }]);
    expect(body.system).toContain('python_backend_coder');
    expect(body.max_tokens).toBeGreaterThan(0);
    expect(outcome).toEqual({
      executor: 'anthropic',
      simulated: false,
      output: {
        text: 'from fastapi import FastAPI\napp = FastAPI()',
        stopReason: 'end_turn',
        model: 'claude-test-model',
      },
      usage: { inputTokens: 42, outputTokens: 17, cacheReadTokens: 100, cacheWriteTokens: 8 },
      calls: [{ inputTokens: 42, outputTokens: 17, cacheReadTokens: 100, cacheWriteTokens: 8 }],
    });
  });

  it('backs off on 529 overloaded like on throttling', async () => {
    server = await startFakeProvider([error(529), success]);
    const { delays, sleep } = recordingSleep();
    const executor = createExecutor(
      { name: 'anthropic' },
      {
        secrets,
        env: { ANTHROPIC_BASE_URL: server.url },
        limiter: new ProviderLimiter(),
        sleep,
        random: HALF,
      },
    );

    await executor.execute(makeRequest(), new AbortController().signal);

    expect(server.requests).toHaveLength(2);
    expect(delays).toEqual([250]);
  });

  it('prefers the config url over ANTHROPIC_BASE_URL and defaults the model', () => {
    const executor = createExecutor(
      { name: 'anthropic', url: 'http://gateway.internal:8080' },
      { secrets, env: { ANTHROPIC_BASE_URL: 'http://ignored.example' } },
    ) as AnthropicExecutor;

    expect(executor.baseURL).toBe('http://gateway.internal:8080');
    expect(executor.model).toBe(DEFAULT_ANTHROPIC_MODEL);
  });
});
