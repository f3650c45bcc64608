/**
 * Structured outputs, per provider, against local servers that speak each provider's API: the request asks
 * for JSON fitting the task's outputSchema (Anthropic: a forced tool; OpenAI: response_format json_schema;
 * Bedrock Converse: toolConfig; http: the schema passed on), the answer is validated, a misfit is re-asked
 * once with its errors (not for http), and a misfit that stays fails with OutputSchemaError.
 */

import { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createExecutor,
  OUTPUT_TOOL_NAME,
  ProviderLimiter,
  STRUCTURED_OUTPUT_REASKS,
} from '../../../shared/adapters/executors';
import type { SecretResolver } from '../../../shared/adapters/secrets';
import { carriedUsage } from '../../../shared/domain/costs';
import { OutputSchemaError } from '../../../shared/domain/output-schema';
import type { AgentExecutor } from '../../../shared/ports';
import { anthropicToolUse, openaiText } from '../../support/provider-replies';
import { type FakeProvider, type Reply, startFakeProvider } from './fake-provider';
import { makeRequest } from './provider-contract';

const SCHEMA = {
  type: 'object',
  properties: { steps: { type: 'array', items: { type: 'string' }, minItems: 1 } },
  required: ['steps'],
  additionalProperties: false,
};
const FITS = { steps: ['design', 'build'] };
const MISFITS = { steps: 'design then build' };

const secrets: SecretResolver = async () => 'test-key';
const request = () =>
  makeRequest({ task: { id: 'task-api', description: 'Plan the work', outputSchema: SCHEMA } });
const bodyOf = (server: FakeProvider, n: number) => JSON.parse(server.requests[n]?.body ?? '{}');

let server: FakeProvider | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const anthropicReply = (input: unknown): Reply => anthropicToolUse(OUTPUT_TOOL_NAME, input);

function anthropic(server: FakeProvider): AgentExecutor {
  return createExecutor(
    { name: 'anthropic', model: 'claude-test' },
    { secrets, env: { ANTHROPIC_BASE_URL: server.url }, limiter: new ProviderLimiter() },
  );
}

describe('anthropic structured output', () => {
  it('forces a tool whose input_schema is the outputSchema and answers its input', async () => {
    server = await startFakeProvider([anthropicReply(FITS)]);

    const outcome = await anthropic(server).execute(request(), new AbortController().signal);

    const body = bodyOf(server, 0);
    expect(body.tools).toEqual([
      { name: OUTPUT_TOOL_NAME, description: expect.stringContaining('JSON Schema'), input_schema: SCHEMA },
    ]);
    expect(body.tool_choice).toEqual({ type: 'tool', name: OUTPUT_TOOL_NAME });
    expect(outcome.output).toEqual(FITS);
  });

  it('re-asks once with the validation errors as an error tool result, and sums the usage', async () => {
    server = await startFakeProvider([anthropicReply(MISFITS), anthropicReply(FITS)]);

    const outcome = await anthropic(server).execute(request(), new AbortController().signal);

    const retry = bodyOf(server, 1);
    expect(retry.messages).toHaveLength(3);
    expect(retry.messages[1]).toEqual({
      role: 'assistant',
      content: [{ type: 'tool_use', id: 'toolu_1', name: OUTPUT_TOOL_NAME, input: MISFITS }],
    });
    expect(retry.messages[2].content[0]).toMatchObject({
      type: 'tool_result',
      tool_use_id: 'toolu_1',
      is_error: true,
      content: expect.stringContaining('the output at /steps must be array'),
    });
    expect(outcome).toMatchObject({ output: FITS, usage: { inputTokens: 20, outputTokens: 10 } });
  });

  it('fails with OutputSchemaError and the errors when the answer still misfits after the re-ask', async () => {
    server = await startFakeProvider([anthropicReply(MISFITS)]);

    const failure = await anthropic(server)
      .execute(request(), new AbortController().signal)
      .catch((e: unknown) => e);

    expect(failure).toBeInstanceOf(OutputSchemaError);
    expect((failure as Error).message).toContain('the output at /steps must be array');
    expect(server.requests).toHaveLength(1 + STRUCTURED_OUTPUT_REASKS);
    // The failed attempt still cost both calls: the error carries their usage, call by call.
    expect(carriedUsage(failure)).toEqual([
      { inputTokens: 10, outputTokens: 5 },
      { inputTokens: 10, outputTokens: 5 },
    ]);
  });
});

