/**
 * What the LLM executors make of answers that came back 200 but are no deliverable, each against a local
 * server speaking the provider's documented API shape: an answer cut at max_tokens, past the context window,
 * refused, filtered or empty fails the attempt (not retried, since the same prompt ends the same way) with
 * the provider, the model and what to change, and carries the call's usage (the provider billed it). A body
 * that is not the API's answer at all (an HTML page, an error object) is named as such, not as a network
 * failure.
 */
import { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import { afterEach, describe, expect, it } from 'vitest';
import { createExecutor, ProviderError, ProviderLimiter } from '../../../shared/adapters/executors';
import type { SecretResolver } from '../../../shared/adapters/secrets';
import { carriedUsage, MAX_CALL_TOKENS, reportedUsage } from '../../../shared/domain/costs';
import type { Usage } from '../../../shared/domain/schemas';
import type { AgentExecutor } from '../../../shared/ports';
import { type FakeProvider, type Reply, recordingSleep, startFakeProvider } from './fake-provider';
import { HALF, makeRequest } from './provider-contract';

const secrets: SecretResolver = async () => 'test-key';
const MAX_TOKENS = 1234;

type Llm = 'openai' | 'anthropic' | 'bedrock';

interface Shape {
  model: string;
  http2: boolean;
  /** A 200 answer with this text and stop reason, billed 10 tokens in and 5 out. */
  answer(text: string | null, stop: string, extra?: { refusal?: string }): Reply;
  usage: Usage;
  create(server: FakeProvider, options?: { maxOutputTokens?: number }): AgentExecutor;
}

const deps = () => ({ limiter: new ProviderLimiter(), sleep: recordingSleep().sleep, random: HALF });

const shapes: Record<Llm, Shape> = {
  openai: {
    model: 'gpt-test',
    http2: false,
    answer: (text, stop, extra) => ({
      status: 200,
      json: {
        id: 'chatcmpl-1',
        object: 'chat.completion',
        created: 1,
        model: 'gpt-test-2026-01-01',
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: text, refusal: extra?.refusal ?? null },
            finish_reason: stop,
          },
        ],
        usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
      },
    }),
    usage: { inputTokens: 10, outputTokens: 5 },
    create: (server, options) =>
      createExecutor(
        { name: 'openai', model: 'gpt-test', maxOutputTokens: options?.maxOutputTokens ?? MAX_TOKENS },
        { ...deps(), secrets, env: { OPENAI_BASE_URL: `${server.url}/v1` } },
      ),
  },
  anthropic: {
    model: 'claude-test',
    http2: false,
    answer: (text, stop) => ({
      status: 200,
      json: {
        id: 'msg_1',
        type: 'message',
        role: 'assistant',
        model: 'claude-test-20260101',
        content: text === null ? [] : [{ type: 'text', text }],
        stop_reason: stop,
        stop_sequence: null,
        usage: { input_tokens: 10, output_tokens: 5 },
      },
    }),
    usage: { inputTokens: 10, outputTokens: 5 },
    create: (server, options) =>
      createExecutor(
        { name: 'anthropic', model: 'claude-test', maxOutputTokens: options?.maxOutputTokens ?? MAX_TOKENS },
        { ...deps(), secrets, env: { ANTHROPIC_BASE_URL: server.url } },
      ),
  },
  bedrock: {
    model: 'anthropic.claude-test-v1:0',
    http2: true,
    answer: (text, stop) => ({
      status: 200,
      json: {
        output: { message: { role: 'assistant', content: text === null ? [] : [{ text }] } },
        stopReason: stop,
        usage: { inputTokens: 10, outputTokens: 5, totalTokens: 15 },
      },
    }),
    usage: { inputTokens: 10, outputTokens: 5 },
    create: (server, options) =>
      createExecutor(
        {
          name: 'bedrock',
          model: 'anthropic.claude-test-v1:0',
          maxOutputTokens: options?.maxOutputTokens ?? MAX_TOKENS,
        },
        {
          ...deps(),
          bedrockClient: new BedrockRuntimeClient({
            endpoint: server.url,
            region: 'us-east-1',
            credentials: { accessKeyId: 'AKIDFAKEFORTESTS', secretAccessKey: 'fake-secret' },
            maxAttempts: 1,
          }),
        },
      ),
  },
};

