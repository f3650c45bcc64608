/**
 * A loopback HTTP server speaking the Lambda REST-JSON API for the three event source mapping operations
 * the scaler uses, mapped onto the runtime's role pollers, so the scaler keeps the stock LambdaClient
 * (endpoint from AWS_ENDPOINT_URL_LAMBDA):
 *   GET /2015-03-31/event-source-mappings[/]?EventSourceArn=&FunctionName=&Marker=&MaxItems=  (List)
 *   GET /2015-03-31/event-source-mappings/{UUID}                                          (Get)
 *   PUT /2015-03-31/event-source-mappings/{UUID}  { ScalingConfig: { MaximumConcurrency } } (Update)
 * One mapping per role queue; its UUID is derived from the role name, so it is stable for a run.
 * Errors carry X-Amzn-ErrorType (ResourceNotFoundException 404, InvalidParameterValueException 400) so the
 * SDK throws the named exception. Other Update fields are refused rather than silently ignored.
 */
import { createHash } from 'node:crypto';
import {
  type EndpointRequest,
  jsonResponse,
  type LoopbackEndpoint,
  startLoopbackEndpoint,
} from './loopback-endpoint';

const API_PATH = '/2015-03-31/event-source-mappings';
/** Lambda's bounds for ScalingConfig.MaximumConcurrency on an SQS event source. */
export const MIN_MAXIMUM_CONCURRENCY = 2;
export const MAX_MAXIMUM_CONCURRENCY = 1000;
/** Lambda's default and largest page of ListEventSourceMappings. */
const DEFAULT_MAX_ITEMS = 100;
const MAX_BODY_BYTES = 64 * 1024;
const ACCOUNT_ID = '000000000000';
const MS_PER_SECOND = 1000;

/** What the endpoint needs of the runtime: its role queues and the pollers' concurrency lever. */
export interface EventSourceBackend {
  /** One entry per role queue consumed by a poller. */
  sources(): readonly { role: string; queueArn: string; batchSize: number }[];
  maxConcurrency(role: string): number;
  setMaxConcurrency(role: string, value: number): void;
}

/** `url` is the value for AWS_ENDPOINT_URL_LAMBDA. */
export type LambdaEndpoint = LoopbackEndpoint;

class LambdaServiceError extends Error {
  constructor(
    readonly type: string,
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'LambdaServiceError';
  }
}

