/** Shared helpers of the runtime integration tests. */
import { connect } from 'node:net';
import type { InProcessRequest } from '../../../shared/adapters/in-process-transport';

/** Resolves true when something accepts a TCP connection on 127.0.0.1:port. */
export function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns true or `timeoutMs` passes. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(25);
  }
}

/**
 * An SQS request of the JSON protocol as the SDK sends it in process: `action` with `body` (JSON, or a text
 * sent as it is), and a Host header when given (fauxqs builds queue URLs from it).
 */
export function sqsJsonRequest(action: string, body: unknown, host?: string): InProcessRequest {
  return {
    method: 'POST',
    path: '/',
    headers: {
      'content-type': 'application/x-amz-json-1.0',
      'x-amz-target': `AmazonSQS.${action}`,
      ...(host === undefined ? {} : { host }),
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  };
}

/**
 * Listening servers of this thread (dynalite listens on its own, which ends with it), counted once the event
 * loop has run its close callbacks. A server's 'close' event comes before libuv frees its handle (at the end
 * of the loop's turn), and until then the handle still counts as active: two turns (a check phase, then the
 * close phase, then the next check phase) let every close begun before the call finish.
 */
export async function listeningServers(): Promise<number> {
  for (let turn = 0; turn < 2; turn++) await new Promise<void>((resolve) => setImmediate(resolve));
  return process.getActiveResourcesInfo().filter((r) => r === 'TCPServerWrap').length;
}
