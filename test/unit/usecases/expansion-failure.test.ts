import { describe, expect, it } from 'vitest';
import { expansionFailureReason } from '../../../shared/usecases/expansion-failure';

describe('expansionFailureReason', () => {
  it('names a start error and its cause', () => {
    expect(
      expansionFailureReason({ Error: 'StepFunctions.AccessDeniedException', Cause: 'not authorized' }),
    ).toBe("the expansion's nested execution failed: StepFunctions.AccessDeniedException: not authorized");
  });

  it("names a failed nested execution's own error, not its summary", () => {
    const summary = {
      ExecutionArn: 'arn:aws:states:us-east-1:123456789012:execution:sm:x',
      Status: 'FAILED',
      Error: 'States.Runtime',
      Cause: 'An error occurred while executing the state Finalize',
    };
    expect(expansionFailureReason({ Error: 'States.TaskFailed', Cause: JSON.stringify(summary) })).toBe(
      "the expansion's nested execution failed: States.TaskFailed: States.Runtime: An error occurred while executing the state Finalize",
    );
  });

  it('names an error without a cause', () => {
    expect(expansionFailureReason({ Error: 'States.Timeout' })).toBe(
      "the expansion's nested execution failed: States.Timeout",
    );
  });
});
