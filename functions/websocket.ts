/** WebSocket API: $connect, $disconnect and {action: 'subscribe', batchId}. */
import type { APIGatewayProxyResult, APIGatewayProxyWebsocketEventV2 } from 'aws-lambda';
import { z } from 'zod';
import { BatchIdSchema } from '../shared/domain/schemas';
import { disconnect, subscribeToBatch } from '../shared/usecases/websocket';
import { handlerContainer } from './commons/clients';
import { errorResponse, json, parseJsonBody, parseRequest } from './commons/http';
import { instrument, observability } from './commons/observability';

const obs = observability('websocket');
const container = handlerContainer(obs);
const deps = { store: container.taskStore, subscriptions: container.subscriptions, clock: container.clock };

const SubscribeSchema = z.object({ action: z.literal('subscribe'), batchId: BatchIdSchema });

export const handler = instrument(
  obs,
  'websocket',
  async (event: APIGatewayProxyWebsocketEventV2): Promise<APIGatewayProxyResult> => {
    const { routeKey, connectionId } = event.requestContext;
    try {
      if (routeKey === '$connect') return json(200, { connected: true });
      if (routeKey === '$disconnect') {
        await disconnect(deps, connectionId);
        return json(200, { disconnected: true });
      }
      const request = parseRequest(SubscribeSchema, parseJsonBody(event.body ?? ''));
      const { status } = await subscribeToBatch(deps, connectionId, request.batchId);
      return json(200, { subscribed: request.batchId, status });
    } catch (error) {
      return errorResponse(error, obs.logger);
    }
  },
);
