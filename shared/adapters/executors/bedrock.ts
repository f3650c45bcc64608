/**
 * The Bedrock executor: the Converse API of Bedrock Runtime (one request shape for every model family),
 * signed with the function's IAM role. No API key: Bedrock access is granted by IAM, not by a secret. A task
 * with an outputSchema gets a forced tool (`toolConfig`, `toolChoice`) whose input schema is the schema; a
 * re-ask answers its tool use with an error tool result naming the misfits.
 */
import {
  BedrockRuntimeClient,
  type ContentBlock,
  ConverseCommand,
  type Message,
} from '@aws-sdk/client-bedrock-runtime';
import type { DocumentType } from '@smithy/types';
import { reportedUsageIn } from '../../domain/costs';
import type { ExecutorConfig, Usage } from '../../domain/schemas';
import type { ExecutionRequest } from '../../ports';
import { BOUNDED_ANSWER_MIDDLEWARE, boundedAnswerMiddleware } from './bounded-fetch';
import { ProviderError } from './errors';
import { DEFAULT_BEDROCK_MODEL } from './models';
import {
  type CallPolicy,
  HTTP_REDIRECT_MIN,
  malformedAnswerError,
  networkError,
  providerErrorFromStatus,
  retryAfterFromHeaders,
} from './policy';
import {
  type Correction,
  correctionText,
  DEFAULT_MAX_TOKENS,
  type LlmOutput,
  OUTPUT_TOOL_DESCRIPTION,
  OUTPUT_TOOL_NAME,
  type ProviderAnswer,
  ProviderExecutor,
  systemPrompt,
  type UnusableStop,
  unusableAnswerError,
} from './provider';

export { DEFAULT_BEDROCK_MODEL };

/** The SDK's own retries are off so the shared call policy is the only one (see policy.ts). */
export const BEDROCK_SDK_MAX_ATTEMPTS = 1;

export interface BedrockExecutorOptions {
  /** A client bound to another endpoint or credentials; give it `maxAttempts: 1`. */
  client?: BedrockRuntimeClient;
  maxTokens?: number;
}

interface SmithyErrorShape {
  name?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: { headers?: Record<string, string | undefined> };
}

export class BedrockExecutor extends ProviderExecutor {
  readonly name = 'bedrock' as const;
  readonly model: string;
  readonly #client: BedrockRuntimeClient;
  readonly #maxTokens: number;

  constructor(config: ExecutorConfig, policy: CallPolicy, options: BedrockExecutorOptions = {}) {
    super(policy);
    this.model = config.model ?? DEFAULT_BEDROCK_MODEL;
    this.#client = options.client ?? new BedrockRuntimeClient({ maxAttempts: BEDROCK_SDK_MAX_ATTEMPTS });
    this.#maxTokens = config.maxOutputTokens ?? options.maxTokens ?? DEFAULT_MAX_TOKENS;
  }

