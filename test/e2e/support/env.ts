/**
 * Where the e2e suite points: any deployed endpoint (AWS, LocalStack, or `meta-agent serve`), named by
 * environment variables only. A missing or malformed variable stops the whole run with a message that
 * says which variable and how to get its value; nothing is skipped silently.
 */

/** The variables the suite reads. */
export const E2eEnv = {
  /** REST base URL, with the stage (e.g. the stack output ApiUrl `https://x.execute-api.../v1/`). */
  ApiUrl: 'META_AGENT_API_URL',
  /** API key value sent as `x-api-key` (REST and WebSocket $connect). Optional for `meta-agent serve`. */
  ApiKey: 'META_AGENT_API_KEY',
  /** WebSocket URL (stack output WebSocketUrl, or `ws://127.0.0.1:N/` for `meta-agent serve`). */
  WsUrl: 'META_AGENT_WS_URL',
  /** Upper bound for one batch to reach a terminal status, in ms. */
  TimeoutMs: 'META_AGENT_E2E_TIMEOUT_MS',
} as const;

/**
 * Default bound for one batch to finish. A first run on LocalStack starts a Lambda container per function
 * (tens of seconds each); on AWS or `meta-agent serve` a small batch takes seconds.
 */
export const DEFAULT_BATCH_TIMEOUT_MS = 180_000;

export interface E2eConfig {
  /** REST base URL without a trailing slash; paths are appended (`${apiUrl}/batches`). */
  readonly apiUrl: string;
  readonly apiKey?: string;
  readonly wsUrl?: string;
  readonly batchTimeoutMs: number;
}

/** The e2e environment is missing or wrong; the message names the variable and how to set it. */
export class E2eConfigurationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'E2eConfigurationError';
  }
}

const HOW_TO =
  'Against LocalStack: `eval "$(node localstack/e2e-env.mjs)"` after `npm run localstack:deploy`; against AWS: ' +
  '`eval "$(node localstack/e2e-env.mjs --target aws --outputs cdk-outputs.json)"`; against the local server: ' +
  '`npm run test:e2e:local`. See localstack/README.md.';

function parseUrl(name: string, value: string, protocols: readonly string[]): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new E2eConfigurationError(`${name}=${JSON.stringify(value)} is not a URL. ${HOW_TO}`);
  }
  if (!protocols.includes(url.protocol)) {
    throw new E2eConfigurationError(
      `${name}=${value} must use ${protocols.join(' or ')} (got ${url.protocol}). ${HOW_TO}`,
    );
  }
  return url;
}

/** Reads and checks the e2e variables; throws E2eConfigurationError when META_AGENT_API_URL is missing. */
export function readE2eConfig(env: NodeJS.ProcessEnv = process.env): E2eConfig {
  const rawApiUrl = env[E2eEnv.ApiUrl]?.trim();
  if (!rawApiUrl) {
    throw new E2eConfigurationError(
      `${E2eEnv.ApiUrl} is not set: the e2e suite runs against a deployed endpoint and has nothing to call. ${HOW_TO}`,
    );
  }
  const apiUrl = parseUrl(E2eEnv.ApiUrl, rawApiUrl, ['http:', 'https:']).href.replace(/\/+$/, '');
  const rawWsUrl = env[E2eEnv.WsUrl]?.trim();
  const wsUrl = rawWsUrl ? parseUrl(E2eEnv.WsUrl, rawWsUrl, ['ws:', 'wss:']).href : undefined;
  const apiKey = env[E2eEnv.ApiKey]?.trim() || undefined;
  const rawTimeout = env[E2eEnv.TimeoutMs]?.trim();
  const batchTimeoutMs = rawTimeout ? Number(rawTimeout) : DEFAULT_BATCH_TIMEOUT_MS;
  if (!Number.isInteger(batchTimeoutMs) || batchTimeoutMs <= 0) {
    throw new E2eConfigurationError(
      `${E2eEnv.TimeoutMs}=${rawTimeout} must be a positive integer number of milliseconds`,
    );
  }
  return {
    apiUrl,
    batchTimeoutMs,
    ...(apiKey !== undefined ? { apiKey } : {}),
    ...(wsUrl !== undefined ? { wsUrl } : {}),
  };
}

/** The WebSocket URL, or a loud failure: the progress case is part of the suite, never skipped. */
export function requireWsUrl(config: E2eConfig): string {
  if (config.wsUrl === undefined) {
    throw new E2eConfigurationError(
      `${E2eEnv.WsUrl} is not set: the progress case follows a batch over the WebSocket API (stack output ` +
        `WebSocketUrl, or ws://127.0.0.1:N/ for meta-agent serve). ${HOW_TO}`,
    );
  }
  return config.wsUrl;
}
