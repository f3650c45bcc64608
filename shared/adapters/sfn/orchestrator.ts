/** Orchestrator on Step Functions: one execution per batch (and per redrive). */
import {
  DescribeExecutionCommand,
  type DescribeExecutionCommandOutput,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import type { ExecutionInput } from '../../domain/workflow';
import type { ExecutionState, ExecutionStates, Orchestrator } from '../../ports';
import { tunedClient } from '../sdk-client';

/** StopExecution's cause is capped at 32,768 characters. */
const MAX_CAUSE_CHARS = 32_768;

export class SfnOrchestrator implements Orchestrator, ExecutionStates {
  constructor(
    private readonly stateMachineArn: string,
    /** The default client reads region and endpoint override (AWS_ENDPOINT_URL[_SFN]) from the environment. */
    private readonly client: SFNClient = tunedClient(new SFNClient({})),
  ) {}

  /** Starts `name`; an execution that already exists under that name counts as started (a retried submit). */
  async start(name: string, input: ExecutionInput): Promise<{ executionArn: string }> {
    try {
      const result = await this.client.send(
        new StartExecutionCommand({
          stateMachineArn: this.stateMachineArn,
          name,
          input: JSON.stringify(input),
        }),
      );
      return { executionArn: result.executionArn ?? this.executionArnOf(name) };
    } catch (error) {
      if (error instanceof Error && error.name === 'ExecutionAlreadyExists') {
        return { executionArn: this.executionArnOf(name) };
      }
      throw error;
    }
  }

  async stop(executionArn: string, cause: string): Promise<void> {
    try {
      await this.client.send(
        new StopExecutionCommand({ executionArn, cause: cause.slice(0, MAX_CAUSE_CHARS) }),
      );
    } catch (error) {
      // Stopping a finished or unknown execution leaves nothing to stop.
      if (error instanceof Error && error.name === 'ExecutionDoesNotExist') return;
      throw error;
    }
  }

  /** Whether the execution is still running (unknown executions are not). */
  async isRunning(executionArn: string): Promise<boolean> {
    return (await describeExecution(this.client, executionArn))?.status === 'RUNNING';
  }

  async describe(executionArn: string): Promise<ExecutionState | undefined> {
    const found = await describeExecution(this.client, executionArn);
    if (found?.status === undefined) return undefined;
    return {
      status: found.status,
      ...(found.error ? { error: found.error } : {}),
      ...(found.cause ? { cause: found.cause } : {}),
    };
  }

  /** arn:aws:states:<region>:<account>:stateMachine:<sm> -> arn:aws:states:<region>:<account>:execution:<sm>:<name> */
  executionArnOf(name: string): string {
    return `${this.stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
  }
}

/** An execution's input as JSON text (DescribeExecution); undefined for an unknown execution. */
export async function executionInputOf(client: SFNClient, executionArn: string): Promise<string | undefined> {
  return (await describeExecution(client, executionArn))?.input;
}

/** DescribeExecution; undefined for an unknown execution. */
async function describeExecution(
  client: SFNClient,
  executionArn: string,
): Promise<DescribeExecutionCommandOutput | undefined> {
  try {
    return await client.send(new DescribeExecutionCommand({ executionArn }));
  } catch (error) {
    if (error instanceof Error && error.name === 'ExecutionDoesNotExist') return undefined;
    throw error;
  }
}