  protected async invoke(
    request: ExecutionRequest,
    signal: AbortSignal,
    correction?: Correction,
  ): Promise<ProviderAnswer> {
    const schema = request.task.outputSchema;
    const messages: Message[] = [{ role: 'user', content: [{ text: request.prompt }] }];
    if (correction) messages.push(...reask(correction));
    try {
      const command = new ConverseCommand({
        modelId: this.model,
        system: [{ text: systemPrompt(request) }],
        messages,
        inferenceConfig: { maxTokens: this.#maxTokens },
        ...(schema
          ? {
              toolConfig: {
                tools: [
                  {
                    toolSpec: {
                      name: OUTPUT_TOOL_NAME,
                      description: OUTPUT_TOOL_DESCRIPTION,
                      inputSchema: { json: schema as DocumentType },
                    },
                  },
                ],
                toolChoice: { tool: { name: OUTPUT_TOOL_NAME } },
              },
            }
          : {}),
      });
      // The answer's body is bounded as the other providers' are (boundedFetch). On the command, not the client:
      // a client given in (or shared) is not changed, and a streaming command on it is not read whole.
      command.middlewareStack.add(boundedAnswerMiddleware('bedrock'), {
        step: 'deserialize',
        priority: 'low',
        name: BOUNDED_ANSWER_MIDDLEWARE,
      });
      const answer = await this.#client.send(command, { abortSignal: signal });
      const content = answer.output?.message?.content ?? [];
      const usage = bedrockUsage(answer.usage);
      const text = content.flatMap((block) => (block.text === undefined ? [] : [block.text])).join('');
      const unusable = unusableAnswerError('bedrock', {
        model: this.model,
        kind: bedrockStop(answer.stopReason),
        stopReason: answer.stopReason,
        text: schema ? undefined : text,
        maxTokens: this.#maxTokens,
        usage,
      });
      if (unusable) throw unusable;
      if (schema) {
        const call = content.find((block) => block.toolUse?.name === OUTPUT_TOOL_NAME)?.toolUse;
        return {
          output: call?.input,
          ...(call
            ? {}
            : { problem: `the answer did not call ${OUTPUT_TOOL_NAME} (it stopped: ${answer.stopReason})` }),
          turn: content,
          ...(usage ? { usage } : {}),
        };
      }
      const output: LlmOutput = { text, stopReason: answer.stopReason, model: this.model };
      return { output, ...(usage ? { usage } : {}) };
    } catch (error) {
      if (error instanceof ProviderError) throw error;
      const shape = error as SmithyErrorShape;
      const status = shape?.$metadata?.httpStatusCode;
      // A 3xx too: the SDK follows no redirect, and its answer is no Converse answer to retry as malformed.
      if (status !== undefined && status >= HTTP_REDIRECT_MIN) {
        const headers = shape.$response?.headers ?? {};
        throw providerErrorFromStatus('bedrock', status, `${shape.name ?? 'Error'}: ${shape.message ?? ''}`, {
          retryAfterMs: retryAfterFromHeaders((name) => headers[name]),
          model: this.model,
          cause: error,
        });
      }
      // An answer came (2xx) but the client could not read it: a body cut short or not Converse's JSON.
      if (status !== undefined)
        throw malformedAnswerError(
          'bedrock',
          `HTTP ${status} with a body that is not a Converse answer: ${shape.message ?? ''}`,
          {
            model: this.model,
            retryable: true,
            cause: error,
          },
        );
      throw networkError('bedrock', error, this.model);
    }
  }
}

/** Bedrock Converse's documented stop reasons that make an answer no deliverable. */
export function bedrockStop(stopReason: string | undefined): UnusableStop | undefined {
  switch (stopReason) {
    case 'max_tokens':
      return 'truncated';
    case 'model_context_window_exceeded':
      return 'context';
    case 'guardrail_intervened':
    case 'content_filtered':
      return 'filtered';
    default:
      return undefined;
  }
}

/** The re-ask turns: the previous answer as the assistant's, then an error result for its tool use. */
function reask(correction: Correction): Message[] {
  const turn = (correction.previous.turn ?? []) as ContentBlock[];
  const toolUseId = turn.find((block) => block.toolUse !== undefined)?.toolUse?.toolUseId;
  const text = correctionText(correction.misfits);
  return [
    ...(turn.length > 0 ? [{ role: 'assistant' as const, content: turn }] : []),
    {
      role: 'user',
      content: toolUseId ? [{ toolResult: { toolUseId, content: [{ text }], status: 'error' } }] : [{ text }],
    },
  ];
}

/**
 * Bedrock Converse's usage: `inputTokens` leaves out the cache reads and writes it reports apart. Undefined when
 * there is none or its counts are not token counts (reportedUsage).
 */
export function bedrockUsage(usage: unknown): Usage | undefined {
  return reportedUsageIn(usage, {
    inputTokens: 'inputTokens',
    outputTokens: 'outputTokens',
    cacheReadTokens: 'cacheReadInputTokens',
    cacheWriteTokens: 'cacheWriteInputTokens',
  });
}