/** The stable mapping UUID of a role (UUID-shaped, from a hash of the role name). */
export function mappingUuid(role: string): string {
  const hex = createHash('sha256').update(`esm:${role}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

interface Reply {
  readonly status: number;
  readonly body: unknown;
}

const JSON_CONTENT_TYPE = 'application/json';

async function readJson(request: EndpointRequest): Promise<Record<string, unknown>> {
  const text = await request.readBody();
  if (text === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new LambdaServiceError(
      'InvalidRequestContentException',
      400,
      'Could not parse request body into json',
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new LambdaServiceError('InvalidRequestContentException', 400, 'Request body must be a JSON object');
  }
  return parsed as Record<string, unknown>;
}

function mappingOf(
  backend: EventSourceBackend,
  source: ReturnType<EventSourceBackend['sources']>[number],
  region: string,
  updatedAt: number,
) {
  return {
    UUID: mappingUuid(source.role),
    EventSourceArn: source.queueArn,
    FunctionArn: `arn:aws:lambda:${region}:${ACCOUNT_ID}:function:agent-${source.role}`,
    State: 'Enabled',
    StateTransitionReason: 'USER_INITIATED',
    BatchSize: source.batchSize,
    FunctionResponseTypes: ['ReportBatchItemFailures'],
    ScalingConfig: { MaximumConcurrency: backend.maxConcurrency(source.role) },
    LastModified: updatedAt / MS_PER_SECOND,
  };
}

async function handle(
  backend: EventSourceBackend,
  region: string,
  modified: Map<string, number>,
  startedAt: number,
  request: EndpointRequest,
): Promise<Reply> {
  const { method } = request;
  const url = new URL(request.path ?? '/', 'http://127.0.0.1');
  const rest = url.pathname.startsWith(API_PATH) ? url.pathname.slice(API_PATH.length) : undefined;
  if (rest === undefined || (rest !== '' && !rest.startsWith('/'))) {
    throw new LambdaServiceError(
      'UnknownOperationException',
      404,
      `${method} ${url.pathname} is not served locally`,
    );
  }
  const uuid = decodeURIComponent(rest.replace(/^\/|\/$/g, ''));
  const sources = backend.sources();
  const view = (s: (typeof sources)[number]) =>
    mappingOf(backend, s, region, modified.get(s.role) ?? startedAt);
  if (uuid === '' && method === 'GET') {
    const arn = url.searchParams.get('EventSourceArn');
    const fn = url.searchParams.get('FunctionName');
    const matching = sources.filter(
      (s) =>
        (arn === null || s.queueArn === arn) &&
        (fn === null || fn === `agent-${s.role}` || view(s).FunctionArn === fn),
    );
    const start = Number(url.searchParams.get('Marker') ?? 0) || 0;
    const maxItems = Number(url.searchParams.get('MaxItems') ?? DEFAULT_MAX_ITEMS) || DEFAULT_MAX_ITEMS;
    const page = matching.slice(start, start + maxItems);
    const next = start + page.length < matching.length ? String(start + page.length) : undefined;
    return {
      status: 200,
      body: { EventSourceMappings: page.map(view), ...(next ? { NextMarker: next } : {}) },
    };
  }
  const source = sources.find((s) => mappingUuid(s.role) === uuid);
  if (uuid === '' || !source) {
    throw new LambdaServiceError(
      'ResourceNotFoundException',
      404,
      `The resource you requested does not exist. (Service: Lambda, UUID: ${uuid})`,
    );
  }
  if (method === 'GET') return { status: 200, body: view(source) };
  if (method === 'PUT') {
    const body = await readJson(request);
    const unsupported = Object.keys(body).filter((k) => k !== 'ScalingConfig');
    if (unsupported.length > 0) {
      throw new LambdaServiceError(
        'InvalidParameterValueException',
        400,
        `Only ScalingConfig can be updated locally (got ${unsupported.join(', ')})`,
      );
    }
    const value = (body.ScalingConfig as { MaximumConcurrency?: unknown } | undefined)?.MaximumConcurrency;
    if (
      typeof value !== 'number' ||
      !Number.isInteger(value) ||
      value < MIN_MAXIMUM_CONCURRENCY ||
      value > MAX_MAXIMUM_CONCURRENCY
    ) {
      throw new LambdaServiceError(
        'InvalidParameterValueException',
        400,
        `ScalingConfig.MaximumConcurrency must be an integer from ${MIN_MAXIMUM_CONCURRENCY} to ${MAX_MAXIMUM_CONCURRENCY}`,
      );
    }
    backend.setMaxConcurrency(source.role, value);
    modified.set(source.role, Date.now());
    // Lambda answers an update with 202 Accepted and the mapping.
    return { status: 202, body: view(source) };
  }
  throw new LambdaServiceError(
    'UnknownOperationException',
    405,
    `${method} is not served on ${url.pathname}`,
  );
}

/** Starts the endpoint on 127.0.0.1 with an ephemeral port. */
export async function startLambdaEndpoint(
  backend: EventSourceBackend,
  region: string,
): Promise<LambdaEndpoint> {
  const modified = new Map<string, number>();
  const startedAt = Date.now();
  const answer = (request: EndpointRequest) =>
    handle(backend, region, modified, startedAt, request).then(
      (reply) => jsonResponse(reply.status, JSON_CONTENT_TYPE, reply.body),
      (error: unknown) => {
        const failure =
          error instanceof LambdaServiceError
            ? error
            : new LambdaServiceError(
                'ServiceException',
                500,
                error instanceof Error ? error.message : String(error),
              );
        return jsonResponse(
          failure.status,
          JSON_CONTENT_TYPE,
          { Type: failure.status >= 500 ? 'Service' : 'User', message: failure.message },
          failure.type,
        );
      },
    );
  return startLoopbackEndpoint(answer, {
    maxBytes: MAX_BODY_BYTES,
    tooLarge: () => new LambdaServiceError('RequestTooLargeException', 413, 'Body too large'),
  });
}
