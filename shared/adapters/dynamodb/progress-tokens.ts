/**
 * Progress tokens in the tasks table (`TOKEN#<sha256> / TOKEN`): a token is 32 random bytes handed to the
 * caller once; only its digest is stored, and redeeming deletes the item, so each token opens one socket.
 * `ttl` (epoch seconds) lets DynamoDB's TTL sweep tokens nobody redeemed; expiry is checked on redeem anyway
 * (TTL deletes late, and dynalite has none).
 */
import { createHash, randomBytes } from 'node:crypto';
import { DeleteCommand, type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { ProgressTokenStore } from '../../ports';
import { documentClient, isConditionFailed } from './client';
import { ItemType, TOKEN_SK, tokenPk } from './keys';
import { TASKS_TABLE } from './tables';

/** Random bytes in a token: as strong as an API key, and unguessable within its minute. */
const TOKEN_BYTES = 32;

const digestOf = (token: string) => createHash('sha256').update(token, 'utf8').digest('hex');

export class DynamoProgressTokenStore implements ProgressTokenStore {
  constructor(
    private readonly tableName: string,
    private readonly client: DynamoDBDocumentClient = documentClient(),
  ) {}

  async issue(expiresAt: number): Promise<string> {
    const token = randomBytes(TOKEN_BYTES).toString('base64url');
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          pk: tokenPk(digestOf(token)),
          sk: TOKEN_SK,
          type: ItemType.ProgressToken,
          expiresAt,
          [TASKS_TABLE.ttlAttribute]: Math.ceil(expiresAt / 1000),
        },
      }),
    );
    return token;
  }

  async redeem(token: string, now: number): Promise<boolean> {
    try {
      await this.client.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: { pk: tokenPk(digestOf(token)), sk: TOKEN_SK },
          ConditionExpression: 'attribute_exists(pk) AND expiresAt > :now',
          ExpressionAttributeValues: { ':now': now },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailed(error)) return false;
      throw error;
    }
  }
}
