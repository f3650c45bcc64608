/**
 * Task-token callbacks on Step Functions. A token that is no longer waiting (the state timed out, the
 * execution was stopped, the token was already answered) is "already done": false, not an error. A refusal
 * sending again cannot cure (AccessDenied, a validation: see isPermanentServiceError) is a
 * CallbackRefusedError; anything else (throttling, a network failure) is thrown as it is.
 */
import {
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  SFNClient,
} from '@aws-sdk/client-sfn';
import { CallbackRefusedError, type Callbacks } from '../../ports';
import { isPermanentServiceError } from '../in-process-retry';
import { tunedClient } from '../sdk-client';

/** Errors meaning the token cannot be answered any more. */
export const GONE_TOKEN_ERRORS: ReadonlySet<string> = new Set([
  'TaskTimedOut',
  'TaskDoesNotExist',
  'InvalidToken',
]);
/** SendTaskFailure limits: error 256 characters, cause 32,768. */
const MAX_ERROR_CHARS = 256;
const MAX_CAUSE_CHARS = 32_768;

export class SfnCallbacks implements Callbacks {
  /** The default client reads region and endpoint override (AWS_ENDPOINT_URL[_SFN]) from the environment. */
  constructor(private readonly client: SFNClient = tunedClient(new SFNClient({}))) {}

  succeed(taskToken: string, output: unknown): Promise<boolean> {
    return this.answer(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify(output ?? {}) }));
  }

  fail(taskToken: string, error: string, cause: string): Promise<boolean> {
    return this.answer(
      new SendTaskFailureCommand({
        taskToken,
        error: error.slice(0, MAX_ERROR_CHARS),
        cause: cause.slice(0, MAX_CAUSE_CHARS),
      }),
    );
  }

  heartbeat(taskToken: string): Promise<boolean> {
    return this.answer(new SendTaskHeartbeatCommand({ taskToken }));
  }

  private async answer(
    command: SendTaskSuccessCommand | SendTaskFailureCommand | SendTaskHeartbeatCommand,
  ): Promise<boolean> {
    try {
      // The union of commands has no common `send` overload; each is a valid SFN command.
      await this.client.send(command as SendTaskSuccessCommand);
      return true;
    } catch (error) {
      if (error instanceof Error && GONE_TOKEN_ERRORS.has(error.name)) return false;
      if (isPermanentServiceError(error))
        throw new CallbackRefusedError(error.name, error.message, { cause: error });
      throw error;
    }
  }
}
