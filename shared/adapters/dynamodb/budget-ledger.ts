/**
 * BudgetLedger on DynamoDB: one item per batch with a budget in the tasks table (`BATCH#<id> / BUDGET`).
 *
 * A condition expression cannot add (`spent + reserved + hold <= max` is not expressible), so the item keeps
 * what is left of each limit beside the spent and reserved figures, and every write moves them together:
 * - reserve: `ADD reserved +hold, left -hold; SET holds.<key> = hold`, CONDITION left >= hold (per limit),
 *   not exhausted, the key not held: one write, so concurrent routers never hold more than is left;
 * - settle: `ADD reserved -hold, left +(hold - charge), spent +charge; REMOVE holds.<key>`, CONDITION the key
 *   still holds that hold: once per attempt however often its end is delivered.
 * Amounts are whole nano-dollars and tokens, so DynamoDB's decimal arithmetic keeps them exact.
 */
import { type DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { BudgetAmount, BudgetLimits, LedgerState } from '../../domain/budget';
import type { BudgetLedger } from '../../ports';
import { documentClient, isConditionFailed, sendConditional } from './client';
import { BUDGET_SK, batchPk, ItemType } from './keys';

/** Tries of setLimits' read-then-conditional-write when late settles keep changing the figures. */
const SET_LIMITS_TRIES = 5;

const num = (value: unknown) => Number(value ?? 0);

function stateOf(item: Record<string, unknown>): LedgerState {
  return {
    ...(item.maxNanoUsd !== undefined ? { maxNanoUsd: num(item.maxNanoUsd) } : {}),
    ...(item.maxTokens !== undefined ? { maxTokens: num(item.maxTokens) } : {}),
    spent: { nanoUsd: num(item.spentNanoUsd), tokens: num(item.spentTokens) },
    reserved: { nanoUsd: num(item.reservedNanoUsd), tokens: num(item.reservedTokens) },
    ...(typeof item.exhausted === 'string' ? { exhausted: item.exhausted } : {}),
  };
}

export class DynamoBudgetLedger implements BudgetLedger {
  constructor(
    private readonly tableName: string,
    private readonly client: DynamoDBDocumentClient = documentClient(),
  ) {}

  #key(batchId: string) {
    return { pk: batchPk(batchId), sk: BUDGET_SK };
  }

  async open(batchId: string, limits: BudgetLimits, spent: BudgetAmount = { nanoUsd: 0, tokens: 0 }) {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...this.#key(batchId),
            type: ItemType.Budget,
            ...limits,
            leftNanoUsd: (limits.maxNanoUsd ?? 0) - spent.nanoUsd,
            leftTokens: (limits.maxTokens ?? 0) - spent.tokens,
            spentNanoUsd: spent.nanoUsd,
            spentTokens: spent.tokens,
            reservedNanoUsd: 0,
            reservedTokens: 0,
            holds: {},
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
    }
  }

  async reserve(
    batchId: string,
    key: string,
    hold: BudgetAmount,
  ): Promise<{ held: BudgetAmount } | { held: false; state: LedgerState | undefined }> {
    const applied = await this.#update(
      batchId,
      key,
      'SET holds.#k = :hold ADD reservedNanoUsd :n, reservedTokens :t, leftNanoUsd :negN, leftTokens :negT',
      'attribute_exists(pk) AND attribute_not_exists(exhausted) AND attribute_not_exists(holds.#k) AND ' +
        '(attribute_not_exists(maxNanoUsd) OR leftNanoUsd >= :n) AND ' +
        '(attribute_not_exists(maxTokens) OR leftTokens >= :t)',
      {
        ':hold': { nanoUsd: hold.nanoUsd, tokens: hold.tokens },
        ':n': hold.nanoUsd,
        ':t': hold.tokens,
        ':negN': -hold.nanoUsd,
        ':negT': -hold.tokens,
      },
    );
    if (applied) return { held: hold };
    const item = await this.#read(batchId);
    if (!item) return { held: false, state: undefined };
    // A repeated Route of the same attempt finds its hold: it was taken once, and still stands.
    const holds = (item.holds ?? {}) as Record<string, { nanoUsd?: unknown; tokens?: unknown }>;
    const taken = Object.hasOwn(holds, key) ? holds[key] : undefined;
    if (taken) return { held: { nanoUsd: num(taken.nanoUsd), tokens: num(taken.tokens) } };
    return { held: false, state: stateOf(item) };
  }

  async settle(batchId: string, key: string, held: BudgetAmount, charge: BudgetAmount): Promise<boolean> {
    const applied = await this.#update(
      batchId,
      key,
      'ADD reservedNanoUsd :rn, reservedTokens :rt, leftNanoUsd :ln, leftTokens :lt, ' +
        'spentNanoUsd :sn, spentTokens :st REMOVE holds.#k',
      'holds.#k.nanoUsd = :hn AND holds.#k.tokens = :ht',
      {
        ':rn': -held.nanoUsd,
        ':rt': -held.tokens,
        ':ln': held.nanoUsd - charge.nanoUsd,
        ':lt': held.tokens - charge.tokens,
        ':sn': charge.nanoUsd,
        ':st': charge.tokens,
        ':hn': held.nanoUsd,
        ':ht': held.tokens,
      },
    );
    return applied !== undefined;
  }

  async dropHold(batchId: string, key: string): Promise<boolean> {
    const item = await this.#read(batchId);
    const holds = (item?.holds ?? {}) as Record<string, { nanoUsd?: unknown; tokens?: unknown }>;
    const hold = Object.hasOwn(holds, key) ? holds[key] : undefined;
    if (!hold) return false;
    const held = { nanoUsd: num(hold.nanoUsd), tokens: num(hold.tokens) };
    return this.settle(batchId, key, held, { nanoUsd: 0, tokens: 0 });
  }

  async exhaust(batchId: string, reason: string): Promise<string> {
    const attributes = await sendConditional(
      this.client,
      new UpdateCommand({
        TableName: this.tableName,
        Key: this.#key(batchId),
        UpdateExpression: 'SET exhausted = if_not_exists(exhausted, :r)',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':r': reason },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    return typeof attributes?.exhausted === 'string' ? attributes.exhausted : reason;
  }

  async get(batchId: string): Promise<LedgerState | undefined> {
    const item = await this.#read(batchId);
    return item ? stateOf(item) : undefined;
  }

  async setLimits(batchId: string, limits: BudgetLimits, spent: BudgetAmount): Promise<void> {
    for (let tries = 0; tries < SET_LIMITS_TRIES; tries++) {
      const item = await this.#read(batchId);
      if (!item) {
        await this.open(batchId, limits, spent);
        return;
      }
      const state = stateOf(item);
      const sets = ['leftNanoUsd = :ln', 'leftTokens = :lt'];
      const removes = ['exhausted'];
      const values: Record<string, unknown> = {
        ':ln': (limits.maxNanoUsd ?? 0) - state.spent.nanoUsd - state.reserved.nanoUsd,
        ':lt': (limits.maxTokens ?? 0) - state.spent.tokens - state.reserved.tokens,
        ':sn': state.spent.nanoUsd,
        ':st': state.spent.tokens,
        ':rn': state.reserved.nanoUsd,
        ':rt': state.reserved.tokens,
      };
      for (const field of ['maxNanoUsd', 'maxTokens'] as const) {
        const value = limits[field];
        if (value === undefined) removes.push(field);
        else {
          sets.push(`${field} = :${field}`);
          values[`:${field}`] = value;
        }
      }
      // Conditional on the figures just read: a late settle in between changes them, and the left figures
      // are computed again.
      const applied = await sendConditional(
        this.client,
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.#key(batchId),
          UpdateExpression: `SET ${sets.join(', ')} REMOVE ${removes.join(', ')}`,
          ConditionExpression:
            'spentNanoUsd = :sn AND spentTokens = :st AND reservedNanoUsd = :rn AND reservedTokens = :rt',
          ExpressionAttributeValues: values,
        }),
      );
      if (applied) return;
    }
    throw new Error(`the budget ledger of batch ${batchId} kept changing; try again`);
  }

  /** A conditional update of the ledger naming the attempt `key` as `#k`; undefined when refused. */
  #update(
    batchId: string,
    key: string,
    expression: string,
    condition: string,
    values: Record<string, unknown>,
  ) {
    return sendConditional(
      this.client,
      new UpdateCommand({
        TableName: this.tableName,
        Key: this.#key(batchId),
        UpdateExpression: expression,
        ConditionExpression: condition,
        ExpressionAttributeNames: { '#k': key },
        ExpressionAttributeValues: values,
      }),
    );
  }

  async #read(batchId: string): Promise<Record<string, unknown> | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: this.#key(batchId), ConsistentRead: true }),
    );
    return Item;
  }
}
