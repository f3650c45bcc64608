/**
 * Calls of clients served in process (the embedded runtime's emulators) without the SDK's per-call stack, for
 * the operations of LEAN_OPERATIONS: DynamoDB's item calls (through the document client, dynamodb/client.ts),
 * and SQS's and Step Functions' calls on the way from one task to the next (through leanShortcut, which
 * tunedClient puts first in those clients' stacks). A dependency hop on the embedded runtime is about ten such
 * calls in series, run cold after its task's idle wait, and the SDK's stack around each (endpoint rules, schema
 * serialization and parsing, the build step's headers, signing, the answer's bytes encoded and decoded again)
 * cost more than the emulators' own work: nine calls to dynalite in series took about 5.5 ms through the SDK
 * after 150 ms of idle and about 3 ms sent as JSON (a scratch series, 2026-12-07).
 *
 * A lean call keeps what its meaning rests on:
 * - a document command's own marshalling and unmarshalling middleware (DocumentMarshall and
 *   DocumentUnmarshall, placed by the names of the SDK's serializer and parser, as lib-dynamodb places them);
 * - the client's retry strategy, through the lean in-process retry middleware (in-process-retry.ts), long polls
 *   counted apart as the SDK counts them, and the call's abort signal;
 * - the request the SDK sends: the input as the JSON body (binary values as base64, as the SDK writes them),
 *   the content type, target, query-mode, length and host headers, signed by the client's in-process signer;
 * - every error as the SDK makes it: an answer that is not a success, or that holds a binary value, is parsed
 *   by the client's own protocol (the modeled exception, its `$metadata`, `$fault` and fields).
 * A success is the answer's JSON and the SDK's `$metadata`. test/integration/runtime/in-process-calls.test.ts
 * checks the answers and errors against the SDK's own: DynamoDB's on dynalite, SQS's and Step Functions' on a
 * server giving both the same answers (and the requests they send).
 * Any other operation, a document command sent with options, or a client with middleware of its own (a
 * tracer's) goes through the SDK as before. On AWS nothing is served in process and none of this runs.
 */
import { constructStack } from '@smithy/core/client';
import { operation } from '@smithy/core/schema';
import {
  inProcessRetryMiddleware,
  inProcessRetryOptions,
  type RetryConfig,
  SMITHY_CONTEXT_KEY,
} from './in-process-retry';
import { IN_PROCESS_PROTOCOL } from './in-process-transport';

/** The name of the middleware tunedClient puts first in an in-process SQS or Step Functions client (leanShortcut). */
const SHORTCUT = 'inProcessShortcut';

/**
 * The operations sent lean, by service (the client config's `serviceId`): JSON protocols whose input is the
 * request's body as it is and whose output is the answer's, with no timestamps (which the SDK turns into Dates)
 * and blobs only under the keys `binary` finds (then the SDK's own parser reads the answer, and the input is
 * written with its blobs as base64). Their SDK plugins that are left out: SQS's MD5 checks of a sent and a
 * received message's body, which guard a network the in-process transport does not cross.
 */
export const LEAN_OPERATIONS: Readonly<Record<string, { operations: ReadonlySet<string>; binary: RegExp }>> =
  {
    DynamoDB: {
      operations: new Set([
        'GetItem',
        'PutItem',
        'UpdateItem',
        'DeleteItem',
        'Query',
        'Scan',
        'BatchGetItem',
        'BatchWriteItem',
      ]),
      // A binary attribute value, `"B":` or `"BS":` as a key (inside a string a quote is escaped).
      binary: /"BS?":/,
    },
    SFN: { operations: new Set(['SendTaskSuccess', 'SendTaskFailure', 'SendTaskHeartbeat']), binary: /$^/ },
    SQS: {
      operations: new Set([
        'SendMessage',
        'ReceiveMessage',
        'DeleteMessage',
        'DeleteMessageBatch',
        'ChangeMessageVisibility',
      ]),
      // A binary message attribute.
      binary: /"Binary(Value|ListValues)":/,
    },
  };

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
  SHORTCUT,
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

/** The in-process transport's answer as text (InProcessHttpHandler.handle with `asText`). */
interface TextResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

