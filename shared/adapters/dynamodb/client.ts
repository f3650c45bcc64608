/**
 * The DynamoDB document client every adapter defaults to. The SDK reads the region and an endpoint
 * override (AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_DYNAMODB) from the environment, so the same default works
 * against AWS, LocalStack and dynalite.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, type UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { fastConfig } from '../sdk-client';

/** Wraps a low-level client: undefined fields are dropped rather than rejected. */
export function documentClient(
  client: DynamoDBClient = fastConfig(new DynamoDBClient({})),
): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
    unmarshallOptions: { wrapNumbers: false },
  });
}

/** True for the error DynamoDB returns when a ConditionExpression did not hold. */
export function isConditionFailed(error: unknown): boolean {
  return error instanceof Error && error.name === 'ConditionalCheckFailedException';
}

/**
 * Sends a conditional update: the attributes it returned ({} when it asked for none) when it applied,
 * undefined when its condition did not hold. Every other error is thrown.
 */
export async function sendConditional(
  client: DynamoDBDocumentClient,
  command: UpdateCommand,
): Promise<Record<string, unknown> | undefined> {
  try {
    return (await client.send(command)).Attributes ?? {};
  } catch (error) {
    if (isConditionFailed(error)) return undefined;
    throw error;
  }
}
