/**
 * The one place for model defaults and model lifecycles (README "Executors"). A role's executor may name a
 * model; when it does not, the provider's default below is used. Every configured model is checked when the
 * configuration is loaded (the CLI's --config, `cdk synth`, PUT /agents/{id}): a retired model is an error
 * there, before anything runs; a deprecated one (with its end-of-life date) and one this version does not
 * know are warnings.
 *
 * Sources, as of 2026-12-03: Anthropic's deprecation table as the installed SDK ships it
 * (@anthropic-ai/sdk 1.13.0, internal/data/deprecated-models: the SDK warns on every call to one of them) and
 * its model list; OpenAI's deprecations page (shutdown dates) and the installed SDK's model list
 * (openai 7.57.0); Anthropic's page on Claude in Amazon Bedrock (Converse model ids). A test compares these
 * tables with the installed SDKs, so an SDK upgrade that deprecates a model fails until they are updated.
 */
import type { ExecutorConfig } from './schemas';

export type ModelProvider = 'anthropic' | 'openai' | 'bedrock';

/**
 * Defaults. Anthropic: Claude Sonnet 5.5, the model the SDK's own examples use. OpenAI: GPT-6.1 Sol, OpenAI's
 * everyday model and its recommended replacement of the gpt-4.1 and gpt-5 families. Bedrock: Claude Sonnet 4.6
 * through the global cross-Region inference profile (the newest Claude with a Converse model id; newer ones
 * are reachable on Bedrock only through the Messages API), which works from any commercial Region.
 */
export const DEFAULT_MODELS: Readonly<Record<ModelProvider, string>> = {
  anthropic: 'claude-sonnet-5-5',
  openai: 'gpt-6.1-sol',
  bedrock: 'global.anthropic.claude-sonnet-4-6',
};

/** A model with an announced end of life (YYYY-MM-DD) and what replaces it. */
export interface Lifecycle {
  readonly retiresOn: string;
  readonly replacement: string;
}

function each(ids: readonly string[], lifecycle: Lifecycle): [string, Lifecycle][] {
  return ids.map((id) => [id, lifecycle]);
}

/** Announced ends of life, by provider and model id (Bedrock ids without their Region prefix). */
export const MODEL_LIFECYCLES: Readonly<Record<ModelProvider, ReadonlyMap<string, Lifecycle>>> = {
  anthropic: new Map([
    ...each(['claude-mythos-preview'], { retiresOn: '2026-06-30', replacement: 'claude-mythos-5-2' }),
    ...each(['claude-sonnet-4-5', 'claude-sonnet-4-5-20250929'], {
      retiresOn: '2026-11-30',
      replacement: 'claude-sonnet-5-5',
    }),
    ...each(['claude-opus-4-5', 'claude-opus-4-5-20251101'], {
      retiresOn: '2027-01-22',
      replacement: 'claude-opus-5-5',
    }),
  ]),
  openai: new Map([
    ...each(['gpt-3.5-turbo', 'gpt-3.5-turbo-0125'], {
      retiresOn: '2026-10-23',
      replacement: 'gpt-6.1-terra',
    }),
    ...each(
      [
        'gpt-4',
        'gpt-4-0613',
        'gpt-4-1106-preview',
        'gpt-4-turbo',
        'gpt-4-turbo-2024-04-09',
        'gpt-4o-2024-05-13',
      ],
      { retiresOn: '2026-10-23', replacement: 'gpt-6.1-sol' },
    ),
    ...each(['o1', 'o1-2024-12-17', 'o3-mini', 'o3-mini-2025-01-31'], {
      retiresOn: '2026-10-23',
      replacement: 'gpt-6.1-sol',
    }),
    ...each(['o4-mini', 'o4-mini-2025-04-16', 'gpt-4.1-nano', 'gpt-4.1-nano-2025-04-14'], {
      retiresOn: '2026-10-23',
      replacement: 'gpt-6-luna',
    }),
    ...each(['gpt-5', 'gpt-5-2025-08-07', 'o3', 'o3-2025-04-16'], {
      retiresOn: '2026-12-11',
      replacement: 'gpt-6.1-sol',
    }),
    ...each(['gpt-5-mini', 'gpt-5-mini-2025-08-07'], {
      retiresOn: '2026-12-11',
      replacement: 'gpt-6.1-terra',
    }),
    ...each(['gpt-5-nano', 'gpt-5-nano-2025-08-07'], { retiresOn: '2026-12-11', replacement: 'gpt-6-luna' }),
    ...each(['gpt-4o', 'gpt-4o-2024-08-06', 'gpt-4o-2024-11-20', 'gpt-4.1', 'gpt-4.1-2025-04-14'], {
      retiresOn: '2027-01-14',
      replacement: 'gpt-6.1-sol',
    }),
    ...each(['gpt-4o-mini', 'gpt-4o-mini-2024-07-18', 'gpt-4.1-mini', 'gpt-4.1-mini-2025-04-14'], {
      retiresOn: '2027-01-14',
      replacement: 'gpt-6-luna',
    }),
    ...each(['gpt-5.1', 'gpt-5.1-2025-11-13'], { retiresOn: '2027-04-01', replacement: 'gpt-6.1-sol' }),
  ]),
  bedrock: new Map(),
};

