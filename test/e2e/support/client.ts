/**
 * A small client of the public REST API (global fetch), as a user would call it: JSON bodies, the
 * `x-api-key` header when a key is configured, nothing else.
 */
import { type BatchResult, BatchResultSchema } from '../../../shared/domain/schemas';
import type { E2eConfig } from './env';

/** Between two polls of GET /batches/{id}: short enough for a local server, cheap on a deployed one. */
const POLL_INTERVAL_MS = 250;
const TERMINAL_BATCH_STATUSES = new Set(['SUCCEEDED', 'PARTIAL', 'FAILED', 'CANCELLED']);

export interface ApiResponse {
  readonly status: number;
  /** Parsed JSON body, or the raw text when the body is not JSON. */
  readonly body: unknown;
}

/** A wait ran out of time; says what it was waiting for and what it saw last. */
export class E2eTimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'E2eTimeoutError';
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function isTerminalBatchStatus(status: string): boolean {
  return TERMINAL_BATCH_STATUSES.has(status);
}

export class ApiClient {
  constructor(private readonly config: E2eConfig) {}

  /** One request; `headers` add to (and may override) the defaults. */
  async request(
    method: string,
    path: string,
    options: { body?: unknown; headers?: Record<string, string> } = {},
  ): Promise<ApiResponse> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.config.apiKey !== undefined) headers['x-api-key'] = this.config.apiKey;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${this.config.apiUrl}${path}`, {
      method,
      headers: { ...headers, ...options.headers },
      ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
    });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = text.length > 0 ? JSON.parse(text) : undefined;
    } catch {
      // Not JSON (an HTML error page from a proxy, say): keep the text so the assertion shows it.
    }
    return { status: response.status, body };
  }

  submit(batch: unknown, idempotencyKey?: string): Promise<ApiResponse> {
    return this.request('POST', '/batches', {
      body: batch,
      ...(idempotencyKey !== undefined ? { headers: { 'Idempotency-Key': idempotencyKey } } : {}),
    });
  }

  getBatch(batchId: string): Promise<ApiResponse> {
    return this.request('GET', `/batches/${encodeURIComponent(batchId)}`);
  }

  cancel(batchId: string): Promise<ApiResponse> {
    return this.request('DELETE', `/batches/${encodeURIComponent(batchId)}`);
  }

  redrive(batchId: string): Promise<ApiResponse> {
    return this.request('POST', `/batches/${encodeURIComponent(batchId)}/redrive`);
  }

  /** GET /batches/{id}, checked against the public result schema. */
  async result(batchId: string): Promise<BatchResult> {
    const response = await this.getBatch(batchId);
    if (response.status !== 200) {
      throw new Error(
        `GET /batches/${batchId} answered ${response.status}: ${JSON.stringify(response.body)}`,
      );
    }
    return BatchResultSchema.parse(response.body);
  }

  /** Polls GET /batches/{id} until `done` holds; throws E2eTimeoutError with the last result seen. */
  async waitForResult(
    batchId: string,
    done: (result: BatchResult) => boolean,
    what: string,
    timeoutMs = this.config.batchTimeoutMs,
  ): Promise<BatchResult> {
    const deadline = Date.now() + timeoutMs;
    let last: BatchResult | undefined;
    while (Date.now() < deadline) {
      last = await this.result(batchId);
      if (done(last)) return last;
      await sleep(POLL_INTERVAL_MS);
    }
    throw new E2eTimeoutError(
      `batch ${batchId}: not ${what} after ${timeoutMs} ms; last seen: ${JSON.stringify(last)}`,
    );
  }

  /** Waits for the batch to reach SUCCEEDED, PARTIAL, FAILED or CANCELLED. */
  waitForTerminal(batchId: string): Promise<BatchResult> {
    return this.waitForResult(batchId, (r) => isTerminalBatchStatus(r.status), 'finished');
  }
}

/** A batch id unique to this run, so reruns against a long-lived stack never collide. */
export function uniqueBatchId(label: string): string {
  return `e2e-${label}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}
