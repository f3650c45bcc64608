/** Answers in the shape of each provider's API, for the local stand-ins of the executor and runtime tests. */
import type { RecordedRequest, Reply } from '../unit/executors/fake-provider';

/** Anthropic's usage block of an answer (the default: 10 tokens in, 5 out). */
export interface AnthropicUsage {
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens?: number;
  cache_creation_input_tokens?: number;
}
const DEFAULT_USAGE: AnthropicUsage = { input_tokens: 10, output_tokens: 5 };

/** An Anthropic Messages answer with these content blocks. */
function anthropicMessage(content: unknown[], stopReason: string, usage = DEFAULT_USAGE): Reply {
  return {
    status: 200,
    json: {
      id: 'msg_1',
      type: 'message',
      role: 'assistant',
      model: 'claude-test',
      content,
      stop_reason: stopReason,
      stop_sequence: null,
      usage,
    },
  };
}

/** An Anthropic Messages answer with one text block (stopped at `stopReason`, by default the end of its turn). */
export function anthropicText(text: string, usage?: AnthropicUsage, stopReason = 'end_turn'): Reply {
  return anthropicMessage([{ type: 'text', text }], stopReason, usage);
}

/** An Anthropic Messages answer that calls tool `name` with `input`. */
export function anthropicToolUse(
  name: string,
  input: unknown,
  id = 'toolu_1',
  usage?: AnthropicUsage,
): Reply {
  return anthropicMessage([{ type: 'tool_use', id, name, input }], 'tool_use', usage);
}

/** An OpenAI Chat Completions answer. */
export function openaiText(content: string, refusal: string | null = null): Reply {
  return {
    status: 200,
    json: {
      id: 'chatcmpl-1',
      object: 'chat.completion',
      created: 1,
      model: 'gpt-test',
      choices: [
        { index: 0, message: { role: 'assistant', content, refusal }, finish_reason: 'stop', logprobs: null },
      ],
      usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
    },
  };
}

/** The task id a recorded provider request is for: the role's prompt template names it (`Task <id>:`). */
export function taskOf(request: RecordedRequest): string {
  const body = JSON.parse(request.body) as { messages: { role: string; content: unknown }[] };
  const first = body.messages.find((m) => m.role === 'user')?.content;
  const text = typeof first === 'string' ? first : JSON.stringify(first);
  const match = /Task ([A-Za-z0-9._:-]+):/.exec(text);
  if (!match?.[1]) throw new Error(`no task id in ${text.slice(0, 200)}`);
  return match[1];
}
