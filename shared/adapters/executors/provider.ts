/**
 * The base of every real provider executor: the shared algorithm (call policy, outcome shape, structured
 * outputs and their re-ask) lives here once; each provider only does its I/O in `invoke`.
 */
import { attachUsage, DEFAULT_MAX_OUTPUT_TOKENS, pricedModel, sumUsage } from '../../domain/costs';
import { STRUCTURED_OUTPUT_REASKS } from '../../domain/limits';
import { MAX_QUOTED_SCHEMA_ERRORS, OutputSchemaError, outputMisfits } from '../../domain/output-schema';
import { usageTokens } from '../../domain/provider-limits';
import type { ExecutorName, Usage } from '../../domain/schemas';
import type { AgentExecutor, ExecutionOutcome, ExecutionRequest } from '../../ports';
import { ExecutionTimeoutError, ExecutorConfigError } from './errors';
import { type CallPolicy, callWithPolicy } from './policy';

/** Output tokens asked for when the config does not say: enough for a file or a review. */
export const DEFAULT_MAX_TOKENS = DEFAULT_MAX_OUTPUT_TOKENS;

/** What one provider call produced. */
export interface ProviderAnswer {
  /** The text answer, or with an outputSchema the structured value (undefined when there is none). */
  output: unknown;
  /** The call's tokens, `inputTokens` without cache reads and writes (those are counted apart). */
  usage?: Usage;
  /** Why a structured answer has no value: no tool call, not JSON, a refusal. */
  problem?: string;
  /** The assistant's turn in the provider's shape, for a re-ask to send back. */
  turn?: unknown;
}

/** Re-asks of a misfitting structured answer within one attempt (defined with the limits: a budget holds them). */
export { STRUCTURED_OUTPUT_REASKS } from '../../domain/limits';
/** The forced tool whose input is the structured output (Anthropic tool use, Bedrock Converse). */
export const OUTPUT_TOOL_NAME = 'submit_output';
export const OUTPUT_TOOL_DESCRIPTION =
  "Submit the task's output. Its input is the deliverable, and it must fit this JSON Schema.";

/** A re-ask: the previous answer and how it misfits. */
export interface Correction {
  readonly previous: ProviderAnswer;
  readonly misfits: readonly string[];
}

/** What the model is told when its answer misfits. */
export function correctionText(misfits: readonly string[]): string {
  return [
    'Your output does not fit the required JSON Schema:',
    ...misfits.slice(0, MAX_QUOTED_SCHEMA_ERRORS).map((m) => `- ${m}`),
    'Answer again with output that fits it.',
  ].join('\n');
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

  /** Whether a misfitting structured answer is sent back for another try (a model can; a service cannot). */
  protected readonly reasks: boolean = true;

  /**
   * Runs the task under the call policy (slot, deadline, retries). With an outputSchema, the answer is
   * validated and, when it misfits, the model is re-asked (STRUCTURED_OUTPUT_REASKS) within the same
   * deadline; still misfitting, the attempt fails with OutputSchemaError and its errors. Every answered
   * call's usage is reported, call by call; an error thrown after some calls carries theirs (attachUsage),
   * since a failed attempt costs what its calls used.
   */
  async execute(request: ExecutionRequest, signal: AbortSignal): Promise<ExecutionOutcome> {
    const startedAt = Date.now();
    const calls: Usage[] = [];
    const call = async (correction?: Correction) => {
      const timeoutMs = request.timeoutMs - (Date.now() - startedAt);
      if (timeoutMs <= 0) throw new ExecutionTimeoutError(this.name, request.timeoutMs);
      const answer = await callWithPolicy(
        { provider: this.name, model: pricedModel(request.executor) },
        { timeoutMs, signal, policy: this.policy, tokensOf: (a: ProviderAnswer) => usageTokens(a.usage) },
        (callSignal) => this.invoke(request, callSignal, correction),
      );
      if (answer.usage) calls.push(answer.usage);
      return answer;
    };
    try {
      let answer = await call();
      const schema = request.task.outputSchema;
      for (let reasked = 0; schema !== undefined; reasked++) {
        const misfits =
          answer.output === undefined
            ? [answer.problem ?? 'the answer holds no structured output']
            : outputMisfits(schema, answer.output);
        if (misfits.length === 0) break;
        if (!this.reasks || reasked >= STRUCTURED_OUTPUT_REASKS) throw new OutputSchemaError(misfits);
        answer = await call({ previous: answer, misfits });
      }
      const usage = sumUsage(calls);
      return {
        output: answer.output,
        executor: this.name,
        simulated: false,
        ...(usage ? { usage, calls } : {}),
      };
    } catch (error) {
      throw attachUsage(error, calls);
    }
  }

  /**
   * One call to the provider. Must pass `signal` to the HTTP client and throw ProviderError for its errors.
   * With an outputSchema, asks for output fitting it; with `correction`, sends the previous answer back with
   * its misfits.
   */
  protected abstract invoke(
    request: ExecutionRequest,
    signal: AbortSignal,
    correction?: Correction,
  ): Promise<ProviderAnswer>;
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
