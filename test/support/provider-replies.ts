/** Answers in the shape of each provider's API, for the local stand-ins of the executor and runtime tests. */
import type { Reply } from '../unit/executors/fake-provider';

/** An Anthropic Messages answer with these content blocks. */
function anthropicMessage(content: unknown[], stopReason: string): Reply {
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
      usage: { input_tokens: 10, output_tokens: 5 },
    },
  };
}

/** An Anthropic Messages answer with one text block. */
export function anthropicText(text: string): Reply {
  return anthropicMessage([{ type: 'text', text }], 'end_turn');
}

/** An Anthropic Messages answer that calls tool `name` with `input`. */
export function anthropicToolUse(name: string, input: unknown, id = 'toolu_1'): Reply {
  return anthropicMessage([{ type: 'tool_use', id, name, input }], 'tool_use');
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
