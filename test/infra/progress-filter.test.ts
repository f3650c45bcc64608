/**
 * The notifier's stream filter against the items the adapters really write: the filter pattern from the
 * template is evaluated (Lambda event filtering rules, the subset it uses) on stream records made from the
 * items DynamoTaskStore and DynamoSubscriptionStore put.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeAll, describe, expect, it } from 'vitest';
import { documentClient } from '../../shared/adapters/dynamodb/client';
import { DynamoSubscriptionStore } from '../../shared/adapters/dynamodb/subscriptions';
import { DynamoTaskStore } from '../../shared/adapters/dynamodb/task-store';
import { progressFromImages } from '../../shared/usecases/notify';
import { batchOf } from '../support/fixtures';
import { defaultTemplateJson } from './fixture';
import { templateFunctions } from './template-functions';

type Pattern = Record<string, unknown>;
type Item = Record<string, unknown>;

/** Lambda event filtering: every pattern key must match; arrays list allowed values or `{prefix}` rules. */
function matches(pattern: unknown, value: unknown): boolean {
  if (Array.isArray(pattern)) {
    return pattern.some((rule) => {
      if (rule !== null && typeof rule === 'object' && 'prefix' in rule) {
        return typeof value === 'string' && value.startsWith(String((rule as { prefix: unknown }).prefix));
      }
      return rule === value;
    });
  }
  if (pattern === null || typeof pattern !== 'object') throw new Error(`unsupported rule ${String(pattern)}`);
  if (value === null || typeof value !== 'object') return false;
  return Object.entries(pattern).every(([key, sub]) => matches(sub, (value as Record<string, unknown>)[key]));
}

function streamRecord(eventName: 'INSERT' | 'MODIFY' | 'REMOVE', newItem?: Item, oldItem?: Item) {
  const key = newItem ?? oldItem ?? {};
  return {
    eventName,
    dynamodb: {
      Keys: marshall({ pk: key.pk, sk: key.sk }),
      ...(newItem ? { NewImage: marshall(newItem, { removeUndefinedValues: true }) } : {}),
      ...(oldItem ? { OldImage: marshall(oldItem, { removeUndefinedValues: true }) } : {}),
    },
  };
}

let patterns: Pattern[];
const written: Item[] = [];

/** A full synthesis takes seconds; much longer on a busy 2-core machine. */
const SYNTH_TIMEOUT_MS = 180_000;

beforeAll(async () => {
  const json = defaultTemplateJson();
  const notifierId = templateFunctions(json).find((fn) => fn.handler === 'notifier')?.logicalId;
  const mapping = Object.values(json.Resources).find(
    (r) =>
      r.Type === 'AWS::Lambda::EventSourceMapping' &&
      (r.Properties.FunctionName as { Ref?: string }).Ref === notifierId,
  );
  if (!mapping) throw new Error('the notifier has no event source mapping');
  const filters = (mapping.Properties.FilterCriteria as { Filters: { Pattern: string }[] }).Filters;
  patterns = filters.map((f) => JSON.parse(f.Pattern) as Pattern);

  // Capture what the real adapters write for a batch, its tasks, an idempotency key and a subscription.
  const doc = documentClient(new DynamoDBClient({ region: 'us-east-1' }));
  const mock = mockClient(doc);
  mock.on(PutCommand).callsFake((input: { Item: Item }) => {
    written.push(input.Item);
    return {};
  });
  mock
    .on(BatchWriteCommand)
    .callsFake((input: { RequestItems: Record<string, { PutRequest?: { Item: Item } }[]> }) => {
      for (const requests of Object.values(input.RequestItems)) {
        for (const r of requests) if (r.PutRequest) written.push(r.PutRequest.Item);
      }
      return {};
    });
  const store = new DynamoTaskStore('tasks', doc);
  const { batch, tasks } = batchOf('b1', [{ id: 't1', description: 'write the endpoint' }]);
  await store.createBatch(batch, tasks);
  await store.claimIdempotencyKey('key-1', 'b1', 'hash', 1);
  await new DynamoSubscriptionStore('tasks', doc).subscribe('conn-1', 'b1', 1);
}, SYNTH_TIMEOUT_MS);

const invokes = (record: unknown) => patterns.some((p) => matches(p, record));
const itemOfType = (type: string) => {
  const item = written.find((i) => i.type === type);
  if (!item) throw new Error(`the adapters wrote no ${type} item`);
  return item;
};

describe('notifier stream filter', () => {
  it('invokes the notifier when a task or a batch item is written or its status changes', () => {
    const task = itemOfType('task');
    const batch = itemOfType('batch');

    expect(invokes(streamRecord('INSERT', task))).toBe(true);
    expect(invokes(streamRecord('MODIFY', { ...task, status: 'RUNNING' }, task))).toBe(true);
    expect(invokes(streamRecord('MODIFY', { ...batch, status: 'SUCCEEDED' }, batch))).toBe(true);
  });

  it('does not invoke it for subscriptions, idempotency keys or removals, which the notifier ignores', () => {
    const subscriptions = written.filter((i) => i.type === 'subscription');
    const idempotency = itemOfType('idempotency');
    const task = itemOfType('task');

    expect(subscriptions.length).toBeGreaterThan(0);
    for (const sub of subscriptions) {
      expect(invokes(streamRecord('INSERT', sub)), String(sub.pk)).toBe(false);
      expect(progressFromImages(sub, undefined)).toBeUndefined();
    }
    expect(invokes(streamRecord('INSERT', idempotency))).toBe(false);
    expect(invokes(streamRecord('REMOVE', undefined, task))).toBe(false);
    expect(progressFromImages(undefined, task)).toBeUndefined();
  });

  it('lets through every change the notifier turns into a progress message', () => {
    const changes = written.map((item) => ({ before: item, after: { ...item, status: 'FAILED' } as Item }));
    const wanted = changes.filter(({ before, after }) => progressFromImages(after, before) !== undefined);

    expect(wanted.length).toBeGreaterThan(0);
    for (const { before, after } of wanted) {
      expect(invokes(streamRecord('MODIFY', after, before)), `${String(after.pk)} ${String(after.sk)}`).toBe(
        true,
      );
    }
  });
});
