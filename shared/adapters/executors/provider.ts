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
import { ExecutionTimeoutError, ExecutorConfigError, ProviderError } from './errors';
import { type CallPolicy, callName, callWithPolicy } from './policy';

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

/**
 * How a model's turn ended when its answer cannot be the task's output though the call succeeded: cut at the
 * output limit, past the context window, refused, or stopped by a content filter or guardrail. Each provider
 * maps its own stop reasons onto these (its documented values: OpenAI `finish_reason`, Anthropic `stop_reason`,
 * Bedrock Converse `stopReason`).
 */
export type UnusableStop = 'truncated' | 'context' | 'refused' | 'filtered';

/**
 * The error for an answer that is no deliverable, or undefined when it is one: a stop in `kind`, or (for a text
 * answer) no text at all. Not retryable: the same prompt gets the same end. It carries the call's usage, since
 * the provider bills the call (attachUsage).
 */
export function unusableAnswerError(
  provider: Exclude<ExecutorName, 'simulated'>,
  answer: {
    model: string | undefined;
    kind: UnusableStop | undefined;
    stopReason: string | null | undefined;
    /** The answer's text; undefined for a structured answer (its emptiness is the schema check's business). */
    text: string | undefined;
    refusal?: string | null | undefined;
    maxTokens: number;
    usage: Usage | undefined;
  },
): ProviderError | undefined {
  const who = callName(provider, answer.model);
  const stopped = `stop reason ${answer.stopReason ?? 'none'}`;
  let message: string | undefined;
  switch (answer.kind) {
    case 'truncated':
      message = `${who} stopped at the output limit (${stopped}, ${answer.maxTokens} output tokens asked): the answer is cut short; raise executor.maxOutputTokens up to the model's output limit, or split the task`;
      break;
    case 'context':
      message = `${who} ran out of context window (${stopped}): shorten the task, its prompt or the context it takes from other tasks`;
      break;
    case 'refused':
      message = `${who} refused the task (${stopped})${answer.refusal ? `: ${answer.refusal}` : ''}`;
      break;
    case 'filtered':
      message = `${who}: a content filter or guardrail stopped the answer (${stopped})`;
      break;
    default:
      if (answer.text !== undefined && answer.text.trim() === '')
        message = `${who} answered no text (${stopped})`;
  }
  if (message === undefined) return undefined;
  return attachUsage(
    new ProviderError(provider, message, {
      retryable: false,
      permanent: answer.kind === 'truncated' ? 'output-limit' : 'request',
    }),
    answer.usage ? [answer.usage] : [],
  );
}

/** Characters of an unexpected answer body quoted in an error. */
const BODY_EXCERPT_CHARS = 300;

/** The start of an unexpected answer body (the SDKs hand a body that is not JSON over as a string). */
export function bodyExcerpt(body: unknown): string {
  const text = typeof body === 'string' ? body : (JSON.stringify(body) ?? String(body));
  return text.length > BODY_EXCERPT_CHARS ? `${text.slice(0, BODY_EXCERPT_CHARS)}…` : text;
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
