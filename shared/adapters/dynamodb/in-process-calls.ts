/**
 * Item calls of a DocumentClient whose DynamoDB is served in process (the embedded runtime's dynalite), without
 * the SDK's per-call stack. A dependency hop on the embedded runtime is about eight DynamoDB calls in series, run
 * cold after its task's idle wait, and the SDK's stack around each (endpoint rules, schema serialization and
 * parsing, the build step's headers, signing, the response's bytes encoded and decoded again) cost more than
 * the store's own work: nine calls to dynalite in series took about 5.5 ms through the SDK after 150 ms of idle
 * and about 3 ms sent as JSON (a scratch series, 2026-12-07).
 *
 * The handler of an item operation (OPERATIONS) keeps what a call's meaning rests on:
 * - lib-dynamodb's own marshalling and unmarshalling middleware (the document command's, as the SDK resolves
 *   it: DocumentMarshall and DocumentUnmarshall, placed by their names);
 * - the client's retry strategy, through the lean in-process retry middleware (in-process-retry.ts);
 * - the wire format: the operation's input is its JSON body (awsJson1_0; binary values as base64, as the SDK
 *   writes them), its target header, a request signed by the client's in-process signer;
 * - every error as the SDK makes it: an answer that is not a success, or that holds a binary value, is parsed
 *   by the client's own protocol (the modeled exception, its `$metadata`, `$fault`, its fields).
 * A success is the answer's JSON and the SDK's `$metadata`. test/integration/adapters/in-process-calls.test.ts
 * checks each operation's answer and errors against the SDK's own, on dynalite.
 * Any other operation, a call with options (an abort signal), or a client with middleware of its own (a tracer's)
 * goes through the SDK as before. On AWS nothing is served in process and none of this runs.
 */
import { constructStack } from '@smithy/core/client';
import { operation } from '@smithy/core/schema';
import { inProcessRetryMiddleware, inProcessRetryOptions, type RetryConfig } from '../in-process-retry';
import { IN_PROCESS_PROTOCOL } from '../in-process-transport';

/** The item operations sent lean: their input and output hold no timestamps and no blobs but attribute values. */
export const OPERATIONS: ReadonlySet<string> = new Set([
  'GetItem',
  'PutItem',
  'UpdateItem',
  'DeleteItem',
  'Query',
  'Scan',
  'BatchGetItem',
  'BatchWriteItem',
]);

/** The middleware a client made by `tunedClient` has (by name); a client with any other is sent through the SDK. */
const KNOWN_MIDDLEWARE: ReadonlySet<string> = new Set([
  'loggerMiddleware',
  'serializerMiddleware',
  'contentLengthMiddleware',
  'hostHeaderMiddleware',
  'recursionDetectionMiddleware',
  'retryMiddleware',
  'httpSigningMiddleware',
  'deserializerMiddleware',
]);

/** The request the in-process transport reads (InProcessHttpHandler.handle). */
interface LeanRequest {
  method: 'POST';
  protocol: string;
  hostname: string;
  path: '/';
  query: Record<string, never>;
  headers: Record<string, string>;
  body: string;
}

/** Its answer: a body of bytes, as the SDK's protocols read it. */
interface TransportResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: Uint8Array;
}

interface Transport {
  readonly metadata?: { handlerProtocol?: string };
  handle(request: LeanRequest): Promise<{ response: TransportResponse }>;
}

interface Signer {
  sign(request: LeanRequest): Promise<LeanRequest>;
}

/** An operation's schema as the SDK's commands carry it: [kind, namespace, name, traits, input, output]. */
type OperationSchema = readonly [unknown, string, string, unknown, unknown, unknown];

interface Protocol {
  readonly serviceTarget?: string;
  deserializeResponse(schema: unknown, context: object, response: TransportResponse): Promise<unknown>;
  deserializeMetadata(response: TransportResponse): Record<string, unknown>;
}

/** What the lean handler reads of the client's resolved config. */
export interface LeanConfig extends RetryConfig {
  readonly requestHandler?: Transport;
  readonly protocol?: Protocol;
  readonly signer?: Signer | (() => Promise<Signer>);
  readonly serviceId?: string;
}

