import {
  ExecutionAlreadyExists,
  InvalidToken,
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  SFNClient,
  SFNServiceException,
  StartExecutionCommand,
  TaskDoesNotExist,
  TaskTimedOut,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { SfnCallbacks } from '../../../shared/adapters/sfn/callbacks';
import { SfnOrchestrator } from '../../../shared/adapters/sfn/orchestrator';
import { CallbackRefusedError } from '../../../shared/ports';

const sfn = mockClient(SFNClient);
const meta = { $metadata: {} };

/** An error Step Functions answered with (a 4xx blames the call, a 5xx the service), as the SDK builds it. */
const serviceError = (name: string, httpStatusCode: number) =>
  new SFNServiceException({
    name,
    message: `${name} from Step Functions`,
    $fault: httpStatusCode < 500 ? 'client' : 'server',
    $metadata: { httpStatusCode },
  });

beforeEach(() => {
  sfn.reset();
});

describe('SfnCallbacks', () => {
  it('answers false, without throwing, when the task already timed out', async () => {
    sfn.on(SendTaskSuccessCommand).rejects(new TaskTimedOut({ message: 'timed out', ...meta }));

    expect(await new SfnCallbacks(new SFNClient({})).succeed('token', { ok: true })).toBe(false);
  });

  it('answers false when the task no longer exists', async () => {
    sfn.on(SendTaskHeartbeatCommand).rejects(new TaskDoesNotExist({ message: 'gone', ...meta }));

    expect(await new SfnCallbacks(new SFNClient({})).heartbeat('token')).toBe(false);
  });

  it('answers false for an invalid token', async () => {
    sfn.on(SendTaskFailureCommand).rejects(new InvalidToken({ message: 'bad token', ...meta }));

    expect(await new SfnCallbacks(new SFNClient({})).fail('token', 'Boom', 'cause')).toBe(false);
  });

  it('answers true when Step Functions accepts the answer', async () => {
    sfn.on(SendTaskSuccessCommand).resolves({});

    expect(await new SfnCallbacks(new SFNClient({})).succeed('token', { ok: true })).toBe(true);
    expect(sfn.commandCalls(SendTaskSuccessCommand)[0]?.args[0].input.output).toBe('{"ok":true}');
  });

  it('throws a refusal sending again cannot cure (AccessDenied, a validation) as CallbackRefusedError', async () => {
    for (const name of ['AccessDeniedException', 'ValidationException', 'KmsAccessDeniedException']) {
      sfn.reset();
      sfn.on(SendTaskSuccessCommand).rejects(serviceError(name, 400));

      const sent = new SfnCallbacks(new SFNClient({})).succeed('token', {});

      await expect(sent).rejects.toBeInstanceOf(CallbackRefusedError);
      await expect(sent).rejects.toMatchObject({
        code: name,
        message: `${name}: ${name} from Step Functions`,
      });
    }
  });

  it('rethrows as they are the failures sending again may cure: throttling, a server error', async () => {
    for (const error of [serviceError('ThrottlingException', 400), serviceError('ServiceUnavailable', 503)]) {
      sfn.reset();
      sfn.on(SendTaskFailureCommand).rejects(error);

      await expect(new SfnCallbacks(new SFNClient({})).fail('token', 'Boom', 'cause')).rejects.toBe(error);
    }
  });

  it('rethrows errors that do not mean "already done"', async () => {
    sfn.on(SendTaskSuccessCommand).rejects(new Error('throttled'));

    await expect(new SfnCallbacks(new SFNClient({})).succeed('token', {})).rejects.toThrow('throttled');
  });
});

describe('SfnOrchestrator', () => {
  const arn = 'arn:aws:states:us-east-1:123456789012:stateMachine:orchestrator';

  it('treats an execution that already exists under the name as started', async () => {
    sfn.on(StartExecutionCommand).rejects(new ExecutionAlreadyExists({ message: 'exists', ...meta }));

    const result = await new SfnOrchestrator(arn, new SFNClient({ region: 'us-east-1' })).start('b1', {
      batchId: 'b1',
      items: [{ taskId: 't', hasDeps: false }],
      concurrency: 1,
    });

    expect(result.executionArn).toBe('arn:aws:states:us-east-1:123456789012:execution:orchestrator:b1');
  });
});
