/**
 * Provider API keys. They live in AWS Secrets Manager (one JSON secret `{ "anthropic": "...",
 * "openai": "...", "http": "..." }`) or in SSM Parameter Store (one SecureString per provider under a
 * prefix), never in plain environment text: the environment only names where they are.
 *
 * | variable                  | meaning                                                                   |
 * |---------------------------|---------------------------------------------------------------------------|
 * | `PROVIDER_SECRET_ID`      | name or ARN of the Secrets Manager secret (JSON as above)                 |
 * | `PROVIDER_SSM_PREFIX`     | e.g. `/meta-agent/providers`: reads `/meta-agent/providers/anthropic`, ... |
 * | `META_AGENT_SECRETS_FILE` | local runs only: path of a JSON file shaped like the secret               |
 *
 * The first one set wins, in that order. Values are cached for `DEFAULT_SECRET_TTL_MS`, so a rotated key
 * is picked up within minutes without a call to AWS per task.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { z } from 'zod';
import { EnvVar } from '../../config';
import { CREDENTIAL_FINGERPRINT_CHARS } from '../../domain/limits';

/** Providers that need a key. */
export type SecretProvider = 'anthropic' | 'openai' | 'http';

/** Resolves the API key (or bearer token) of a provider. Tests inject their own. */
export type SecretResolver = (provider: SecretProvider) => Promise<string>;

export const SecretEnvVar = {
  SecretId: EnvVar.ProviderSecretId,
  SsmPrefix: 'PROVIDER_SSM_PREFIX',
  SecretsFile: 'META_AGENT_SECRETS_FILE',
} as const;

/** How long a fetched secret is reused: short enough to follow a rotation, long enough to spare the API. */
export const DEFAULT_SECRET_TTL_MS = 5 * 60 * 1000;

/** No key for this provider where the configuration says keys are. */
export class SecretNotFoundError extends Error {
  readonly provider: SecretProvider;
  constructor(provider: SecretProvider, where: string) {
    super(`no ${provider} key found: ${where}`);
    this.name = 'SecretNotFoundError';
    this.provider = provider;
  }
}

/** The secret exists but is not the documented JSON shape. */
export class SecretFormatError extends Error {
  constructor(source: string, reason: string) {
    super(
      `${source} is not a JSON object of provider keys ({ "anthropic"?, "openai"?, "http"? }): ${reason}`,
    );
    this.name = 'SecretFormatError';
  }
}

const ProviderKeysSchema = z.looseObject({
  anthropic: z.string().min(1).optional(),
  openai: z.string().min(1).optional(),
  http: z.string().min(1).optional(),
});
type ProviderKeys = z.infer<typeof ProviderKeysSchema>;

function parseKeys(source: string, text: string | undefined): ProviderKeys {
  if (text === undefined) throw new SecretFormatError(source, 'it has no string value');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new SecretFormatError(source, 'it is not valid JSON');
  }
  const parsed = ProviderKeysSchema.safeParse(json);
  if (!parsed.success) throw new SecretFormatError(source, z.prettifyError(parsed.error));
  return parsed.data;
}

interface CacheOptions {
  ttlMs?: number;
  /** Injected clock, for TTL tests. */
  now?: () => number;
}

/**
 * Memoises `load` for `ttlMs`. Concurrent callers share one in-flight load; a failed load is not cached,
 * so the next call tries again.
 */
export function ttlCache<T>(load: () => Promise<T>, options: CacheOptions = {}): () => Promise<T> {
  const ttlMs = options.ttlMs ?? DEFAULT_SECRET_TTL_MS;
  const now = options.now ?? Date.now;
  let entry: { value: Promise<T>; at: number } | undefined;
  return () => {
    if (entry && now() - entry.at < ttlMs) return entry.value;
    const value = load();
    const current = { value, at: now() };
    entry = current;
    value.catch(() => {
      if (entry === current) entry = undefined;
    });
    return value;
  };
}

function pick(keys: ProviderKeys, provider: SecretProvider, where: string): string {
  const key = keys[provider];
  if (key === undefined) throw new SecretNotFoundError(provider, `${where} has no "${provider}" entry`);
  return key;
}

/** Keys from one Secrets Manager secret holding JSON; one GetSecretValue per TTL serves every provider. */
export function secretsManagerResolver(
  options: { secretId: string; client?: SecretsManagerClient } & CacheOptions,
): SecretResolver {
  const client = options.client ?? new SecretsManagerClient({});
  const source = `Secrets Manager secret ${options.secretId}`;
  const keys = ttlCache(async () => {
    const answer = await client.send(new GetSecretValueCommand({ SecretId: options.secretId }));
    return parseKeys(source, answer.SecretString);
  }, options);
  return async (provider) => pick(await keys(), provider, source);
}

