/** API Gateway helpers: read the request, shape responses, map use-case errors to status codes. */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyEvent, APIGatewayProxyEventV2, APIGatewayProxyResult } from 'aws-lambda';
import { z } from 'zod';
import { SECURITY_HEADERS } from '../../shared/api-routes';
import { EnvVar } from '../../shared/config';
import type { ApprovalCaller } from '../../shared/domain/schemas';
import { decodeUtf8Strict, notUtf8Sentence, unsupportedCharsetSentence } from '../../shared/domain/utf8';
import { BatchValidationError, duplicateKeyIssue } from '../../shared/domain/validation';
import { NotFoundError } from '../../shared/ports';
import {
  ConflictError,
  RequestValidationError,
  UnavailableError,
  UpstreamRefusedError,
} from '../../shared/usecases/errors';

/** REST (v1) and HTTP (v2) API proxy events both work. */
export type ApiEvent = APIGatewayProxyEvent | APIGatewayProxyEventV2;

export interface Issue {
  path: string;
  message: string;
}

/**
 * The deployed dashboard is another origin than the API: its answers name that origin (and only it) so the
 * page may read them. Read once at load; unset (serve, tests), no CORS header is sent.
 */
const CORS_ORIGIN = process.env[EnvVar.CorsAllowedOrigin] || undefined;
/** The headers of every answer a handler gives: the security headers, and CORS when a dashboard is deployed. */
const ANSWER_HEADERS: Record<string, string> = {
  ...SECURITY_HEADERS,
  ...(CORS_ORIGIN ? { 'access-control-allow-origin': CORS_ORIGIN, vary: 'Origin' } : {}),
};

/** An answer whose body is already text (a stored output's JSON); `headers` name its type and the rest. */
export function answer(
  statusCode: number,
  body: string,
  headers: Record<string, string> & { 'content-type': string },
): APIGatewayProxyResult {
  return { statusCode, headers: { ...ANSWER_HEADERS, ...headers }, body };
}

export function json(
  statusCode: number,
  body: unknown,
  headers: Record<string, string> = {},
): APIGatewayProxyResult {
  return answer(statusCode, JSON.stringify(body), { 'content-type': 'application/json', ...headers });
}

export function method(event: ApiEvent): string {
  return 'httpMethod' in event ? event.httpMethod : event.requestContext.http.method;
}

/** A header, looked up case-insensitively. */
export function header(event: ApiEvent, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(event.headers ?? {})) {
    if (key.toLowerCase() === wanted && value !== undefined) return value;
  }
  return undefined;
}

/** A request whose Content-Type the API does not read (a charset other than UTF-8's): answered 415. */
export class UnsupportedMediaTypeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedMediaTypeError';
  }
}

/**
 * The request body as text. A base64-encoded body (a binary media type) must be UTF-8: decoded leniently, each
 * bad byte would become U+FFFD and the damaged text would be stored as if it had been sent. A Content-Type
 * naming another charset (`application/json; charset=latin1`) is refused (UnsupportedMediaTypeError), as
 * `meta-agent serve` refuses it: read as UTF-8, its text would not be what the sender wrote.
 */
export function bodyText(event: ApiEvent): string {
  const charset = unsupportedCharsetSentence(header(event, 'content-type'));
  if (charset !== undefined) throw new UnsupportedMediaTypeError(charset);
  if (event.body === undefined || event.body === null) return '';
  if (!event.isBase64Encoded) return event.body;
  const decoded = decodeUtf8Strict(Buffer.from(event.body, 'base64'));
  if ('text' in decoded) return decoded.text;
  throw new RequestValidationError([
    {
      path: '$',
      message: `${notUtf8Sentence('the request body', decoded.invalid)}; send it encoded as UTF-8`,
    },
  ]);
}

/** `$.a.b[0]` from a zod issue path. */
export function jsonPath(path: readonly PropertyKey[]): string {
  return `$${path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('')}`;
}

/** Parses `value` with `schema`, throwing RequestValidationError with every issue's path. */
export function parseRequest<T>(schema: z.ZodType<T>, value: unknown, root = '$'): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new RequestValidationError(
    result.error.issues.map((i) => ({ path: root + jsonPath(i.path).slice(1), message: i.message })),
  );
}

