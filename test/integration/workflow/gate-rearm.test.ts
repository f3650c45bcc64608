/**
 * A gate whose answer is lost arms again (GATE_REARM_SECONDS; 0.5 s here): any wake that never reaches the
 * Gate costs that wait, not the batch. Without the Gate's timeout and its Catch back to the Gate, the
 * dependent waited forever and the batch with it; now the gate arms again, finds itself open, and answers
 * itself.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import type { Batch, BatchResult } from '../../../shared/domain/schemas';
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

/** Submits the batch and waits for its end, at most DEADLINE_MS. */
async function runToEnd(batch: Batch): Promise<BatchResult> {
  const { batchId } = await system.submit(batch);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error('the batch did not end: a gate was never answered')),
      DEADLINE_MS,
    );
  });
  try {
    return await Promise.race([system.waitForBatch(batchId), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Loses every answer to the first Gate token anyone answers in this test: `swallow` accepts it and never
 * delivers it, `refuse` fails it (a 500 from the Step Functions endpoint). Answers how many were lost; the
 * registry is put back when the test ends.
 */
function loseFirstGateAnswer(how: 'swallow' | 'refuse'): () => number {
  const tokens = system.runtime.tokens;
  const succeed = tokens.succeed.bind(tokens);
  let token: string | undefined;
  let lost = 0;
  tokens.succeed = (answered: string, output: string) => {
    const waiting = tokens.pending().find((p) => p.token === answered);
    if (waiting?.stateName === StateName.Gate && (token === undefined || token === answered)) {
      token = answered;
      lost += 1;
      if (how === 'refuse') throw new Error('Step Functions unavailable (test)');
      return;
    }
    succeed(answered, output);
  };
  onTestFinished(() => {
    tokens.succeed = succeed;
  });
  return () => lost;
}

describe('a gate whose answer is lost', () => {
  it('arms again, answers itself and runs its task', async () => {
    // The Complete that opened the gate hears success and the state never does: nothing else would answer.
    const lost = loseFirstGateAnswer('swallow');
    const result = await runToEnd({
      batchId: 'gate-rearm',
      tasks: [
        { id: 'schema', description: 'Write the schema', input: { simulate: { durationMs: 50 } } },
        { id: 'api', description: 'Write the API on the schema', dependsOn: ['schema'] },
      ],
    });

    // The Complete of schema answered the token it found, and that answer was lost: only a re-armed gate
    // could answer api's.
    expect(lost()).toBe(1);
    expect(result.tasks.map((t) => [t.id, t.status])).toEqual([
      ['schema', 'SUCCEEDED'],
      ['api', 'SUCCEEDED'],
    ]);
    expect(result.status).toBe('SUCCEEDED');
  }, 30_000);

  it('arms again when every run of the Complete that opened it failed to answer, and the batch goes on', async () => {
    // The failure the contract knows of: Step Functions refuses the Complete's answer past the SDK's retries
    // (a 500), then FailOnError's answer too. FailOnError's own error ends the dependency's child execution;
    // the batch's Map tolerates it (locally too) and the other tasks go on.
    const lost = loseFirstGateAnswer('refuse');
    const result = await runToEnd({
      batchId: 'gate-rearm-refused',
      tasks: [
        { id: 'schema', description: 'Write the schema', input: { simulate: { durationMs: 50 } } },
        { id: 'api', description: 'Write the API on the schema', dependsOn: ['schema'] },
        { id: 'docs', description: 'Document the API', dependsOn: ['api'] },
        { id: 'lint', description: 'Lint the repository', input: { simulate: { durationMs: 1_500 } } },
      ],
    });

    // The Complete of schema and FailOnError's after it each tried (with the SDK's retries).
    expect(lost()).toBeGreaterThanOrEqual(2);
    expect(result.tasks.map((t) => [t.id, t.status])).toEqual([
      ['schema', 'SUCCEEDED'],
      ['api', 'SUCCEEDED'],
      ['docs', 'SUCCEEDED'],
      ['lint', 'SUCCEEDED'],
    ]);
    expect(result.status).toBe('SUCCEEDED');
  }, 30_000);
});
