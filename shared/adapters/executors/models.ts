/**
 * The default model of each provider, in a module of its own: the routing advisor names its model before
 * loading any provider SDK (those load on the first call; see wiring.ts). The values live in
 * shared/domain/models.ts, the one place for model defaults and lifecycles.
 */
import { DEFAULT_MODELS } from '../../domain/models';

export const DEFAULT_ANTHROPIC_MODEL = DEFAULT_MODELS.anthropic;
export const DEFAULT_OPENAI_MODEL = DEFAULT_MODELS.openai;
/** A cross-region inference profile, which the workers may invoke (RoleWorkers.grantBedrock). */
export const DEFAULT_BEDROCK_MODEL = DEFAULT_MODELS.bedrock;