/** JSON body text -> value, malformed JSON and a duplicate key as a 400 with the reason. */
export function parseJsonBody(text: string): unknown {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new RequestValidationError([{ path: '$', message: `malformed JSON: ${(error as Error).message}` }]);
  }
  const duplicate = duplicateKeyIssue(text);
  if (duplicate) throw new RequestValidationError([duplicate]);
  return parsed;
}

export const PathIdSchema = z.string().min(1).max(128);

/** Maps a use-case error to its response; anything unexpected is logged and answered 500 without detail. */
export function errorResponse(error: unknown, logger: Logger): APIGatewayProxyResult {
  if (error instanceof BatchValidationError || error instanceof RequestValidationError) {
    return json(400, { error: 'ValidationError', message: 'the request is invalid', issues: error.issues });
  }
  if (error instanceof NotFoundError) return json(404, { error: 'NotFound', message: error.message });
  if (error instanceof UnsupportedMediaTypeError)
    return json(415, { error: 'UnsupportedMediaType', message: error.message });
  if (error instanceof ConflictError) {
    const retry = error.retryAfterSeconds;
    return json(
      409,
      { error: 'Conflict', message: error.message },
      retry === undefined ? {} : { 'retry-after': String(retry) },
    );
  }
  if (error instanceof UnavailableError) {
    logger.warn('unavailable', { message: error.message });
    return json(
      503,
      { error: 'Unavailable', message: error.message },
      { 'retry-after': String(error.retryAfterSeconds) },
    );
  }
  if (error instanceof UpstreamRefusedError) {
    logger.error('refused upstream', { message: error.message });
    return json(502, { error: 'UpstreamRefused', message: error.message });
  }
  logger.error('unexpected error', error as Error);
  return json(500, { error: 'InternalError', message: 'internal error; see the service logs' });
}

/**
 * The absolute URL of `path` on the API that received `event`, built from the domain API Gateway names in
 * the request context (never the request's own Host header, which a client chooses: an answer must not
 * echo it). Relative when the domain is unknown.
 */
export function apiUrl(event: ApiEvent, path: string): string {
  const host = event.requestContext?.domainName;
  if (!host) return path;
  const stage = event.requestContext?.stage;
  const prefix = stage && stage !== '$default' && host.includes('execute-api') ? `/${stage}` : '';
  // API Gateway serves https only; the local server (loopback) plain http.
  const proto = host.startsWith('localhost') || host.startsWith('127.') ? 'http' : 'https';
  return `${proto}://${host}${prefix}${path}`;
}

const nonEmpty = (value: unknown): string | undefined =>
  typeof value === 'string' && value !== '' ? value : undefined;

/**
 * Who sent the request, as API Gateway's authorisation established it (the request context, never a header or
 * the body): the API key's id (never its value), an IAM caller's ARN, a Cognito user's sub, a Lambda
 * authorizer's principal, and the source address; undefined when none is known.
 */
export function callerOf(event: ApiEvent): ApprovalCaller | undefined {
  const context = event.requestContext as {
    identity?: { apiKeyId?: unknown; userArn?: unknown; sourceIp?: unknown };
    authorizer?: {
      principalId?: unknown;
      claims?: { sub?: unknown };
      jwt?: { claims?: { sub?: unknown } };
      iam?: { userArn?: unknown };
    } | null;
    http?: { sourceIp?: unknown };
  };
  const authorizer = context.authorizer ?? undefined;
  const caller: ApprovalCaller = {
    apiKeyId: nonEmpty(context.identity?.apiKeyId),
    userArn: nonEmpty(context.identity?.userArn) ?? nonEmpty(authorizer?.iam?.userArn),
    cognitoSub: nonEmpty(authorizer?.claims?.sub) ?? nonEmpty(authorizer?.jwt?.claims?.sub),
    principalId: nonEmpty(authorizer?.principalId),
    sourceIp: nonEmpty(context.identity?.sourceIp) ?? nonEmpty(context.http?.sourceIp),
  };
  const known = Object.entries(caller).filter(([, value]) => value !== undefined);
  return known.length === 0 ? undefined : (Object.fromEntries(known) as ApprovalCaller);
}
