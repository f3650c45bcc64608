/**
 * The deployment's routing settings (the `routing` section of the config file, ROUTING_CONFIG for the
 * handlers): the score weights, and the optional model-assisted routing. Pure: parsing, defaults, and the
 * rules that decide when a model is asked and how its answer is used.
 */
import { z } from 'zod';
import type { RoleCatalog } from './roles';
import type { ExtractedRequirements, RoutingAssist } from './schemas';

/** The weights of the routing score's four terms (shared/domain/routing.ts). */
export const RoutingWeightsSchema = z
  .object({
    specialization: z.number().min(0).max(1_000),
    availability: z.number().min(0).max(1_000),
    success: z.number().min(0).max(1_000),
    speed: z.number().min(0).max(1_000),
  })
  .strict()
  .refine((w) => w.specialization + w.availability + w.success + w.speed > 0, {
    message: 'at least one weight must be above 0',
  });
export type RoutingWeights = z.infer<typeof RoutingWeightsSchema>;

/** Providers a routing question can be asked of (each supports tool use with an enum). */
export const ASSIST_PROVIDERS = ['anthropic', 'openai', 'bedrock'] as const;

/**
 * Below this confidence a model is asked when the config does not say. Confidence is the best role's lead
 * over the second (routingConfidence): one strong keyword alone is 0.5, a verb that names the work about
 * 0.75, two roles tied 0.
 */
export const DEFAULT_ASSIST_THRESHOLD = 0.35;
/** Roles offered to the model when the config does not say: the best deterministic candidates. */
export const DEFAULT_ASSIST_CANDIDATES = 4;
/** Most roles the config may offer. */
export const MAX_ASSIST_CANDIDATES = 10;
/** A routing question that takes longer is abandoned (the deterministic role is kept). */
export const DEFAULT_ASSIST_TIMEOUT_MS = 10_000;
export const MAX_ASSIST_TIMEOUT_MS = 60_000;
/** Output tokens a routing answer may use: a tool call with one enum value needs a few dozen. */
export const ASSIST_MAX_OUTPUT_TOKENS = 256;
/** Characters of the description sent to the model (the rest is cut with a marker). */
export const ASSIST_MAX_DESCRIPTION_CHARS = 8_000;

export const AssistConfigSchema = z
  .object({
    provider: z.enum(ASSIST_PROVIDERS),
    /** Model id (default: the provider executor's default model). */
    model: z.string().min(1).max(256).optional(),
    /** Ask when routingConfidence is below this. */
    threshold: z.number().min(0).max(1).default(DEFAULT_ASSIST_THRESHOLD),
    /** How many of the best candidates to offer. */
    candidates: z.number().int().min(2).max(MAX_ASSIST_CANDIDATES).default(DEFAULT_ASSIST_CANDIDATES),
    /** Base URL of the provider's API (a gateway, or a local stand-in); default the provider's. */
    url: z.string().url().optional(),
    timeoutMs: z.number().int().min(100).max(MAX_ASSIST_TIMEOUT_MS).default(DEFAULT_ASSIST_TIMEOUT_MS),
  })
  .strict();
export type AssistConfig = z.infer<typeof AssistConfigSchema>;

export const RoutingConfigSchema = z
  .object({
    /** Score weights (normalised to sum 1); default ROUTING_WEIGHTS. */
    weights: RoutingWeightsSchema.optional(),
    /** Model-assisted routing; off when absent. */
    assist: AssistConfigSchema.optional(),
  })
  .strict();
export type RoutingConfig = z.infer<typeof RoutingConfigSchema>;

