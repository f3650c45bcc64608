/**
 * QueueConcurrency on Lambda: finds the event source mapping consuming a queue (ListEventSourceMappings by
 * EventSourceArn) and reads or sets its ScalingConfig.MaximumConcurrency. The mapping id is cached per
 * queue, so a steady scaler makes one List call per queue and container (whose answer, the mapping whole,
 * serves that first read: no Get then), one Get per read after it, and an Update only on change.
 */
import {
  type EventSourceMappingConfiguration,
  GetEventSourceMappingCommand,
  LambdaClient,
  ListEventSourceMappingsCommand,
  UpdateEventSourceMappingCommand,
} from '@aws-sdk/client-lambda';
import type { QueueConcurrency } from '../../ports';
import { tunedClient } from '../sdk-client';

export class LambdaQueueConcurrency implements QueueConcurrency {
  readonly #mappings = new Map<string, string>();

  /** The default client reads region and endpoint override (AWS_ENDPOINT_URL[_LAMBDA]) from the environment. */
  constructor(private readonly client: LambdaClient = tunedClient(new LambdaClient({}))) {}

  async get(queueArn: string): Promise<number | undefined> {
    const uuid = this.#mappings.get(queueArn);
    const mapping =
      uuid === undefined
        ? await this.listMapping(queueArn)
        : await this.client.send(new GetEventSourceMappingCommand({ UUID: uuid }));
    return mapping?.ScalingConfig?.MaximumConcurrency;
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
    return this.#mappings.get(queueArn) ?? (await this.listMapping(queueArn))?.UUID;
  }

  /** The mapping consuming the queue, as the List call answers it; its id is cached. */
  private async listMapping(queueArn: string): Promise<EventSourceMappingConfiguration | undefined> {
    const { EventSourceMappings: mappings = [] } = await this.client.send(
      new ListEventSourceMappingsCommand({ EventSourceArn: queueArn }),
    );
    const mapping = mappings.find((m) => m.EventSourceArn === queueArn);
    if (mapping?.UUID !== undefined) this.#mappings.set(queueArn, mapping.UUID);
    return mapping;
  }
}
