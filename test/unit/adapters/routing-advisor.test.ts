/** The routing advisors of each provider against a local stand-in of its API: one forced tool call. */
import { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import { afterEach, describe, expect, it } from 'vitest';
import {
  BedrockRoutingAdvisor,
  createRoutingAdvisor,
  OpenAiRoutingAdvisor,
  ROUTING_TOOL_NAME,
  RoutingAnswerError,
} from '../../../shared/adapters/routing-advisor';
import { AssistConfigSchema } from '../../../shared/domain/routing-config';
import type { RoutingQuestion } from '../../../shared/ports';
import { type FakeProvider, startFakeProvider } from '../executors/fake-provider';

const question: RoutingQuestion = {
  taskId: 'checkout-1',
  description: 'Go through the checkout and tidy the error handling',
  candidates: [
    { role: 'error_handler', description: 'Adds error handling' },
    { role: 'refactoring_specialist', description: 'Restructures code' },
  ],
};

let server: FakeProvider | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const signal = () => new AbortController().signal;

describe('OpenAI routing advisor', () => {
  it('forces one function call whose argument is an enum of the candidates, and reads its choice', async () => {
    server = await startFakeProvider([
      {
        status: 200,
        json: {
          id: 'chatcmpl-1',
          object: 'chat.completion',
          created: 0,
          model: 'gpt-routing-test',
          choices: [
            {
              index: 0,
              finish_reason: 'tool_calls',
              message: {
                role: 'assistant',
                content: null,
                tool_calls: [
                  {
                    id: 'call_1',
                    type: 'function',
                    function: { name: ROUTING_TOOL_NAME, arguments: '{"role":"refactoring_specialist"}' },
                  },
                ],
              },
            },
          ],
          usage: { prompt_tokens: 200, completion_tokens: 9, total_tokens: 209 },
        },
      },
    ]);
    const advisor = new OpenAiRoutingAdvisor(
      { model: 'gpt-routing-test' },
      { secrets: async () => 'sk-test', baseURL: `${server.url}/v1` },
    );

    const answer = await advisor.choose(question, signal());

    expect(answer).toEqual({
      role: 'refactoring_specialist',
      model: 'gpt-routing-test',
      usage: { inputTokens: 200, outputTokens: 9 },
    });
    const body = JSON.parse(server.requests[0]?.body ?? '{}');
    expect(server.requests[0]?.headers.authorization).toBe('Bearer sk-test');
    expect(body.tool_choice).toEqual({ type: 'function', function: { name: ROUTING_TOOL_NAME } });
    expect(body.tools[0].function.parameters.properties.role.enum).toEqual([
      'error_handler',
      'refactoring_specialist',
    ]);
  });

  it('rejects an answer without the tool call', async () => {
    server = await startFakeProvider([
      {
        status: 200,
        json: {
          id: 'chatcmpl-2',
          object: 'chat.completion',
          created: 0,
          model: 'gpt-routing-test',
          choices: [
            { index: 0, finish_reason: 'stop', message: { role: 'assistant', content: 'refactoring' } },
          ],
        },
      },
    ]);
    const advisor = new OpenAiRoutingAdvisor({}, { secrets: async () => 'k', baseURL: `${server.url}/v1` });

    await expect(advisor.choose(question, signal())).rejects.toThrow(RoutingAnswerError);
  });
});

describe('Bedrock routing advisor', () => {
  it('forces the tool through Converse toolChoice and reads its input', async () => {
    server = await startFakeProvider(
      [
        {
          status: 200,
          json: {
            output: {
              message: {
                role: 'assistant',
                content: [
                  { toolUse: { toolUseId: 't1', name: ROUTING_TOOL_NAME, input: { role: 'error_handler' } } },
                ],
              },
            },
            stopReason: 'tool_use',
            usage: { inputTokens: 150, outputTokens: 7, totalTokens: 157 },
            metrics: { latencyMs: 10 },
          },
        },
      ],
      { http2: true },
    );
    const client = new BedrockRuntimeClient({
      endpoint: server.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'AKIDFAKEFORTESTS', secretAccessKey: 'fake-secret' },
      maxAttempts: 1,
    });
    const advisor = new BedrockRoutingAdvisor({ model: 'anthropic.test-model' }, client);

    const answer = await advisor.choose(question, signal());
    client.destroy();

    expect(answer).toEqual({
      role: 'error_handler',
      model: 'anthropic.test-model',
      usage: { inputTokens: 150, outputTokens: 7 },
    });
    const body = JSON.parse(server.requests[0]?.body ?? '{}');
    expect(body.toolConfig.toolChoice).toEqual({ tool: { name: ROUTING_TOOL_NAME } });
    expect(body.toolConfig.tools[0].toolSpec.inputSchema.json.properties.role.enum).toEqual([
      'error_handler',
      'refactoring_specialist',
    ]);
  });
});

describe('createRoutingAdvisor', () => {
  it('builds the configured provider with its default model', () => {
    const secrets = async () => 'k';
    const advisor = createRoutingAdvisor(AssistConfigSchema.parse({ provider: 'openai' }), {
      secrets,
      env: {},
    });

    expect(advisor.provider).toBe('openai');
    expect(advisor.model.length).toBeGreaterThan(0);
  });
});
