/**
 * Approval gates on the embedded runtime: the deployed state machine and handlers, decisions through the REST
 * route (POST /batches/{id}/tasks/{taskId}/approval) as `meta-agent approve|reject` and the dashboard send them.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_APPROVAL_COMMENT_CHARS } from '../../../shared/domain/limits';
import type { Batch, BatchResult, TaskResult } from '../../../shared/domain/schemas';
import { OUTPUT_PREVIEW_CHARS } from '../../../shared/local/cli/approvals';
import { ExitCode } from '../../../shared/local/cli/io';
import { main } from '../../../shared/local/cli/main';
import { type ProgressEvent, RemoteApi } from '../../../shared/local/cli/remote';
import { type LocalServer, startLocalServer } from '../../../shared/local/server';
import type { EmbeddedSystem } from '../../../shared/local/system';
import { dependencyViolations, example } from '../../support/batch-checks';
import { fakeIO } from '../../support/fake-io';
import { waitUntil } from '../../support/wait';

/** One agent with one slot: a waiting task that held its slot would stop every other task of the role. */
const ONE_SLOT_ROLE = 'performance_optimizer';
const API_KEY = 'approvals-key';
/** How long a held output's agent may keep its slot after the wait is written (it gives it back at once). */
const SLOT_RELEASE_WITHIN_MS = 5_000;

let server: LocalServer;
let system: EmbeddedSystem;

beforeAll(async () => {
  server = await startLocalServer({
    port: 0,
    apiKey: API_KEY,
    system: {
      scalerIntervalMs: 0,
      roles: [{ name: ONE_SLOT_ROLE, defaults: { capacity: 1, minAgents: 0, maxAgents: 1 } }],
    },
  });
  system = server.system;
}, 60_000);

afterAll(async () => {
  await server?.close();
});

async function submit(batch: Batch): Promise<string> {
  return (await system.submit(batch)).batchId;
}

function taskOf(result: BatchResult, id: string): TaskResult {
  const task = result.tasks.find((t) => t.id === id);
  if (!task) throw new Error(`no task ${id}`);
  return task;
}

/** The batch once `check` holds for it (read again on every progress poll). */
function batchWhen(batchId: string, check: (result: BatchResult) => boolean): Promise<BatchResult> {
  return waitUntil(async () => {
    const result = await system.result(batchId);
    return check(result) ? result : undefined;
  });
}

const awaiting = (batchId: string, taskId: string, attempt?: number) =>
  batchWhen(batchId, (r) => {
    const task = taskOf(r, taskId);
    return (
      task.status === 'AWAITING_APPROVAL' && (attempt === undefined || task.awaiting?.attempt === attempt)
    );
  });

