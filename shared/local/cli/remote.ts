/**
 * The CLI's client of a running API: a deployed stack's REST stage or `meta-agent serve`. REST calls carry
 * the API key (`x-api-key`); progress comes over the WebSocket API with a progress token minted over REST,
 * as the dashboard does. Used by `run --url`, `status`, `cancel`, `redrive` and `agents --url`.
 */
import { randomUUID } from 'node:crypto';
import type WebSocket from 'ws';
import { HTTP_TOO_MANY_REQUESTS, parseRetryAfter } from '../../adapters/executors/policy';
import {
  type ApprovalRecord,
  type BatchDecisions,
  BatchDecisionsSchema,
  type BatchResult,
  BatchResultSchema,
  type Budget,
} from '../../domain/schemas';
import { API_KEY_HEADER } from '../request-guard';
import { ExitCode } from './io';

/** Environment variables that stand in for `--url` and `--api-key`. */
export const API_URL_ENV = 'META_AGENT_API_URL';
export const API_KEY_ENV = 'META_AGENT_API_KEY';
/** A remote API that does not answer within this long is reported, not waited on for ever. */
export const REMOTE_TIMEOUT_MS = 10_000;
/** How long in all a request keeps trying again while the API answers 503 with Retry-After (a server starting). */
export const REMOTE_UNAVAILABLE_WAIT_MS = 30_000;

/**
 * Tries of a GET (or HEAD) the API answers with a 5xx: reading is idempotent, and a failure of a moment
 * (a Lambda's cold start timing out, a throttled table) often passes. A POST or DELETE is never sent again
 * after a 5xx: the server may have acted on it.
 */
export const SERVER_ERROR_TRIES = 3;
/** The wait before the second try of a failed GET without Retry-After, doubled before each further one. */
export const SERVER_ERROR_BACKOFF_MS = 500;
const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD']);

/**
 * The shortest wait before a request is sent again, whatever Retry-After says: a `0` (or a date in the past)
 * would otherwise send it again at once, over and over, until REMOTE_UNAVAILABLE_WAIT_MS.
 */
export const MIN_RETRY_WAIT_MS = 100;

/** A Retry-After (seconds or an HTTP date, as the providers' is read) as milliseconds, at least MIN_RETRY_WAIT_MS. */
export function retryAfterMsOf(value: string | null): number | undefined {
  const ms = parseRetryAfter(value);
  return ms === undefined ? undefined : Math.max(MIN_RETRY_WAIT_MS, ms);
}
/**
 * While following a batch, its result is read again at least this often even without a progress message:
 * a message lost with a dropped socket (or a deployment without one) delays the display, never the end.
 */
export const FOLLOW_FALLBACK_POLL_MS = 2_000;
/** Progress messages arriving close together cause one read of the result, not one each. */
export const FOLLOW_DEBOUNCE_MS = 100;
/** How long to wait for the API to confirm a subscription before following goes on without it. */
const SUBSCRIBE_ACK_TIMEOUT_MS = 5_000;
/** How long a WebSocket handshake may take ($connect runs a Lambda authorizer on AWS). */
const WEBSOCKET_CONNECT_TIMEOUT_MS = 10_000;
const MESSAGE_EXCERPT_CHARS = 300;

/**
 * The remote API could not be reached, refused the request or answered something else than its API: a
 * configuration problem (exit code 2), said with the URL and what to change.
 */
export class RemoteApiError extends Error {
  readonly exitCode: ExitCode = ExitCode.BadInput;
  constructor(message: string) {
    super(message);
    this.name = 'RemoteApiError';
  }
}

/**
 * The remote API failed (a 5xx, a GET after its tries): not the user's input or configuration, so exit code 1
 * (as an internal error), said as the API's failure.
 */
export class RemoteServerError extends RemoteApiError {
  override readonly exitCode: ExitCode = ExitCode.TasksFailed;
  constructor(message: string) {
    super(message);
    this.name = 'RemoteServerError';
  }
}

/** The error of an answer a request did not expect: a RemoteServerError for a 5xx, else a RemoteApiError. */
function unexpectedAnswer(
  method: string,
  url: string,
  response: RemoteResponse & { tries?: number },
  detail: string,
): RemoteApiError {
  if (response.status < 500)
    return new RemoteApiError(`${method} ${url} answered ${response.status}: ${detail}`);
  const tries = response.tries !== undefined && response.tries > 1 ? ` ${response.tries} times` : '';
  return new RemoteServerError(
    `${method} ${url} answered ${response.status} (a failure of the API, not of the request; its logs say more)${tries}: ${detail}`,
  );
}

