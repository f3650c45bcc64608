/** QueueDepth on SQS: one GetQueueAttributes call gives the queue's ARN and both approximate counts. */
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { QueueDepth } from '../../ports';
import { tunedClient } from '../sdk-client';

export class SqsQueueDepth implements QueueDepth {
  /** The default client reads region and endpoint override (AWS_ENDPOINT_URL[_SQS]) from the environment. */
  constructor(private readonly client: SQSClient = tunedClient(new SQSClient({}))) {}

  async depth(queueUrl: string): Promise<{ queueArn: string; visible: number; inFlight: number }> {
    const { Attributes: attributes = {} } = await this.client.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: ['QueueArn', 'ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    return {
      queueArn: attributes.QueueArn ?? '',
      visible: Number(attributes.ApproximateNumberOfMessages ?? 0) || 0,
      inFlight: Number(attributes.ApproximateNumberOfMessagesNotVisible ?? 0) || 0,
    };
  }
}