/** Each provider's documented stop reasons that leave no deliverable, with what the error must say. */
const unusable: Array<[Llm, string, string | null, RegExp]> = [
  ['openai', 'length', 'def handler(', /output limit.*\b1234\b.*executor\.maxOutputTokens/],
  ['openai', 'content_filter', null, /content filter/],
  ['openai', 'stop', '', /answered no text/],
  ['anthropic', 'max_tokens', 'def handler(', /output limit.*\b1234\b.*executor\.maxOutputTokens/],
  ['anthropic', 'model_context_window_exceeded', 'def', /context window/],
  ['anthropic', 'refusal', null, /refused the task/],
  ['anthropic', 'end_turn', null, /answered no text/],
  ['bedrock', 'max_tokens', 'def handler(', /output limit.*\b1234\b.*executor\.maxOutputTokens/],
  ['bedrock', 'model_context_window_exceeded', 'def', /context window/],
  ['bedrock', 'guardrail_intervened', 'Sorry, the model cannot answer.', /guardrail/],
  ['bedrock', 'content_filtered', null, /content filter/],
  ['bedrock', 'end_turn', null, /answered no text/],
];

let server: FakeProvider | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('answers that are no deliverable', () => {
  it.each(unusable)(
    '%s: stop reason %s fails the attempt at once, naming the model, with the call usage',
    async (provider, stop, text, says) => {
      const shape = shapes[provider];
      server = await startFakeProvider([shape.answer(text, stop), shape.answer('fine', 'end_turn')], {
        http2: shape.http2,
      });

      const failure = await shape
        .create(server)
        .execute(makeRequest(), new AbortController().signal)
        .catch((e) => e);

      expect(failure).toBeInstanceOf(ProviderError);
      expect(failure).toMatchObject({ provider, retryable: false });
      expect((failure as Error).message).toContain(`${provider} (model ${shape.model})`);
      expect((failure as Error).message).toMatch(says);
      expect(server.requests).toHaveLength(1);
      expect(carriedUsage(failure)).toEqual([shape.usage]);
    },
  );

  it('openai: a refusal without an outputSchema fails with the refusal text', async () => {
    server = await startFakeProvider([
      shapes.openai.answer(null, 'stop', { refusal: 'I cannot help with that' }),
    ]);

    const failure = await shapes.openai
      .create(server)
      .execute(makeRequest(), new AbortController().signal)
      .catch((e) => e);

    expect(failure).toBeInstanceOf(ProviderError);
    expect((failure as Error).message).toMatch(/refused the task.*I cannot help with that/);
    expect(carriedUsage(failure)).toEqual([shapes.openai.usage]);
  });

  it('anthropic: a structured answer cut at max_tokens is not re-asked (the re-ask would be cut too)', async () => {
    server = await startFakeProvider([
      {
        status: 200,
        json: {
          id: 'msg_1',
          type: 'message',
          role: 'assistant',
          model: 'claude-test',
          content: [{ type: 'tool_use', id: 'toolu_1', name: 'submit_output', input: {} }],
          stop_reason: 'max_tokens',
          stop_sequence: null,
          usage: { input_tokens: 10, output_tokens: 5 },
        },
      },
    ]);
    const task = {
      id: 'task-api',
      description: 'Plan',
      outputSchema: { type: 'object', properties: { steps: { type: 'array' } }, required: ['steps'] },
    };

    const failure = await shapes.anthropic
      .create(server)
      .execute(makeRequest({ task }), new AbortController().signal)
      .catch((e) => e);

    expect((failure as Error).message).toMatch(/output limit/);
    expect(server.requests).toHaveLength(1);
  });
});

