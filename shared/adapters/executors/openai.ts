/**
 * The OpenAI executor: Chat Completions through the official SDK (chosen over the Responses API because
 * OpenAI-compatible servers such as vLLM or LiteLLM speak it), API key from the secret resolver,
 * base URL overridable (config.url, else OPENAI_BASE_URL).
 */
import OpenAI, { APIError } from 'openai';
import type { ExecutorConfig } from '../../domain/schemas';
import type { ExecutionRequest } from '../../ports';
import type { SecretResolver } from '../secrets';
import { type CallPolicy, networkError, providerErrorFromStatus } from './policy';
import {
  DEFAULT_MAX_TOKENS,
  type LlmOutput,
  type ProviderAnswer,
  ProviderExecutor,
  requireHttpUrl,
  systemPrompt,
} from './provider';

/** Model used when the config names none. */
export const DEFAULT_OPENAI_MODEL = 'gpt-4.1-mini';
export const DEFAULT_OPENAI_BASE_URL = 'https://api.openai.com/v1';

export interface OpenAiExecutorOptions {
  secrets: SecretResolver;
  baseURL?: string;
  maxTokens?: number;
}

export class OpenAiExecutor extends ProviderExecutor {
  readonly name = 'openai' as const;
  readonly model: string;
  readonly baseURL: string;
  readonly #secrets: SecretResolver;
  readonly #maxTokens: number;
  #client: { apiKey: string; client: OpenAI } | undefined;

  constructor(config: ExecutorConfig, policy: CallPolicy, options: OpenAiExecutorOptions) {
    super(policy);
    this.model = config.model ?? DEFAULT_OPENAI_MODEL;
    this.baseURL = requireHttpUrl(
      config.url ?? options.baseURL ?? DEFAULT_OPENAI_BASE_URL,
      'the openai base URL',
    );
    this.#secrets = options.secrets;
    this.#maxTokens = options.maxTokens ?? DEFAULT_MAX_TOKENS;
  }

  protected async invoke(request: ExecutionRequest, signal: AbortSignal): Promise<ProviderAnswer> {
    const client = this.#clientFor(await this.#secrets('openai'));
    try {
      const completion = await client.chat.completions.create(
        {
          model: this.model,
          max_completion_tokens: this.#maxTokens,
          messages: [
            { role: 'system', content: systemPrompt(request) },
            { role: 'user', content: request.prompt },
          ],
        },
        { signal },
      );
      const choice = completion.choices[0];
      const output: LlmOutput = {
        text: choice?.message.content ?? '',
        stopReason: choice?.finish_reason ?? undefined,
        model: completion.model,
      };
      return {
        output,
        ...(completion.usage
          ? {
              usage: {
                inputTokens: completion.usage.prompt_tokens,
                outputTokens: completion.usage.completion_tokens,
              },
            }
          : {}),
      };
    } catch (error) {
      if (error instanceof APIError && error.status !== undefined) {
        throw providerErrorFromStatus('openai', error.status, error.message, {
          retryAfter: error.headers?.get('retry-after'),
          cause: error,
        });
      }
      throw networkError('openai', error);
    }
  }

  #clientFor(apiKey: string): OpenAI {
    if (this.#client?.apiKey !== apiKey) {
      this.#client = {
        apiKey,
        // organization/project null: never pick them up from the environment behind the config's back.
        client: new OpenAI({
          apiKey,
          baseURL: this.baseURL,
          maxRetries: 0,
          organization: null,
          project: null,
        }),
      };
    }
    return this.#client.client;
  }
}
