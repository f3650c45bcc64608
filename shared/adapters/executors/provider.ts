/**
 * The base of every real provider executor: the shared algorithm (call policy, outcome shape) lives here
 * once; each provider only does its I/O in `invoke`.
 */
import type { ExecutorName } from '../../domain/schemas';
import type { AgentExecutor, ExecutionOutcome, ExecutionRequest } from '../../ports';
import { ExecutorConfigError } from './errors';
import { type CallPolicy, callWithPolicy } from './policy';

/** Output tokens asked for when the config does not say: enough for a file or a review. */
export const DEFAULT_MAX_TOKENS = 4096;

/** What one provider call produced. */
export interface ProviderAnswer {
  output: unknown;
  usage?: ExecutionOutcome['usage'];
}

/** Output of the LLM providers: the text, why the model stopped, and which model answered. */
export interface LlmOutput {
  text: string;
  stopReason: string | undefined;
  model: string;
}

export abstract class ProviderExecutor implements AgentExecutor {
  abstract readonly name: Exclude<ExecutorName, 'simulated'>;
  protected readonly policy: CallPolicy;

  constructor(policy: CallPolicy) {
    this.policy = policy;
  }

  /** Runs the task once under the call policy (slot, deadline, retries). */
  async execute(request: ExecutionRequest, signal: AbortSignal): Promise<ExecutionOutcome> {
    const answer = await callWithPolicy(
      this.name,
      { timeoutMs: request.timeoutMs, signal, policy: this.policy },
      (callSignal) => this.invoke(request, callSignal),
    );
    return {
      output: answer.output,
      executor: this.name,
      simulated: false,
      ...(answer.usage ? { usage: answer.usage } : {}),
    };
  }

  /** One call to the provider. Must pass `signal` to the HTTP client and throw ProviderError for its errors. */
  protected abstract invoke(request: ExecutionRequest, signal: AbortSignal): Promise<ProviderAnswer>;
}

/** The system prompt of the LLM providers; the role's filled prompt template is the user message. */
export function systemPrompt(request: ExecutionRequest): string {
  return [
    `You are ${request.agentId}, a ${request.role} agent in a team of specialised software agents.`,
    'Do the task in the user message and answer with the work product itself (code, review findings,',
    'documentation or plan, as the task asks), without asking follow-up questions.',
  ].join(' ');
}

/** Checks that `url` is an absolute http(s) URL, naming `what` when it is not. */
export function requireHttpUrl(url: string, what: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ExecutorConfigError(`${what} must be an absolute http(s) URL, got "${url}"`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ExecutorConfigError(`${what} must use http or https, got "${url}"`);
  }
  return url;
}
