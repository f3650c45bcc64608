/** The loopback Lambda endpoint through the stock LambdaClient, over a fake poller backend. */
import {
  GetEventSourceMappingCommand,
  InvalidParameterValueException,
  LambdaClient,
  ListEventSourceMappingsCommand,
  ResourceNotFoundException,
  UpdateEventSourceMappingCommand,
} from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  InProcessHttpHandler,
  inProcessClientConfig,
  serveInProcess,
} from '../../../shared/adapters/in-process-transport';
import { LambdaQueueConcurrency } from '../../../shared/adapters/lambda/event-source-concurrency';
import {
  type LambdaEndpoint,
  mappingUuid,
  startLambdaEndpoint,
} from '../../../shared/local/runtime/lambda-endpoint';

const ARN = (role: string) => `arn:aws:sqs:us-east-1:000000000000:${role}`;
const concurrency = new Map<string, number>();

// Both ways a client reaches the endpoint: over its loopback port, and in process (the embedded runtime's
// scaler), with the same answers and the same named errors.
describe.each(['http', 'in-process'] as const)(
  'the local Lambda event source mapping endpoint (%s)',
  (transport) => {
    let endpoint: LambdaEndpoint;
    let client: LambdaClient;
    let unserve: (() => void) | undefined;

    beforeAll(async () => {
      concurrency.clear();
      concurrency.set('code_reviewer', 5).set('database_designer', 3);
      endpoint = await startLambdaEndpoint(
        {
          sources: () =>
            [...concurrency.keys()].map((role) => ({ role, queueArn: ARN(role), batchSize: 10 })),
          maxConcurrency: (role) => concurrency.get(role) ?? 0,
          setMaxConcurrency: (role, value) => concurrency.set(role, value),
        },
        'us-east-1',
      );
      if (transport === 'in-process') unserve = serveInProcess(endpoint.url, endpoint.serve);
      client = new LambdaClient({
        endpoint: endpoint.url,
        region: 'us-east-1',
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
        ...inProcessClientConfig(endpoint.url, { service: 'lambda', region: 'us-east-1' }),
      });
      // The in-process handler is taken exactly when asked for.
      expect(client.config.requestHandler instanceof InProcessHttpHandler).toBe(transport === 'in-process');
    });

    afterAll(async () => {
      unserve?.();
      client?.destroy();
      await endpoint?.close();
    });

    it('lists the mapping consuming a queue by its ARN', async () => {
      const out = await client.send(
        new ListEventSourceMappingsCommand({ EventSourceArn: ARN('code_reviewer') }),
      );

      expect(out.EventSourceMappings).toHaveLength(1);
      expect(out.EventSourceMappings?.[0]).toMatchObject({
        UUID: mappingUuid('code_reviewer'),
        EventSourceArn: ARN('code_reviewer'),
        State: 'Enabled',
        ScalingConfig: { MaximumConcurrency: 5 },
      });
    });

    it('lists every mapping without a filter, one page at a time', async () => {
      const first = await client.send(new ListEventSourceMappingsCommand({ MaxItems: 1 }));
      const second = await client.send(
        new ListEventSourceMappingsCommand({ MaxItems: 1, Marker: first.NextMarker }),
      );

      expect(first.NextMarker).toBeDefined();
      expect(
        [...(first.EventSourceMappings ?? []), ...(second.EventSourceMappings ?? [])].map(
          (m) => m.EventSourceArn,
        ),
      ).toEqual([ARN('code_reviewer'), ARN('database_designer')]);
      expect(second.NextMarker).toBeUndefined();
    });

    it('updates the maximum concurrency of the role poller', async () => {
      const uuid = mappingUuid('database_designer');

      const updated = await client.send(
        new UpdateEventSourceMappingCommand({ UUID: uuid, ScalingConfig: { MaximumConcurrency: 7 } }),
      );
      const read = await client.send(new GetEventSourceMappingCommand({ UUID: uuid }));

      expect(updated.ScalingConfig?.MaximumConcurrency).toBe(7);
      expect(read.ScalingConfig?.MaximumConcurrency).toBe(7);
      expect(concurrency.get('database_designer')).toBe(7);
    });

    it('refuses a maximum concurrency below Lambda minimum of 2', async () => {
      const send = client.send(
        new UpdateEventSourceMappingCommand({
          UUID: mappingUuid('code_reviewer'),
          ScalingConfig: { MaximumConcurrency: 1 },
        }),
      );

      await expect(send).rejects.toBeInstanceOf(InvalidParameterValueException);
      expect(concurrency.get('code_reviewer')).toBe(5);
    });

    it('answers ResourceNotFoundException for an unknown mapping', async () => {
      await expect(client.send(new GetEventSourceMappingCommand({ UUID: 'nope' }))).rejects.toBeInstanceOf(
        ResourceNotFoundException,
      );
    });

    it('lets the scaler adapter read and set a queue concurrency through the stock client', async () => {
      const adapter = new LambdaQueueConcurrency(client);

      expect(await adapter.set(ARN('code_reviewer'), 4)).toBe(true);
      expect(await adapter.get(ARN('code_reviewer'))).toBe(4);
      expect(await adapter.get(ARN('unknown_role'))).toBeUndefined();
    });

    it('reads a queue concurrency from the List answer on the first read, with one Get on each read after', async () => {
      const counted = new LambdaClient({
        endpoint: endpoint.url,
        region: 'us-east-1',
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
        ...inProcessClientConfig(endpoint.url, { service: 'lambda', region: 'us-east-1' }),
      });
      const commands: string[] = [];
      counted.middlewareStack.add(
        (next, context) => (args) => {
          commands.push(String(context.commandName));
          return next(args);
        },
        { step: 'initialize' },
      );
      const adapter = new LambdaQueueConcurrency(counted);
      concurrency.set('database_designer', 3);

      const first = await adapter.get(ARN('database_designer'));
      concurrency.set('database_designer', 6);
      const second = await adapter.get(ARN('database_designer'));
      counted.destroy();

      expect([first, second]).toEqual([3, 6]);
      expect(commands).toEqual(['ListEventSourceMappingsCommand', 'GetEventSourceMappingCommand']);
    });
  },
);
