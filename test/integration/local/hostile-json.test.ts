/**
 * User JSON is data whatever its keys (issue 12, problem 3), through the deployed handlers on the emulators:
 * a task input with prototype-named keys and numbers past 2^53 runs and reads back exactly, an agent
 * service's answer with such keys is stored whole, and input nested too deep is a 400 naming the path.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_INPUT_DEPTH } from '../../../shared/domain/limits';
import { EmbeddedSystem } from '../../../shared/local/system';

/** An agent service (the `http` executor's) that answers every task with prototype-named keys. */
const AGENT_ANSWER =
  '{"__proto__":{"admin":true},"constructor":{"name":"Buffer"},"toString":"x","big":123456789012345678901234567890}';

let system: EmbeddedSystem;
let agentService: Server;

beforeAll(async () => {
  agentService = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(AGENT_ANSWER);
    });
  });
  await new Promise<void>((resolve) => agentService.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(agentService.address() as AddressInfo).port}/`;
  system = await EmbeddedSystem.start({
    scalerIntervalMs: 0,
    roles: [{ name: 'code_reviewer', defaults: { executor: { name: 'http', url } } }],
  });
});

afterAll(async () => {
  await system?.stop();
  agentService.closeAllConnections();
  await new Promise<void>((resolve) => agentService.close(() => resolve()));
});

function post(text: string) {
  return system.request({
    method: 'POST',
    path: '/batches',
    headers: { 'content-type': 'application/json' },
    body: text,
  });
}

async function taskJson(batchId: string, taskId: string): Promise<string> {
  const response = await system.request({ method: 'GET', path: `/batches/${batchId}/tasks/${taskId}` });
  expect(response.statusCode, response.body).toBe(200);
  return response.body;
}

const HOSTILE_INPUT =
  '{"__proto__":{"polluted":true},"constructor":{"x":1},"toString":2,"hasOwnProperty":null,' +
  '"valueOf":{"constructor":{"name":"Set"}},"list":[{"__proto__":[]}],"huge":1e300,"exact":9007199254740993,' +
  '"simulate":{"durationMs":0}}';

describe('prototype-named keys and large numbers in user JSON', () => {
  it('run a task whose input has them and read the input back exactly', async () => {
    const response = await post(
      `{"batchId":"proto-keys","tasks":[{"id":"a","description":"write the python endpoint","input":${HOSTILE_INPUT}}]}`,
    );

    expect(response.statusCode, response.body).toBe(202);
    const result = await system.waitForBatch('proto-keys');
    expect(result.status).toBe('SUCCEEDED');
    const stored = await taskJson('proto-keys', 'a');
    expect(stored).toContain(`"input":${JSON.stringify(JSON.parse(HOSTILE_INPUT))}`);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('run a task whose output schema names them and has numbers DynamoDB cannot hold, and read it back exactly', async () => {
    // JSON Schema names the output's fields: `constructor` is a field like any other. Numbers past DynamoDB's
    // range (1e-130 to 1e126) and past 2^53 are legal bounds.
    const schema =
      '{"type":"object","properties":{"constructor":{"type":"string"},"__proto__":{"type":"number",' +
      '"minimum":1e-300,"maximum":1e200},"big":{"type":"integer","maximum":9007199254740993}},' +
      '"required":["constructor","__proto__"]}';
    const output = '{"constructor":"c","__proto__":1,"big":3}';
    const response = await post(
      `{"batchId":"proto-schema","tasks":[{"id":"a","description":"write the python endpoint","outputSchema":${schema},"input":{"simulate":{"output":${output}}}}]}`,
    );

    expect(response.statusCode, response.body).toBe(202);
    const result = await system.waitForBatch('proto-schema');
    expect(result.status).toBe('SUCCEEDED');
    const stored = await taskJson('proto-schema', 'a');
    expect(stored).toContain(`"outputSchema":${JSON.stringify(JSON.parse(schema))}`);
    expect(stored).toContain(`"output":${JSON.stringify(JSON.parse(output))}`);
  });

  it('store an agent service answer that has them as the task output', async () => {
    const response = await post(
      '{"batchId":"proto-output","tasks":[{"id":"review","description":"review the code","role":"code_reviewer"}]}',
    );

    expect(response.statusCode, response.body).toBe(202);
    const result = await system.waitForBatch('proto-output');
    expect(result.tasks[0]?.attempts.map((a) => a.status)).toEqual(['SUCCEEDED']);
    expect(await taskJson('proto-output', 'review')).toContain(
      `"output":${JSON.stringify(JSON.parse(AGENT_ANSWER))}`,
    );
  });
});

describe('input nested too deep', () => {
  it('is a 400 naming the path, whatever the depth, and starts nothing', async () => {
    for (const depth of [MAX_INPUT_DEPTH + 1, 10_000, 1_000_000]) {
      const input = `${'{"a":'.repeat(depth - 1)}{}${'}'.repeat(depth - 1)}`;
      const response = await post(
        `{"batchId":"too-deep-${depth}","tasks":[{"id":"a","description":"x","input":${input}}]}`,
      );

      expect(response.statusCode, response.body).toBe(400);
      const [issue] = JSON.parse(response.body).issues;
      expect(issue.path).toBe(`$.tasks[0].input${'.a'.repeat(MAX_INPUT_DEPTH)}`);
      expect((await system.request({ method: 'GET', path: `/batches/too-deep-${depth}` })).statusCode).toBe(
        404,
      );
    }
  });
});
