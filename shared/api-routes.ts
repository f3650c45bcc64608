/** The REST API's routes: the CDK API construct and the local `serve` both build from this table. */
export const API_ROUTES = [
  { method: 'POST', path: '/batches', handler: 'submit' },
  { method: 'GET', path: '/batches/{id}', handler: 'status' },
  { method: 'DELETE', path: '/batches/{id}', handler: 'cancel' },
  { method: 'POST', path: '/batches/{id}/redrive', handler: 'redrive' },
  { method: 'GET', path: '/agents', handler: 'agents-api' },
  { method: 'PUT', path: '/agents/{id}', handler: 'agents-api' },
] as const satisfies readonly {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  handler: 'submit' | 'status' | 'cancel' | 'redrive' | 'agents-api';
}[];
