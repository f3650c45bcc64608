/**
 * Handlers called in-process, as the embedded runtime calls them: configuration only through environment
 * variables (table names, AWS_ENDPOINT_URL_DYNAMODB pointing at dynalite), real-shaped events.
 */
import type { APIGatewayProxyResult } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { documentClient } from '../../../shared/adapters/dynamodb/client';
import { DynamoTaskStore } from '../../../shared/adapters/dynamodb/task-store';
import type { RouteOutput } from '../../../shared/domain/workflow';
import { apiEvent, HANDLER_ENV } from '../../support/api-events';
import { type LocalDynamo, startDynalite } from '../../support/dynalite';
import { batchOf, uniqueId } from '../../support/fixtures';

type ApiHandler = (event: ReturnType<typeof apiEvent>) => Promise<APIGatewayProxyResult>;

let dynamo: LocalDynamo;
let store: DynamoTaskStore;
let status: ApiHandler;
let agentsApi: ApiHandler;
let output: ApiHandler;
/** The deployed dashboard's origin (CORS_ALLOWED_ORIGIN): every answer of the API must name it. */
const DASHBOARD_ORIGIN = 'https://d111111abcdef8.cloudfront.net';
let route: (event: unknown) => Promise<RouteOutput>;

beforeAll(async () => {
  dynamo = await startDynalite();
  store = new DynamoTaskStore(dynamo.tasksTable, documentClient(dynamo.client));
  const env = {
    ...HANDLER_ENV,
    TASKS_TABLE_NAME: dynamo.tasksTable,
    AGENTS_TABLE_NAME: dynamo.agentsTable,
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    ROLE_QUEUE_URLS: JSON.stringify({ database_designer: 'http://127.0.0.1:1/queue/database_designer' }),
    CORS_ALLOWED_ORIGIN: DASHBOARD_ORIGIN,
  };
  for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
  status = (await import('../../../functions/status')).handler;
  agentsApi = (await import('../../../functions/agents-api')).handler;
  output = (await import('../../../functions/output')).handler;
  route = (await import('../../../functions/route')).handler as (event: unknown) => Promise<RouteOutput>;
});

afterAll(async () => {
  vi.unstubAllEnvs();
  await dynamo.stop();
});

const parse = (response: APIGatewayProxyResult) => JSON.parse(response.body);

describe('status handler', () => {
  it('answers 404 for an unknown batch', async () => {
    const response = await status(apiEvent({ method: 'GET', pathParameters: { id: 'nope' } }));

    expect(response.statusCode).toBe(404);
    expect(parse(response)).toMatchObject({ error: 'NotFound' });
  });

  it('answers the running batch with its tasks in submission order', async () => {
    const batchId = uniqueId();
    const { batch, tasks } = batchOf(batchId, [
      { id: 'z', description: 'x' },
      { id: 'a', description: 'y', dependsOn: ['z'] },
    ]);
    await store.createBatch(batch, tasks);

    const response = await status(apiEvent({ method: 'GET', pathParameters: { id: batchId } }));

    expect(response.statusCode).toBe(200);
    expect(parse(response)).toMatchObject({
      batchId,
      status: 'RUNNING',
      tasks: [
        { id: 'z', status: 'READY', attempts: [] },
        { id: 'a', status: 'PENDING', attempts: [] },
      ],
    });
  });
});

describe("the API handlers' answer headers", () => {
  it("carry the security headers and the dashboard's origin on every answer, a stored output's text too", async () => {
    const batchId = uniqueId();
    const { batch, tasks } = batchOf(batchId, [{ id: 'a', description: 'Write the endpoint' }]);
    const [task] = tasks;
    if (!task) throw new Error('no task');
    await store.createBatch(batch, [{ ...task, status: 'SUCCEEDED', output: { text: 'done' } }]);

    const answers = {
      'output 200': await output(apiEvent({ method: 'GET', pathParameters: { id: batchId, taskId: 'a' } })),
      'status 200': await status(apiEvent({ method: 'GET', pathParameters: { id: batchId } })),
      'status 404': await status(apiEvent({ method: 'GET', pathParameters: { id: 'nope' } })),
      'agents 200': await agentsApi(apiEvent({ method: 'GET', path: '/agents' })),
    };

    for (const [name, answer] of Object.entries(answers)) {
      expect(answer.statusCode, name).toBe(Number(name.split(' ')[1]));
      expect(answer.headers, name).toMatchObject({
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
        'x-frame-options': 'DENY',
        'access-control-allow-origin': DASHBOARD_ORIGIN,
      });
    }
    expect(JSON.parse(answers['output 200'].body)).toEqual({ text: 'done' });
  });
});

describe('agents API handler', () => {
  it('creates an agent, then lists it with its load and metrics', async () => {
    const created = await agentsApi(
      apiEvent({
        method: 'PUT',
        pathParameters: { id: 'sql-expert' },
        body: JSON.stringify({ role: 'database_designer', capacity: 4, specializations: ['postgresql'] }),
      }),
    );
    const listed = await agentsApi(apiEvent({ method: 'GET', path: '/agents' }));

    expect(created.statusCode).toBe(201);
    expect(parse(listed).agents).toContainEqual(
      expect.objectContaining({ agentId: 'sql-expert', role: 'database_designer', reserved: 0, capacity: 4 }),
    );
  });

  it('refuses an invalid capacity with 400 and the path', async () => {
    const response = await agentsApi(
      apiEvent({
        method: 'PUT',
        pathParameters: { id: 'x' },
        body: JSON.stringify({ role: 'database_designer', capacity: 0 }),
      }),
    );

    expect(response.statusCode).toBe(400);
    expect(parse(response).issues).toContainEqual(expect.objectContaining({ path: '$.capacity' }));
  });

  it('refuses an unknown role with 400', async () => {
    const response = await agentsApi(
      apiEvent({ method: 'PUT', pathParameters: { id: 'y' }, body: JSON.stringify({ role: 'wizard' }) }),
    );

    expect(response.statusCode).toBe(400);
    expect(parse(response).issues).toContainEqual(expect.objectContaining({ path: '$.role' }));
  });
});

describe('route handler', () => {
  it('dispatches a schema task to the database designer queue', async () => {
    const batchId = uniqueId();
    const { batch, tasks } = batchOf(batchId, [
      { id: 'schema', description: 'design the schema', role: 'database_designer' },
    ]);
    await store.createBatch(batch, tasks);

    const output = await route({ batchId, taskId: 'schema' });

    expect(output).toMatchObject({
      decision: 'DISPATCH',
      role: 'database_designer',
      queueUrl: 'http://127.0.0.1:1/queue/database_designer',
      attempt: 1,
      timeoutSeconds: 300,
    });
  });

  it('rejects a payload that is not a task reference', async () => {
    await expect(route({ batchId: 'b' })).rejects.toThrow();
  });
});
