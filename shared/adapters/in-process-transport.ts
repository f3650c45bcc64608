/**
 * In-process transport for SDK clients whose endpoint is an emulator served in the same process (the
 * embedded runtime of `meta-agent run`): the SDK builds and parses each request exactly as it would over
 * HTTP; the socket is skipped, and so is computing the signature (`InProcessSigner` writes the signed
 * request's headers). The emulator's code answers the request unchanged (dynalite on its own thread over a
 * MessagePort, the Step Functions endpoint's operations directly).
 *
 * Why: on two cores a dependency hop is about ten sequential emulator calls, and each call's loopback HTTP
 * (client request, server parse, socket writes, response parse, on both threads) cost more than the
 * emulator's own work: a DynamoDB GetItem took 0.79 ms over HTTP and 0.32 ms in process.
 *
 * Endpoints are registered by origin (`http://127.0.0.1:<port>`) in a registry on `globalThis`, so handler
 * bundles that carry their own copy of this module see the runtime's registrations. A client gets the
 * in-process handler and signer only when its endpoint is registered at its construction
 * (`inProcessClientConfig`); on AWS nothing is registered and clients keep the SDK's own HTTP handler and
 * SigV4 signer. A request to an endpoint unregistered since (its runtime stopped) fails as a refused
 * connection would.
 */

/** A request as the emulator sees it: the path carries the query string; header names are lower case. */
export interface InProcessRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export interface InProcessResponse {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** Answers one request of an emulator (never rejects for an error the service reports: that is a response). */
export type InProcessServer = (request: InProcessRequest) => Promise<InProcessResponse>;

/** The parts of the SDK's HttpRequest read here (@smithy/types HttpRequest). */
interface SdkHttpRequest {
  readonly method: string;
  readonly protocol: string;
  readonly hostname: string;
  readonly port?: number;
  readonly path: string;
  readonly query?: Record<string, string | string[] | null>;
  readonly headers: Record<string, string>;
  readonly body?: unknown;
}

/**
 * What the SDK's deserializers read of a response (@smithy/types HttpResponse): bytes, or the text itself when
 * asked for (`asText`).
 */
interface SdkHttpResponse {
  readonly statusCode: number;
  readonly reason?: string;
  readonly headers: Record<string, string>;
  readonly body: Uint8Array | string;
}

const REGISTRY = Symbol.for('meta-agent.in-process-endpoints');
type Registry = Map<string, InProcessServer>;

function registry(): Registry | undefined {
  return (globalThis as { [REGISTRY]?: Registry })[REGISTRY];
}

/** Calls in flight to an origin served in process, and when the last one settled (performance.now()). */
interface Activity {
  inFlight: number;
  settledAt: number;
}
/** On `globalThis` too, beside the registry: handler bundles with their own copy of this module share it. */
const ACTIVITY = Symbol.for('meta-agent.in-process-activity');

function activityOf(origin: string): Activity {
  const global = globalThis as { [ACTIVITY]?: Map<string, Activity> };
  global[ACTIVITY] ??= new Map();
  let activity = global[ACTIVITY].get(origin);
  if (!activity) {
    activity = { inFlight: 0, settledAt: 0 };
    global[ACTIVITY].set(origin, activity);
  }
  return activity;
}

/**
 * Resolves once no call to `endpoint`'s origin has been in flight for `quietMs`, or after `maxMs` at the
 * latest; at once when the origin is not served in process (on AWS: nothing to wait for). For work that may
 * wait while an emulator that answers one call at a time serves the calls others wait on (see
 * EnvVar.SingleThreadedStore).
 */
export async function whenQuiet(endpoint: string | undefined, quietMs: number, maxMs: number): Promise<void> {
  const origin = originOf(endpoint);
  if (origin === undefined || !registry()?.has(origin)) return;
  const activity = activityOf(origin);
  const deadline = performance.now() + maxMs;
  for (;;) {
    const now = performance.now();
    const quietFor = activity.inFlight > 0 ? 0 : now - activity.settledAt;
    if (quietFor >= quietMs || now >= deadline) return;
    await new Promise((resolve) => setTimeout(resolve, Math.min(quietMs - quietFor, deadline - now)));
  }
}

/**
 * How long the DynamoDB emulator is to be free of calls before a write nobody waits on goes (a Complete's
 * bookkeeping, a Gate's arming), and the longest such a write waits: a dependent's worker claims its attempt
 * and reads its context 1 to 3 ms after its gate is answered, and with the bookkeeping's read and write beside
 * them those calls took twice as long.
 */
const STORE_QUIET_MS = 3;
const STORE_QUIET_MAX_MS = 20;

/**
 * whenQuiet for the DynamoDB endpoint of `env` (AWS_ENDPOINT_URL_DYNAMODB, else AWS_ENDPOINT_URL), read at the
 * call: at once unless it is served in process.
 */
export function whenStoreQuiet(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  return whenQuiet(env.AWS_ENDPOINT_URL_DYNAMODB || env.AWS_ENDPOINT_URL, STORE_QUIET_MS, STORE_QUIET_MAX_MS);
}

/** The origin of an endpoint URL; undefined when there is none or it is not a URL. */
function originOf(endpoint: string | undefined): string | undefined {
  if (endpoint === undefined || endpoint === '') return undefined;
  try {
    return new URL(endpoint).origin;
  } catch {
    return undefined;
  }
}

/** Serves `origin` in process until the returned function is called. */
export function serveInProcess(origin: string, server: InProcessServer): () => void {
  const global = globalThis as { [REGISTRY]?: Registry };
  global[REGISTRY] ??= new Map();
  const endpoints = global[REGISTRY];
  const key = new URL(origin).origin;
  endpoints.set(key, server);
  return () => {
    if (endpoints.get(key) === server) endpoints.delete(key);
  };
}

/** The error a request to an endpoint served in process no more gets, shaped as a refused connection. */
class EndpointGoneError extends Error {
  readonly code = 'ECONNREFUSED';
  constructor(origin: string) {
    super(`connect ECONNREFUSED: ${origin} is no longer served in this process`);
    this.name = 'EndpointGoneError';
  }
}

function pathOf(request: SdkHttpRequest): string {
  const query = request.query ?? {};
  // Most calls have none (every JSON protocol's): no URLSearchParams made for them.
  let none = true;
  for (const _ in query) {
    none = false;
    break;
  }
  if (none) return request.path;
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value === null) params.append(name, '');
    else for (const one of Array.isArray(value) ? value : [value]) params.append(name, one);
  }
  const text = params.toString();
  return text === '' ? request.path : `${request.path}?${text}`;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** A request body as text (a string or UTF-8 bytes); streaming bodies are refused. */
