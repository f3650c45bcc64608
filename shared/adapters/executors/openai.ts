/**
 * The OpenAI executor: Chat Completions through the official SDK (chosen over the Responses API because
 * OpenAI-compatible servers such as vLLM or LiteLLM speak it), API key from the secret resolver,
 * base URL overridable (config.url, else OPENAI_BASE_URL). A task with an outputSchema asks for structured
 * outputs (`response_format` json_schema; strict when the schema allows it, see strictCompatible): the
 * answer's content is parsed as JSON; a re-ask sends it back with its misfits.
 */
import OpenAI, { APIError } from 'openai';
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { reportedUsage } from '../../domain/costs';
import { strictCompatible } from '../../domain/output-schema';
import type { ExecutorConfig, Usage } from '../../domain/schemas';
import type { ExecutionRequest } from '../../ports';
import { boundedFetch } from './bounded-fetch';
import type { ProviderError } from './errors';
import { DEFAULT_OPENAI_MODEL } from './models';
import { type CallPolicy, malformedAnswerError } from './policy';
import {
  bodyExcerpt,
  type Correction,
  correctionText,
  type LlmOutput,
  type ProviderAnswer,
  systemPrompt,
  type UnusableStop,
  unusableAnswerError,
} from './provider';

/** The name of the response format (OpenAI asks for one: letters, digits, underscores and dashes). */
export const OUTPUT_FORMAT_NAME = 'task_output';

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
    return new OpenAI({
      apiKey,
      baseURL: this.baseURL,
      maxRetries: 0,
      organization: null,
      project: null,
      fetch: boundedFetch(this.name),
    });
  }

  protected isApiError(error: unknown): error is SdkApiError {
    return error instanceof APIError;
  }

  protected async request(
    client: OpenAI,
    request: ExecutionRequest,
    signal: AbortSignal,
    correction?: Correction,
  ): Promise<ProviderAnswer> {
    const schema = request.task.outputSchema;
    const messages: ChatCompletionMessageParam[] = [
      { role: 'system', content: systemPrompt(request) },
      { role: 'user', content: request.prompt },
    ];
    if (correction) {
      messages.push(
        { role: 'assistant', content: String(correction.previous.turn ?? '') },
        { role: 'user', content: correctionText(correction.misfits) },
      );
    }
    const completion = await client.chat.completions.create(
      {
        model: this.model,
        max_completion_tokens: this.maxTokens,
        messages,
        ...(schema
          ? {
              response_format: {
                type: 'json_schema' as const,
                json_schema: { name: OUTPUT_FORMAT_NAME, schema, strict: strictCompatible(schema) },
              },
            }
          : {}),
      },
      // The call's deadline is the policy's (signal); an explicit timeout keeps the SDK's own 10-minute one out.
      { signal, timeout: request.timeoutMs },
    );
    if (!Array.isArray((completion as { choices?: unknown } | undefined)?.choices))
      throw notAChatCompletion(completion, { model: this.model, url: this.baseURL });
    const choice = completion.choices[0];
    const content = choice?.message?.content ?? '';
    const usage = openaiUsage(completion.usage);
    const finishReason = choice?.finish_reason ?? (choice ? undefined : 'no choices');
    const refusal = choice?.message?.refusal;
    const kind = openaiStop(finishReason, refusal);
    const unusable = unusableAnswerError('openai', {
      model: this.model,
      // A structured refusal is re-asked like any misfit (structured below).
      kind: schema && kind === 'refused' ? undefined : kind,
      stopReason: finishReason,
      text: schema ? undefined : content,
      refusal,
      maxTokens: this.maxTokens,
      usage,
    });
    if (unusable) throw unusable;
    if (schema) return { ...structured(content, refusal), turn: content, ...(usage ? { usage } : {}) };
    const output: LlmOutput = {
      text: content,
      stopReason: finishReason,
      model: completion.model ?? this.model,
    };
    return { output, ...(usage ? { usage } : {}) };
  }
}

/** OpenAI's documented finish reasons (and a refusal) that make an answer no deliverable. */
export function openaiStop(
  finishReason: string | undefined,
  refusal: string | null | undefined,
): UnusableStop | undefined {
  if (refusal) return 'refused';
  if (finishReason === 'length') return 'truncated';
  if (finishReason === 'content_filter') return 'filtered';
  return undefined;
}

/** A structured answer's value: its content as JSON, or why there is none (a refusal, text that is not JSON). */
function structured(
  content: string,
  refusal: string | null | undefined,
): Pick<ProviderAnswer, 'output' | 'problem'> {
  if (refusal) return { output: undefined, problem: `the model refused: ${refusal}` };
  try {
    return { output: JSON.parse(content) as unknown };
  } catch (error) {
    return { output: undefined, problem: `the answer is not JSON (${(error as Error).message})` };
  }
}

/**
 * OpenAI's usage block: `prompt_tokens` counts the cached ones too, so they are taken out of `inputTokens`
 * and counted as cache reads (OpenAI charges nothing extra to write its cache). Undefined when there is none or
 * its counts are not token counts (reportedUsage).
 */
export function openaiUsage(usage: unknown): Usage | undefined {
  const block = usage as Record<string, unknown> | null | undefined;
  if (typeof block !== 'object' || block === null) return undefined;
  const details = block.prompt_tokens_details as Record<string, unknown> | null | undefined;
  const cached = (typeof details === 'object' && details !== null ? details.cached_tokens : undefined) ?? 0;
  const prompt = block.prompt_tokens;
  const counted = reportedUsage({
    inputTokens: prompt,
    outputTokens: block.completion_tokens,
    cacheReadTokens: cached,
  });
  if (!counted) return undefined;
  const read = counted.cacheReadTokens ?? 0;
  return {
    inputTokens: Math.max(0, counted.inputTokens - read),
    outputTokens: counted.outputTokens,
    ...(read > 0 ? { cacheReadTokens: read } : {}),
  };
}

/** The error for a 2xx body that is not a chat completion (an HTML page, `{}`): named with its start, not retried. */
export function notAChatCompletion(body: unknown, where: { model: string; url: string }): ProviderError {
  return malformedAnswerError(
    'openai',
    `HTTP 200 with a body that is not a chat completion: ${bodyExcerpt(body)}`,
    {
      ...where,
      retryable: false,
    },
  );
}