/** Keys from SSM Parameter Store: the SecureString `${prefix}/${provider}`, decrypted, cached per provider. */
export function ssmResolver(options: { prefix: string; client?: SSMClient } & CacheOptions): SecretResolver {
  const client = options.client ?? new SSMClient({});
  const prefix = options.prefix.replace(/\/+$/, '');
  const caches = new Map<SecretProvider, () => Promise<string>>();
  return (provider) => {
    let cached = caches.get(provider);
    if (!cached) {
      const name = `${prefix}/${provider}`;
      cached = ttlCache(async () => {
        try {
          const answer = await client.send(new GetParameterCommand({ Name: name, WithDecryption: true }));
          const value = answer.Parameter?.Value;
          if (!value) throw new SecretNotFoundError(provider, `SSM parameter ${name} is empty`);
          return value;
        } catch (error) {
          if (error instanceof Error && error.name === 'ParameterNotFound') {
            throw new SecretNotFoundError(provider, `SSM parameter ${name} does not exist`);
          }
          throw error;
        }
      }, options);
      caches.set(provider, cached);
    }
    return cached();
  };
}

/**
 * Keys from a local JSON file (same shape as the secret), for runs on a laptop. The file is re-read after
 * the TTL so an edited key is picked up. Keep the file out of version control.
 */
export function fileResolver(
  options: { path: string; read?: (path: string) => Promise<string> } & CacheOptions,
): SecretResolver {
  const read = options.read ?? ((path: string) => readFile(path, 'utf8'));
  const source = `secrets file ${options.path}`;
  const keys = ttlCache(async () => parseKeys(source, await read(options.path)), options);
  return async (provider) => pick(await keys(), provider, source);
}

/** Clients the env-based resolver may use instead of its defaults. */
export interface SecretClients {
  secretsManager?: SecretsManagerClient;
  ssm?: SSMClient;
}

/**
 * The resolver the environment asks for (see the table above). With none of the variables set, every
 * lookup rejects with a SecretNotFoundError naming them, so the `simulated` executor still works.
 */
export function secretResolverFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  clients: SecretClients = {},
  cache: CacheOptions = {},
): SecretResolver {
  const secretId = env[SecretEnvVar.SecretId];
  if (secretId) {
    return secretsManagerResolver({
      secretId,
      ...cache,
      ...(clients.secretsManager ? { client: clients.secretsManager } : {}),
    });
  }
  const prefix = env[SecretEnvVar.SsmPrefix];
  if (prefix) return ssmResolver({ prefix, ...cache, ...(clients.ssm ? { client: clients.ssm } : {}) });
  const path = env[SecretEnvVar.SecretsFile];
  if (path) return fileResolver({ path, ...cache });
  return async (provider) => {
    throw new SecretNotFoundError(
      provider,
      `set ${SecretEnvVar.SecretId} (Secrets Manager), ${SecretEnvVar.SsmPrefix} (SSM Parameter Store) or ${SecretEnvVar.SecretsFile} (local JSON file)`,
    );
  };
}

/**
 * What a credential's fingerprint is salted with, so it matches no hash of the key made elsewhere (a list of
 * leaked keys' hashes, another system's marks).
 */
const FINGERPRINT_SALT = 'meta-agent credentials mark v1';

/** The providers whose key the resolver gives (the others, such as bedrock, sign with an IAM role). */
const KEYED_PROVIDERS: ReadonlySet<string> = new Set<SecretProvider>(['anthropic', 'openai', 'http']);

/**
 * The fingerprint of the key `resolver` gives `provider` now (domain/permanent-failure.ts CredentialsMark):
 * CREDENTIAL_FINGERPRINT_CHARS hex characters of a salted SHA-256, never the key. No key where the keys are
 * (SecretNotFoundError) is a credential too, of its own fingerprint; a provider without a key of ours, or a
 * lookup that failed otherwise (throttled, denied), has none (undefined).
 */
export async function credentialFingerprint(
  resolver: SecretResolver,
  provider: string,
): Promise<string | undefined> {
  if (!KEYED_PROVIDERS.has(provider)) return undefined;
  let key: string;
  try {
    key = await resolver(provider as SecretProvider);
  } catch (error) {
    if (!(error instanceof SecretNotFoundError)) return undefined;
    key = '';
  }
  return createHash('sha256')
    .update(`${FINGERPRINT_SALT}\0${provider}\0${key}`)
    .digest('hex')
    .slice(0, CREDENTIAL_FINGERPRINT_CHARS);
}
