/**
 * The dashboard's client of the public API, and nothing else: REST with the `x-api-key` header, progress
 * over the WebSocket API with a single-use token minted over REST (a browser cannot set headers on a
 * WebSocket handshake). The key lives in sessionStorage: gone when the tab closes.
 */
import type { BatchGraph, BatchList, BatchResult, TaskDetail } from '../../shared/domain/schemas';
import type { AgentView } from '../../shared/usecases/agents';
import type { ProviderLimitView } from '../../shared/usecases/providers';
import { ApiError } from './api-error';

export type { AgentView, BatchGraph, BatchList, BatchResult, ProviderLimitView, TaskDetail };
export { ApiError };

const KEY_STORAGE = 'meta-agent.apiKey';
/** Batches on a page of the list: a screenful or two, each a few cheap reads on the API. */
export const BATCHES_PAGE_SIZE = 50;
/** `#key=...` in the page's URL: how `meta-agent serve` hands the key to the page it prints. */
const KEY_FRAGMENT = /^#key=([^&]+)$/;

/** One progress message (shared/usecases/notify.ts). */
export interface ProgressMessage {
  type: 'task' | 'batch';
  batchId: string;
  taskId?: string;
  status: string;
  agentId?: string;
  attempt?: number;
  reason?: string;
}

/** Takes a key handed over in the URL fragment into session storage, and out of the address bar. */
export function adoptKeyFromFragment(): void {
  const match = KEY_FRAGMENT.exec(window.location.hash);
  if (!match?.[1]) return;
  sessionStorage.setItem(KEY_STORAGE, decodeURIComponent(match[1]));
  history.replaceState(null, '', `${window.location.pathname}${window.location.search}#/`);
}

export const storedKey = (): string | undefined => sessionStorage.getItem(KEY_STORAGE) ?? undefined;
export const storeKey = (key: string): void => sessionStorage.setItem(KEY_STORAGE, key);
export const forgetKey = (): void => sessionStorage.removeItem(KEY_STORAGE);

/** Where the API is: `config.json` beside the page (a deployed dashboard), else this page's own origin. */
export async function discoverApiUrl(): Promise<string> {
  try {
    const response = await fetch('./config.json', { cache: 'no-store' });
    if (response.ok) {
      const config = (await response.json()) as { apiUrl?: unknown };
      if (typeof config.apiUrl === 'string' && config.apiUrl !== '') return config.apiUrl.replace(/\/+$/, '');
    }
  } catch {
    // No config: the page is served by the API itself (meta-agent serve).
  }
  return window.location.origin;
}

