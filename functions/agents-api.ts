/**
 * GET /agents[?role=] lists the registry and the fleet-wide provider limits (in use / limit); PUT /agents/{id}
 * creates or updates one agent.
 */
import { AgentIdSchema, AgentPutSchema, listAgents, putAgent } from '../shared/usecases/agents';
import { limitsInForce, providerLimitViews } from '../shared/usecases/providers';
import { wakeForCapacity } from '../shared/usecases/route';
import { handlerContainer } from './commons/clients';
import {
  type ApiEvent,
  bodyText,
  errorResponse,
  json,
  method,
  parseJsonBody,
  parseRequest,
} from './commons/http';
import { instrument, observability } from './commons/observability';

const obs = observability('agents-api');
const container = handlerContainer(obs);
const deps = {
  agents: container.agentRegistry,
  catalog: container.catalog,
  clock: container.clock,
  // The slots a put adds wake tasks parked for the agent's role (they would wait out their wait).
  wake: (role: string, slots: number) =>
    wakeForCapacity(
      { agents: container.agentRegistry, callbacks: container.callbacks, clock: container.clock },
      role,
      slots,
    ),
};

export const handler = instrument(obs, 'agents-api', async (event: ApiEvent) => {
  try {
    const verb = method(event).toUpperCase();
    const id = event.pathParameters?.id ?? event.pathParameters?.agentId;
    // HEAD is the GET without its body (API Gateway and `serve` leave the body out).
    if ((verb === 'GET' || verb === 'HEAD') && id === undefined) {
      const role = event.queryStringParameters?.role;
      const limits = limitsInForce(deps.catalog, container.costs.config.providerLimits ?? []);
      const [agents, providers] = await Promise.all([
        listAgents(deps, role),
        providerLimitViews({ store: container.providerLimits.store, clock: deps.clock }, limits),
      ]);
      return json(200, { agents, providers });
    }
    if (verb === 'PUT' && id !== undefined) {
      const agentId = parseRequest(AgentIdSchema, id, '$.path.id');
      const body = parseRequest(AgentPutSchema, parseJsonBody(bodyText(event)));
      const result = await putAgent(deps, agentId, body);
      return json(result.created ? 201 : 200, result.agent);
    }
    return json(405, { error: 'MethodNotAllowed', message: `${verb} is not supported here` });
  } catch (error) {
    return errorResponse(error, obs.logger);
  }
});