const openaiReply = openaiText;

function openai(server: FakeProvider): AgentExecutor {
  return createExecutor(
    { name: 'openai', model: 'gpt-test' },
    { secrets, env: { OPENAI_BASE_URL: `${server.url}/v1` }, limiter: new ProviderLimiter() },
  );
}

describe('openai structured output', () => {
  it('asks for a json_schema response format (strict when the schema allows it) and parses the answer', async () => {
    server = await startFakeProvider([openaiReply(JSON.stringify(FITS))]);

    const outcome = await openai(server).execute(request(), new AbortController().signal);

    expect(bodyOf(server, 0).response_format).toEqual({
      type: 'json_schema',
      json_schema: { name: 'task_output', schema: SCHEMA, strict: true },
    });
    expect(outcome.output).toEqual(FITS);
  });

  it('re-asks an answer that is not JSON, sending it back with the reason', async () => {
    server = await startFakeProvider([
      openaiReply('Here is the plan: design, build'),
      openaiReply(JSON.stringify(FITS)),
    ]);

    const outcome = await openai(server).execute(request(), new AbortController().signal);

    const retry = bodyOf(server, 1).messages;
    expect(retry[2]).toEqual({ role: 'assistant', content: 'Here is the plan: design, build' });
    expect(retry[3].content).toContain('the answer is not JSON');
    expect(outcome.output).toEqual(FITS);
  });

  it('fails with the refusal when the model refuses twice', async () => {
    server = await startFakeProvider([openaiReply('', 'I cannot help with that')]);

    await expect(openai(server).execute(request(), new AbortController().signal)).rejects.toThrow(
      /the model refused: I cannot help with that/,
    );
  });
});

const bedrockReply = (input: unknown): Reply => ({
  status: 200,
  json: {
    output: {
      message: {
        role: 'assistant',
        content: [{ toolUse: { toolUseId: 'tu-1', name: OUTPUT_TOOL_NAME, input } }],
      },
    },
    stopReason: 'tool_use',
    usage: { inputTokens: 10, outputTokens: 5, totalTokens: 15 },
    metrics: { latencyMs: 10 },
  },
});

function bedrock(server: FakeProvider): AgentExecutor {
  const client = new BedrockRuntimeClient({
    endpoint: server.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDFAKEFORTESTS', secretAccessKey: 'fake-secret' },
    maxAttempts: 1,
  });
  return createExecutor(
    { name: 'bedrock', model: 'test-model' },
    { bedrockClient: client, limiter: new ProviderLimiter() },
  );
}

describe('bedrock structured output', () => {
  it('configures a forced tool with the outputSchema, and re-asks with an error tool result', async () => {
    server = await startFakeProvider([bedrockReply(MISFITS), bedrockReply(FITS)], { http2: true });

    const outcome = await bedrock(server).execute(request(), new AbortController().signal);

    const first = bodyOf(server, 0);
    expect(first.toolConfig).toEqual({
      tools: [
        {
          toolSpec: {
            name: OUTPUT_TOOL_NAME,
            description: expect.any(String),
            inputSchema: { json: SCHEMA },
          },
        },
      ],
      toolChoice: { tool: { name: OUTPUT_TOOL_NAME } },
    });
    const retry = bodyOf(server, 1).messages;
    expect(retry[2].content[0].toolResult).toMatchObject({ toolUseId: 'tu-1', status: 'error' });
    expect(outcome.output).toEqual(FITS);
  });
});

describe('http structured output', () => {
  it('passes the schema on and fails a misfitting answer at once (no re-ask of a service)', async () => {
    server = await startFakeProvider([{ status: 200, json: MISFITS }]);
    const executor = createExecutor(
      { name: 'http', url: `${server.url}/tasks` },
      { secrets: async () => 'token', limiter: new ProviderLimiter() },
    );

    const failure = await executor.execute(request(), new AbortController().signal).catch((e: unknown) => e);

    expect(bodyOf(server, 0).outputSchema).toEqual(SCHEMA);
    expect(failure).toBeInstanceOf(OutputSchemaError);
    expect(server.requests).toHaveLength(1);
  });
});