function decide(batchId: string, taskId: string, body: unknown) {
  return system.request({
    method: 'POST',
    path: `/batches/${batchId}/tasks/${taskId}/approval`,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

describe('approval before dispatch', () => {
  it('holds the task, with no agent, until a person approves; then it runs', async () => {
    const batchId = await submit({
      tasks: [
        { id: 'plan', description: 'Design the rollout plan', approval: { before: true } },
        { id: 'build', description: 'Implement the rollout', dependsOn: ['plan'] },
      ],
    });

    const waiting = taskOf(await awaiting(batchId, 'plan'), 'plan');
    expect(waiting).toMatchObject({
      attempts: [],
      awaiting: { stage: 'before', reviewer: 'person' },
    });
    expect(waiting.agentId).toBeUndefined();
    expect(JSON.stringify(waiting)).not.toContain('token');

    const answer = await decide(batchId, 'plan', { decision: 'approve', comment: 'go' });
    expect(answer.statusCode).toBe(200);
    const result = await system.waitForBatch(batchId);

    expect(result.status).toBe('SUCCEEDED');
    expect(taskOf(result, 'plan').approvals).toEqual([
      {
        stage: 'before',
        decision: 'approve',
        by: 'person',
        caller: { sourceIp: '127.0.0.1' },
        comment: 'go',
        at: expect.any(Number),
      },
    ]);
    expect(taskOf(result, 'plan').startedAt).toBeGreaterThanOrEqual(
      taskOf(result, 'plan').approvals?.[0]?.at ?? Infinity,
    );
  });

  it('fails the task with the reviewer comment on a rejection, and skips its dependents', async () => {
    const batchId = await submit({
      tasks: [
        { id: 'migrate', description: 'Run the database migration', approval: { before: true } },
        { id: 'after', description: 'Update the docs', dependsOn: ['migrate'] },
      ],
    });
    await awaiting(batchId, 'migrate');

    await decide(batchId, 'migrate', { decision: 'reject', comment: 'not during the freeze' });
    const result = await system.waitForBatch(batchId);

    expect(taskOf(result, 'migrate')).toMatchObject({
      status: 'FAILED',
      attempts: [],
      reason: 'rejected before dispatch by person: not during the freeze',
    });
    expect(taskOf(result, 'after').status).toBe('SKIPPED');
  });

  it('rejects by timeout, with that reason', async () => {
    const batchId = await submit({
      tasks: [
        { id: 'deploy', description: 'Deploy to production', approval: { before: true, timeoutSeconds: 1 } },
      ],
    });

    const result = await system.waitForBatch(batchId);

    expect(taskOf(result, 'deploy')).toMatchObject({
      status: 'FAILED',
      reason: 'ApprovalTimeout: rejected before dispatch by timeout: no decision within 1 s',
      approvals: [{ stage: 'before', decision: 'reject', by: 'timeout', comment: 'no decision within 1 s' }],
    });
  });
});

describe('approval of the output', () => {
  it("fails a rejected attempt with the comment, which reaches the next attempt's context; approval accepts", async () => {
    const batchId = await submit({
      options: { maxAttempts: 2 },
      tasks: [{ id: 'query', description: 'Write the SQL report query', approval: { after: true } }],
    });
    const first = taskOf(await awaiting(batchId, 'query', 1), 'query');
    expect(first.attempts.map((a) => a.status)).toEqual(['AWAITING_APPROVAL']);
    expect(first.awaiting).toMatchObject({ stage: 'after', reviewer: 'person', attempt: 1 });

    expect(
      (await decide(batchId, 'query', { decision: 'reject', comment: 'use bind parameters' })).statusCode,
    ).toBe(200);
    const second = taskOf(await awaiting(batchId, 'query', 2), 'query');
    const output = JSON.parse(await system.output(batchId, 'query')) as {
      context?: { received: { kind: string; note?: string }[] };
    };
    expect(second.attempts[0]).toMatchObject({
      status: 'FAILED',
      error: 'ApprovalRejected: output of attempt 1 rejected by person: use bind parameters',
    });
    expect(output.context?.received).toEqual([
      expect.objectContaining({
        kind: 'rejection',
        note: 'attempt 1 rejected by person: use bind parameters',
      }),
    ]);
    expect(second.attempts[1]?.context?.items).toEqual([
      expect.objectContaining({ taskId: 'query', kind: 'rejection' }),
    ]);

    await decide(batchId, 'query', { decision: 'approve' });
    const result = await system.waitForBatch(batchId);

    const query = taskOf(result, 'query');
    expect(query.status).toBe('SUCCEEDED');
    expect(query.attempts.map((a) => a.status)).toEqual(['FAILED', 'SUCCEEDED']);
    expect(query.approvals?.map((a) => [a.stage, a.decision, a.attempt])).toEqual([
      ['after', 'reject', 1],
      ['after', 'approve', 2],
    ]);
  });

  it('ends the task on a rejection that asks for no retry, with the comment and why, and refuses retry on an approval', async () => {
    const batchId = await submit({
      options: { maxAttempts: 3 },
      tasks: [
        { id: 'report', description: 'Write the SQL report query', approval: { after: true } },
        { id: 'chart', description: 'Chart the report', dependsOn: ['report'] },
      ],
    });
    await awaiting(batchId, 'report', 1);

    const refused = await decide(batchId, 'report', { decision: 'approve', retry: false });
    const rejected = await decide(batchId, 'report', {
      decision: 'reject',
      comment: 'out of scope',
      retry: false,
    });
    const result = await system.waitForBatch(batchId);

    expect(refused.statusCode).toBe(400);
    expect(JSON.parse(refused.body).issues[0].path).toBe('$.retry');
    expect(rejected.statusCode).toBe(200);
    const report = taskOf(result, 'report');
    expect(report.status).toBe('FAILED');
    expect(report.attempts.map((a) => a.status)).toEqual(['FAILED']);
    expect(report.reason).toBe(
      'ApprovalRejected: output of attempt 1 rejected by person: out of scope; not retried: the rejection asked for no further attempt',
    );
    expect(taskOf(result, 'chart').status).toBe('SKIPPED');
  });

  it('ends the task when nobody decides on its output in time, instead of redoing the work to wait again', async () => {
    const batchId = await submit({
      options: { maxAttempts: 3 },
      tasks: [
        { id: 'notes', description: 'Write the release notes', approval: { after: true, timeoutSeconds: 1 } },
      ],
    });

    const result = await system.waitForBatch(batchId);

    const notes = taskOf(result, 'notes');
    expect(notes.status).toBe('FAILED');
    expect(notes.attempts.map((a) => a.status)).toEqual(['FAILED']);
    expect(notes.reason).toBe(
      'ApprovalTimeout: output of attempt 1 rejected by timeout: no decision within 1 s; not retried: nobody decided on the output',
    );
  });

  it('holds no agent slot while the output waits: another task of the role runs meanwhile', async () => {
    const batchId = await submit({
      tasks: [{ id: 'tune', description: 'Tune the cache', role: ONE_SLOT_ROLE, approval: { after: true } }],
    });
    await awaiting(batchId, 'tune');
    // The slot goes back right after the wait is written (a few milliseconds).
    await waitUntil(
      async () => {
        const agents = await system.request({ method: 'GET', path: '/agents' });
        const pool = (JSON.parse(agents.body) as { agents: { role: string; reserved: number }[] }).agents;
        const reserved = pool.filter((a) => a.role === ONE_SLOT_ROLE).map((a) => a.reserved);
        return reserved.length === 1 && reserved[0] === 0 ? true : undefined;
      },
      `the slot of the ${ONE_SLOT_ROLE} agent given back`,
      SLOT_RELEASE_WITHIN_MS,
    );

    // The role's only slot is free: a task submitted now runs to the end while the first one still waits.
    const other = await submit({
      tasks: [{ id: 'profile', description: 'Profile the service', role: ONE_SLOT_ROLE }],
    });
    expect((await system.waitForBatch(other)).status).toBe('SUCCEEDED');
    expect(taskOf(await system.result(batchId), 'tune').status).toBe('AWAITING_APPROVAL');

    await decide(batchId, 'tune', { decision: 'approve' });
    expect((await system.waitForBatch(batchId)).status).toBe('SUCCEEDED');
  });

  it('is cancelled while it waits: the task and its attempt end CANCELLED and the wait is gone', async () => {
    const batchId = await submit({
      tasks: [{ id: 'wait', description: 'Write the release notes', approval: { after: true } }],
    });
    await awaiting(batchId, 'wait');

    await system.cancel(batchId);
    const result = await system.result(batchId);

    expect(result.status).toBe('CANCELLED');
    expect(taskOf(result, 'wait')).toMatchObject({
      status: 'CANCELLED',
      attempts: [{ status: 'CANCELLED' }],
    });
    const executions = system.runtime.runner
      .list()
      .filter((e) => (JSON.parse(e.input) as { batchId?: string }).batchId === batchId)
      .map((e) => e.executionArn);
    expect(executions).toHaveLength(1);
    expect(system.runtime.tokens.pending().filter((t) => executions.includes(t.executionArn))).toEqual([]);
    const late = await decide(batchId, 'wait', { decision: 'approve' });
    expect(late.statusCode).toBe(409);
    expect(JSON.parse(late.body).message).toContain('is not waiting for an approval (it is CANCELLED)');
  });
});

describe('POST /batches/{id}/tasks/{taskId}/approval', () => {
  it('refuses a body that is not a decision, naming the field, and a task that waits for nothing', async () => {
    const batchId = await submit({ tasks: [{ id: 'solo', description: 'Write a haiku' }] });
    await system.waitForBatch(batchId);

    const bad = await decide(batchId, 'solo', { decision: 'maybe' });
    expect(bad.statusCode).toBe(400);
    expect(JSON.parse(bad.body).issues[0].path).toBe('$.decision');
    const notWaiting = await decide(batchId, 'solo', { decision: 'approve' });
    expect(notWaiting.statusCode).toBe(409);
    expect((await decide(batchId, 'nobody', { decision: 'approve' })).statusCode).toBe(404);
  });

  it("records who decided as the server's key check established it, never the key itself nor a body's claim", async () => {
    const batchId = await submit({
      tasks: [{ id: 'ship', description: 'Ship the release', approval: { before: true } }],
    });
    await awaiting(batchId, 'ship');

    const response = await fetch(`${server.url}/batches/${batchId}/tasks/ship/approval`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': API_KEY, 'x-user': 'mallory' },
      body: JSON.stringify({ decision: 'approve' }),
    });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { record: unknown }).record).toMatchObject({
      by: 'person',
      caller: { apiKeyId: 'serve', sourceIp: '127.0.0.1' },
    });

    const result = await system.waitForBatch(batchId);
    expect(taskOf(result, 'ship').approvals?.[0]?.caller).toEqual({
      apiKeyId: 'serve',
      sourceIp: '127.0.0.1',
    });
    expect(JSON.stringify(result)).not.toContain(API_KEY);
    expect(JSON.stringify(result)).not.toContain('mallory');
  });
});

