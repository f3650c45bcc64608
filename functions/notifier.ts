/** DynamoDB stream of the tasks table -> progress messages to the batch's WebSocket subscribers. */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBStreamEvent } from 'aws-lambda';
import { notifySubscribers, type ProgressMessage, progressFromImages } from '../shared/usecases/notify';
import { handlerContainer } from './commons/clients';
import { instrument, observability } from './commons/observability';

const obs = observability('notifier');
const container = handlerContainer(obs);
const deps = { subscriptions: container.subscriptions, notifier: container.notifier };

type Image = Record<string, AttributeValue> | undefined;
const plain = (image: unknown) => (image ? unmarshall(image as NonNullable<Image>) : undefined);

export const handler = instrument(obs, 'notifier', async (event: DynamoDBStreamEvent) => {
  const messages = event.Records.flatMap((record): ProgressMessage[] => {
    const message = progressFromImages(plain(record.dynamodb?.NewImage), plain(record.dynamodb?.OldImage));
    return message ? [message] : [];
  });
  const result = await notifySubscribers(deps, messages);
  obs.logger.debug('progress sent', { messages: messages.length, ...result });
  return result;
});
