/**
 * Run by test/unit/adapters/sdk-client.test.ts in a child Node process started with --allow-natives-syntax:
 * prints, as JSON, whether SDK clients' resolved configs have V8's fast properties after fastConfig, for a
 * plain client and for the clients every handler module builds, and whether fastConfig changed anything else.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { handlerClients } from '../../functions/commons/clients';
import { observability } from '../../functions/commons/observability';
import { fastConfig } from '../../shared/adapters/sdk-client';

// V8's own test of an object's property mode, compiled only under --allow-natives-syntax.
const hasFastProperties = new Function('object', 'return %HasFastProperties(object)') as (
  o: object,
) => boolean;

const descriptors = (o: object) => Object.getOwnPropertyDescriptors(o);
const plain = new DynamoDBClient({ region: 'eu-west-1' });
const before = descriptors(plain.config);
const fast = fastConfig(plain);
const after = descriptors(fast.config);
const sameProperties =
  fast === plain &&
  Object.keys(before).join() === Object.keys(after).join() &&
  Object.entries(before).every(([key, d]) => {
    const a = after[key];
    return (
      a !== undefined &&
      a.value === d.value &&
      a.get === d.get &&
      a.set === d.set &&
      a.enumerable === d.enumerable
    );
  });
const credentials = await fast.config.credentials();
const clients = handlerClients(observability('probe'), { AWS_REGION: 'eu-west-1' });

process.stdout.write(
  JSON.stringify({
    afterFastConfig: hasFastProperties(fast.config),
    sameProperties,
    region: await fast.config.region(),
    credentialsResolved: typeof credentials.accessKeyId === 'string',
    handlerClients: Object.fromEntries(
      Object.entries(clients).map(([name, client]) => [name, hasFastProperties(client.config)]),
    ),
  }),
);
