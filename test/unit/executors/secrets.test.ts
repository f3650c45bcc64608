import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetParameterCommand, ParameterNotFound, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  credentialFingerprint,
  DEFAULT_SECRET_TTL_MS,
  fileResolver,
  SecretFormatError,
  SecretNotFoundError,
  secretResolverFromEnv,
  secretsManagerResolver,
  ssmResolver,
} from '../../../shared/adapters/secrets';
import { CREDENTIAL_FINGERPRINT_CHARS } from '../../../shared/domain/limits';

const SECRET_ID = 'meta-agent/providers';
const KEYS = { anthropic: 'sk-ant-1', openai: 'sk-oa-1' };
const region = { region: 'us-east-1' };

describe('Secrets Manager resolver', () => {
  const secretsManager = mockClient(SecretsManagerClient);
  beforeEach(() => secretsManager.reset());

  it('reads each provider key from the JSON secret', async () => {
    secretsManager
      .on(GetSecretValueCommand, { SecretId: SECRET_ID })
      .resolves({ SecretString: JSON.stringify(KEYS) });
    const resolve = secretsManagerResolver({ secretId: SECRET_ID, client: new SecretsManagerClient(region) });

    expect(await resolve('anthropic')).toBe('sk-ant-1');
    expect(await resolve('openai')).toBe('sk-oa-1');
  });

  it('fetches the secret once per TTL for every provider and caller', async () => {
    let now = 1_000;
    secretsManager.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify(KEYS) });
    const resolve = secretsManagerResolver({
      secretId: SECRET_ID,
      client: new SecretsManagerClient(region),
      now: () => now,
    });

    await Promise.all([resolve('anthropic'), resolve('openai'), resolve('anthropic')]);
    now += DEFAULT_SECRET_TTL_MS - 1;
    await resolve('openai');
    expect(secretsManager.commandCalls(GetSecretValueCommand)).toHaveLength(1);

    now += 1;
    await resolve('openai');
    expect(secretsManager.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });

  it('does not cache a failed fetch', async () => {
    secretsManager
      .on(GetSecretValueCommand)
      .rejectsOnce(new Error('throttled'))
      .resolves({ SecretString: JSON.stringify(KEYS) });
    const resolve = secretsManagerResolver({ secretId: SECRET_ID, client: new SecretsManagerClient(region) });

    await expect(resolve('anthropic')).rejects.toThrow('throttled');
    expect(await resolve('anthropic')).toBe('sk-ant-1');
  });

  it('names the missing provider when the secret has no entry for it', async () => {
    secretsManager.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify(KEYS) });
    const resolve = secretsManagerResolver({ secretId: SECRET_ID, client: new SecretsManagerClient(region) });

    const failure = await resolve('http').catch((e) => e);

    expect(failure).toBeInstanceOf(SecretNotFoundError);
    expect(failure.message).toContain('"http"');
  });

  it('rejects a secret that is not a JSON object of keys', async () => {
    secretsManager.on(GetSecretValueCommand).resolves({ SecretString: 'sk-plain-text' });
    const resolve = secretsManagerResolver({ secretId: SECRET_ID, client: new SecretsManagerClient(region) });

    await expect(resolve('anthropic')).rejects.toBeInstanceOf(SecretFormatError);
  });
});

describe('SSM Parameter Store resolver', () => {
  const ssm = mockClient(SSMClient);
  beforeEach(() => ssm.reset());

  it('reads the decrypted SecureString under the prefix, once per TTL', async () => {
    ssm
      .on(GetParameterCommand, { Name: '/meta-agent/providers/openai', WithDecryption: true })
      .resolves({ Parameter: { Value: 'sk-oa-ssm' } });
    const resolve = ssmResolver({ prefix: '/meta-agent/providers/', client: new SSMClient(region) });

    expect(await resolve('openai')).toBe('sk-oa-ssm');
    expect(await resolve('openai')).toBe('sk-oa-ssm');
    expect(ssm.commandCalls(GetParameterCommand)).toHaveLength(1);
  });

  it('turns a missing parameter into SecretNotFoundError naming it', async () => {
    ssm.on(GetParameterCommand).rejects(new ParameterNotFound({ message: 'not found', $metadata: {} }));
    const resolve = ssmResolver({ prefix: '/meta-agent/providers', client: new SSMClient(region) });

    const failure = await resolve('anthropic').catch((e) => e);

    expect(failure).toBeInstanceOf(SecretNotFoundError);
    expect(failure.message).toContain('/meta-agent/providers/anthropic');
  });
});

