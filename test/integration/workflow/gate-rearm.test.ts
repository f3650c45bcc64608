/**
 * A gate whose answer is lost arms again (GATE_REARM_SECONDS; 0.5 s here): any wake that never reaches the
 * Gate costs that wait, not the batch. The answers to the first Gate token anyone answers are swallowed here
 * (the caller hears success, the state never does): the Complete that opened the gate believes it answered,
 * so nothing else would. Without the Gate's timeout and its Catch back to the Gate, the dependent waited
 * forever and the batch with it; now the gate arms again, finds itself open, and answers itself.
 *
 * (The failure the contract knows of, every run of that Complete failing to answer, also fails its child
 * execution; the local Map stops every iteration when one fails, where the deployed Map tolerates it, so that
 * path is not what is replayed here.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatchResult } from '../../../shared/domain/schemas';
import { StateName } from '../../../shared/domain/workflow';
import { EmbeddedSystem } from '../../../shared/local/system';

const REARM_SECONDS = 0.5;
/** Far beyond a re-arm, far below a gate that never opens again. */
const DEADLINE_MS = 20_000;

let system: EmbeddedSystem;

beforeAll(async () => {
  system = await EmbeddedSystem.start({
    scalerIntervalMs: 0,
    timeoutOverrides: { [StateName.Gate]: REARM_SECONDS },
  });
});

afterAll(async () => {
  await system?.stop();
});

describe('a gate whose answer is lost', () => {
  it('arms again, answers itself and runs its task', async () => {
    const tokens = system.runtime.tokens;
    const succeed = tokens.succeed.bind(tokens);
    // Every answer to the first Gate token anyone answers is lost: accepted, never delivered.
    let lost: string | undefined;
    let swallowed = 0;
    tokens.succeed = (token: string, output: string) => {
      const waiting = tokens.pending().find((p) => p.token === token);
      if (waiting?.stateName === StateName.Gate && (lost === undefined || lost === token)) {
        lost = token;
        swallowed += 1;
        return;
      }
      succeed(token, output);
    };

    const { batchId } = await system.submit({
      batchId: 'gate-rearm',
      tasks: [
        { id: 'schema', description: 'Write the schema', input: { simulate: { durationMs: 50 } } },
        { id: 'api', description: 'Write the API on the schema', dependsOn: ['schema'] },
      ],
    });
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error('the batch did not end: the gate was never answered')),
        DEADLINE_MS,
      );
    });
    let result: BatchResult;
    try {
      result = await Promise.race([system.waitForBatch(batchId), deadline]);
    } finally {
      clearTimeout(timer);
    }

    // The Complete of schema answered the token it found, and that answer was lost: only a re-armed gate
    // could answer api's.
    expect(swallowed).toBe(1);
    expect(result.tasks.find((t) => t.id === 'schema')?.status).toBe('SUCCEEDED');
    expect(result.tasks.find((t) => t.id === 'api')?.status).toBe('SUCCEEDED');
    expect(result.status).toBe('SUCCEEDED');
  }, 30_000);
});