/** What an answer's body says: its `message`, else the start of its JSON. */
function detailOf(body: unknown): string {
  const message = (body as { message?: unknown } | undefined)?.message;
  return typeof message === 'string'
    ? message
    : String(JSON.stringify(body)?.slice(0, MESSAGE_EXCERPT_CHARS));
}

/** The remote API refused a batch (400): every issue with its JSON path (exit code 2, nothing was run). */
export class RemoteValidationError extends Error {
  readonly exitCode = ExitCode.BadInput;
  constructor(
    readonly issues: readonly { path: string; message: string }[],
    /** The batch file the refused batch came from, when known. */
    readonly source?: string,
  ) {
    super(
      `the API refused the batch${source ? ` in ${source}` : ''}:\n${issues.map((i) => `${i.path}: ${i.message}`).join('\n')}`,
    );
    this.name = 'RemoteValidationError';
  }
}

/** Where to find the API: `--url` or META_AGENT_API_URL, `--api-key` or META_AGENT_API_KEY. */
export function remoteTarget(
  flags: { url?: string | undefined; apiKey?: string | undefined },
  env: NodeJS.ProcessEnv,
): { url: string; apiKey?: string } | undefined {
  const url = flags.url ?? (env[API_URL_ENV]?.trim() || undefined);
  if (url === undefined) return undefined;
  const apiKey = flags.apiKey ?? (env[API_KEY_ENV]?.trim() || undefined);
  return { url, ...(apiKey !== undefined ? { apiKey } : {}) };
}

export interface RemoteResponse {
  readonly status: number;
  readonly body: unknown;
  /** How many times the request was sent (more than once: a server starting, or a GET failing). */
  readonly tries?: number;
}

/** One progress message as the notifier sends it (shared/usecases/notify.ts). */
export interface ProgressEvent {
  readonly type: string;
  readonly batchId?: string;
  readonly status?: string;
}

/** Resolves after `ms` milliseconds: how a RemoteApi waits before sending a request again. */
export type Wait = (ms: number) => Promise<void>;

