/**
 * The Anthropic executor: Messages API through the official SDK, API key from the secret resolver,
 * base URL overridable (config.url, else ANTHROPIC_BASE_URL) for gateways and tests.
 */
import Anthropic, { APIError } from '@anthropic-ai/sdk';
import type { ExecutorConfig } from '../../domain/schemas';
import type { ExecutionRequest } from '../../ports';
import { DEFAULT_ANTHROPIC_MODEL } from './models';
import type { CallPolicy } from './policy';
import { type LlmOutput, type ProviderAnswer, systemPrompt } from './provider';
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
    return new Anthropic({ apiKey, authToken: null, baseURL: this.baseURL, maxRetries: 0 });
  }

  protected isApiError(error: unknown): error is SdkApiError {
    return error instanceof APIError;
  }

  protected async request(
    client: Anthropic,
    request: ExecutionRequest,
    signal: AbortSignal,
  ): Promise<ProviderAnswer> {
    const message = await client.messages.create(
      {
        model: this.model,
        max_tokens: this.maxTokens,
        system: systemPrompt(request),
        messages: [{ role: 'user', content: request.prompt }],
      },
      { signal },
    );
    const text = message.content.flatMap((block) => (block.type === 'text' ? [block.text] : [])).join('');
    const output: LlmOutput = { text, stopReason: message.stop_reason ?? undefined, model: message.model };
    return {
      output,
      usage: { inputTokens: message.usage.input_tokens, outputTokens: message.usage.output_tokens },
    };
  }
}
