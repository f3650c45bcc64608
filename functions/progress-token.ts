/**
 * Progress tokens: POST /progress-tokens mints one (REST, behind the API key), and the same function is the
 * WebSocket API's $connect authorizer, which redeems the `token` query parameter (browsers cannot send
 * `x-api-key` on a WebSocket handshake).
 */
import type {
  APIGatewayAuthorizerResult,
  APIGatewayProxyResult,
  APIGatewayRequestAuthorizerEvent,
} from 'aws-lambda';
import { PROGRESS_TOKEN_PARAMETER } from '../shared/api-routes';
import { EnvVar } from '../shared/config';
import { admitProgressToken, mintProgressToken } from '../shared/usecases/progress-token';
import { handlerContainer } from './commons/clients';
import { type ApiEvent, errorResponse, json } from './commons/http';
import { instrument, observability } from './commons/observability';

const obs = observability('progress-token');
const container = handlerContainer(obs);
const deps = { tokens: container.progressTokens, clock: container.clock };
/** Handed out with each token; optional, read once at load. */
const websocketUrl = process.env[EnvVar.ProgressWebSocketUrl] || undefined;

function isAuthorizerEvent(event: unknown): event is APIGatewayRequestAuthorizerEvent {
  return (event as { type?: unknown }).type === 'REQUEST' && 'methodArn' in (event as object);
}

function policy(effect: 'Allow' | 'Deny', resource: string): APIGatewayAuthorizerResult {
  return {
    principalId: 'progress-token',
    policyDocument: {
      Version: '2012-10-17',
      Statement: [{ Action: 'execute-api:Invoke', Effect: effect, Resource: resource }],
    },
  };
}

export const handler = instrument(
  obs,
  'progress-token',
  async (
    event: ApiEvent | APIGatewayRequestAuthorizerEvent,
  ): Promise<APIGatewayProxyResult | APIGatewayAuthorizerResult> => {
    if (isAuthorizerEvent(event)) {
      const token = event.queryStringParameters?.[PROGRESS_TOKEN_PARAMETER];
      const admitted = await admitProgressToken(deps, token);
      return policy(admitted ? 'Allow' : 'Deny', event.methodArn);
    }
    try {
      return json(201, await mintProgressToken(deps, websocketUrl));
    } catch (error) {
      return errorResponse(error, obs.logger);
    }
  },
);
