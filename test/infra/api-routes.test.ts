/**
 * The REST API in the template is exactly shared/api-routes.ts (the table `serve` routes with): same methods
 * on the same paths, each integrated with the function that runs the route's handler.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { API_ROUTES, matchApiRoute, pathParameterNames } from '../../shared/api-routes';
import { defaultTemplateJson, type Resource } from './fixture';
import { referencedIds, templateFunctions } from './template-functions';

interface TemplateRoute {
  method: string;
  path: string;
  handler: string | undefined;
  requiredParameters: string[];
}

let routes: TemplateRoute[];

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
  it('deploys exactly the routes of the shared route table, each served by its handler', () => {
    expect(routes.map(key).sort()).toEqual(API_ROUTES.map(key).sort());
  });

  it('requires every path parameter of a route', () => {
    for (const route of API_ROUTES) {
      const deployed = routes.find((r) => r.method === route.method && r.path === route.path);
      expect(deployed?.requiredParameters, key(route)).toEqual(pathParameterNames(route.path).sort());
    }
  });

  it('matches a request to its route with decoded path parameters, and a known path with another method to a 405', () => {
    expect(matchApiRoute('post', '/batches/b%201/redrive')).toEqual({
      route: { method: 'POST', path: '/batches/{id}/redrive', handler: 'redrive' },
      pathParameters: { id: 'b 1' },
    });
    expect(matchApiRoute('PATCH', '/batches/b1')).toEqual({ allowed: ['GET', 'DELETE'] });
    expect(matchApiRoute('GET', '/nowhere')).toBeUndefined();
    expect(matchApiRoute('GET', '/batches/%E0%A4%A')).toBeUndefined();
  });
});
