/** Dispatcher on SQS: one message per dispatch on the role queue. */
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { DispatchMessage } from '../../domain/workflow';
import type { Dispatcher } from '../../ports';
import { tunedClient } from '../sdk-client';

export class SqsDispatcher implements Dispatcher {
  /** The default client reads region and endpoint override (AWS_ENDPOINT_URL[_SQS]) from the environment. */
  constructor(private readonly client: SQSClient = tunedClient(new SQSClient({}))) {}

  async dispatch(queueUrl: string, message: DispatchMessage): Promise<void> {
    await this.client.send(
      new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(message) }),
    );
  }
}