interface Transport {
  readonly metadata?: { handlerProtocol?: string };
  /** The origin it serves (InProcessHttpHandler). */
  readonly origin: string;
  handle(
    request: LeanRequest,
    options: { asText: true; abortSignal?: AbortSignal },
  ): Promise<{ response: TextResponse }>;
}

interface Signer {
  sign(request: LeanRequest): Promise<LeanRequest>;
}

/** An operation's schema as the SDK's commands carry it: [kind, namespace, name, traits, input, output]. */
type OperationSchema = readonly [unknown, string, string, unknown, unknown, unknown];

/** The SDK's JSON RPC protocol of a client (@aws-sdk/core's AwsJsonRpcProtocol). */
interface Protocol {
  readonly serviceTarget?: string;
  readonly awsQueryCompatible?: boolean;
  getJsonRpcVersion?(): string;
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

/** A middleware stack as the SDK's commands hold one (`identify` for its names). */
interface Stack {
  identify(): string[];
}

type Args = { input: object; request?: LeanRequest };
type Output = {
  output: Record<string, unknown> & { $metadata: Record<string, unknown> };
  response?: unknown;
};
type Handler = (args: Args) => Promise<Output>;
/** A lean call: its args (the command), and the call's abort signal if it has one. */
export type LeanHandler = (args: Args, abortSignal?: AbortSignal) => Promise<Output>;

/**
 * Whether a client's calls can go lean: a service of LEAN_OPERATIONS served in process through a JSON RPC
 * protocol, with only the middleware tunedClient leaves in its `stack`.
 */
export function servedLean(config: LeanConfig, stack: Stack): boolean {
  if (config.serviceId === undefined || !(config.serviceId in LEAN_OPERATIONS)) return false;
  if (config.requestHandler?.metadata?.handlerProtocol !== IN_PROCESS_PROTOCOL) return false;
  if (!config.protocol?.serviceTarget) return false;
  // `identify` names an entry `name - step`, or `name (a.k.a. aliases) - step`.
  return stack.identify().every((entry) => KNOWN_MIDDLEWARE.has(entry.split(/ - | \(/)[0] ?? ''));
}

const encoder = new TextEncoder();

/**
 * Blobs as the SDK writes them in JSON: base64. The value is read from its holder (`this`), as it was before a
 * Buffer's `toJSON` turned it into `{ type, data }`.
 */
function blobsAsBase64(this: Record<string, unknown>, key: string, value: unknown): unknown {
  const raw = this[key];
  return raw instanceof Uint8Array
    ? Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64')
    : value;
}

/**
 * The input as the SDK writes it: JSON, its blobs as base64. Written without a replacer first (V8's fast path,
 * about half the time); only an input where the service's binary keys appear (a blob written as an object
 * there, or a false alarm) is written again with one.
 */
function bodyOf(input: object, binary: RegExp): string {
  const body = JSON.stringify(input);
  return binary.test(body) ? JSON.stringify(input, blobsAsBase64) : body;
}

/**
 * The lean handler of `command`'s operation, with `innerStack` (a document command's DocumentMarshall and
 * DocumentUnmarshall, placed by the names of the SDK's serializer and parser) around the call; undefined when
 * the client's service does not send that operation lean (LEAN_OPERATIONS).
 */
export function leanHandler(
  config: LeanConfig,
  command: { schema?: OperationSchema },
  innerStack?: unknown,
): LeanHandler | undefined {
  const schema = command.schema;
  const name = schema?.[2];
  const service = config.serviceId === undefined ? undefined : LEAN_OPERATIONS[config.serviceId];
  const { requestHandler: transport, protocol } = config;
  if (!schema || name === undefined || !service?.operations.has(name) || !transport || !protocol) return;
  const headers: Record<string, string> = {
    'content-type': `application/x-amz-json-${protocol.getJsonRpcVersion?.() ?? '1.0'}`,
    'x-amz-target': `${protocol.serviceTarget}.${name}`,
    ...(protocol.awsQueryCompatible ? { 'x-amzn-query-mode': 'true' } : {}),
  };
  const parse = operation(schema[1], schema[2], schema[3] as never, schema[4] as never, schema[5] as never);
  // The host header, as the SDK's build step writes it (the transport serves one origin, the endpoint's).
  const host = new URL(transport.origin).host;
  // The signer, as the SDK's signing step finds it: resolved once.
  let signing: Promise<Signer> | undefined;
  const signerOf = () => {
    const { signer } = config;
    if (!signer) throw new Error(`in-process ${config.serviceId} client has no signer`);
    signing ??= typeof signer === 'function' ? signer() : Promise.resolve(signer);
    return signing;
  };

  const stack = constructStack<object, object>();
  stack.add(
    ((next: Handler) => async (args: Args) => {
      const body = bodyOf(args.input, service.binary);
      const request: LeanRequest = {
        method: 'POST',
        protocol: 'http:',
        hostname: '',
        path: '/',
        query: {},
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        body,
      };
      return next({ ...args, request });
    }) as never,
    { step: 'serialize', name: 'serializerMiddleware' },
  );
  stack.add(inProcessRetryMiddleware(config) as never, inProcessRetryOptions);
  stack.add(
    ((next: Handler, context: object) => async (args: Args) => {
      const answer = (await next(args)) as unknown as { response: TextResponse };
      const { statusCode, headers: answered, body: text } = answer.response;
      if (statusCode >= 300 || service.binary.test(text)) {
        // The SDK's own parser, on the bytes it reads.
        const response: TransportResponse = { statusCode, headers: answered, body: encoder.encode(text) };
        try {
          const output = await protocol.deserializeResponse(parse, { ...config, ...context }, response);
          return { response, output };
        } catch (error) {
          // As the SDK's parser middleware leaves it: the raw answer on the error, hidden.
          if (error instanceof Error)
            Object.defineProperty(error, '$response', { value: response, enumerable: false });
          throw error;
        }
      }
      const output = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
      const metadata = protocol.deserializeMetadata(answer.response as unknown as TransportResponse);
      return { response: answer.response, output: { ...output, $metadata: metadata } };
    }) as never,
    { step: 'deserialize', name: 'deserializerMiddleware' },
  );
  const withInner = (stack as unknown as { concat(other: unknown): { resolve: Resolve } }).concat(
    innerStack ?? constructStack(),
  );
  const resolve = (abortSignal: AbortSignal | undefined) =>
    withInner.resolve(
      async (args: { request: LeanRequest }) => {
        const request = { ...args.request, headers: { ...args.request.headers, host } };
        return transport.handle(await (await signerOf()).sign(request), {
          asText: true,
          ...(abortSignal ? { abortSignal } : {}),
        });
      },
      {
        commandName: `${name}Command`,
        clientName: `${config.serviceId}Client`,
        // The SDK's long polls count their retries apart (its longPollMiddleware).
        ...(name === 'ReceiveMessage' ? { __retryLongPoll: true } : {}),
        ...(abortSignal ? { [SMITHY_CONTEXT_KEY]: { abortSignal } } : {}),
      },
    ) as Handler;
  const plain = resolve(undefined);
  // A call with a signal is resolved for itself (the signal is in its context), as the SDK resolves such calls.
  return (args, abortSignal) => (abortSignal ? resolve(abortSignal)(args) : plain(args));
}

type Resolve = (handler: unknown, context: object) => unknown;

/**
 * The first middleware of an in-process SQS or Step Functions client (tunedClient): an operation of
 * LEAN_OPERATIONS goes lean (leanHandler), with the call's abort signal; any other goes on through the SDK's
 * stack. Whether the client goes lean at all is judged at its first call, once every middleware is in its stack
 * (a tracer wraps a client after tunedClient).
 */
export function leanShortcut(config: LeanConfig, clientStack: Stack) {
  let lean: boolean | undefined;
  const handlers = new Map<string, LeanHandler | undefined>();
  const middleware =
    (
      next: Handler,
      context: {
        [SMITHY_CONTEXT_KEY]?: { commandInstance?: { schema?: OperationSchema }; abortSignal?: AbortSignal };
      },
    ) =>
    async (args: Args) => {
      lean ??= servedLean(config, clientStack);
      const smithy = context[SMITHY_CONTEXT_KEY];
      const command = smithy?.commandInstance;
      const name = command?.schema?.[2];
      if (!lean || !command || name === undefined) return next(args);
      if (!handlers.has(name)) handlers.set(name, leanHandler(config, command));
      const handler = handlers.get(name);
      return handler ? handler(args, smithy?.abortSignal) : next(args);
    };
  return {
    middleware,
    options: { step: 'initialize', priority: 'high', name: SHORTCUT, override: true } as const,
  };
}