/** Model ids each provider serves that this version knows (an unknown id is a warning, never an error). */
export const KNOWN_MODELS: Readonly<Record<ModelProvider, ReadonlySet<string>>> = {
  anthropic: new Set([
    'claude-fable-5-2',
    'claude-mythos-5-2',
    'claude-haiku-5-5',
    'claude-sonnet-5-5',
    'claude-fable-5-1',
    'claude-opus-5-5',
    'claude-mythos-5-1',
    'claude-sonnet-5',
    'claude-fable-5',
    'claude-mythos-5',
    'claude-opus-5',
    'claude-opus-4-8',
    'claude-opus-4-7',
    'claude-opus-4-6',
    'claude-sonnet-4-6',
    'claude-haiku-4-5',
    'claude-haiku-4-5-20251001',
  ]),
  openai: new Set([
    'gpt-6-astra',
    'gpt-6.1-sol',
    'gpt-6.1-terra',
    'gpt-6-sol',
    'gpt-6-luna',
    'gpt-5.6-sol',
    'gpt-5.6-terra',
    'gpt-5.6-luna',
    'gpt-5.5',
    'gpt-5.4',
    'gpt-5.4-mini',
    'gpt-5.4-nano',
    'gpt-5.2',
  ]),
  bedrock: new Set([
    'anthropic.claude-opus-4-6-v1',
    'anthropic.claude-sonnet-4-6',
    'anthropic.claude-sonnet-4-5-20250929-v1:0',
    'anthropic.claude-opus-4-5-20251101-v1:0',
  ]),
};

/** Bedrock ids marked deprecated on Bedrock without a date there: a warning. */
const BEDROCK_DEPRECATED: ReadonlySet<string> = new Set([
  'anthropic.claude-sonnet-4-20250514-v1:0',
  'anthropic.claude-3-7-sonnet-20250219-v1:0',
]);

/** Cross-Region inference profile prefixes of Bedrock model ids (`global.`, `us.`, ...). */
const BEDROCK_PROFILE_PREFIX = /^(global|us|eu|apac|jp|au|ca|us-gov)\./;

/** What the configuration check says of one model. */
export interface ModelFinding {
  readonly level: 'error' | 'warning';
  readonly provider: ModelProvider;
  readonly model: string;
  readonly message: string;
}

function isProvider(name: ExecutorConfig['name']): name is ModelProvider {
  return name === 'anthropic' || name === 'openai' || name === 'bedrock';
}

/** The model an executor config calls: its own, or the provider's default. */
export function modelOf(config: ExecutorConfig): string | undefined {
  return isProvider(config.name) ? (config.model ?? DEFAULT_MODELS[config.name]) : undefined;
}

/**
 * What to say of the model an executor config calls on `today` (YYYY-MM-DD): an error for a retired model,
 * a warning for a deprecated one or one this version does not know (none for a config with its own `url`: a
 * gateway or a compatible server has its own names), nothing otherwise.
 */
export function checkModel(config: ExecutorConfig, today: string): ModelFinding | undefined {
  if (!isProvider(config.name)) return undefined;
  const provider = config.name;
  const model = config.model ?? DEFAULT_MODELS[provider];
  const id = provider === 'bedrock' ? model.replace(BEDROCK_PROFILE_PREFIX, '') : model;
  const lifecycle = MODEL_LIFECYCLES[provider].get(id);
  const finding = (level: ModelFinding['level'], message: string): ModelFinding => ({
    level,
    provider,
    model,
    message,
  });
  if (lifecycle && today >= lifecycle.retiresOn) {
    return finding(
      'error',
      `${provider} model "${model}" reached its end of life on ${lifecycle.retiresOn}: calls fail; use "${lifecycle.replacement}" (executor.model)`,
    );
  }
  if (lifecycle) {
    return finding(
      'warning',
      `${provider} model "${model}" is deprecated and reaches its end of life on ${lifecycle.retiresOn}; move to "${lifecycle.replacement}"`,
    );
  }
  if (provider === 'bedrock' && BEDROCK_DEPRECATED.has(id)) {
    return finding(
      'warning',
      `bedrock model "${model}" is deprecated on Bedrock; move to "${DEFAULT_MODELS.bedrock}" or a newer model`,
    );
  }
  if (!KNOWN_MODELS[provider].has(id) && config.url === undefined) {
    return finding(
      'warning',
      `${provider} model "${model}" is not one this version knows; check the id (the default is "${DEFAULT_MODELS[provider]}")`,
    );
  }
  return undefined;
}

/** A configuration that names a retired model: refused before anything runs (exit 2, synth fails, 400). */
export class ModelConfigError extends Error {
  /** The CLI's "bad input or configuration" exit code. */
  readonly exitCode = 2;
  constructor(readonly findings: readonly ModelFinding[]) {
    super(findings.map((f) => f.message).join('\n'));
    this.name = 'ModelConfigError';
  }
}

/** What to say of every role's model (errors first), each message naming its role. */
export function catalogModelFindings(
  roles: Iterable<{ name: string; defaults: { executor: ExecutorConfig } }>,
  today: string,
): ModelFinding[] {
  const findings: ModelFinding[] = [];
  for (const role of roles) {
    const finding = checkModel(role.defaults.executor, today);
    if (finding) findings.push({ ...finding, message: `role ${role.name}: ${finding.message}` });
  }
  return findings.sort((a, b) => (a.level === b.level ? 0 : a.level === 'error' ? -1 : 1));
}

/** Throws ModelConfigError when a role names a retired model; answers the warnings otherwise. */
export function assertModels(
  roles: Iterable<{ name: string; defaults: { executor: ExecutorConfig } }>,
  today: string,
): ModelFinding[] {
  const findings = catalogModelFindings(roles, today);
  const errors = findings.filter((f) => f.level === 'error');
  if (errors.length > 0) throw new ModelConfigError(errors);
  return findings;
}

/** The calendar day of an epoch-milliseconds time, as the lifecycle dates are written (UTC). */
export function dayOf(epochMs: number): string {
  return new Date(epochMs).toISOString().slice(0, 10);
}