/** One problem in a routing configuration: a JSON path (`$.routing.assist.threshold`) and the reason. */
export class RoutingConfigError extends Error {
  constructor(readonly issues: { path: string; message: string }[]) {
    super(`Invalid routing configuration: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
    this.name = 'RoutingConfigError';
  }
}

/** Parses the `routing` section (undefined: defaults). Throws RoutingConfigError naming each path. */
export function parseRoutingConfig(raw: unknown, prefix = '$.routing'): RoutingConfig {
  if (raw === undefined) return {};
  const parsed = RoutingConfigSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  throw new RoutingConfigError(
    parsed.error.issues.map((i) => ({
      path: `${prefix}${i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('')}`,
      message: i.message,
    })),
  );
}

/** The weights scaled to sum 1, so every score stays in [0, 1]. */
export function normaliseWeights(weights: RoutingWeights): RoutingWeights {
  const sum = weights.specialization + weights.availability + weights.success + weights.speed;
  return {
    specialization: weights.specialization / sum,
    availability: weights.availability / sum,
    success: weights.success / sum,
    speed: weights.speed / sum,
  };
}

/**
 * How sure the deterministic extraction is of its role, in [0, 1]: the best candidate's confidence minus
 * the second's. An explicit role is certain (1); no candidate at all is 0. A lead grows with the evidence
 * (one strong keyword 0.5) and shrinks when another role is nearly as likely (a tie is 0).
 */
export function routingConfidence(requirements: ExtractedRequirements): number {
  if (requirements.explicitRole !== undefined) return 1;
  const [first, second] = requirements.roleCandidates;
  if (!first) return 0;
  return Math.max(0, first.confidence - (second?.confidence ?? 0));
}

/** True when a model should be asked: no explicit role, no choice made yet, confidence below threshold. */
export function needsAssist(requirements: ExtractedRequirements, config: AssistConfig): boolean {
  return (
    requirements.explicitRole === undefined &&
    requirements.assist === undefined &&
    routingConfidence(requirements) < config.threshold
  );
}

/**
 * The roles offered to the model: the best `count` candidates; when fewer than two matched at all, every
 * role of the catalog (the model then does better than the fallback role).
 */
export function assistCandidates(
  requirements: ExtractedRequirements,
  catalog: RoleCatalog,
  count: number,
): string[] {
  const inferred = requirements.roleCandidates.map((c) => c.role).filter((r) => catalog.has(r));
  if (inferred.length >= 2) return inferred.slice(0, count);
  return [...inferred, ...[...catalog.keys()].filter((r) => !inferred.includes(r))];
}

/** The most of a refused answer a note quotes: the answer is the model's (or a prompt injection's) text. */
export const ASSIST_MAX_QUOTED_CHARS = 100;

/** `text` quoted for a note, cut at ASSIST_MAX_QUOTED_CHARS. */
function quoted(text: string): string {
  return text.length > ASSIST_MAX_QUOTED_CHARS
    ? `${JSON.stringify(text.slice(0, ASSIST_MAX_QUOTED_CHARS))}... (${text.length} characters)`
    : JSON.stringify(text);
}

/**
 * The requirements with the assist record; when the model chose one of the offered roles, that role leads
 * the candidates (with at least the best confidence) and decides the route. An answer outside the offered
 * roles is refused with a note (the deterministic role is kept).
 */
export function applyAssist(
  requirements: ExtractedRequirements,
  record: RoutingAssist,
): ExtractedRequirements {
  const chosen = record.chosen;
  if (chosen === undefined) return { ...requirements, assist: record };
  if (!record.candidates.includes(chosen)) {
    const { chosen: _refused, ...rest } = record;
    return {
      ...requirements,
      assist: {
        ...rest,
        note: `the model answered ${quoted(chosen)}, which was not offered; kept ${record.fallback}`,
      },
    };
  }
  const best = requirements.roleCandidates[0]?.confidence ?? 0;
  const own = requirements.roleCandidates.find((c) => c.role === chosen)?.confidence ?? 0;
  return {
    ...requirements,
    roleCandidates: [
      { role: chosen, confidence: Math.max(best, own) },
      ...requirements.roleCandidates.filter((c) => c.role !== chosen),
    ],
    assist: record,
  };
}