describe('bodies that are not the API answer', () => {
  const html: Reply = {
    status: 200,
    text: '<html><body>Sign in to the proxy</body></html>',
    headers: { 'content-type': 'text/html' },
  };

  it.each([
    ['openai', html, /not a chat completion: <html>/],
    ['anthropic', html, /not a message: <html>/],
    [
      'openai',
      { status: 200, json: { error: { message: 'upstream failed', type: 'server_error' } } },
      /upstream failed/,
    ],
    [
      'anthropic',
      { status: 200, json: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } } },
      /overloaded_error/,
    ],
  ] as Array<['openai' | 'anthropic', Reply, RegExp]>)(
    '%s: a 200 whose body is not the answer fails at once and quotes the body',
    async (provider, reply, says) => {
      server = await startFakeProvider([reply, shapes[provider].answer('fine', 'stop')]);

      const failure = await shapes[provider]
        .create(server)
        .execute(makeRequest(), new AbortController().signal)
        .catch((e) => e);

      expect(failure).toBeInstanceOf(ProviderError);
      expect(failure).toMatchObject({ provider, retryable: false });
      expect((failure as Error).message).not.toMatch(/could not be reached/);
      expect((failure as Error).message).toContain(`model ${shapes[provider].model}`);
      expect((failure as Error).message).toMatch(says);
      expect(server.requests).toHaveLength(1);
    },
  );

  it('anthropic: an answer without a usage block is still the answer (its usage unknown)', async () => {
    const reply = shapes.anthropic.answer('from fastapi import FastAPI', 'end_turn');
    delete ((reply as { json: Record<string, unknown> }).json as Record<string, unknown>).usage;
    server = await startFakeProvider([reply]);

    const outcome = await shapes.anthropic
      .create(server)
      .execute(makeRequest(), new AbortController().signal);

    expect(outcome.output).toMatchObject({ text: 'from fastapi import FastAPI' });
    expect(outcome.usage).toBeUndefined();
    expect(server.requests).toHaveLength(1);
  });
});

/** Each provider's usage block with these input and output counts, as its API names them. */
const usageBlock: Record<Llm, (input: unknown, output: unknown) => Record<string, unknown>> = {
  openai: (input, output) => ({ prompt_tokens: input, completion_tokens: output }),
  anthropic: (input, output) => ({ input_tokens: input, output_tokens: output }),
  bedrock: (input, output) => ({ inputTokens: input, outputTokens: output }),
};

/** Counts no provider's usage can hold: each would corrupt the ledger or the stored totals if believed. */
const notTokenCounts: Array<[string, unknown, unknown]> = [
  ['a negative count (it would give spend back to a budget)', -1_000_000, 5],
  ['a count sent as a string', '12', 5],
  ['a fractional count', 1.5, 5],
  ['a count beyond any call', 1e300, 5],
  ['a missing count', undefined, 5],
  ['a missing output count', 10, null],
];

