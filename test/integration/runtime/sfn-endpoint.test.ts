import {
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  SFNClient,
  TaskDoesNotExist,
  TaskTimedOut,
} from '@aws-sdk/client-sfn';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LOCAL_CREDENTIALS } from '../../../shared/local/runtime/emulators';
import { sfnOperations } from '../../../shared/local/runtime/local-runtime';
import { type SfnEndpoint, startSfnEndpoint } from '../../../shared/local/runtime/sfn-endpoint';
import { TaskStateError, TokenRegistry } from '../../../shared/local/runtime/token-registry';
import { acceptsConnections, sleep } from './helpers';

const STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:000000000000:stateMachine:test';
const execution = {
  executionArn: 'arn:aws:states:us-east-1:000000000000:execution:test:e1',
  stateName: 'Dispatch',
};

describe('loopback Step Functions endpoint with the stock SFNClient', () => {
  let tokens: TokenRegistry;
  let endpoint: SfnEndpoint;
  let sfn: SFNClient;

  beforeEach(async () => {
    tokens = new TokenRegistry();
    endpoint = await startSfnEndpoint(sfnOperations(tokens, () => undefined, STATE_MACHINE_ARN));
    sfn = new SFNClient({ region: 'us-east-1', endpoint: endpoint.url, credentials: LOCAL_CREDENTIALS });
  });
  afterEach(async () => {
    tokens.close();
    sfn.destroy();
    await endpoint.close();
  });

  it('resolves the waiting state with the parsed output of SendTaskSuccess', async () => {
    const { token, result } = tokens.mint(execution);

    await sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: '{"status":"SUCCEEDED","n":2}' }));

    await expect(result).resolves.toEqual({ status: 'SUCCEEDED', n: 2 });
    expect(tokens.pendingCount).toBe(0);
  });

  it('fails the waiting state with the error name and cause of SendTaskFailure', async () => {
    const { token, result } = tokens.mint(execution);

    await sfn.send(new SendTaskFailureCommand({ taskToken: token, error: 'Agent.Failed', cause: 'boom' }));

    const error = await result.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskStateError);
    expect(error).toMatchObject({ name: 'Agent.Failed', message: 'boom' });
  });

  it('answers an unknown token with TaskDoesNotExist', async () => {
    const call = sfn.send(new SendTaskSuccessCommand({ taskToken: 'no-such-token', output: '{}' }));

    await expect(call).rejects.toBeInstanceOf(TaskDoesNotExist);
  });

  it('times a silent task out with States.Timeout and answers its late callback with TaskTimedOut', async () => {
    const { token, result } = tokens.mint({ ...execution, timeoutSeconds: 1 });

    await expect(result).rejects.toMatchObject({ name: 'States.Timeout' });
    const late = sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: '{}' }));

    await expect(late).rejects.toBeInstanceOf(TaskTimedOut);
  });

  it('keeps a task alive while it heartbeats, and fires States.HeartbeatTimeout when the beats stop', async () => {
    const started = Date.now();
    const { token, result } = tokens.mint({ ...execution, timeoutSeconds: 30, heartbeatSeconds: 1 });

    for (let beat = 0; beat < 4; beat += 1) {
      await sleep(400);
      await sfn.send(new SendTaskHeartbeatCommand({ taskToken: token }));
    }

    await expect(result).rejects.toMatchObject({ name: 'States.HeartbeatTimeout' });
    // Four beats 400 ms apart carried it past 1.6 s; without them it would have died at 1 s.
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_500);
    await expect(sfn.send(new SendTaskHeartbeatCommand({ taskToken: token }))).rejects.toBeInstanceOf(
      TaskTimedOut,
    );
  });

  it('answers a token that was already answered with TaskTimedOut, as Step Functions does', async () => {
    const { token, result } = tokens.mint(execution);
    await sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: '1' }));
    await result;

    const again = sfn.send(new SendTaskFailureCommand({ taskToken: token, error: 'X' }));

    await expect(again).rejects.toBeInstanceOf(TaskTimedOut);
  });

  it('closes its port on close', async () => {
    const other = await startSfnEndpoint(sfnOperations(tokens, () => undefined, STATE_MACHINE_ARN));
    expect(await acceptsConnections(other.port)).toBe(true);

    await other.close();

    expect(await acceptsConnections(other.port)).toBe(false);
  });
});
