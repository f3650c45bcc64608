/**
 * The REST API of the deployed stack, served in-process: an HTTP request becomes the API Gateway proxy
 * event the deployed handler would receive (REST API, proxy integration), and its result becomes the
 * response. Used by `meta-agent serve` and `meta-agent run`, so both go through the deployed handlers.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import type { ApiRoute } from '../api-routes';

export interface LocalHttpRequest {
  method: string;
  /** Path without the query string, e.g. `/batches/b-1`. */
  path: string;
  headers?: Record<string, string | undefined>;
  body?: string | null;
  query?: Record<string, string>;
  /**
   * The id of the API key the server checked the request's key against (API Gateway's
   * requestContext.identity.apiKeyId): set by `meta-agent serve` only once the key matched.
   */
  apiKeyId?: string;
}

export interface LocalHttpResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

/** The proxy event API Gateway (REST, proxy integration) would send for this request. */
export function toProxyEvent(
  request: LocalHttpRequest,
  route: ApiRoute,
  pathParameters: Record<string, string>,
  host: string,
  requestId: string,
): APIGatewayProxyEvent {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers ?? {}))
    if (value !== undefined) headers[name] = value;
  const method = request.method.toUpperCase();
  return {
    httpMethod: method,
    path: request.path,
    resource: route.path,
    body: request.body ?? null,
    headers: { host, ...headers },
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
    isBase64Encoded: false,
    pathParameters: Object.keys(pathParameters).length > 0 ? pathParameters : null,
    queryStringParameters: request.query && Object.keys(request.query).length > 0 ? request.query : null,
    multiValueQueryStringParameters: null,
    stageVariables: null,
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      authorizer: null,
      protocol: 'HTTP/1.1',
      httpMethod: method,
      identity: {
        sourceIp: '127.0.0.1',
        ...(request.apiKeyId === undefined ? {} : { apiKeyId: request.apiKeyId }),
      } as APIGatewayProxyEvent['requestContext']['identity'],
      path: request.path,
      stage: 'local',
      requestId,
      requestTimeEpoch: Date.now(),
      resourceId: route.path,
      resourcePath: route.path,
      domainName: host,
    },
  };
}

/** A handler's proxy result as an HTTP response. */
export function fromProxyResult(result: APIGatewayProxyResult): LocalHttpResponse {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(result.headers ?? {}))
    headers[name.toLowerCase()] = String(value);
  return { statusCode: result.statusCode, headers, body: result.body };
}
