/**
 * Finalize as the target of Step Functions' status change events: the batch an execution ran is read from the
 * event's input, or from DescribeExecution when the event left it out (too large).
 */
import { DescribeExecutionCommand, SFNClient } from '@aws-sdk/client-sfn';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { DocumentClient } from '../../../shared/adapters/dynamodb/client';
import { HANDLER_ENV } from '../../support/api-events';

const ddb = mockClient(DocumentClient);
const sfn = mockClient(SFNClient);
let handler: (event: unknown) => Promise<unknown>;

beforeAll(async () => {
  for (const [name, value] of Object.entries(HANDLER_ENV)) vi.stubEnv(name, value);
  ({ handler } = (await import('../../../functions/finalize')) as unknown as {
    handler: (event: unknown) => Promise<unknown>;
  });
});

afterAll(() => {
  vi.unstubAllEnvs();
  ddb.restore();
  sfn.restore();
});

beforeEach(() => {
  ddb.reset();
  sfn.reset();
  // The batch has finished meanwhile: nothing is ended.
  ddb
    .on(GetCommand)
    .resolves({ Item: { pk: 'BATCH#b-1', sk: 'BATCH', batchId: 'b-1', status: 'SUCCEEDED' } });
});

const ARN = 'arn:aws:states:us-east-1:123456789012:execution:orchestrator:b-1';
const change = (input: string | null) => ({
  source: 'aws.states',
  'detail-type': 'Step Functions Execution Status Change',
  detail: { executionArn: ARN, status: 'FAILED', input, error: 'States.Runtime', cause: 'boom' },
});

describe('finalize, for an execution that ended without succeeding', () => {
  it("reads the batch from the event's input", async () => {
    const answer = await handler(change(JSON.stringify({ batchId: 'b-1', items: [] })));

    expect(answer).toEqual({ executionArn: ARN, batchId: 'b-1', ended: false });
    expect(sfn.commandCalls(DescribeExecutionCommand)).toHaveLength(0);
    expect(ddb.commandCalls(GetCommand)).toHaveLength(1);
  });

  it('asks Step Functions for the input when the event left it out', async () => {
    sfn.on(DescribeExecutionCommand).resolves({ input: JSON.stringify({ batchId: 'b-1', items: [] }) });

    const answer = await handler(change(null));

    expect(answer).toEqual({ executionArn: ARN, batchId: 'b-1', ended: false });
    expect(sfn.commandCalls(DescribeExecutionCommand)[0]?.args[0].input).toEqual({ executionArn: ARN });
  });

  it('does nothing for an execution Step Functions no longer knows', async () => {
    sfn
      .on(DescribeExecutionCommand)
      .rejects(Object.assign(new Error('gone'), { name: 'ExecutionDoesNotExist' }));

    const answer = await handler(change(null));

    expect(answer).toEqual({ executionArn: ARN, ended: false });
    expect(ddb.commandCalls(GetCommand)).toHaveLength(0);
  });
});
