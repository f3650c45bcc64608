/** Pushes progress to WebSocket connections through the API Gateway management API. */
import {
  ApiGatewayManagementApiClient,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import type { ConnectionNotifier } from '../../ports';

export class ApiGatewayConnectionNotifier implements ConnectionNotifier {
  /** `endpoint` is the WebSocket stage's management URL (https://<id>.execute-api.<region>.amazonaws.com/<stage>). */
  constructor(private readonly client: ApiGatewayManagementApiClient) {}

  static forEndpoint(endpoint: string): ApiGatewayConnectionNotifier {
    return new ApiGatewayConnectionNotifier(new ApiGatewayManagementApiClient({ endpoint }));
  }

  async post(connectionId: string, message: unknown): Promise<boolean> {
    try {
      await this.client.send(
        new PostToConnectionCommand({
          ConnectionId: connectionId,
          Data: new TextEncoder().encode(JSON.stringify(message)),
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof Error && error.name === 'GoneException') return false;
      throw error;
    }
  }
}
