/**
 * The Anthropic executor: Messages API through the official SDK, API key from the secret resolver,
 * base URL overridable (config.url, else ANTHROPIC_BASE_URL) for gateways and tests. A task with an
 * outputSchema gets a forced tool (`tool_choice`) whose input_schema is the schema: the tool call's input is
 * the structured output; a re-ask answers that tool call with an error result naming the misfits.
 */
import Anthropic, { APIError } from '@anthropic-ai/sdk';
import type { ContentBlock, MessageParam, Tool } from '@anthropic-ai/sdk/resources/messages';
import { reportedUsageIn } from '../../domain/costs';
import type { ExecutorConfig, Usage } from '../../domain/schemas';
import type { ExecutionRequest } from '../../ports';
import { boundedFetch } from './bounded-fetch';
import type { ProviderError } from './errors';
import { DEFAULT_ANTHROPIC_MODEL } from './models';
import { type CallPolicy, malformedAnswerError } from './policy';
import {
  bodyExcerpt,
  type Correction,
  correctionText,
  type LlmOutput,
  OUTPUT_TOOL_DESCRIPTION,
  OUTPUT_TOOL_NAME,
  type ProviderAnswer,
  systemPrompt,
  type UnusableStop,
  unusableAnswerError,
} from './provider';
import { type SdkApiError, type SdkExecutorOptions, SdkProviderExecutor } from './sdk-provider';

export { DEFAULT_ANTHROPIC_MODEL };
export const DEFAULT_ANTHROPIC_BASE_URL = 'https://api.anthropic.com';

export type AnthropicExecutorOptions = SdkExecutorOptions;

export class AnthropicExecutor extends SdkProviderExecutor<Anthropic> {
  readonly name = 'anthropic' as const;

  constructor(config: ExecutorConfig, policy: CallPolicy, options: AnthropicExecutorOptions) {
    super(config, policy, options, {
      model: DEFAULT_ANTHROPIC_MODEL,
      baseURL: DEFAULT_ANTHROPIC_BASE_URL,
      provider: 'anthropic',
    });
  }

  protected createClient(apiKey: string): Anthropic {
    // authToken null: never pick up ANTHROPIC_AUTH_TOKEN from the environment behind the resolver's back.
    return new Anthropic({
      apiKey,
      authToken: null,
      baseURL: this.baseURL,
      maxRetries: 0,
      fetch: boundedFetch(this.name),
    });
  }

  protected isApiError(error: unknown): error is SdkApiError {
    return error instanceof APIError;
  }

  protected async request(
    client: Anthropic,
    request: ExecutionRequest,
    signal: AbortSignal,
    correction?: Correction,
  ): Promise<ProviderAnswer> {
    const schema = request.task.outputSchema;
    const messages: MessageParam[] = [{ role: 'user', content: request.prompt }];
    if (correction) messages.push(...reask(correction));
    const message = await client.messages.create(
      {
        model: this.model,
        max_tokens: this.maxTokens,
        system: systemPrompt(request),
        messages,
        ...(schema
          ? {
              tools: [
                {
                  name: OUTPUT_TOOL_NAME,
                  description: OUTPUT_TOOL_DESCRIPTION,
                  input_schema: schema as Tool.InputSchema,
                },
              ],
              tool_choice: { type: 'tool' as const, name: OUTPUT_TOOL_NAME },
            }
          : {}),
      },
      // The call's deadline is the policy's (signal). An explicit timeout also keeps the SDK from refusing a
      // non-streaming call whose max_tokens it expects to take over 10 minutes (over ~21k tokens).
      { signal, timeout: request.timeoutMs },
    );
    if (!isAnthropicMessage(message))
      throw notAnAnthropicMessage(message, { model: this.model, url: this.baseURL });
    const usage = anthropicUsage(message.usage);
    const kind = anthropicStop(message.stop_reason);
    const text = message.content.flatMap((block) => (block.type === 'text' ? [block.text] : [])).join('');
    const unusable = unusableAnswerError('anthropic', {
      model: this.model,
      // A structured answer without its tool call is re-asked like any misfit (below).
      kind: schema && kind === 'refused' ? undefined : kind,
      stopReason: message.stop_reason,
      text: schema ? undefined : text,
      maxTokens: this.maxTokens,
      usage,
    });
    if (unusable) throw unusable;
    if (schema) {
      const call = message.content.find((b) => b.type === 'tool_use' && b.name === OUTPUT_TOOL_NAME);
      return {
        output: call?.type === 'tool_use' ? call.input : undefined,
        ...(call
          ? {}
          : { problem: `the answer did not call ${OUTPUT_TOOL_NAME} (it stopped: ${message.stop_reason})` }),
        ...(usage ? { usage } : {}),
        turn: message.content,
      };
    }
    const output: LlmOutput = {
      text,
      stopReason: message.stop_reason ?? undefined,
      model: message.model ?? this.model,
    };
    return { output, ...(usage ? { usage } : {}) };
  }
}

/** Whether a 2xx body is a Messages answer at all (its content blocks), not an HTML page or `{}`. */
export const isAnthropicMessage = (body: unknown): boolean =>
  Array.isArray((body as { content?: unknown } | undefined)?.content);

/** The error for a 2xx body that is not a Messages answer: named with its start, and not retried. */
export function notAnAnthropicMessage(body: unknown, where: { model: string; url: string }): ProviderError {
  return malformedAnswerError(
    'anthropic',
    `HTTP 200 with a body that is not a message: ${bodyExcerpt(body)}`,
    {
      ...where,
      retryable: false,
    },
  );
}

/** Anthropic's documented stop reasons that make an answer no deliverable. */
export function anthropicStop(stopReason: string | null | undefined): UnusableStop | undefined {
  switch (stopReason) {
    case 'max_tokens':
      return 'truncated';
    case 'model_context_window_exceeded':
      return 'context';
    case 'refusal':
      return 'refused';
    default:
      return undefined;
  }
}

/**
 * The re-ask turns: the previous answer as the assistant's, then the user's tool result for its tool call,
 * flagged as an error and naming the misfits (a text message when it made no call).
 */
function reask(correction: Correction): MessageParam[] {
  const turn = (correction.previous.turn ?? []) as ContentBlock[];
  const call = turn.find((b) => b.type === 'tool_use');
  const text = correctionText(correction.misfits);
  return [
    ...(turn.length > 0
      ? [{ role: 'assistant' as const, content: turn as unknown as MessageParam['content'] }]
      : []),
    {
      role: 'user',
      content:
        call?.type === 'tool_use'
          ? [{ type: 'tool_result', tool_use_id: call.id, is_error: true, content: text }]
          : text,
    },
  ];
}

/**
 * Anthropic's usage block: `input_tokens` already leaves out the tokens read from or written to the cache.
 * Undefined when there is none or its counts are not token counts (reportedUsage).
 */
export function anthropicUsage(usage: unknown): Usage | undefined {
  return reportedUsageIn(usage, {
    inputTokens: 'input_tokens',
    outputTokens: 'output_tokens',
    cacheReadTokens: 'cache_read_input_tokens',
    cacheWriteTokens: 'cache_creation_input_tokens',
  });
}