export function bodyText(body: unknown): string {
  if (body === undefined || body === null) return '';
  if (typeof body === 'string') return body;
  if (body instanceof Uint8Array) return decoder.decode(body);
  // Streaming bodies (S3 uploads) are not served in process; their clients keep HTTP.
  throw new TypeError('in-process transport: only string and byte request bodies are served');
}

/** The SDK's abort signal (@smithy/types AbortSignal, or the platform's). */
interface AbortSignalLike {
  readonly aborted: boolean;
  onabort?: unknown;
  addEventListener?: (type: 'abort', listener: () => void, options?: { once?: boolean }) => void;
  removeEventListener?: (type: 'abort', listener: () => void) => void;
}

function abortError(): Error {
  const error = new Error('Request aborted');
  error.name = 'AbortError';
  return error;
}

function untilAborted<T>(answering: Promise<T>, signal: AbortSignalLike): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError());
    if (signal.addEventListener) signal.addEventListener('abort', onAbort, { once: true });
    else signal.onabort = onAbort;
    answering.then(resolve, reject).finally(() => {
      if (signal.removeEventListener) signal.removeEventListener('abort', onAbort);
      else if (signal.onabort === onAbort) signal.onabort = null;
    });
  });
}

/** The `handlerProtocol` an in-process handler names in its metadata (how a client tells it is served so). */
export const IN_PROCESS_PROTOCOL = 'in-process';

/** `server`'s answer to `request`; a throw becomes a rejection. */
async function answerOf(server: InProcessServer, request: InProcessRequest): Promise<InProcessResponse> {
  return server(request);
}

/** The SDK's HttpHandler over one origin served in process. */
export class InProcessHttpHandler {
  readonly metadata = { handlerProtocol: IN_PROCESS_PROTOCOL };

  /** The origin it serves (scheme, host and port): what a request's host header names. */
  constructor(readonly origin: string) {}

