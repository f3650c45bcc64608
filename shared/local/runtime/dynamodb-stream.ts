/**
 * A DynamoDB stream for dynalite, which has none: a loopback proxy in front of dynalite that forwards every
 * request unchanged in meaning and, for each successful write to one table, emits the stream record the
 * deployed table would (NEW_AND_OLD_IMAGES), in the order the writes completed. Nothing is polled, so no
 * intermediate state is lost however quickly an item changes.
 *
 * New images: PutItem's Item; UpdateItem's ALL_NEW return values (asked for on the client's behalf when it
 * asked for none, and stripped from the answer again); otherwise a consistent GetItem after the write.
 * Old images: the previous record's new image (every write to the table passes through here).
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { listenOnLoopback } from './emulators';

type Item = Record<string, AttributeValue>;
type StreamImage = NonNullable<DynamoDBRecord['dynamodb']>['NewImage'];

export interface DynamoStreamProxyOptions {
  /** dynalite's endpoint. */
  readonly target: string;
  readonly tableName: string;
  /** The table's key attribute names. */
  readonly keyAttributes: readonly string[];
  /** Receives the records of each write, in completion order. */
  readonly onRecords: (records: DynamoDBRecord[]) => void;
}

export interface DynamoStreamProxy {
  readonly url: string;
  close(): Promise<void>;
}

const TARGET_PREFIX = 'DynamoDB_20120810.';

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

/** Starts the proxy on 127.0.0.1 (ephemeral port). */
export async function startDynamoStreamProxy(options: DynamoStreamProxyOptions): Promise<DynamoStreamProxy> {
  const images = new Map<string, Item>();
  let sequence = 0;
  const keyOf = (item: Item) =>
    options.keyAttributes.map((name) => JSON.stringify(item[name] ?? null)).join('|');
  const keysOf = (item: Item): Item =>
    Object.fromEntries(options.keyAttributes.flatMap((name) => (item[name] ? [[name, item[name]]] : [])));

  const record = (key: Item, next: Item | undefined): DynamoDBRecord => {
    const id = keyOf(key);
    const old = images.get(id);
    if (next) images.set(id, next);
    else images.delete(id);
    sequence++;
    return {
      eventID: String(sequence),
      eventName: next === undefined ? 'REMOVE' : old === undefined ? 'INSERT' : 'MODIFY',
      eventSource: 'aws:dynamodb',
      eventVersion: '1.1',
      awsRegion: process.env.AWS_REGION ?? 'local',
      dynamodb: {
        Keys: key as StreamImage,
        ...(next ? { NewImage: next as StreamImage } : {}),
        ...(old ? { OldImage: old as StreamImage } : {}),
        SequenceNumber: String(sequence),
        StreamViewType: 'NEW_AND_OLD_IMAGES',
      },
    };
  };

  const forward = async (headers: Record<string, string>, body: string) => {
    const response = await fetch(options.target, { method: 'POST', headers, body });
    return { status: response.status, headers: response.headers, text: await response.text() };
  };

  const getItem = async (headers: Record<string, string>, key: Item): Promise<Item | undefined> => {
    const answer = await forward(
      { ...headers, 'x-amz-target': `${TARGET_PREFIX}GetItem` },
      JSON.stringify({ TableName: options.tableName, Key: key, ConsistentRead: true }),
    );
    return answer.status === 200 ? (JSON.parse(answer.text) as { Item?: Item }).Item : undefined;
  };

  const server = createServer((request, response) => {
    void (async () => {
      try {
        const body = await readBody(request);
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(request.headers)) {
          if (typeof value === 'string' && name !== 'host' && name !== 'content-length')
            headers[name] = value;
        }
        const operation = (headers['x-amz-target'] ?? '').replace(TARGET_PREFIX, '');
        const input = body ? (JSON.parse(body) as Record<string, unknown>) : {};
        const ours = input.TableName === options.tableName;
        let forwarded = body;
        let stripAttributes = false;
        if (
          ours &&
          operation === 'UpdateItem' &&
          (input.ReturnValues === undefined || input.ReturnValues === 'NONE')
        ) {
          forwarded = JSON.stringify({ ...input, ReturnValues: 'ALL_NEW' });
          stripAttributes = true;
        }
        const answer = await forward(headers, forwarded);
        let text = answer.text;
        const records: DynamoDBRecord[] = [];
        if (answer.status === 200) {
          if (ours && operation === 'PutItem') {
            const item = input.Item as Item;
            records.push(record(keysOf(item), item));
          } else if (ours && operation === 'DeleteItem') {
            records.push(record(input.Key as Item, undefined));
          } else if (ours && operation === 'UpdateItem') {
            const parsed = JSON.parse(answer.text) as { Attributes?: Item };
            const next =
              input.ReturnValues === 'ALL_NEW' || stripAttributes
                ? parsed.Attributes
                : await getItem(headers, input.Key as Item);
            if (stripAttributes) {
              delete parsed.Attributes;
              text = JSON.stringify(parsed);
            }
            records.push(record(input.Key as Item, next));
          } else if (operation === 'BatchWriteItem') {
            const requests = (
              input.RequestItems as Record<
                string,
                { PutRequest?: { Item: Item }; DeleteRequest?: { Key: Item } }[]
              >
            )[options.tableName];
            const unprocessed = JSON.parse(answer.text).UnprocessedItems?.[options.tableName] ?? [];
            const skipped = new Set((unprocessed as unknown[]).map((r) => JSON.stringify(r)));
            for (const r of requests ?? []) {
              if (skipped.has(JSON.stringify(r))) continue;
              if (r.PutRequest) records.push(record(keysOf(r.PutRequest.Item), r.PutRequest.Item));
              else if (r.DeleteRequest) records.push(record(r.DeleteRequest.Key, undefined));
            }
          }
        }
        if (records.length > 0) options.onRecords(records);
        // The body may have changed: drop its checksum rather than send a wrong one.
        const out: Record<string, string> = {};
        answer.headers.forEach((value, name) => {
          if (name !== 'content-length' && name !== 'x-amz-crc32' && name !== 'content-encoding')
            out[name] = value;
        });
        response.writeHead(answer.status, out);
        response.end(text);
      } catch (error) {
        response.writeHead(500, { 'content-type': 'application/x-amz-json-1.0' });
        response.end(JSON.stringify({ __type: 'InternalFailure', message: (error as Error).message }));
      }
    })();
  });
  const port = await listenOnLoopback(server);
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
