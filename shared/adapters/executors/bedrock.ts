/**
 * The Bedrock executor: the Converse API of Bedrock Runtime (one request shape for every model family),
 * signed with the function's IAM role. No API key: Bedrock access is granted by IAM, not by a secret.
 */
import { BedrockRuntimeClient, ConverseCommand } from '@aws-sdk/client-bedrock-runtime';
import type { ExecutorConfig } from '../../domain/schemas';
import type { ExecutionRequest } from '../../ports';
import { DEFAULT_BEDROCK_MODEL } from './models';
import { type CallPolicy, networkError, providerErrorFromStatus } from './policy';
import {
  DEFAULT_MAX_TOKENS,
  type LlmOutput,
  type ProviderAnswer,
  ProviderExecutor,
  systemPrompt,
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
    this.#maxTokens = options.maxTokens ?? DEFAULT_MAX_TOKENS;
  }

  protected async invoke(request: ExecutionRequest, signal: AbortSignal): Promise<ProviderAnswer> {
    try {
      const answer = await this.#client.send(
        new ConverseCommand({
          modelId: this.model,
          system: [{ text: systemPrompt(request) }],
          messages: [{ role: 'user', content: [{ text: request.prompt }] }],
          inferenceConfig: { maxTokens: this.#maxTokens },
        }),
        { abortSignal: signal },
      );
      const text = (answer.output?.message?.content ?? [])
        .flatMap((block) => (block.text === undefined ? [] : [block.text]))
        .join('');
      const output: LlmOutput = { text, stopReason: answer.stopReason, model: this.model };
      return {
        output,
        ...(answer.usage
          ? { usage: { inputTokens: answer.usage.inputTokens, outputTokens: answer.usage.outputTokens } }
          : {}),
      };
    } catch (error) {
      const shape = error as SmithyErrorShape;
      const status = shape?.$metadata?.httpStatusCode;
      if (status !== undefined && status >= 400) {
        throw providerErrorFromStatus('bedrock', status, `${shape.name ?? 'Error'}: ${shape.message ?? ''}`, {
          retryAfter: shape.$response?.headers?.['retry-after'],
          cause: error,
        });
      }
      throw networkError('bedrock', error);
    }
  }
}
