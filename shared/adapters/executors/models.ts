/**
 * The default model of each provider, in a module of its own: the routing advisor names its model before
 * loading any provider SDK (those load on the first call; see wiring.ts).
 */

/** Anthropic: an alias the Messages API resolves to the current snapshot. */
export const DEFAULT_ANTHROPIC_MODEL = 'claude-sonnet-4-5';
/** OpenAI. */
export const DEFAULT_OPENAI_MODEL = 'gpt-4.1-mini';
/**
 * Bedrock: Claude 3 Haiku, offered on demand (no inference profile needed) in most Bedrock regions. Set
 * `executor.model` to a newer model id or an inference profile id (e.g.
 * `us.anthropic.claude-sonnet-4-20250514-v1:0`) where your account has access.
 */
export const DEFAULT_BEDROCK_MODEL = 'anthropic.claude-3-haiku-20240307-v1:0';
