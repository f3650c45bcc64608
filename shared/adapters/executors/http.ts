/**
 * The http executor: hands the task to an existing agent service.
 *
 * Contract: `POST {config.url}` with `Content-Type: application/json` and the body
 * `{ batchId, taskId, agentId, role, attempt, task, prompt }`, plus `Authorization: Bearer <token>` when
 * the provider secret has an `http` entry. A 2xx answer with a JSON body is the task's output, as is.
 * 429/503/529 are backed off and retried (retry-after-ms or Retry-After honoured), other 5xx and 408
 * retried a few times, other 4xx fail the attempt at once. The service should be idempotent on (batchId, taskId, attempt). A service that
 * calls a model reports the tokens it used in the answer's headers `x-usage-input-tokens`,
 * `x-usage-output-tokens` (and `x-usage-cache-read-tokens`, `x-usage-cache-write-tokens`): the attempt's
 * usage, priced as provider `http`. Without them the attempt's usage is unknown.
 */
import { reportedUsage } from '../../domain/costs';
import { firstTooDeep } from '../../domain/json-depth';
import { MAX_OUTPUT_DEPTH } from '../../domain/limits';
import type { ExecutorConfig, Usage } from '../../domain/schemas';
import { formatPath } from '../../domain/validation';
import type { ExecutionRequest } from '../../ports';
import { SecretNotFoundError, type SecretResolver } from '../secrets';
import { boundedFetch } from './bounded-fetch';
import { ExecutorConfigError, ProviderError } from './errors';
import { type CallPolicy, networkError, providerErrorFromStatus, retryAfterFromHeaders } from './policy';
import { type ProviderAnswer, ProviderExecutor, requireHttpUrl } from './provider';

/** Characters of an error body quoted in the error message. */
const ERROR_BODY_EXCERPT_CHARS = 300;

/** The JSON body the agent service receives. */
export interface HttpTaskRequest {
  batchId: string;
  taskId: string;
  agentId: string;
  role: string;
  attempt: number;
  task: ExecutionRequest['task'];
  prompt: string;
  /** The work of the tasks this one depends on, as data (the prompt holds the same as text). */
  context?: ExecutionRequest['context'];
  /** The JSON Schema the answer must fit (also in `task`); a misfit fails the attempt. */
  outputSchema?: Record<string, unknown>;
}

export interface HttpExecutorOptions {
  secrets: SecretResolver;
  fetch?: typeof fetch;
}

export class HttpExecutor extends ProviderExecutor {
  readonly name = 'http' as const;
  /** A service is not a model to correct: a misfitting answer fails the attempt at once. */
  protected override readonly reasks = false;
  readonly url: string;
  readonly #secrets: SecretResolver;
  readonly #fetch: typeof fetch;

  constructor(config: ExecutorConfig, policy: CallPolicy, options: HttpExecutorOptions) {
    super(policy);
    if (config.url === undefined) {
      throw new ExecutorConfigError('the http executor needs "url": the agent service to POST tasks to');
    }
    this.url = requireHttpUrl(config.url, 'the http executor url');
    this.#secrets = options.secrets;
    this.#fetch = boundedFetch(this.name, options.fetch ?? fetch);
  }

  protected async invoke(request: ExecutionRequest, signal: AbortSignal): Promise<ProviderAnswer> {
    const token = await this.#token();
    const body: HttpTaskRequest = {
      batchId: request.batchId,
      taskId: request.taskId,
      agentId: request.agentId,
      role: request.role,
      attempt: request.attempt,
      task: request.task,
      prompt: request.prompt,
      ...(request.context ? { context: request.context } : {}),
      ...(request.task.outputSchema ? { outputSchema: request.task.outputSchema } : {}),
    };
    let response: Response;
    let text: string;
    try {
      response = await this.#fetch(this.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json',
          ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
        },
        body: JSON.stringify(body),
        signal,
      });
      text = await response.text();
    } catch (error) {
      // An answer over MAX_PROVIDER_ANSWER_BYTES (boundedFetch) is the service's answer, not a network failure.
      if (error instanceof ProviderError) throw error;
      throw networkError('http', error);
    }
    if (!response.ok) {
      throw providerErrorFromStatus('http', response.status, text.slice(0, ERROR_BODY_EXCERPT_CHARS), {
        retryAfterMs: retryAfterFromHeaders((name) => response.headers.get(name)),
      });
    }
    let output: unknown;
    try {
      output = JSON.parse(text);
    } catch (error) {
      throw new ProviderError(
        'http',
        `the agent service at ${this.url} answered ${response.status} without a JSON body: ${text.slice(0, ERROR_BODY_EXCERPT_CHARS)}`,
        { status: response.status, retryable: false, permanent: 'request', cause: error },
      );
    }
    const tooDeep = firstTooDeep(output, MAX_OUTPUT_DEPTH);
    if (tooDeep) {
      throw new ProviderError(
        'http',
        `the agent service at ${this.url} answered JSON nested deeper than ${MAX_OUTPUT_DEPTH} levels (at ${formatPath(tooDeep)})`,
        { status: response.status, retryable: false, permanent: 'request' },
      );
    }
    const usage = usageFromHeaders(response.headers);
    return { output, ...(usage ? { usage } : {}) };
  }

  /** The bearer token is optional: no `http` entry (or no secret configured) means no Authorization header. */
  async #token(): Promise<string | undefined> {
    try {
      return await this.#secrets('http');
    } catch (error) {
      if (error instanceof SecretNotFoundError) return undefined;
      throw error;
    }
  }
}

/** Response headers an agent service reports its token usage in (see the file comment). */
export const USAGE_HEADERS = {
  inputTokens: 'x-usage-input-tokens',
  outputTokens: 'x-usage-output-tokens',
  cacheReadTokens: 'x-usage-cache-read-tokens',
  cacheWriteTokens: 'x-usage-cache-write-tokens',
} as const;

/** The usage an agent service reported in its headers; undefined unless they are token counts (reportedUsage). */
export function usageFromHeaders(headers: Headers): Usage | undefined {
  const read = (name: string) => {
    const raw = headers.get(name)?.trim();
    return raw !== undefined && /^\d{1,15}$/.test(raw) ? Number(raw) : raw;
  };
  return reportedUsage({
    inputTokens: read(USAGE_HEADERS.inputTokens),
    outputTokens: read(USAGE_HEADERS.outputTokens),
    cacheReadTokens: read(USAGE_HEADERS.cacheReadTokens),
    cacheWriteTokens: read(USAGE_HEADERS.cacheWriteTokens),
  });
}
