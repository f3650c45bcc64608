/**
 * The REST API in the template is exactly shared/api-routes.ts (the table `serve` routes with): same methods
 * on the same paths, each integrated with the function that runs the route's handler.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { API_ROUTES, matchApiRoute, pathParameterNames, servedMethods } from '../../shared/api-routes';
import { defaultTemplateJson, type Resource } from './fixture';
import { referencedIds, templateFunctions } from './template-functions';

interface TemplateRoute {
  method: string;
  path: string;
  handler: string | undefined;
  requiredParameters: string[];
}

let routes: TemplateRoute[];
/** The handler of each function the REST API may invoke, once per Lambda permission granting it. */
let invokable: string[];

/** `/a/{id}` of an AWS::ApiGateway::Resource, from its PathPart and parents up to the RestApi root. */
function pathOf(id: string, resources: Record<string, Resource>): string {
  const resource = resources[id];
  if (!resource) return '';
  const parent = resource.Properties.ParentId as { Ref?: string; 'Fn::GetAtt'?: [string, string] };
  const parentId = parent.Ref ?? '';
  const prefix = parentId && resources[parentId] ? pathOf(parentId, resources) : '';
  return `${prefix}/${String(resource.Properties.PathPart)}`;
}

/** A full synthesis takes seconds; much longer on a busy 2-core machine. */
const SYNTH_TIMEOUT_MS = 180_000;

beforeAll(() => {
  const json = defaultTemplateJson() as Parameters<typeof templateFunctions>[0];
  const ofType = (type: string) =>
    Object.fromEntries(Object.entries(json.Resources).filter(([, r]) => r.Type === type)) as Record<
      string,
      Resource
    >;
  const handlerById = new Map(templateFunctions(json).map((fn) => [fn.logicalId, fn.handler]));
  const apiResources = ofType('AWS::ApiGateway::Resource');
  // OPTIONS methods are the dashboard's CORS preflights (mock integrations, test/infra/dashboard.test.ts).
  const methods = Object.values(ofType('AWS::ApiGateway::Method')).filter(
    (m) => m.Properties.HttpMethod !== 'OPTIONS',
  );
  const restApiIds = Object.keys(ofType('AWS::ApiGateway::RestApi'));
  invokable = Object.values(ofType('AWS::Lambda::Permission'))
    .filter((p) => [...referencedIds(p.Properties.SourceArn)].some((id) => restApiIds.includes(id)))
    .flatMap((p) => [...referencedIds(p.Properties.FunctionName)].map((id) => handlerById.get(id) ?? id));
  routes = methods.map((m) => {
    const resourceId = (m.Properties.ResourceId as { Ref?: string }).Ref ?? '';
    const uri = (m.Properties.Integration as { Uri?: unknown } | undefined)?.Uri;
    const fnId = [...referencedIds(uri)].find((id) => handlerById.has(id));
    const parameters = (m.Properties.RequestParameters ?? {}) as Record<string, boolean>;
    return {
      method: String(m.Properties.HttpMethod),
      path: apiResources[resourceId] ? pathOf(resourceId, apiResources) : '/',
      handler: fnId === undefined ? undefined : handlerById.get(fnId),
      requiredParameters: Object.entries(parameters)
        .filter(([, required]) => required)
        .map(([name]) => name.replace('method.request.path.', ''))
        .sort(),
    };
  });
}, SYNTH_TIMEOUT_MS);

const key = (r: { method: string; path: string; handler?: string | undefined }) =>
  `${r.method} ${r.path} -> ${r.handler}`;

describe('REST routes', () => {
  it('deploys exactly the routes of the shared route table, each served by its handler, and HEAD beside each GET', () => {
    const served = API_ROUTES.flatMap((route) =>
      servedMethods(route).map((method) => ({ ...route, method })),
    );
    expect(routes.map(key).sort()).toEqual(served.map(key).sort());
    expect(
      routes
        .filter((r) => r.method === 'HEAD')
        .map((r) => r.path)
        .sort(),
    ).toEqual(
      API_ROUTES.filter((r) => r.method === 'GET')
        .map((r) => r.path)
        .sort(),
    );
  });

  it('lets the API invoke each route handler with one permission, however many methods it serves', () => {
    expect(invokable.sort()).toEqual([...new Set(API_ROUTES.map((r) => r.handler))].sort());
  });

  it('requires every path parameter of a route', () => {
    for (const route of routes) {
      expect(route.requiredParameters, key(route)).toEqual(pathParameterNames(route.path).sort());
    }
  });

  it('matches a request to its route with decoded path parameters, and a known path with another method to a 405', () => {
    expect(matchApiRoute('post', '/batches/b%201/redrive')).toEqual({
      route: { method: 'POST', path: '/batches/{id}/redrive', handler: 'redrive' },
      pathParameters: { id: 'b 1' },
    });
    expect(matchApiRoute('PATCH', '/batches/b1')).toEqual({ allowed: ['GET', 'HEAD', 'DELETE'] });
    expect(matchApiRoute('head', '/batches/b1')).toEqual({
      route: { method: 'GET', path: '/batches/{id}', handler: 'status' },
      pathParameters: { id: 'b1' },
    });
    expect(matchApiRoute('HEAD', '/progress-tokens')).toEqual({ allowed: ['POST'] });
    expect(matchApiRoute('GET', '/nowhere')).toBeUndefined();
    expect(matchApiRoute('GET', '/batches/%E0%A4%A')).toBeUndefined();
  });
});