describe('usage that is not token counts', () => {
  const cases = (['openai', 'anthropic', 'bedrock'] as const).flatMap((provider) =>
    notTokenCounts.map(([what, input, output]) => [provider, what, input, output] as const),
  );
  it.each(cases)(
    '%s: %s leaves the usage unknown, the answer kept',
    async (provider, _what, input, output) => {
      const shape = shapes[provider];
      const reply = shape.answer('fine', provider === 'openai' ? 'stop' : 'end_turn') as {
        json: Record<string, unknown>;
      };
      reply.json.usage = usageBlock[provider](input, output);
      server = await startFakeProvider([reply as Reply], { http2: shape.http2 });

      const outcome = await shape.create(server).execute(makeRequest(), new AbortController().signal);

      expect(outcome.output).toMatchObject({ text: 'fine' });
      expect(outcome.usage).toBeUndefined();
      expect(outcome.calls).toBeUndefined();
    },
  );

  it.each(['openai', 'anthropic', 'bedrock'] as const)(
    '%s: an answer cut short with a negative count carries no usage',
    async (provider) => {
      const shape = shapes[provider];
      const reply = shape.answer('def handler(', provider === 'openai' ? 'length' : 'max_tokens') as {
        json: Record<string, unknown>;
      };
      reply.json.usage = usageBlock[provider](-1_000_000, 5);
      server = await startFakeProvider([reply as Reply], { http2: shape.http2 });

      const failure = await shape
        .create(server)
        .execute(makeRequest(), new AbortController().signal)
        .catch((e) => e);

      expect(failure).toBeInstanceOf(ProviderError);
      expect(carriedUsage(failure) ?? []).toEqual([]);
    },
  );

  it('counts at MAX_CALL_TOKENS are believed, one more is not', () => {
    expect(reportedUsage({ inputTokens: MAX_CALL_TOKENS, outputTokens: 0 })).toEqual({
      inputTokens: MAX_CALL_TOKENS,
      outputTokens: 0,
    });
    expect(reportedUsage({ inputTokens: MAX_CALL_TOKENS + 1, outputTokens: 0 })).toBeUndefined();
    expect(reportedUsage({ inputTokens: 1, outputTokens: 2, cacheReadTokens: -1 })).toBeUndefined();
    expect(reportedUsage({ inputTokens: 1, outputTokens: 2, cacheWriteTokens: null })).toEqual({
      inputTokens: 1,
      outputTokens: 2,
    });
  });
});

describe('the documented output limits', () => {
  it.each([32_000, 64_000, 128_000])(
    'anthropic: maxOutputTokens %i is sent as max_tokens (the SDK would refuse it without a timeout)',
    async (maxOutputTokens) => {
      server = await startFakeProvider([shapes.anthropic.answer('done', 'end_turn')]);

      const outcome = await shapes.anthropic
        .create(server, { maxOutputTokens })
        .execute(makeRequest(), new AbortController().signal);

      expect(outcome.output).toMatchObject({ text: 'done' });
      expect(JSON.parse(server.requests[0]?.body ?? '{}').max_tokens).toBe(maxOutputTokens);
    },
  );
});

describe('spent quotas', () => {
  it.each([
    [
      'openai',
      {
        error: {
          message: 'You exceeded your current quota',
          type: 'insufficient_quota',
          code: 'insufficient_quota',
        },
      },
    ],
    [
      'anthropic',
      {
        type: 'error',
        error: {
          type: 'rate_limit_error',
          message: 'spend limit reached',
          details: { error_code: 'enforced_spend_limit_reached' },
        },
      },
    ],
  ] as Array<['openai' | 'anthropic', unknown]>)(
    '%s: a 429 that says the quota or spend limit is used up is not retried',
    async (provider, body) => {
      server = await startFakeProvider([
        { status: 429, json: body },
        shapes[provider].answer('fine', 'stop'),
      ]);

      const failure = await shapes[provider]
        .create(server)
        .execute(makeRequest(), new AbortController().signal)
        .catch((e) => e);

      expect(failure).toBeInstanceOf(ProviderError);
      expect(failure).toMatchObject({ provider, status: 429, retryable: false });
      expect((failure as Error).message).toMatch(/quota or spend limit/);
      expect(server.requests).toHaveLength(1);
    },
  );
});

describe("the provider's word on retrying", () => {
  const error = (status: number, headers: Record<string, string> = {}): Reply => ({
    status,
    json: { type: 'error', error: { type: 'api_error', message: 'nope' } },
    headers,
  });

  it.each([
    ['x-should-retry: false on a 500 is not retried', error(500, { 'x-should-retry': 'false' }), 1],
    ['x-should-retry: true on a 400 is retried', error(400, { 'x-should-retry': 'true' }), 2],
    ['a 409 conflict is retried', error(409), 2],
  ] as Array<[string, Reply, number]>)('anthropic: %s', async (_, first, requests) => {
    server = await startFakeProvider([first, shapes.anthropic.answer('fine', 'end_turn')]);

    await shapes.anthropic
      .create(server)
      .execute(makeRequest(), new AbortController().signal)
      .catch((e) => e);

    expect(server.requests).toHaveLength(requests);
  });
});