/** Waits in real time (a timer). */
export const realWait: Wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class RemoteApi {
  readonly baseUrl: string;

  /** `wait`: how it waits before sending again (a test's records the waits instead of waiting them out). */
  constructor(
    url: string,
    private readonly apiKey?: string,
    private readonly wait: Wait = realWait,
  ) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new RemoteApiError(
        `--url "${url}" is not a URL (e.g. http://127.0.0.1:3000 or the stack's ApiUrl)`,
      );
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new RemoteApiError(`--url "${url}" must be http:// or https://`);
    }
    this.baseUrl = parsed.href.replace(/\/+$/, '');
  }

  /**
   * One request; throws RemoteApiError when the API cannot be reached or does not answer JSON. A 503 with
   * `Retry-After` (a server still starting, which read nothing of the request) is sent again after that wait;
   * a GET answered any 5xx is sent again after its Retry-After (else SERVER_ERROR_BACKOFF_MS, doubling), up
   * to SERVER_ERROR_TRIES in all; never past REMOTE_UNAVAILABLE_WAIT_MS in all. Anything else is answered as
   * it is.
   */
  async request(
    method: string,
    path: string,
    options: { body?: unknown; headers?: Record<string, string> } = {},
  ): Promise<RemoteResponse> {
    const deadline = Date.now() + REMOTE_UNAVAILABLE_WAIT_MS;
    let serverErrors = 0;
    for (let tries = 1; ; tries++) {
      const { response, retryAfterMs } = await this.requestOnce(method, path, options);
      let waitMs: number | undefined;
      if (response.status === 503 && retryAfterMs !== undefined) waitMs = retryAfterMs;
      else if (response.status >= 500 && IDEMPOTENT_METHODS.has(method.toUpperCase())) {
        serverErrors++;
        if (serverErrors < SERVER_ERROR_TRIES)
          waitMs = retryAfterMs ?? SERVER_ERROR_BACKOFF_MS * 2 ** (serverErrors - 1);
      }
      if (waitMs === undefined || Date.now() + waitMs > deadline) return { ...response, tries };
      await this.wait(waitMs);
    }
  }

  private async requestOnce(
    method: string,
    path: string,
    options: { body?: unknown; headers?: Record<string, string> },
  ): Promise<{ response: RemoteResponse; retryAfterMs?: number }> {
    const url = `${this.baseUrl}${path}`;
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: {
          accept: 'application/json',
          ...(this.apiKey !== undefined ? { [API_KEY_HEADER]: this.apiKey } : {}),
          ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...options.headers,
        },
        ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
        signal: AbortSignal.timeout(REMOTE_TIMEOUT_MS),
      });
    } catch (error) {
      const reason =
        error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : '';
      throw new RemoteApiError(`cannot reach ${url}: ${reason || String(error)}`);
    }
    const text = await response.text();
    if (response.status === 401 || response.status === 403) {
      throw new RemoteApiError(
        `${method} ${url} answered ${response.status}: the API key is missing or wrong (give it with --api-key or ${API_KEY_ENV})`,
      );
    }
    let body: unknown;
    try {
      body = text.length > 0 ? JSON.parse(text) : undefined;
    } catch {
      // A failing server (or the proxy before it) may answer an HTML page: still the server's failure.
      if (response.status >= 500) body = { message: text.slice(0, MESSAGE_EXCERPT_CHARS) };
      else
        throw new RemoteApiError(
          `${method} ${url} answered ${response.status} without JSON (is --url the API's base URL?): ${text.slice(0, MESSAGE_EXCERPT_CHARS)}`,
        );
    }
    const retryAfterMs =
      response.status >= 500 ? retryAfterMsOf(response.headers.get('retry-after')) : undefined;
    return {
      response: { status: response.status, body },
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    };
  }

  /** A request that must answer one of `expected`; anything else is a RemoteApiError with the answer. */
  async expect(
    method: string,
    path: string,
    expected: readonly number[],
    options: { body?: unknown; headers?: Record<string, string> } = {},
  ): Promise<unknown> {
    const response = await this.request(method, path, options);
    if (expected.includes(response.status)) return response.body;
    throw unexpectedAnswer(method, `${this.baseUrl}${path}`, response, detailOf(response.body));
  }

  /** POST /batches with an idempotency key (a retried submission never starts a second batch). */
  async submit(batch: unknown): Promise<{ batchId: string }> {
    const response = await this.request('POST', '/batches', {
      body: batch,
      headers: { 'Idempotency-Key': randomUUID() },
    });
    if (response.status === 400) {
      const issues = (response.body as { issues?: { path: string; message: string }[] } | undefined)?.issues;
      throw new RemoteValidationError(issues ?? [{ path: '$', message: JSON.stringify(response.body) }]);
    }
    if (response.status !== 202) {
      throw unexpectedAnswer('POST', `${this.baseUrl}/batches`, response, detailOf(response.body));
    }
    return { batchId: String((response.body as { batchId?: unknown }).batchId) };
  }

  /** GET /batches/{id}, checked against the public result schema. */
  async result(batchId: string): Promise<BatchResult> {
    const body = await this.expect('GET', batchPath(batchId), [200]);
    const parsed = BatchResultSchema.safeParse(body);
    if (!parsed.success) {
      throw new RemoteApiError(`GET ${this.baseUrl}${batchPath(batchId)} did not answer a batch result`);
    }
    return parsed.data;
  }

  /**
   * GET /batches/{id}/tasks/{taskId}/output: the output's JSON text. A large output answers with a redirect to
   * a presigned download URL, fetched without the API key (it is the URL's own credential). A failure that may
   * pass (the network, a 5xx, a 429) is tried again as request() tries a GET: after its Retry-After, else
   * SERVER_ERROR_BACKOFF_MS doubling, up to SERVER_ERROR_TRIES in all and never past REMOTE_UNAVAILABLE_WAIT_MS;
   * then the error names the task, the URL and the tries.
   */
  async output(batchId: string, taskId: string): Promise<string> {
    const url = `${this.baseUrl}${batchPath(batchId)}/tasks/${encodeURIComponent(taskId)}/output`;
    const deadline = Date.now() + REMOTE_UNAVAILABLE_WAIT_MS;
    for (let tries = 1; ; tries++) {
      const read = await this.outputOnce(url, taskId);
      if ('text' in read) return read.text;
      const waitMs = read.retryAfterMs ?? SERVER_ERROR_BACKOFF_MS * 2 ** (tries - 1);
      if (!read.passing || tries >= SERVER_ERROR_TRIES || Date.now() + waitMs > deadline) {
        if (tries === 1) throw read.error;
        const Failure = read.error instanceof RemoteServerError ? RemoteServerError : RemoteApiError;
        throw new Failure(`${read.error.message} (tried ${tries} times)`);
      }
      await this.wait(waitMs);
    }
  }

  /** One read of an output: its text, or the error and whether trying again may pass. */
  private async outputOnce(
    url: string,
    taskId: string,
  ): Promise<{ text: string } | { error: RemoteApiError; passing: boolean; retryAfterMs?: number }> {
    let response: Response;
    let text: string;
    try {
      response = await fetch(url, {
        headers: this.apiKey !== undefined ? { [API_KEY_HEADER]: this.apiKey } : {},
        redirect: 'manual',
        signal: AbortSignal.timeout(REMOTE_TIMEOUT_MS),
      });
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location) {
        await response.body?.cancel();
        response = await fetch(location, { signal: AbortSignal.timeout(REMOTE_TIMEOUT_MS) });
      }
      text = await response.text();
    } catch (error) {
      const reason = error instanceof Error && error.cause instanceof Error ? error.cause.message : '';
      return {
        error: new RemoteApiError(
          `cannot read the output of ${taskId} from ${url}: ${(error as Error).message}${reason ? ` (${reason})` : ''}`,
        ),
        passing: true,
      };
    }
    if (response.ok) return { text };
    const passing = response.status >= 500 || response.status === HTTP_TOO_MANY_REQUESTS;
    const retryAfterMs = passing ? retryAfterMsOf(response.headers.get('retry-after')) : undefined;
    const error =
      response.status === HTTP_TOO_MANY_REQUESTS
        ? new RemoteServerError(
            `GET ${url} (the output of ${taskId}) answered 429, too many requests: ${text.slice(0, MESSAGE_EXCERPT_CHARS)}`,
          )
        : unexpectedAnswer(
            'GET',
            url,
            response,
            `the output of ${taskId}: ${text.slice(0, MESSAGE_EXCERPT_CHARS)}`,
          );
    return { error, passing, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
  }

  /** GET /batches/{id}/decisions: every task's stored routing decision (for replay). */
  async decisions(batchId: string): Promise<BatchDecisions> {
    const path = `${batchPath(batchId)}/decisions`;
    const response = await this.request('GET', path);
    if (response.status === 404) {
      throw new RemoteApiError(`GET ${this.baseUrl}${path} answered 404: no batch "${batchId}" on this API`);
    }
    if (response.status !== 200) {
      throw unexpectedAnswer('GET', `${this.baseUrl}${path}`, response, detailOf(response.body));
    }
    const parsed = BatchDecisionsSchema.safeParse(response.body);
    if (!parsed.success) {
      throw new RemoteApiError(`GET ${this.baseUrl}${path} did not answer the decisions of a batch`);
    }
    return parsed.data;
  }

  /** DELETE /batches/{id}: the result as cancelled. */
  async cancel(batchId: string): Promise<BatchResult> {
    return BatchResultSchema.parse(await this.expect('DELETE', batchPath(batchId), [200, 202]));
  }

  /** POST /batches/{id}/tasks/{taskId}/approval: a person's decision on a waiting task. */
  async decide(
    batchId: string,
    taskId: string,
    decision: 'approve' | 'reject',
    comment?: string,
  ): Promise<{ stage: string; decision: string; record: ApprovalRecord }> {
    const body = await this.expect(
      'POST',
      `${batchPath(batchId)}/tasks/${encodeURIComponent(taskId)}/approval`,
      [200],
      { body: { decision, ...(comment === undefined ? {} : { comment }) } },
    );
    return body as { stage: string; decision: string; record: ApprovalRecord };
  }

  /** POST /batches/{id}/redrive (with a new budget, its fields over the batch's): the tasks that run again. */
  async redrive(batchId: string, budget?: Budget): Promise<{ taskIds: string[] }> {
    const body = (await this.expect(
      'POST',
      `${batchPath(batchId)}/redrive`,
      [200, 202],
      budget ? { body: { budget } } : {},
    )) as {
      taskIds?: string[];
    };
    return { taskIds: body.taskIds ?? [] };
  }

  /**
   * Opens the progress WebSocket for one batch (a token minted over REST, then `subscribe`); undefined when
   * the API hands out no WebSocket URL. `onMessage` sees every progress message of the batch.
   */
  async openProgress(
    batchId: string,
    onMessage: (event: ProgressEvent) => void,
  ): Promise<{ close(): void } | undefined> {
    const minted = (await this.expect('POST', '/progress-tokens', [200, 201])) as {
      token?: string;
      websocketUrl?: string;
    };
    if (!minted.token || !minted.websocketUrl) return undefined;
    const url = new URL(minted.websocketUrl);
    url.searchParams.set('token', minted.token);
    // Loaded here, not with the module: `run` imports this module for --url, and ws' own load (its search for
    // the optional bufferutil addon) was 12 ms of every local run's start.
    const { default: Socket } = await import('ws');
    const socket = await new Promise<WebSocket>((resolve, reject) => {
      const ws = new Socket(url, { handshakeTimeout: WEBSOCKET_CONNECT_TIMEOUT_MS });
      ws.once('open', () => resolve(ws));
      ws.once('unexpected-response', (_request, response) => {
        ws.terminate();
        reject(
          new RemoteApiError(
            `the WebSocket ${minted.websocketUrl} refused the connect (HTTP ${response.statusCode})`,
          ),
        );
      });
      ws.once('error', (error) =>
        reject(new RemoteApiError(`cannot open ${minted.websocketUrl}: ${error.message}`)),
      );
    });
    socket.on('error', () => {
      // A dropped socket only slows the display down: the follower's fallback poll carries on.
    });
    // Resolves once the API confirms the subscription (or after SUBSCRIBE_ACK_TIMEOUT_MS without it): a
    // result read after that misses no change.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, SUBSCRIBE_ACK_TIMEOUT_MS);
      socket.on('message', (data) => {
        let event: ProgressEvent & { subscribed?: string };
        try {
          event = JSON.parse(data.toString()) as ProgressEvent & { subscribed?: string };
        } catch {
          return; // Not a progress message: ignored, the next poll tells the truth.
        }
        if (event.subscribed === batchId) {
          clearTimeout(timer);
          resolve();
        } else if (event.batchId === batchId) onMessage(event);
      });
      socket.send(JSON.stringify({ action: 'subscribe', batchId }));
    });
    return { close: () => socket.close() };
  }
}

