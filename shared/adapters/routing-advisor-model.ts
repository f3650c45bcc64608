/** The model a routing question goes to, known without loading any provider SDK. */
import type { AssistConfig } from '../domain/routing-config';
import { DEFAULT_ANTHROPIC_MODEL, DEFAULT_BEDROCK_MODEL, DEFAULT_OPENAI_MODEL } from './executors/models';

const DEFAULT_MODELS: Readonly<Record<AssistConfig['provider'], string>> = {
  anthropic: DEFAULT_ANTHROPIC_MODEL,
  openai: DEFAULT_OPENAI_MODEL,
  bedrock: DEFAULT_BEDROCK_MODEL,
};

/** The configured model, else the provider executor's default. */
export function assistModel(config: Pick<AssistConfig, 'provider' | 'model'>): string {
  return config.model ?? DEFAULT_MODELS[config.provider];
}
