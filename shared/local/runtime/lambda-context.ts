/**
 * The Lambda invocation context handed to in-process handlers: the fields handlers and Powertools read.
 */
import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';

/** A Lambda handler as functions/*.ts export it. */
export type LambdaHandler<TEvent = unknown, TResult = unknown> = (
  event: TEvent,
  context: Context,
) => Promise<TResult>;

/** Remaining time reported to handlers: the Lambda maximum, 15 minutes (the runtime does not cut them). */
const REMAINING_TIME_MS = 15 * 60 * 1000;
const MEMORY_MB = '1024';

/**
 * A fresh context for one invocation of `functionName`. Once `cutShort` aborts (the system stopping), it
 * reports no time left, as a Lambda at its timeout would: a handler that watches it ends early.
 */
export function makeLambdaContext(
  functionName: string,
  region = process.env.AWS_REGION ?? 'us-east-1',
  cutShort?: AbortSignal,
): Context {
  const deadline = Date.now() + REMAINING_TIME_MS;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:000000000000:function:${functionName}`,
    memoryLimitInMB: MEMORY_MB,
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => (cutShort?.aborted ? 0 : Math.max(0, deadline - Date.now())),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