describe('meta-agent approve|reject', () => {
  const cli = (args: string[]) => {
    const io = fakeIO();
    return main([...args, '--url', server.url, '--api-key', API_KEY], io).then((code) => ({ code, io }));
  };

  it('decides a waiting task on a running API, whose progress stream shows AWAITING_APPROVAL', async () => {
    const api = new RemoteApi(server.url, API_KEY);
    const batchId = await submit({
      tasks: [
        { id: 'spec', description: 'Write the API spec', approval: { before: true } },
        { id: 'impl', description: 'Implement the API', dependsOn: ['spec'], approval: { after: true } },
      ],
    });
    const seen: ProgressEvent[] = [];
    const progress = await api.openProgress(batchId, (event) => seen.push(event));
    try {
      await awaiting(batchId, 'spec');

      const approved = await cli(['approve', batchId, 'spec', '--comment', 'looks right']);
      expect(approved).toMatchObject({ code: ExitCode.Ok });
      expect(approved.io.out).toBe(`meta-agent: task spec of batch ${batchId}: before dispatch approved\n`);
      await awaiting(batchId, 'impl', 1);
      await waitUntil(
        async () =>
          seen.some((e) => (e as { taskId?: string }).taskId === 'impl' && e.status === 'AWAITING_APPROVAL')
            ? true
            : undefined,
        'the progress message of impl AWAITING_APPROVAL',
      );
      const rejected = await cli(['reject', batchId, 'impl', '--comment', 'add pagination', '--json']);
      expect(rejected.code).toBe(ExitCode.Ok);
      expect(JSON.parse(rejected.io.out)).toMatchObject({
        stage: 'after',
        decision: 'reject',
        record: { by: 'person', comment: 'add pagination', attempt: 1 },
      });
      await awaiting(batchId, 'impl', 2);
      expect((await cli(['approve', batchId, 'impl'])).code).toBe(ExitCode.Ok);
      expect((await system.waitForBatch(batchId)).status).toBe('SUCCEEDED');
    } finally {
      progress?.close();
    }
  });

  it('exits 2 with the reason for a task that waits for nothing, and without --url', async () => {
    const batchId = await submit({ tasks: [{ id: 'done', description: 'Write a limerick' }] });
    await system.waitForBatch(batchId);

    const late = await cli(['reject', batchId, 'done', '--comment', 'too late']);
    const noUrlIO = fakeIO();
    const noUrl = await main(['approve', batchId, 'done'], noUrlIO);

    expect(late.code).toBe(ExitCode.BadInput);
    expect(late.io.err).toContain(
      'answered 409: task "done" is not waiting for an approval (it is SUCCEEDED)',
    );
    expect(noUrl).toBe(ExitCode.BadInput);
    expect(noUrlIO.err).toContain('approve needs --url');
  });

  it('counts --comment in characters, as the API does: characters of two UTF-16 units count once', async () => {
    const wide = '\u{1F600}';
    const batchId = await submit({
      tasks: [{ id: 'gate', description: 'Write the API spec', approval: { before: true } }],
    });
    await awaiting(batchId, 'gate');

    const over = await cli([
      'approve',
      batchId,
      'gate',
      '--comment',
      wide.repeat(MAX_APPROVAL_COMMENT_CHARS + 1),
    ]);
    const most = wide.repeat(MAX_APPROVAL_COMMENT_CHARS);
    const approved = await cli(['approve', batchId, 'gate', '--comment', most, '--json']);

    expect(over.code).toBe(ExitCode.BadInput);
    expect(over.io.err).toContain(
      `--comment is ${MAX_APPROVAL_COMMENT_CHARS + 1} characters; at most ${MAX_APPROVAL_COMMENT_CHARS} are allowed`,
    );
    expect(approved.io.err).toBe('');
    expect(approved.code).toBe(ExitCode.Ok);
    expect(JSON.parse(approved.io.out)).toMatchObject({ decision: 'approve', record: { comment: most } });
    expect((await system.waitForBatch(batchId)).status).toBe('SUCCEEDED');
  });
});

