/**
 * QueueConcurrency on Lambda: finds the event source mapping consuming a queue (ListEventSourceMappings by
 * EventSourceArn) and reads or sets its ScalingConfig.MaximumConcurrency. The mapping id is cached per
 * queue, so a steady scaler makes one List call per queue and container, and an Update only on change.
 */
import {
  GetEventSourceMappingCommand,
  LambdaClient,
  ListEventSourceMappingsCommand,
  UpdateEventSourceMappingCommand,
} from '@aws-sdk/client-lambda';
import type { QueueConcurrency } from '../../ports';

export class LambdaQueueConcurrency implements QueueConcurrency {
  readonly #mappings = new Map<string, string>();

  /** The default client reads region and endpoint override (AWS_ENDPOINT_URL[_LAMBDA]) from the environment. */
  constructor(private readonly client: LambdaClient = new LambdaClient({})) {}

  async get(queueArn: string): Promise<number | undefined> {
    const uuid = await this.mappingOf(queueArn);
    if (uuid === undefined) return undefined;
    const mapping = await this.client.send(new GetEventSourceMappingCommand({ UUID: uuid }));
    return mapping.ScalingConfig?.MaximumConcurrency;
  }

  async set(queueArn: string, maxConcurrency: number): Promise<boolean> {
    const uuid = await this.mappingOf(queueArn);
    if (uuid === undefined) return false;
    await this.client.send(
      new UpdateEventSourceMappingCommand({
        UUID: uuid,
        ScalingConfig: { MaximumConcurrency: maxConcurrency },
      }),
    );
    return true;
  }

  private async mappingOf(queueArn: string): Promise<string | undefined> {
    const cached = this.#mappings.get(queueArn);
    if (cached !== undefined) return cached;
    const { EventSourceMappings: mappings = [] } = await this.client.send(
      new ListEventSourceMappingsCommand({ EventSourceArn: queueArn }),
    );
    const uuid = mappings.find((m) => m.EventSourceArn === queueArn)?.UUID;
    if (uuid !== undefined) this.#mappings.set(queueArn, uuid);
    return uuid;
  }
}