  /**
   * Answers `request`; with `asText` (the lean calls, in-process-calls.ts) the body is the emulator's text as it
   * came, not encoded to the bytes the SDK's parsers read.
   */
  async handle(
    request: SdkHttpRequest,
    options: { abortSignal?: AbortSignalLike; asText?: boolean } = {},
  ): Promise<{ response: SdkHttpResponse }> {
    const server = registry()?.get(this.origin);
    if (!server) throw new EndpointGoneError(this.origin);
    const { abortSignal } = options;
    if (abortSignal?.aborted) throw abortError();
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers)) headers[name.toLowerCase()] = value;
    const served = { method: request.method, path: pathOf(request), headers, body: bodyText(request.body) };
    const activity = activityOf(this.origin);
    activity.inFlight += 1;
    const answering = answerOf(server, served).finally(() => {
      activity.inFlight -= 1;
      activity.settledAt = performance.now();
    });
    // An aborted call (a poller's long poll at stop) returns at once, as a closed socket would; the emulator's
    // answer, when it comes, is dropped.
    const answer = abortSignal ? await untilAborted(answering, abortSignal) : await answering;
    return {
      response: {
        statusCode: answer.statusCode,
        headers: { ...answer.headers },
        body: options.asText ? answer.body : encoder.encode(answer.body),
      },
    };
  }

  updateHttpClientConfig(): void {}

  httpHandlerConfigs(): Record<string, never> {
    return {};
  }

  destroy(): void {}
}

/** Whom a request is signed for: SigV4's credential scope, less its date. */
export interface SigningScope {
  /** The service's signing name: dynamodb, sqs, states, lambda. */
  readonly service: string;
  readonly region: string;
}

/** A signature of the right shape; nothing computes or checks it. */
const UNCOMPUTED_SIGNATURE = '0'.repeat(64);

/** `20261204T194713Z`: SigV4's ISO-8601 basic format, to the second. */
function amzDate(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

/**
 * The request signer of a client whose endpoint is served in process (the SDK's public `signer` option): it
 * writes the headers of a SigV4-signed request (x-amz-date, an Authorization header with the credential scope
 * and signed headers) without computing the signature. The request never leaves the process and no emulator
 * served here checks signatures (dynalite checks the header's shape only; fauxqs and the Step Functions
 * endpoint read none), while the canonical request, its hashes and the HMAC chain are about 40% of the SDK's
 * own work on a call (`npm run bench:sdk-call`: a GetItem answered at once, 113.4 µs signed, 67.4 µs with this
 * signer). On AWS nothing is served in process and the SDK's own signer signs every request.
 */
export class InProcessSigner {
  /**
   * The headers written for the last second signed in: a client signs many requests a second, and formatting
   * the date was about 5% of the embedded runtime's main-thread time in a CPU profile of a batch.
   */
  private last = { second: Number.NaN, date: '', authorization: '' };

  constructor(private readonly scope: SigningScope) {}

  async sign<R extends { headers: Record<string, string> }>(
    request: R,
    options: { readonly signingDate?: Date } = {},
  ): Promise<R> {
    const millis = options.signingDate?.getTime() ?? Date.now();
    const second = Math.floor(millis / 1000);
    if (second !== this.last.second) {
      const date = amzDate(new Date(second * 1000));
      const scope = `${date.slice(0, 8)}/${this.scope.region}/${this.scope.service}/aws4_request`;
      this.last = {
        second,
        date,
        authorization: `AWS4-HMAC-SHA256 Credential=in-process/${scope}, SignedHeaders=host;x-amz-date, Signature=${UNCOMPUTED_SIGNATURE}`,
      };
    }
    request.headers['x-amz-date'] = this.last.date;
    request.headers.authorization = this.last.authorization;
    return request;
  }
}

/**
 * Client options for a service whose endpoint comes from `endpoint` (an AWS_ENDPOINT_URL_* value, or a
 * client's explicit endpoint): the in-process handler and signer when that origin is served in this process,
 * else nothing (the SDK's HTTP handler and SigV4 signer).
 */
export function inProcessClientConfig(
  endpoint: string | undefined,
  scope: SigningScope,
): {
  requestHandler?: InProcessHttpHandler;
  signer?: InProcessSigner;
} {
  const origin = originOf(endpoint);
  if (origin === undefined) return {};
  return registry()?.has(origin)
    ? { requestHandler: new InProcessHttpHandler(origin), signer: new InProcessSigner(scope) }
    : {};
}

/** The services' SigV4 signing names. */
const SIGNING_NAMES = { DYNAMODB: 'dynamodb', SFN: 'states', SQS: 'sqs', LAMBDA: 'lambda' } as const;

/** The endpoint the SDK resolves for a service from the environment (AWS_ENDPOINT_URL_<SERVICE>, then AWS_ENDPOINT_URL). */
export function inProcessConfigFromEnv(
  service: 'DYNAMODB' | 'SFN' | 'SQS' | 'LAMBDA',
  env: NodeJS.ProcessEnv = process.env,
): ReturnType<typeof inProcessClientConfig> {
  return inProcessClientConfig(env[`AWS_ENDPOINT_URL_${service}`] || env.AWS_ENDPOINT_URL, {
    service: SIGNING_NAMES[service],
    region: env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1',
  });
}