/** A middleware stack as the SDK's commands hold one (its `concat` and `resolve`, `identify` for names). */
interface Stack {
  identify(): string[];
}

type Args = { input: object; request?: LeanRequest };
type Output = {
  output: Record<string, unknown> & { $metadata: Record<string, unknown> };
  response?: unknown;
};
type Handler = (args: Args) => Promise<Output>;

/** Whether `client`'s calls can go lean: DynamoDB served in process, with only the middleware tunedClient leaves. */
export function servedLean(config: LeanConfig, stack: Stack): boolean {
  if (config.serviceId !== 'DynamoDB') return false;
  if (config.requestHandler?.metadata?.handlerProtocol !== IN_PROCESS_PROTOCOL) return false;
  if (!config.protocol?.serviceTarget) return false;
  // `identify` names an entry `name - step`, or `name (a.k.a. aliases) - step`.
  return stack.identify().every((entry) => KNOWN_MIDDLEWARE.has(entry.split(/ - | \(/)[0] ?? ''));
}

const decoder = new TextDecoder();

/** Blobs as the SDK writes them in JSON: base64. */
function blobsAsBase64(_key: string, value: unknown): unknown {
  return value instanceof Uint8Array ? Buffer.from(value).toString('base64') : value;
}

/** A binary attribute value (`"B":` or `"BS":` as a key): the SDK's parser turns its base64 into bytes. */
const HOLDS_BINARY = /"BS?":/;

/**
 * The handler of `clientCommand`'s operation, its document middleware (`documentStack`: DocumentMarshall and
 * DocumentUnmarshall) around a lean call; undefined when the operation is not one of OPERATIONS.
 */
export function leanHandler(
  config: LeanConfig,
  clientCommand: { schema?: OperationSchema },
  documentStack: unknown,
): Handler | undefined {
  const schema = clientCommand.schema;
  const name = schema?.[2];
  const { requestHandler: transport, protocol } = config;
  if (!schema || name === undefined || !OPERATIONS.has(name) || !transport || !protocol) return undefined;
  const target = `${protocol.serviceTarget}.${name}`;
  const parse = operation(schema[1], schema[2], schema[3] as never, schema[4] as never, schema[5] as never);
  let signer: Promise<Signer> | undefined;
  const signerOf = () => {
    const { signer: configured } = config;
    if (!configured) throw new Error('in-process DynamoDB client has no signer');
    signer ??= typeof configured === 'function' ? configured() : Promise.resolve(configured);
    return signer;
  };

  const stack = constructStack<object, object>();
  stack.add(
    ((next: Handler) => async (args: Args) =>
      next({
        ...args,
        request: {
          method: 'POST',
          protocol: 'http:',
          hostname: '',
          path: '/',
          query: {},
          headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': target },
          body: JSON.stringify(args.input, blobsAsBase64),
        },
      })) as never,
    { step: 'serialize', name: 'serializerMiddleware' },
  );
  stack.add(inProcessRetryMiddleware(config) as never, inProcessRetryOptions);
  stack.add(
    ((next: Handler, context: object) => async (args: Args) => {
      const answer = (await next(args)) as unknown as { response: TransportResponse };
      const { response } = answer;
      const text = decoder.decode(response.body);
      if (response.statusCode >= 300 || HOLDS_BINARY.test(text)) {
        const output = await protocol.deserializeResponse(parse, { ...config, ...context }, response);
        return { response, output };
      }
      const output = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
      return { response, output: { ...output, $metadata: protocol.deserializeMetadata(response) } };
    }) as never,
    { step: 'deserialize', name: 'deserializerMiddleware' },
  );
  const resolved = (stack as unknown as { concat(other: unknown): { resolve: Resolve } })
    .concat(documentStack)
    .resolve(
      async (args: { request: LeanRequest }) =>
        transport.handle(
          await (await signerOf()).sign({ ...args.request, headers: { ...args.request.headers } }),
        ),
      { commandName: `${name}Command`, clientName: 'DynamoDBClient' },
    );
  return resolved as unknown as Handler;
}

type Resolve = (handler: unknown, context: object) => unknown;