const batchPath = (batchId: string) => `/batches/${encodeURIComponent(batchId)}`;

/**
 * Follows a batch until it is no longer RUNNING: its result is read after progress messages (debounced),
 * at least every FOLLOW_FALLBACK_POLL_MS, and once right after subscribing (so nothing that happened before
 * the subscription is missed). `onSnapshot` sees every result read; `onWarning` hears when progress falls
 * back to polling alone.
 */
export async function followBatch(
  api: RemoteApi,
  batchId: string,
  onSnapshot: (result: BatchResult) => void,
  onWarning: (message: string) => void = () => undefined,
  /** Aborted: following ends with the last result read (the batch runs on). */
  stop?: AbortSignal,
): Promise<BatchResult> {
  let wake: (() => void) | undefined;
  const wakeNow = () => wake?.();
  let debounce: NodeJS.Timeout | undefined;
  const nudge = () => {
    debounce ??= setTimeout(() => {
      debounce = undefined;
      wake?.();
    }, FOLLOW_DEBOUNCE_MS);
  };
  let progress: { close(): void } | undefined;
  try {
    progress = await api.openProgress(batchId, nudge);
    if (!progress) onWarning('the API names no WebSocket URL: following by polling');
  } catch (error) {
    onWarning(`${(error as Error).message}; following by polling`);
  }
  try {
    for (;;) {
      const result = await api.result(batchId);
      onSnapshot(result);
      if (result.status !== 'RUNNING' || stop?.aborted) return result;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, FOLLOW_FALLBACK_POLL_MS);
        wake = () => {
          clearTimeout(timer);
          stop?.removeEventListener('abort', wakeNow);
          resolve();
        };
        stop?.addEventListener('abort', wakeNow, { once: true });
      });
      wake = undefined;
      if (stop?.aborted) return result;
    }
  } finally {
    if (debounce) clearTimeout(debounce);
    progress?.close();
  }
}
