/**
 * The REST API's routes, in one table: infra/constructs/api.ts builds the API Gateway resources and methods
 * from it, and the local `serve` command routes its requests with it, so the two can never diverge.
 */

/**
 * Headers on every answer of the API, deployed (the handlers' answers, API Gateway's own) and under `serve`
 * (the same handlers' answers, the server's own and the dashboard's files): a browser must not read a body as
 * another type than the one sent (an error echoing input, sniffed as HTML), show an answer in a frame, or send
 * the page's address on with a request.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

export type ApiMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';
/** What a route answers: its method, and HEAD for a GET route (RFC 9110: a GET without the body). */
export type ServedMethod = ApiMethod | 'HEAD';

/** Handler entries (functions/<name>.ts) that serve REST routes. */
export type ApiHandlerName =
  | 'submit'
  | 'status'
  | 'output'
  | 'cancel'
  | 'redrive'
  | 'agents-api'
  | 'progress-token'
  | 'approval-api';

export interface ApiRoute {
  readonly method: ApiMethod;
  /** API Gateway resource path; `{id}` is a path parameter (the handlers read `pathParameters.id`). */
  readonly path: string;
  readonly handler: ApiHandlerName;
}

export const API_ROUTES: readonly ApiRoute[] = [
  { method: 'POST', path: '/batches', handler: 'submit' },
  { method: 'GET', path: '/batches', handler: 'status' },
  { method: 'GET', path: '/batches/{id}', handler: 'status' },
  { method: 'GET', path: '/batches/{id}/graph', handler: 'status' },
  { method: 'GET', path: '/batches/{id}/tasks/{taskId}', handler: 'status' },
  { method: 'GET', path: '/batches/{id}/tasks/{taskId}/output', handler: 'output' },
  { method: 'POST', path: '/batches/{id}/tasks/{taskId}/approval', handler: 'approval-api' },
  { method: 'GET', path: '/batches/{id}/decisions', handler: 'status' },
  { method: 'DELETE', path: '/batches/{id}', handler: 'cancel' },
  { method: 'POST', path: '/batches/{id}/redrive', handler: 'redrive' },
  { method: 'GET', path: '/agents', handler: 'agents-api' },
  { method: 'PUT', path: '/agents/{id}', handler: 'agents-api' },
  { method: 'POST', path: '/progress-tokens', handler: 'progress-token' },
];

/**
 * The methods a route answers: a GET route answers HEAD too, through the same handler (API Gateway deploys a
 * HEAD method beside each GET, and answers it without the body; `serve` likewise).
 */
export function servedMethods(route: Pick<ApiRoute, 'method'>): readonly ServedMethod[] {
  return route.method === 'GET' ? ['GET', 'HEAD'] : [route.method];
}

/** Names of the path parameters of `path` (`/batches/{id}/redrive` -> `['id']`). */
export function pathParameterNames(path: string): string[] {
  return [...path.matchAll(/\{([^}/]+)\}/g)].map((m) => m[1] ?? '');
}

/**
 * Matches a concrete request path against the routes: the route and its path parameters, or undefined.
 * A path that matches some route with another method gives `{ allowed }` instead, for a 405 answer.
 */
export function matchApiRoute(
  method: string,
  requestPath: string,
  routes: readonly ApiRoute[] = API_ROUTES,
): { route: ApiRoute; pathParameters: Record<string, string> } | { allowed: ServedMethod[] } | undefined {
  const parts = requestPath.replace(/\/+$/, '').split('/');
  const wanted = method.toUpperCase();
  const allowed: ServedMethod[] = [];
  for (const route of routes) {
    const pattern = route.path.split('/');
    if (pattern.length !== parts.length) continue;
    const pathParameters: Record<string, string> = {};
    const matches = pattern.every((segment, i) => {
      const actual = parts[i] ?? '';
      const param = /^\{([^}/]+)\}$/.exec(segment)?.[1];
      if (param === undefined) return segment === actual;
      const value = safeDecode(actual);
      if (value === undefined || value === '') return false;
      pathParameters[param] = value;
      return true;
    });
    if (!matches) continue;
    const methods = servedMethods(route);
    if (methods.some((m) => m === wanted)) return { route, pathParameters };
    allowed.push(...methods);
  }
  return allowed.length > 0 ? { allowed } : undefined;
}

function safeDecode(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/** The query parameter that carries a progress token on a WebSocket connect (`wss://.../v1?token=...`). */
export const PROGRESS_TOKEN_PARAMETER = 'token';