export class Api {
  constructor(
    readonly baseUrl: string,
    private readonly key: string | undefined,
  ) {}

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: {
        accept: 'application/json',
        ...(this.key ? { 'x-api-key': this.key } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    return answerOf<T>(response, await response.text());
  }

  /** A page of batches, newest first: the newest without `cursor`, else the page after the one that named it. */
  batches(cursor?: string): Promise<BatchList> {
    return this.request(
      'GET',
      `/batches?limit=${BATCHES_PAGE_SIZE}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    );
  }
  batch(batchId: string): Promise<BatchResult> {
    return this.request('GET', `/batches/${encodeURIComponent(batchId)}`);
  }
  graph(batchId: string): Promise<BatchGraph> {
    return this.request('GET', `/batches/${encodeURIComponent(batchId)}/graph`);
  }
  task(batchId: string, taskId: string): Promise<TaskDetail> {
    return this.request('GET', `/batches/${encodeURIComponent(batchId)}/tasks/${encodeURIComponent(taskId)}`);
  }
  /** The agents, and the fleet-wide provider limits (in use / limit), which an older API does not send. */
  agents(): Promise<{ agents: AgentView[]; providers?: ProviderLimitView[] }> {
    return this.request('GET', '/agents');
  }
  /** POST /batches with the text as typed (the API reports its JSON errors with their positions). */
  submit(text: string): Promise<{ batchId: string }> {
    return this.request('POST', '/batches', text);
  }
  cancel(batchId: string): Promise<unknown> {
    return this.request('DELETE', `/batches/${encodeURIComponent(batchId)}`);
  }
  redrive(batchId: string): Promise<unknown> {
    return this.request('POST', `/batches/${encodeURIComponent(batchId)}/redrive`);
  }
  /** POST /batches/{id}/tasks/{taskId}/approval: a person's decision on a task waiting for one. */
  decide(
    batchId: string,
    taskId: string,
    decision: 'approve' | 'reject',
    comment?: string,
  ): Promise<unknown> {
    return this.request(
      'POST',
      `/batches/${encodeURIComponent(batchId)}/tasks/${encodeURIComponent(taskId)}/approval`,
      { decision, ...(comment ? { comment } : {}) },
    );
  }
  /** The URL of a task's whole output (GET /batches/{id}/tasks/{taskId}/output). */
  outputUrl(batchId: string, taskId: string): string {
    return `${this.baseUrl}/batches/${encodeURIComponent(batchId)}/tasks/${encodeURIComponent(taskId)}/output`;
  }
  /**
   * A task's whole output, read with the key (a link cannot carry it: the API would refuse a browser that
   * opens one). Larger than the API answers, it is a redirect to a presigned download, which the page may
   * not read (neither the CSP nor the bucket lets it, and the key must not follow it there): an ApiError
   * saying how to download it instead.
   */
  async output(batchId: string, taskId: string): Promise<string> {
    const url = this.outputUrl(batchId, taskId);
    const response = await fetch(url, {
      headers: this.key ? { 'x-api-key': this.key } : {},
      redirect: 'manual',
    });
    if (response.type === 'opaqueredirect' || (response.status >= 300 && response.status < 400)) {
      throw new ApiError(
        303,
        `the output is larger than the API answers; download it with curl -sL "${url}" -H "x-api-key: $KEY"`,
      );
    }
    const text = await response.text();
    if (!response.ok) answerOf(response, text);
    return text;
  }

  /**
   * Follows one batch's progress: mints a token, opens the socket, subscribes (`onSubscribed` once the API
   * confirms, on every reconnect: read the batch then). Reconnects with a new token when the socket drops,
   * until `close` is called.
   */
  follow(
    batchId: string,
    onMessage: (message: ProgressMessage) => void,
    onSubscribed: () => void = () => undefined,
  ): { close(): void } {
    let socket: WebSocket | undefined;
    let closed = false;
    let retry: number | undefined;
    const open = async () => {
      try {
        const { token, websocketUrl } = await this.request<{ token: string; websocketUrl?: string }>(
          'POST',
          '/progress-tokens',
        );
        if (closed || !websocketUrl) return;
        const url = new URL(websocketUrl);
        url.searchParams.set('token', token);
        socket = new WebSocket(url);
        socket.onopen = () => socket?.send(JSON.stringify({ action: 'subscribe', batchId }));
        socket.onmessage = (event) => {
          try {
            const message = JSON.parse(String(event.data)) as Partial<ProgressMessage> & {
              subscribed?: string;
            };
            // The subscription is in place: what the page reads from now on misses no change.
            if (message.subscribed !== undefined) {
              if (message.subscribed === batchId) onSubscribed();
            } else if (message.batchId === batchId) onMessage(message as ProgressMessage);
          } catch {
            // Not a progress message.
          }
        };
        socket.onclose = () => {
          if (!closed) retry = window.setTimeout(open, RECONNECT_MS);
        };
      } catch {
        if (!closed) retry = window.setTimeout(open, RECONNECT_MS);
      }
    };
    void open();
    return {
      close: () => {
        closed = true;
        window.clearTimeout(retry);
        socket?.close();
      },
    };
  }
}

/** The JSON of an answer, or the ApiError of a non-2xx one (401 and 403 said as a key problem). */
function answerOf<T>(response: Response, text: string): T {
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = text;
  }
  if (!response.ok) {
    const answer = (parsed ?? {}) as { message?: string; error?: string; issues?: ApiError['issues'] };
    const reason =
      response.status === 401 || response.status === 403
        ? 'the API key is missing or wrong'
        : (answer.message ?? answer.error ?? response.statusText);
    throw new ApiError(response.status, reason, answer.issues ?? []);
  }
  return parsed as T;
}

/** Pause before a dropped progress socket is opened again. */
const RECONNECT_MS = 2_000;
