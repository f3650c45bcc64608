/**
 * Configuration shared by the SDK clients the handlers create.
 *
 * Sockets: the SDK's default agent allows 50 sockets per client and queues the rest. A Lambda invocation
 * never comes close, but the embedded runtime runs every handler of a batch in one process, where 2,000
 * concurrent routes queued behind 50 sockets for seconds and starved the workers' heartbeats.
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';

/** Sockets per client: enough for every task of the largest batch to have a request in flight. */
export const MAX_SOCKETS_PER_CLIENT = 2_048;

/** Options for any SDK v3 client: keep-alive connections and the socket limit above. */
export function sdkClientConfig() {
  return {
    requestHandler: {
      httpAgent: new HttpAgent({ keepAlive: true, maxSockets: MAX_SOCKETS_PER_CLIENT }),
      httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: MAX_SOCKETS_PER_CLIENT }),
    },
  };
}
