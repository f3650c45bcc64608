/**
 * Model-assisted routing: asks a provider which of the candidate roles should do a task, in ONE call that
 * forces a tool whose only argument is an enum of the candidate roles (Anthropic Messages tool_choice,
 * OpenAI Chat Completions tool_choice, Bedrock Converse toolChoice), so the answer is one of them by
 * construction. The SDKs' own retries are off: the router keeps the deterministic role when a call fails
 * (usecases/assist.ts), so a slow provider costs one bounded wait, not a retry storm.
 */
import Anthropic from '@anthropic-ai/sdk';
import { BedrockRuntimeClient, ConverseCommand } from '@aws-sdk/client-bedrock-runtime';
import OpenAI from 'openai';
import {
  ASSIST_MAX_DESCRIPTION_CHARS,
  ASSIST_MAX_OUTPUT_TOKENS,
  type AssistConfig,
} from '../domain/routing-config';
import type { RoutingAdvisor, RoutingAnswer, RoutingQuestion } from '../ports';
import { DEFAULT_ANTHROPIC_BASE_URL } from './executors/anthropic';
import { BEDROCK_SDK_MAX_ATTEMPTS } from './executors/bedrock';
import { DEFAULT_OPENAI_BASE_URL } from './executors/openai';
import { assistModel } from './routing-advisor-model';
import type { SecretResolver } from './secrets';

/** The tool the model must call. */
export const ROUTING_TOOL_NAME = 'choose_role';

/** The model's answer could not be read as a role (no tool call, wrong shape). */
export class RoutingAnswerError extends Error {
  constructor(provider: string, reason: string) {
    super(`${provider} gave no usable routing answer: ${reason}`);
    this.name = 'RoutingAnswerError';
  }
}

/** The system prompt of a routing question. */
export const ROUTING_SYSTEM_PROMPT =
  'You assign software tasks to the member of an engineering team best suited to do them. ' +
  'Judge by the work the task asks for (its main verb and object), not by technologies it merely mentions. ' +
  `Answer by calling the ${ROUTING_TOOL_NAME} tool once with one of the offered roles.`;

/** The user message: the task and the offered roles with what each does. */
export function routingPrompt(question: RoutingQuestion): string {
  const description =
    question.description.length > ASSIST_MAX_DESCRIPTION_CHARS
      ? `${question.description.slice(0, ASSIST_MAX_DESCRIPTION_CHARS)}\n[... cut at ${ASSIST_MAX_DESCRIPTION_CHARS} characters]`
      : question.description;
  return [
    `Task ${question.taskId}:`,
    description,
    '',
    'Roles:',
    ...question.candidates.map((c) => `- ${c.role}: ${c.description}`),
  ].join('\n');
}

/** JSON Schema of the tool's input: the role, one of the candidates. */
export function routingToolSchema(question: RoutingQuestion) {
  return {
    type: 'object' as const,
    properties: {
      role: {
        type: 'string' as const,
        enum: question.candidates.map((c) => c.role),
        description: 'the role that should do the task',
      },
    },
    required: ['role'],
    additionalProperties: false,
  };
}

const TOOL_DESCRIPTION = 'Assign the task to one role.';

function roleFrom(provider: string, input: unknown): string {
  const role = (input as { role?: unknown } | null)?.role;
  if (typeof role !== 'string' || role.length === 0) {
    throw new RoutingAnswerError(provider, `the tool input has no role (${JSON.stringify(input)})`);
  }
  return role;
}

export interface SdkAdvisorOptions {
  secrets: SecretResolver;
  /** Base URL overriding the provider's (a gateway, or a local stand-in in tests). */
  baseURL?: string;
}

/** Anthropic Messages API with a forced tool call. */
export class AnthropicRoutingAdvisor implements RoutingAdvisor {
  readonly provider = 'anthropic';
  readonly model: string;
  readonly #baseURL: string;
  readonly #secrets: SecretResolver;

  constructor(config: Pick<AssistConfig, 'model' | 'url'>, options: SdkAdvisorOptions) {
    this.model = assistModel({ provider: 'anthropic', ...config });
    this.#baseURL = config.url ?? options.baseURL ?? DEFAULT_ANTHROPIC_BASE_URL;
    this.#secrets = options.secrets;
  }

  async choose(question: RoutingQuestion, signal: AbortSignal): Promise<RoutingAnswer> {
    const client = new Anthropic({
      apiKey: await this.#secrets('anthropic'),
      authToken: null,
      baseURL: this.#baseURL,
      maxRetries: 0,
    });
    const message = await client.messages.create(
      {
        model: this.model,
        max_tokens: ASSIST_MAX_OUTPUT_TOKENS,
        system: ROUTING_SYSTEM_PROMPT,
        messages: [{ role: 'user', content: routingPrompt(question) }],
        tools: [
          {
            name: ROUTING_TOOL_NAME,
            description: TOOL_DESCRIPTION,
            input_schema: routingToolSchema(question),
          },
        ],
        tool_choice: { type: 'tool', name: ROUTING_TOOL_NAME },
      },
      { signal },
    );
    const call = message.content.find((b) => b.type === 'tool_use' && b.name === ROUTING_TOOL_NAME);
    if (call?.type !== 'tool_use') throw new RoutingAnswerError(this.provider, 'no tool call');
    return {
      role: roleFrom(this.provider, call.input),
      model: message.model,
      usage: { inputTokens: message.usage.input_tokens, outputTokens: message.usage.output_tokens },
    };
  }
}