describe('meta-agent run with approvals', () => {
  let dir: string;
  let file: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meta-agent-approvals-'));
    file = join(dir, 'feature.json');
    await writeFile(
      file,
      JSON.stringify({
        batchId: 'asked-at-the-terminal',
        options: { maxAttempts: 2 },
        tasks: [
          { id: 'plan', description: 'Plan the feature', approval: { before: true } },
          { id: 'build', description: 'Build the feature', dependsOn: ['plan'], approval: { after: true } },
        ],
      }),
    );
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('asks the person at the terminal for each approval and sends their decisions', async () => {
    const answers = ['y', 'ship it', 'n', 'needs tests', 'maybe', 'y', ''];
    const questions: string[] = [];
    const io = Object.assign(fakeIO(), {
      ask: async (question: string) => {
        questions.push(question);
        return answers.shift() ?? '';
      },
    });

    const code = await main(['run', file], io);

    expect(code).toBe(ExitCode.Ok);
    expect(questions.filter((q) => q.includes('approve?'))).toEqual([
      'task plan waits for approval before it is dispatched: approve? [y]es / [n]o: ',
      'the output of task build (attempt 1) waits for approval: approve? [y]es / [n]o: ',
      'the output of task build (attempt 2) waits for approval: approve? [y]es / [n]o: ',
      'the output of task build (attempt 2) waits for approval: approve? [y]es / [n]o: ',
    ]);
    expect(io.err).toContain('--- output of build ---');
    expect(io.out).toContain('batch asked-at-the-terminal: SUCCEEDED');
  });

  it("shows a held output's control characters as escapes, and at most OUTPUT_PREVIEW_CHARS of one long line", async () => {
    // An agent's answer that would rewrite the preview on a terminal: up a line, erase it, write the clipboard.
    const hostile = `rm -rf /\u001b[1A\u001b[2Kall tests pass\u001b]52;c;cm0gLXJmIC8=\u0007\u202e${'y'.repeat(50_000)}`;
    const held = join(dir, 'hostile.json');
    await writeFile(
      held,
      JSON.stringify({
        batchId: 'hostile-preview',
        tasks: [
          {
            id: 'build',
            description: 'Build the feature',
            approval: { after: true },
            input: { simulate: { output: { text: hostile } } },
          },
        ],
      }),
    );
    const io = Object.assign(fakeIO(), {
      ask: async (question: string) => (question.includes('approve?') ? 'n' : ''),
    });

    const code = await main(['run', held], io);

    expect(code).toBe(ExitCode.TasksFailed);
    const start = io.err.indexOf('--- output of build ---');
    const preview = io.err.slice(start, io.err.indexOf('\n---\n', start));
    expect(preview).toContain('rm -rf /\\u001b[1A\\u001b[2Kall tests pass\\u001b]52;c;');
    // biome-ignore lint/suspicious/noControlCharactersInRegex: none may reach the terminal.
    expect(io.err).not.toMatch(/[\u001b\u0007\u202e]/);
    expect(preview).toContain(`[... ${hostile.length - OUTPUT_PREVIEW_CHARS} more characters]`);
    expect(preview.length).toBeLessThan(OUTPUT_PREVIEW_CHARS + 200);
  }, 60_000);

  it('refuses, before running anything, a batch that needs a person when nobody can be asked', async () => {
    const io = fakeIO();

    const code = await main(['run', file], io);

    expect(code).toBe(ExitCode.BadInput);
    expect(io.err).toContain(
      "tasks plan, build ask a person's approval, and run without an interactive terminal has nobody to ask",
    );
  });
});

