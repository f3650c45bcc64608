import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { documentClient } from '../../../shared/adapters/dynamodb/client';
import { DynamoProgressTokenStore } from '../../../shared/adapters/dynamodb/progress-tokens';
import { PROGRESS_TOKEN_TTL_SECONDS } from '../../../shared/domain/limits';
import { admitProgressToken, mintProgressToken } from '../../../shared/usecases/progress-token';
import { type LocalDynamo, startDynalite } from '../../support/dynalite';
import { ManualClock } from '../../support/fixtures';

let dynamo: LocalDynamo;
let deps: { tokens: DynamoProgressTokenStore; clock: ManualClock };

beforeAll(async () => {
  dynamo = await startDynalite();
  deps = {
    tokens: new DynamoProgressTokenStore(dynamo.tasksTable, documentClient(dynamo.client)),
    clock: new ManualClock(),
  };
});

afterAll(async () => {
  await dynamo.stop();
});

describe('progress tokens', () => {
  it('open one socket each, within their lifetime', async () => {
    const minted = await mintProgressToken(deps, 'wss://example/v1');

    expect(minted).toMatchObject({
      websocketUrl: 'wss://example/v1',
      expiresAt: deps.clock.now() + PROGRESS_TOKEN_TTL_SECONDS * 1000,
    });
    expect(minted.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await admitProgressToken(deps, minted.token)).toBe(true);
    expect(await admitProgressToken(deps, minted.token)).toBe(false);
  });

  it('refuse an expired, unknown or missing token', async () => {
    const { token } = await mintProgressToken(deps);
    deps.clock.time += PROGRESS_TOKEN_TTL_SECONDS * 1000;

    expect(await admitProgressToken(deps, token)).toBe(false);
    expect(await admitProgressToken(deps, 'never-minted')).toBe(false);
    expect(await admitProgressToken(deps, undefined)).toBe(false);
  });
});
