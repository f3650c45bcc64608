/**
 * The OpenAI executor: Chat Completions through the official SDK (chosen over the Responses API because
 * OpenAI-compatible servers such as vLLM or LiteLLM speak it), API key from the secret resolver,
 * base URL overridable (config.url, else OPENAI_BASE_URL).
 */
import OpenAI, { APIError } from 'openai';
import type { ExecutorConfig } from '../../domain/schemas';
import type { ExecutionRequest } from '../../ports';
import { DEFAULT_OPENAI_MODEL } from './models';
import type { CallPolicy } from './policy';
import { type LlmOutput, type ProviderAnswer, systemPrompt } from './provider';
import { type SdkApiError, type SdkExecutorOptions, SdkProviderExecutor } from './sdk-provider';

export { DEFAULT_OPENAI_MODEL };
export const DEFAULT_OPENAI_BASE_URL = 'https://api.openai.com/v1';

export type OpenAiExecutorOptions = SdkExecutorOptions;

export class OpenAiExecutor extends SdkProviderExecutor<OpenAI> {
  readonly name = 'openai' as const;

  constructor(config: ExecutorConfig, policy: CallPolicy, options: OpenAiExecutorOptions) {
    super(config, policy, options, {
      model: DEFAULT_OPENAI_MODEL,
      baseURL: DEFAULT_OPENAI_BASE_URL,
      provider: 'openai',
    });
  }

  protected createClient(apiKey: string): OpenAI {
    // organization/project null: never pick them up from the environment behind the config's back.
    return new OpenAI({ apiKey, baseURL: this.baseURL, maxRetries: 0, organization: null, project: null });
  }

  protected isApiError(error: unknown): error is SdkApiError {
    return error instanceof APIError;
  }

  protected async request(
    client: OpenAI,
    request: ExecutionRequest,
    signal: AbortSignal,
  ): Promise<ProviderAnswer> {
    const completion = await client.chat.completions.create(
      {
        model: this.model,
        max_completion_tokens: this.maxTokens,
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
  }
}
