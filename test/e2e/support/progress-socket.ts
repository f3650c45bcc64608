/**
 * A progress subscriber over the WebSocket API (`ws` package): connects with a progress token,
 * subscribes to a batch and records every progress message in arrival order.
 */
import WebSocket from 'ws';
import { z } from 'zod';
import { type ApiClient, E2eTimeoutError } from './client';

/** The two progress messages of shared/usecases/notify.ts, as seen on the wire. */
export const ProgressMessageSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('task'),
    batchId: z.string(),
    taskId: z.string(),
    status: z.string(),
    agentId: z.string().optional(),
    attempt: z.number().optional(),
    reason: z.string().optional(),
  }),
  z.object({
    type: z.literal('batch'),
    batchId: z.string(),
    status: z.string(),
    finishedAt: z.number().optional(),
    makespanMs: z.number().optional(),
  }),
]);
export type ProgressMessage = z.infer<typeof ProgressMessageSchema>;

/** How long the WebSocket handshake may take ($connect runs a Lambda on a deployed stack). */
const CONNECT_TIMEOUT_MS = 30_000;
/** How long a polite close may wait for the server's close frame before the socket is dropped. */
const CLOSE_GRACE_MS = 2_000;

export class ProgressSocket {
  /** Progress messages in arrival order. */
  readonly messages: ProgressMessage[] = [];
  /** Frames that were not progress messages (acknowledgements, errors): kept for failure messages. */
  readonly otherFrames: string[] = [];
  private listeners: (() => void)[] = [];
  private closed = false;

  private constructor(private readonly socket: WebSocket) {
    socket.on('message', (data) => {
      const text = data.toString();
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      const message = ProgressMessageSchema.safeParse(parsed);
      if (message.success) this.messages.push(message.data);
      else this.otherFrames.push(text);
      for (const listener of this.listeners) listener();
    });
    socket.on('close', () => {
      this.closed = true;
      for (const listener of this.listeners) listener();
    });
  }

  /**
   * Opens a connection as the dashboard does: a progress token minted over REST with the API key
   * (POST /progress-tokens), then the handshake with `?token=`, which the $connect authorizer redeems.
   */
  static async connect(url: string, api: ApiClient): Promise<ProgressSocket> {
    const minted = await api.request('POST', '/progress-tokens');
    const token = (minted.body as { token?: unknown } | undefined)?.token;
    if (minted.status !== 201 || typeof token !== 'string') {
      throw new Error(`POST /progress-tokens answered ${minted.status}: ${JSON.stringify(minted.body)}`);
    }
    const withToken = new URL(url);
    withToken.searchParams.set('token', token);
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(withToken, { handshakeTimeout: CONNECT_TIMEOUT_MS });
      const fail = (reason: string) => {
        socket.removeAllListeners();
        socket.terminate();
        reject(new Error(`WebSocket ${url}: ${reason}`));
      };
      socket.once('open', () => {
        socket.removeAllListeners('error');
        socket.on('error', () => {
          // Surfaces through 'close' and the waits' timeouts; an unhandled 'error' would crash the worker.
        });
        resolve(new ProgressSocket(socket));
      });
      socket.once('unexpected-response', (_request, response) =>
        fail(
          `handshake answered HTTP ${response.statusCode} (a missing, used or expired token gives 401 or 403)`,
        ),
      );
      socket.once('error', (error) => fail(error.message));
    });
  }

  subscribe(batchId: string): void {
    this.socket.send(JSON.stringify({ action: 'subscribe', batchId }));
  }

  /** Resolves with the first recorded message that matches; throws E2eTimeoutError after `timeoutMs`. */
  waitFor(
    predicate: (message: ProgressMessage) => boolean,
    what: string,
    timeoutMs: number,
  ): Promise<ProgressMessage> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const found = this.messages.find(predicate);
        if (found) {
          finish();
          resolve(found);
          return true;
        }
        if (this.closed) {
          finish();
          reject(new Error(`WebSocket closed before ${what}; received: ${this.describe()}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        finish();
        reject(new E2eTimeoutError(`no ${what} within ${timeoutMs} ms; received: ${this.describe()}`));
      }, timeoutMs);
      const listener = () => {
        check();
      };
      const finish = () => {
        clearTimeout(timer);
        this.listeners = this.listeners.filter((l) => l !== listener);
      };
      this.listeners.push(listener);
      check();
    });
  }

  /** What arrived so far, for failure messages. */
  describe(): string {
    return JSON.stringify({ messages: this.messages, otherFrames: this.otherFrames });
  }

  /** Closes politely; a server that never answers the close frame is cut off after CLOSE_GRACE_MS. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.socket.terminate(), CLOSE_GRACE_MS);
      this.socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      this.socket.close();
    });
  }
}