describe('local secrets file resolver', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meta-agent-secrets-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads keys from the JSON file named by META_AGENT_SECRETS_FILE', async () => {
    const path = join(dir, 'secrets.json');
    await writeFile(path, JSON.stringify({ http: 'local-token' }));
    const resolve = secretResolverFromEnv({ META_AGENT_SECRETS_FILE: path });

    expect(await resolve('http')).toBe('local-token');
  });

  it('re-reads the file after the TTL so an edited key is picked up', async () => {
    const path = join(dir, 'secrets.json');
    await writeFile(path, JSON.stringify({ openai: 'old' }));
    let now = 0;
    const resolve = fileResolver({ path, ttlMs: 100, now: () => now });

    expect(await resolve('openai')).toBe('old');
    await writeFile(path, JSON.stringify({ openai: 'new' }));
    expect(await resolve('openai')).toBe('old');
    now = 100;
    expect(await resolve('openai')).toBe('new');
  });
});

describe('secretResolverFromEnv', () => {
  const secretsManager = mockClient(SecretsManagerClient);
  const ssm = mockClient(SSMClient);
  beforeEach(() => {
    secretsManager.reset();
    ssm.reset();
  });

  it('prefers the Secrets Manager secret over the SSM prefix', async () => {
    secretsManager.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify(KEYS) });
    const resolve = secretResolverFromEnv(
      { PROVIDER_SECRET_ID: SECRET_ID, PROVIDER_SSM_PREFIX: '/unused' },
      { secretsManager: new SecretsManagerClient(region), ssm: new SSMClient(region) },
    );

    expect(await resolve('anthropic')).toBe('sk-ant-1');
    expect(ssm.calls()).toHaveLength(0);
  });

  it('uses the SSM prefix when no secret id is set', async () => {
    ssm.on(GetParameterCommand).resolves({ Parameter: { Value: 'sk-ssm' } });
    const resolve = secretResolverFromEnv({ PROVIDER_SSM_PREFIX: '/p' }, { ssm: new SSMClient(region) });

    expect(await resolve('anthropic')).toBe('sk-ssm');
  });

  it('names the variables to set when none is configured, and never reads keys from plain env', async () => {
    const resolve = secretResolverFromEnv({ ANTHROPIC_API_KEY: 'sk-plain-env' });

    const failure = await resolve('anthropic').catch((e) => e);

    expect(failure).toBeInstanceOf(SecretNotFoundError);
    expect(failure.message).toContain('PROVIDER_SECRET_ID');
    expect(failure.message).toContain('PROVIDER_SSM_PREFIX');
    expect(failure.message).toContain('META_AGENT_SECRETS_FILE');
  });
});

describe('credentialFingerprint', () => {
  const keys = (table: Record<string, string>) => async (provider: string) => {
    const key = table[provider];
    if (key === undefined) throw new SecretNotFoundError(provider as 'anthropic', 'test keys');
    return key;
  };

  it('tells one key from another (a new secret value: another fingerprint), and never shows the key', async () => {
    const before = await credentialFingerprint(keys({ anthropic: 'sk-ant-old-key-0001' }), 'anthropic');
    const again = await credentialFingerprint(keys({ anthropic: 'sk-ant-old-key-0001' }), 'anthropic');
    const after = await credentialFingerprint(keys({ anthropic: 'sk-ant-new-key-0002' }), 'anthropic');

    expect(before).toMatch(new RegExp(`^[0-9a-f]{${CREDENTIAL_FINGERPRINT_CHARS}}$`));
    expect(again).toBe(before);
    expect(after).not.toBe(before);
    expect(before).not.toContain('sk-ant');
    // Salted and per provider: the same key of another provider is another credential.
    expect(await credentialFingerprint(keys({ openai: 'sk-ant-old-key-0001' }), 'openai')).not.toBe(before);
  });

  it('gives no key in the secret a fingerprint of its own, and none to a provider without a key of ours or a failed lookup', async () => {
    const missing = await credentialFingerprint(keys({}), 'anthropic');

    expect(missing).toHaveLength(CREDENTIAL_FINGERPRINT_CHARS);
    expect(missing).not.toBe(await credentialFingerprint(keys({ anthropic: 'k' }), 'anthropic'));
    expect(await credentialFingerprint(keys({ bedrock: 'k' }), 'bedrock')).toBeUndefined();
    const throttled = async () => {
      throw new Error('ThrottlingException');
    };
    expect(await credentialFingerprint(throttled, 'anthropic')).toBeUndefined();
  });
});