describe('meta-agent run with approvals an expansion adds', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meta-agent-added-approvals-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A planner whose plan adds a task approved before dispatch and one whose output is approved. */
  async function plannerFile(batchId: string): Promise<string> {
    const file = join(dir, `${batchId}.json`);
    const plan = {
      tasks: [
        { id: 'gated', description: 'Build the gated part', approval: { before: true } },
        { id: 'held', description: 'Build the held part', approval: { after: true } },
      ],
    };
    await writeFile(
      file,
      JSON.stringify({
        batchId,
        options: { maxAttempts: 2 },
        tasks: [
          {
            id: 'plan',
            description: 'Plan the feature',
            expands: true,
            input: { simulate: { output: plan } },
          },
          { id: 'wrap-up', description: 'Write the release notes', dependsOn: ['plan'], trigger: 'all_done' },
        ],
      }),
    );
    return file;
  }

  it.each([
    ['without an interactive terminal', [] as string[]],
    ['with --json', ['--json']],
  ])(
    'rejects, with the reason, each added wait for a person when run %s has nobody to ask',
    async (_, flags) => {
      const batchId = `added-approvals${flags.join('')}`;
      const io = fakeIO();

      const out = join(dir, `${batchId}-out`);

      const code = await main(['run', await plannerFile(batchId), ...flags, '--out', out], io);

      expect(code).toBe(ExitCode.TasksFailed);
      const result = JSON.parse(await readFile(join(out, 'result.json'), 'utf8')) as BatchResult;
      expect(result.status).toBe('PARTIAL');
      expect(taskOf(result, 'gated')).toMatchObject({
        status: 'FAILED',
        reason: expect.stringContaining('rejected before dispatch by person: nobody to ask'),
      });
      // The rejection nobody made ends the task: its work is not redone only to be rejected again.
      const held = taskOf(result, 'held');
      expect(held.status).toBe('FAILED');
      expect(held.attempts.map((a) => a.error)).toEqual([
        expect.stringContaining('ApprovalRejected: output of attempt 1 rejected by person: nobody to ask'),
      ]);
      expect(held.reason).toContain('not retried: the rejection asked for no further attempt');
      expect(held.approvals).toEqual([
        expect.objectContaining({ decision: 'reject', attempt: 1, retry: false }),
      ]);
      expect(taskOf(result, 'wrap-up').status).toBe('SUCCEEDED');
    },
    60_000,
  );

  it('asks the person at the terminal for an added task, though the submitted batch asked for nobody', async () => {
    const questions: string[] = [];
    const io = Object.assign(fakeIO(), {
      ask: async (question: string) => {
        questions.push(question);
        return question.includes('approve?') ? 'y' : '';
      },
    });

    const code = await main(['run', await plannerFile('added-approvals-asked')], io);

    expect(code).toBe(ExitCode.Ok);
    expect(questions.filter((q) => q.includes('approve?')).sort()).toEqual([
      'task gated waits for approval before it is dispatched: approve? [y]es / [n]o: ',
      'the output of task held (attempt 1) waits for approval: approve? [y]es / [n]o: ',
    ]);
  }, 60_000);
});

describe('the approved-plan example', () => {
  it('builds nothing until a person approves the plan, then runs every step in dependency order', async () => {
    const batch = example('approved-plan.json');
    const batchId = await submit(batch);

    const waiting = await awaiting(batchId, 'plan');
    const others = waiting.tasks.filter((t) => t.id !== 'plan');
    expect(others.length).toBeGreaterThan(0);
    for (const task of others) expect(task.attempts, task.id).toEqual([]);

    expect(
      (await decide(batchId, 'plan', { decision: 'approve', comment: 'steps look right' })).statusCode,
    ).toBe(200);
    const result = await batchWhen(batchId, (r) => r.status !== 'RUNNING');

    expect(result.status).toBe('SUCCEEDED');
    expect(taskOf(result, 'plan').approvals?.map((a) => a.decision)).toEqual(['approve']);
    expect(dependencyViolations(batch, result)).toEqual([]);
  });
});
