/**
 * `meta-agent run`'s terminal approvals: a decision the API answers 503 (recorded, its answer to the workflow
 * not sent yet) is sent again after its Retry-After, as `meta-agent approve` does, a bounded number of times.
 */
import { describe, expect, it } from 'vitest';
import type { BatchResult } from '../../../shared/domain/schemas';
import type { LocalHttpRequest, LocalHttpResponse } from '../../../shared/local/api-gateway';
import { DECISION_SEND_TRIES, TerminalApprovals } from '../../../shared/local/cli/approvals';
import type { CliIO } from '../../../shared/local/cli/io';
import { REMOTE_UNAVAILABLE_WAIT_MS } from '../../../shared/local/cli/remote';

const UNAVAILABLE = 'the approve of task "deploy" is recorded, but its answer could not be sent';

/** The API answering `answers` in turn (then the last one again), and what it was sent. */
function apiAnswering(answers: { status: number; retryAfter?: string; message?: string }[]) {
  const requests: LocalHttpRequest[] = [];
  const system = {
    request: async (request: LocalHttpRequest): Promise<LocalHttpResponse> => {
      requests.push(request);
      const answer = answers[Math.min(requests.length, answers.length) - 1] ?? { status: 200 };
      return {
        statusCode: answer.status,
        headers: answer.retryAfter === undefined ? {} : { 'retry-after': answer.retryAfter },
        body: JSON.stringify({ message: answer.message ?? 'ok' }),
      };
    },
    output: async () => '{}',
  };
  return { system, requests };
}

/** A terminal where the person approves, and what was written to stderr. */
function terminal() {
  const errors: string[] = [];
  const replies = ['y', ''];
  const io: CliIO = {
    stdout: () => {},
    stderr: (text) => errors.push(text),
    isTTY: true,
    cwd: '/',
    env: {},
    ask: async () => replies.shift() ?? '',
  };
  return { io, errors };
}

const waiting = {
  batchId: 'b1',
  status: 'RUNNING',
  tasks: [{ id: 'deploy', status: 'AWAITING_APPROVAL', awaiting: { stage: 'before', reviewer: 'person' } }],
} as unknown as BatchResult;

async function decide(answers: Parameters<typeof apiAnswering>[0]) {
  const api = apiAnswering(answers);
  const { io, errors } = terminal();
  const pauses: number[] = [];
  const approvals = new TerminalApprovals(api.system, {
    ...io,
    wait: async (ms) => {
      pauses.push(ms);
    },
  });
  approvals.watch(waiting);
  await approvals.settled();
  return { requests: api.requests, errors, pauses };
}

describe('a decision typed at the terminal', () => {
  it('answered 503 with Retry-After is sent again after it, until it goes through', async () => {
    const { requests, errors, pauses } = await decide([
      { status: 503, retryAfter: '5', message: UNAVAILABLE },
      { status: 503, retryAfter: '5', message: UNAVAILABLE },
      { status: 200 },
    ]);

    expect(requests).toHaveLength(3);
    expect(new Set(requests.map((r) => r.body))).toEqual(new Set([JSON.stringify({ decision: 'approve' })]));
    expect(pauses).toEqual([5_000, 5_000]);
    expect(errors).toEqual([]);
  });

  it(`is sent at most ${DECISION_SEND_TRIES} times, then the person is told the task still waits`, async () => {
    const { requests, errors, pauses } = await decide([
      { status: 503, retryAfter: '1', message: UNAVAILABLE },
    ]);

    expect(requests).toHaveLength(DECISION_SEND_TRIES);
    expect(pauses).toEqual(Array.from({ length: DECISION_SEND_TRIES - 1 }, () => 1_000));
    expect(errors.join('')).toMatch(
      new RegExp(
        `gave up sending the approve of task deploy after ${DECISION_SEND_TRIES} tries \\(${UNAVAILABLE}\\); the task still waits`,
      ),
    );
  });

  it(`never waits past ${REMOTE_UNAVAILABLE_WAIT_MS} ms in all, whatever Retry-After asks`, async () => {
    const seconds = REMOTE_UNAVAILABLE_WAIT_MS / 1000 / 2;
    const { requests, pauses, errors } = await decide([
      { status: 503, retryAfter: String(seconds), message: UNAVAILABLE },
    ]);

    expect(pauses).toEqual([seconds * 1000, seconds * 1000]);
    expect(requests).toHaveLength(3);
    expect(errors.join('')).toMatch(/gave up .* after 3 tries/);
  });

  it('refused otherwise (a 409, a 502, a 503 without Retry-After) is not sent again, and says why', async () => {
    for (const answer of [
      { status: 409, message: 'task "deploy" was decided meanwhile' },
      { status: 502, message: 'refused: AccessDeniedException' },
      { status: 503, message: UNAVAILABLE },
    ]) {
      const { requests, errors, pauses } = await decide([answer]);

      expect(requests).toHaveLength(1);
      expect(pauses).toEqual([]);
      expect(errors).toEqual([`meta-agent: ${answer.message}\n`]);
    }
  });
});
