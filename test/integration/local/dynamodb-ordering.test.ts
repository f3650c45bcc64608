/**
 * The handlers as they run on AWS, on the embedded runtime's emulators: with SINGLE_THREADED_STORE off, a
 * Complete sends its dependents' releases beside the task's status write (the worker's answer names them) and
 * lists the pool of a dependent whose role that answer names beside its release, and the batch runs through the
 * state machine as it does with the embedded runtime's own orderings: every dependent's context holds its
 * dependency's output.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DynamoAgentRegistry } from '../../../shared/adapters/dynamodb/agent-registry';
import { DynamoTaskStore } from '../../../shared/adapters/dynamodb/task-store';
import { EnvVar } from '../../../shared/config';
import type { BatchResult } from '../../../shared/domain/schemas';
import { EmbeddedSystem } from '../../../shared/local/system';

let system: EmbeddedSystem;
let result: BatchResult;
const events: string[] = [];

const simulate = (text: string) => ({ simulate: { durationMs: 20, output: { text } } });

beforeAll(async () => {
  const written = DynamoTaskStore.prototype.transitionTask;
  const release = DynamoTaskStore.prototype.releaseDependent;
  const list = DynamoAgentRegistry.prototype.list;
  vi.spyOn(DynamoTaskStore.prototype, 'transitionTask').mockImplementation(async function (
    this: DynamoTaskStore,
    ...args
  ) {
    const task = await written.apply(this, args);
    events.push(`${args[1]} status written`);
    return task;
  });
  vi.spyOn(DynamoTaskStore.prototype, 'releaseDependent').mockImplementation(async function (
    this: DynamoTaskStore,
    ...args
  ) {
    events.push(`release of ${args[1]} sent`);
    const released = await release.apply(this, args);
    events.push(`release of ${args[1]} written`);
    return released;
  });
  vi.spyOn(DynamoAgentRegistry.prototype, 'list').mockImplementation(async function (
    this: DynamoAgentRegistry,
    role,
  ) {
    events.push(`list ${role}`);
    return list.call(this, role);
  });
  system = await EmbeddedSystem.start({
    scalerIntervalMs: 0,
    env: { [EnvVar.SingleThreadedStore]: 'false' },
  });
  const { batchId } = await system.submit({
    batchId: 'dynamodb-ordering',
    tasks: [
      {
        id: 'schema',
        description: 'Design the users table',
        role: 'database_designer',
        input: simulate('CREATE TABLE users'),
      },
      {
        id: 'api',
        description: 'Write the login endpoint',
        role: 'python_backend_coder',
        dependsOn: ['schema'],
        input: simulate('def login(): ...'),
      },
      {
        id: 'review',
        description: 'Review the login endpoint',
        role: 'code_reviewer',
        dependsOn: ['api', 'schema'],
        input: simulate('No findings'),
      },
    ],
  });
  result = await system.waitForBatch(batchId);
});

afterAll(async () => {
  await system?.stop();
  vi.restoreAllMocks();
});

describe('the handlers as on DynamoDB (SINGLE_THREADED_STORE off)', () => {
  it('run the batch to SUCCEEDED, each dependent given its dependencies outputs', () => {
    expect(result.status).toBe('SUCCEEDED');
    const passed = (id: string) =>
      result.tasks
        .find((t) => t.id === id)
        ?.attempts.at(-1)
        ?.context?.items.filter((i) => i.kind === 'passed')
        .map((i) => i.taskId)
        .sort();
    expect(passed('api')).toEqual(['schema']);
    expect(passed('review')).toEqual(['api', 'schema']);
  });

  it("send a Complete's releases before its status write answers", () => {
    const at = (event: string) => {
      const index = events.indexOf(event);
      expect(index, event).toBeGreaterThanOrEqual(0);
      return index;
    };
    expect(at('release of api sent')).toBeLessThan(at('schema status written'));
    expect(at('release of review sent')).toBeLessThan(at('schema status written'));
    expect(at('release of review sent')).toBeLessThan(at('api status written'));
  });

  it('list the pool of a dependent that depends on one task alone beside its release', () => {
    // api names its role and depends on schema alone: its pool is listed before its release is written.
    const listing = events.indexOf('list python_backend_coder');
    expect(listing).toBeGreaterThanOrEqual(0);
    expect(listing).toBeLessThan(events.indexOf('release of api written'));
  });
});
