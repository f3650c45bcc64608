/**
 * `meta-agent run` and the approvals a batch asks a person for (README "Approvals"): on the embedded runtime
 * the person is the one at the terminal, asked as each task starts waiting. Without a terminal there is
 * nobody to ask, and the batch is refused before anything runs (it would wait for a decision nobody can
 * send). A task that an expansion adds while the batch runs cannot be refused before: when it waits for a
 * person nobody can ask, it is rejected with NOBODY_TO_ASK (else it would wait out its approval timeout, a
 * day by default, and `run` with it).
 */
import { reviewerOf } from '../../domain/approvals';
import type { Batch, BatchResult, TaskResult } from '../../domain/schemas';
import type { EmbeddedSystem } from '../system';
import { CliUsageError } from './errors';
import { type CliIO, printable } from './io';
import { REMOTE_UNAVAILABLE_WAIT_MS, realWait, retryAfterMsOf } from './remote';

/** Lines of a held output shown before the question (the whole output: GET .../output, or --out). */
export const OUTPUT_PREVIEW_LINES = 20;
/** Characters of those lines shown at most: one line may be the whole output (megabytes). */
export const OUTPUT_PREVIEW_CHARS = 4_000;

/**
 * Tries of a decision the API answers 503 with Retry-After (recorded, its answer to the workflow not sent
 * yet): sent again after each Retry-After, as `meta-agent approve` sends it, never waiting past
 * REMOTE_UNAVAILABLE_WAIT_MS in all. Past them the person is told the task still waits.
 */
export const DECISION_SEND_TRIES = 5;

/** The comment of the rejection `run` sends for a task that waits for a person when nobody can be asked. */
export const NOBODY_TO_ASK =
  'nobody to ask: meta-agent run without an interactive terminal (or with --json) cannot ask a person; run the batch on a running API (meta-agent serve, then meta-agent run FILE --url URL) and decide with meta-agent approve|reject BATCH TASK --url URL';

/** Whether a running batch may come to wait for a person besides its submitted tasks: an expansion may add one. */
export function mayAddApprovals(batch: Batch): boolean {
  return batch.tasks.some((t) => t.expands === true);
}

/** `io` with nobody to ask (`run --json` on a terminal). */
export function withoutAsk(io: CliIO): CliIO {
  const { ask: _nobody, ...rest } = io;
  return rest;
}

/** Ids of the tasks whose approval a person gives (before dispatch, or of the output without a validator). */
export function personApprovals(batch: Batch): string[] {
  return batch.tasks
    .filter((t) => t.approval?.before === true || reviewerOf(t).kind === 'person')
    .map((t) => t.id);
}

/** Refuses, with what to do instead, a batch that needs a person when nobody can be asked. */
export function assertSomeoneToAsk(batch: Batch, io: CliIO, json: boolean, usage: string): void {
  const ids = personApprovals(batch);
  if (ids.length === 0 || (io.ask !== undefined && !json)) return;
  const why = json ? 'with --json' : 'without an interactive terminal';
  throw new CliUsageError(
    `task${ids.length === 1 ? '' : 's'} ${ids.join(', ')} ask${ids.length === 1 ? 's' : ''} a person's approval, and run ${why} has nobody to ask: run it in a terminal, or on a running API (meta-agent serve, then meta-agent run FILE --url URL) and decide with meta-agent approve|reject BATCH TASK --url URL`,
    usage,
  );
}

/**
 * Asks the person at the terminal for each approval as its task starts waiting, one question at a time,
 * and sends the decision through the API route (as `meta-agent approve|reject` would). `watch` is given every
 * snapshot of the batch. Without `io.ask` (no terminal, or --json) nobody can be asked: each wait is rejected
 * at once with NOBODY_TO_ASK, so the task fails with that reason and its dependents follow their trigger rules.
 */
