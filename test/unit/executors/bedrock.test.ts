import { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type BedrockExecutor,
  createExecutor,
  DEFAULT_BEDROCK_MODEL,
  ProviderLimiter,
} from '../../../shared/adapters/executors';
import { type FakeProvider, type Reply, startFakeProvider } from './fake-provider';
import { describeProviderContract, makeRequest } from './provider-contract';

const MODEL = 'anthropic.claude-3-haiku-20240307-v1:0';

function clientFor(server: FakeProvider): BedrockRuntimeClient {
  return new BedrockRuntimeClient({
    endpoint: server.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDFAKEFORTESTS', secretAccessKey: 'fake-secret' },
    maxAttempts: 1,
  });
}

const success: Reply = {
  status: 200,
  json: {
    output: { message: { role: 'assistant', content: [{ text: 'CREATE TABLE users (id bigint);' }] } },
    stopReason: 'end_turn',
    usage: {
      inputTokens: 25,
      outputTokens: 9,
      totalTokens: 42,
      cacheReadInputTokens: 5,
      cacheWriteInputTokens: 3,
    },
    metrics: { latencyMs: 120 },
  },
};

const errorType: Record<number, string> = {
  400: 'ValidationException',
  403: 'AccessDeniedException',
  404: 'ResourceNotFoundException',
  408: 'ModelTimeoutException',
  429: 'ThrottlingException',
  500: 'InternalServerException',
  503: 'ServiceUnavailableException',
};

const error = (status: number, headers?: Record<string, string>): Reply => ({
  status,
  json: { message: 'nope' },
  headers: { 'x-amzn-errortype': errorType[status] ?? 'InternalServerException', ...headers },
});

describeProviderContract({
  name: 'bedrock',
  model: MODEL,
  success,
  error,
  http2: true,
  create: (server, deps) =>
    createExecutor({ name: 'bedrock', model: MODEL }, { ...deps, bedrockClient: clientFor(server) }),
});

describe('bedrock executor', () => {
  let server: FakeProvider | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('calls Converse for the configured model with a SigV4-signed request and returns text, stop reason and usage', async () => {
    server = await startFakeProvider([success], { http2: true });
    const executor = createExecutor(
      { name: 'bedrock', model: MODEL },
      {
        bedrockClient: clientFor(server),
        limiter: new ProviderLimiter(),
      },
    );
    const request = makeRequest();

    const outcome = await executor.execute(request, new AbortController().signal);

    const received = server.requests[0];
    expect(received?.method).toBe('POST');
    expect(decodeURIComponent(received?.url ?? '')).toBe(`/model/${MODEL}/converse`);
    expect(received?.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDFAKEFORTESTS\//);
    const body = JSON.parse(received?.body ?? '{}');
    expect(body.messages).toEqual([{ role: 'user', content: [{ text: request.prompt }] }]);
    expect(body.system[0].text).toContain('python_backend_coder');
    expect(body.inferenceConfig.maxTokens).toBeGreaterThan(0);
    expect(outcome).toEqual({
      executor: 'bedrock',
      simulated: false,
      output: { text: 'CREATE TABLE users (id bigint);', stopReason: 'end_turn', model: MODEL },
      usage: { inputTokens: 25, outputTokens: 9, cacheReadTokens: 5, cacheWriteTokens: 3 },
      calls: [{ inputTokens: 25, outputTokens: 9, cacheReadTokens: 5, cacheWriteTokens: 3 }],
    });
  });

  it('uses the documented default Claude model when the config names none', () => {
    const executor = createExecutor({ name: 'bedrock' }) as BedrockExecutor;

    expect(executor.model).toBe(DEFAULT_BEDROCK_MODEL);
  });
});
