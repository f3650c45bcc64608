/**
 * A start of the local runtime that fails after its emulators are up stops everything it had started, so the
 * process is not kept alive by servers nobody will stop (the CLI would print its error and never exit).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EnvVar } from '../../../shared/config';
import { resolveRoles } from '../../../shared/domain/roles';
import type { AslDefinition } from '../../../shared/local/runtime/definition';
import type { Emulators } from '../../../shared/local/runtime/emulators';
import { LocalRuntime } from '../../../shared/local/runtime/local-runtime';
import { NO_PARKED_TTL_MS, processHints } from '../../../shared/usecases/parked-hints';
import { acceptsConnections, listeningServers } from './helpers';

const seen: { emulators?: Emulators } = {};
const proxyFault: { error?: Error } = {};

vi.mock('../../../shared/local/runtime/emulators', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../../shared/local/runtime/emulators')>();
  return {
    ...actual,
    startEmulators: async (...args: Parameters<typeof actual.startEmulators>) => {
      seen.emulators = await actual.startEmulators(...args);
      return seen.emulators;
    },
  };
});

vi.mock('../../../shared/local/runtime/dynamodb-stream', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../../shared/local/runtime/dynamodb-stream')>();
  return {
    ...actual,
    startDynamoStreamProxy: async (...args: Parameters<typeof actual.startDynamoStreamProxy>) => {
      if (proxyFault.error) throw proxyFault.error;
      return actual.startDynamoStreamProxy(...args);
    },
  };
});

const definition: AslDefinition = { StartAt: 'Done', States: { Done: { Type: 'Pass', End: true } } };
const roles = [...resolveRoles().values()].filter((r) => r.name === 'code_reviewer');
const portOf = (endpoint: string) => Number(new URL(endpoint).port);
/**
 * Whether this process's parked-task hints are held (see holdWhileEveryParkIsHere): a role found empty long
 * ago is still believed empty. The probe's role is then cleared, as a park would.
 */
function hintsHeld(): boolean {
  const role = 'probe-role-of-the-hints';
  processHints.foundEmpty(role, 0, processHints.parks(role));
  const held = processHints.nobodyParked(role, 10 * NO_PARKED_TTL_MS);
  processHints.parked(role);
  return held;
}

afterEach(() => {
  seen.emulators = undefined;
  proxyFault.error = undefined;
});

describe('LocalRuntime.start', () => {
  it('stops the emulators and endpoints it started when a later step fails, and restores the environment', async () => {
    const before = await listeningServers();
    const tasksTable = process.env[EnvVar.TasksTable];
    proxyFault.error = new Error('listen EMFILE: too many open files');

    const start = LocalRuntime.start({
      definition,
      taskStates: {},
      handlers: {},
      roles,
      tasksStream: () => undefined,
    });

    await expect(start).rejects.toThrow('listen EMFILE');
    const emulators = seen.emulators as Emulators;
    expect(emulators).toBeDefined();
    // fauxqs, the Step Functions and Lambda endpoints closed; dynalite's thread ended.
    expect(await listeningServers()).toBe(before);
    expect(await acceptsConnections(portOf(emulators.sqsEndpoint))).toBe(false);
    expect(await acceptsConnections(portOf(emulators.dynamodbEndpoint))).toBe(false);
    expect(process.env[EnvVar.TasksTable]).toBe(tasksTable);
  });

  it('stops them too when the handlers fail to load, after the environment was set', async () => {
    const before = await listeningServers();
    const region = process.env.AWS_REGION;

    const start = LocalRuntime.start({
      definition,
      taskStates: {},
      handlers: async () => {
        throw new Error('handler module failed to load');
      },
      roles,
    });

    await expect(start).rejects.toThrow('handler module failed to load');
    expect(hintsHeld()).toBe(false);
    expect(await listeningServers()).toBe(before);
    expect(await acceptsConnections(portOf((seen.emulators as Emulators).sqsEndpoint))).toBe(false);
    expect(process.env.AWS_REGION).toBe(region);
  });

  // Every handler runs in this process, and dynalite answers on one thread.
  it('holds the parked-task hints of the process and defers Complete bookkeeping while it runs, not after', async () => {
    const bookkeeping = () => process.env[EnvVar.SingleThreadedStore];
    const held = [hintsHeld()];
    const deferred = [bookkeeping()];
    const runtime = await LocalRuntime.start({ definition, taskStates: {}, handlers: {}, roles });
    try {
      held.push(hintsHeld());
      deferred.push(bookkeeping());
    } finally {
      await runtime.stop();
    }
    held.push(hintsHeld());
    deferred.push(bookkeeping());

    expect(held).toEqual([false, true, false]);
    expect(deferred).toEqual([undefined, 'true', undefined]);
  });
});