export class TerminalApprovals {
  readonly #asked = new Set<string>();
  #queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly system: Pick<EmbeddedSystem, 'request' | 'output'>,
    /** Its `wait` (a timer when absent) is how a decision waits before it is sent again. */
    private readonly io: CliIO,
  ) {}

  /** Resolves once every question asked so far was answered and its decision sent (or given up). */
  settled(): Promise<void> {
    return this.#queue;
  }

  watch(snapshot: BatchResult): void {
    if (snapshot.status !== 'RUNNING') return;
    for (const task of snapshot.tasks) {
      const awaiting = task.awaiting;
      if (task.status !== 'AWAITING_APPROVAL' || awaiting?.reviewer !== 'person') continue;
      const key = `${task.id}|${awaiting.stage}|${awaiting.attempt ?? 0}`;
      if (this.#asked.has(key)) continue;
      this.#asked.add(key);
      this.#queue = this.#queue
        .then(() => this.#ask(snapshot.batchId, task))
        .catch((error: Error) =>
          this.io.stderr(`meta-agent: approval of ${task.id} not sent: ${error.message}\n`),
        );
    }
  }

  async #ask(batchId: string, task: TaskResult): Promise<void> {
    const awaiting = task.awaiting;
    if (!awaiting) return;
    const what =
      awaiting.stage === 'before'
        ? `task ${task.id} waits for approval before it is dispatched`
        : `the output of task ${task.id} (attempt ${awaiting.attempt}) waits for approval`;
    const ask = this.io.ask;
    if (ask === undefined) {
      this.io.stderr(`meta-agent: ${what}, and there is nobody to ask: rejected\n`);
      // A rejection nobody made: not retried (a new attempt would meet it again), the task fails now.
      return this.#send(batchId, task.id, 'reject', NOBODY_TO_ASK, false);
    }
    if (awaiting.stage === 'after') this.io.stderr(await this.#preview(batchId, task.id));
    for (;;) {
      const answer = (await ask(`${what}: approve? [y]es / [n]o: `)).trim().toLowerCase();
      if (answer === '') return; // Ctrl-C: the run is being cancelled.
      const decision =
        answer === 'y' || answer === 'yes'
          ? 'approve'
          : answer === 'n' || answer === 'no'
            ? 'reject'
            : undefined;
      if (!decision) continue;
      const comment = (
        await ask(`comment${decision === 'reject' ? ' (tells the next attempt why)' : ''}: `)
      ).trim();
      return this.#send(batchId, task.id, decision, comment);
    }
  }

  async #send(
    batchId: string,
    taskId: string,
    decision: 'approve' | 'reject',
    comment: string,
    retry?: false,
  ): Promise<void> {
    let waited = 0;
    for (let tries = 1; ; tries++) {
      const response = await this.system.request({
        method: 'POST',
        path: `/batches/${encodeURIComponent(batchId)}/tasks/${encodeURIComponent(taskId)}/approval`,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          decision,
          ...(comment ? { comment } : {}),
          ...(retry === false ? { retry } : {}),
        }),
      });
      if (response.statusCode === 200) return;
      const message = (JSON.parse(response.body) as { message?: string }).message ?? response.body;
      // 503: the decision is recorded, its answer to the workflow not sent yet; the same decision sends it.
      const waitMs =
        response.statusCode === 503 ? retryAfterMsOf(response.headers['retry-after'] ?? null) : undefined;
      if (waitMs === undefined) {
        this.io.stderr(`meta-agent: ${message}\n`);
        return;
      }
      if (tries >= DECISION_SEND_TRIES || waited + waitMs > REMOTE_UNAVAILABLE_WAIT_MS) {
        this.io.stderr(
          `meta-agent: gave up sending the ${decision} of task ${taskId} after ${tries} tries (${message}); the task still waits, until its approval timeout rejects it (Ctrl-C cancels the run)\n`,
        );
        return;
      }
      waited += waitMs;
      await (this.io.wait ?? realWait)(waitMs);
    }
  }

  async #preview(batchId: string, taskId: string): Promise<string> {
    let text: string;
    try {
      const json = JSON.parse(await this.system.output(batchId, taskId)) as unknown;
      text =
        typeof json === 'object' && json !== null && typeof (json as { text?: unknown }).text === 'string'
          ? (json as { text: string }).text
          : JSON.stringify(json, null, 2);
    } catch (error) {
      return `(its output could not be read: ${(error as Error).message})\n`;
    }
    // The agent's text is shown, never acted on: its control characters could rewrite what the person sees.
    const lines = text.split('\n');
    const head = lines.slice(0, OUTPUT_PREVIEW_LINES).join('\n');
    const shown = head.slice(0, OUTPUT_PREVIEW_CHARS);
    const more =
      shown.length < head.length
        ? `\n[... ${text.length - shown.length} more characters]`
        : lines.length > OUTPUT_PREVIEW_LINES
          ? `\n[... ${lines.length - OUTPUT_PREVIEW_LINES} more lines]`
          : '';
    return `--- output of ${taskId} ---\n${printable(shown)}${more}\n---\n`;
  }
}