/** OpenAI (or compatible) Chat Completions with a forced function call. */
export class OpenAiRoutingAdvisor implements RoutingAdvisor {
  readonly provider = 'openai';
  readonly model: string;
  readonly #baseURL: string;
  readonly #secrets: SecretResolver;

  constructor(config: Pick<AssistConfig, 'model' | 'url'>, options: SdkAdvisorOptions) {
    this.model = assistModel({ provider: 'openai', ...config });
    this.#baseURL = config.url ?? options.baseURL ?? DEFAULT_OPENAI_BASE_URL;
    this.#secrets = options.secrets;
  }

  async choose(question: RoutingQuestion, signal: AbortSignal): Promise<RoutingAnswer> {
    const client = new OpenAI({
      apiKey: await this.#secrets('openai'),
      baseURL: this.#baseURL,
      maxRetries: 0,
      organization: null,
      project: null,
    });
    const completion = await client.chat.completions.create(
      {
        model: this.model,
        max_completion_tokens: ASSIST_MAX_OUTPUT_TOKENS,
        messages: [
          { role: 'system', content: ROUTING_SYSTEM_PROMPT },
          { role: 'user', content: routingPrompt(question) },
        ],
        tools: [
          {
            type: 'function',
            function: {
              name: ROUTING_TOOL_NAME,
              description: TOOL_DESCRIPTION,
              parameters: routingToolSchema(question),
            },
          },
        ],
        tool_choice: { type: 'function', function: { name: ROUTING_TOOL_NAME } },
      },
      { signal },
    );
    const call = completion.choices[0]?.message.tool_calls?.find(
      (c) => c.type === 'function' && c.function.name === ROUTING_TOOL_NAME,
    );
    if (call?.type !== 'function') throw new RoutingAnswerError(this.provider, 'no tool call');
    let input: unknown;
    try {
      input = JSON.parse(call.function.arguments);
    } catch {
      throw new RoutingAnswerError(this.provider, `tool arguments are not JSON: ${call.function.arguments}`);
    }
    return {
      role: roleFrom(this.provider, input),
      model: completion.model,
      ...(completion.usage
        ? {
            usage: {
              inputTokens: completion.usage.prompt_tokens,
              outputTokens: completion.usage.completion_tokens,
            },
          }
        : {}),
    };
  }
}

/** Bedrock Converse with a forced tool (IAM-signed, no key). */
export class BedrockRoutingAdvisor implements RoutingAdvisor {
  readonly provider = 'bedrock';
  readonly model: string;
  readonly #client: BedrockRuntimeClient;

  constructor(config: Pick<AssistConfig, 'model'>, client?: BedrockRuntimeClient) {
    this.model = assistModel({ provider: 'bedrock', ...config });
    this.#client = client ?? new BedrockRuntimeClient({ maxAttempts: BEDROCK_SDK_MAX_ATTEMPTS });
  }

  async choose(question: RoutingQuestion, signal: AbortSignal): Promise<RoutingAnswer> {
    const answer = await this.#client.send(
      new ConverseCommand({
        modelId: this.model,
        system: [{ text: ROUTING_SYSTEM_PROMPT }],
        messages: [{ role: 'user', content: [{ text: routingPrompt(question) }] }],
        inferenceConfig: { maxTokens: ASSIST_MAX_OUTPUT_TOKENS },
        toolConfig: {
          tools: [
            {
              toolSpec: {
                name: ROUTING_TOOL_NAME,
                description: TOOL_DESCRIPTION,
                inputSchema: { json: routingToolSchema(question) },
              },
            },
          ],
          toolChoice: { tool: { name: ROUTING_TOOL_NAME } },
        },
      }),
      { abortSignal: signal },
    );
    const call = (answer.output?.message?.content ?? []).find((b) => b.toolUse?.name === ROUTING_TOOL_NAME);
    if (!call?.toolUse) throw new RoutingAnswerError(this.provider, 'no tool call');
    return {
      role: roleFrom(this.provider, call.toolUse.input),
      model: this.model,
      ...(answer.usage?.inputTokens !== undefined && answer.usage.outputTokens !== undefined
        ? { usage: { inputTokens: answer.usage.inputTokens, outputTokens: answer.usage.outputTokens } }
        : {}),
    };
  }
}

/** What createRoutingAdvisor may be given instead of its defaults. */
export interface RoutingAdvisorDeps {
  secrets: SecretResolver;
  env?: NodeJS.ProcessEnv;
  bedrockClient?: BedrockRuntimeClient;
}

/**
 * The advisor for a routing config. Base URLs: `assist.url`, else ANTHROPIC_BASE_URL / OPENAI_BASE_URL
 * (the same variables as the executors), else the provider's.
 */
export function createRoutingAdvisor(config: AssistConfig, deps: RoutingAdvisorDeps): RoutingAdvisor {
  const env = deps.env ?? process.env;
  switch (config.provider) {
    case 'anthropic': {
      const baseURL = env.ANTHROPIC_BASE_URL;
      return new AnthropicRoutingAdvisor(config, { secrets: deps.secrets, ...(baseURL ? { baseURL } : {}) });
    }
    case 'openai': {
      const baseURL = env.OPENAI_BASE_URL;
      return new OpenAiRoutingAdvisor(config, { secrets: deps.secrets, ...(baseURL ? { baseURL } : {}) });
    }
    case 'bedrock':
      return new BedrockRoutingAdvisor(config, deps.bedrockClient);
  }
}
