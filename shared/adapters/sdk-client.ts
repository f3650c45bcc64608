/**
 * AWS SDK clients as the orchestrator builds them (tunedClient): their resolved configuration in V8's
 * fast-properties mode, their middleware resolved once per command, and, served in process, no user agent.
 *
 * A client's resolved config is one object of about 50 properties that its middleware copies several times
 * a call (`{ ...config, ...context }` in the SDK's serialisation, deserialisation and endpoint steps). The
 * SDK builds it in a way that leaves it in V8's dictionary mode, where each copy costs about ten times as
 * much as for an object with fast properties: a DynamoDB GetItem answered at once in process cost 67.4 us of
 * the SDK's own CPU with the config as built, 40.5 us with it made fast (`npm run bench:sdk-call`).
 * `to-fast-properties` makes V8 turn the object to fast mode (by using it as a prototype once); the object,
 * its properties and their values are unchanged, so the client behaves the same. Applied to every client the
 * orchestrator builds, on AWS too, where it only saves CPU.
 */
import toFastProperties from 'to-fast-properties';
import { type LeanConfig, leanShortcut } from './in-process-calls';
import { inProcessRetryMiddleware, inProcessRetryOptions, type RetryConfig } from './in-process-retry';
import { IN_PROCESS_PROTOCOL } from './in-process-transport';

/** Returns `client` after putting its resolved config in fast-properties mode. */
export function fastConfig<C extends { readonly config: object }>(client: C): C {
  toFastProperties(client.config);
  return client;
}

/** What tunedClient reads and sets of a client (@smithy/core Client). */
interface SdkClient {
  readonly config: object;
  readonly middlewareStack: {
    remove(name: string): boolean;
    identify(): string[];
    // biome-ignore lint/suspicious/noExplicitAny: the SDK's middleware types, which this module does not import
    add(middleware: any, options: object): void;
  };
}

interface TunableConfig {
  serviceId?: string;
  cacheMiddleware?: boolean;
  requestHandler?: { metadata?: { handlerProtocol?: string } };
}

/**
 * Clients whose middleware is resolved once per command class: those whose endpoint never depends on a
 * call's input. A cached stack shares one context between calls, and the endpoint step writes the call's
 * endpoint there for the serializer to read after an await, so S3 (a bucket's endpoint) and API Gateway's
 * management API (a connection's) are left out; DynamoDB's document client caches on its own terms.
 */
const CACHED_SERVICES: ReadonlySet<string> = new Set(['SQS', 'SFN', 'Lambda']);

/**
 * The middleware a client served in process goes without: the user agent, which the SDK builds for every
 * request (its name and version pairs escaped by regular expressions, the retry and account-id settings
 * awaited for its feature flags) and no emulator reads.
 */
const SKIPPED_IN_PROCESS = ['getUserAgentMiddleware'] as const;

/**
 * Services whose in-process clients send their lean operations past the SDK's stack (in-process-calls.ts
 * leanShortcut). DynamoDB's document client does so itself (dynamodb/client.ts), after its marshalling, which a
 * shortcut at the start of the low-level client's stack would come before.
 */
const SHORTCUT_SERVICES: ReadonlySet<string> = new Set(['SQS', 'SFN']);

/**
 * Returns `client` tuned for the orchestrator's calls, on AWS and in process alike:
 * - its resolved config in fast-properties mode (fastConfig);
 * - SQS, Step Functions and Lambda clients: the middleware stack resolved once per command class rather than
 *   at every call (the SDK's public `cacheMiddleware` option; a stack is never changed after a client's first
 *   call here; see CACHED_SERVICES). DynamoDB's document client, which refuses the option, does the same
 *   itself (dynamodb/client.ts DocumentClient);
 * - served in process (the embedded runtime's emulators), without the SKIPPED_IN_PROCESS middleware, and with
 *   the lean retry middleware in the SDK's place (in-process-retry.ts: the same strategy, none of its per-call
 *   Error, UUID and headers), and for SQS and Step Functions the operations of in-process-calls.ts sent past
 *   the rest of the SDK's stack (leanShortcut).
 * Why: in a run a call's middleware runs a few hundred times at most, in V8's interpreter and baseline code,
 * and the stack's resolution (its entries copied and sorted for every call) and the user agent are about a
 * third of the SDK's work then: a GetItem, UpdateItem and Query in turn, answered at once in process, calls
 * 100 to 1,200 of a new process, about 260 µs of CPU a call as built and 165 µs tuned.
 */
export function tunedClient<C extends SdkClient>(client: C): C {
  const config = client.config as TunableConfig;
  if (config.serviceId !== undefined && CACHED_SERVICES.has(config.serviceId)) config.cacheMiddleware = true;
  if (config.requestHandler?.metadata?.handlerProtocol === IN_PROCESS_PROTOCOL) {
    for (const name of SKIPPED_IN_PROCESS) client.middlewareStack.remove(name);
    client.middlewareStack.add(
      inProcessRetryMiddleware(client.config as unknown as RetryConfig),
      inProcessRetryOptions,
    );
    if (config.serviceId !== undefined && SHORTCUT_SERVICES.has(config.serviceId)) {
      const shortcut = leanShortcut(client.config as unknown as LeanConfig, client.middlewareStack);
      client.middlewareStack.add(shortcut.middleware, shortcut.options);
    }
  }
  return fastConfig(client);
}
