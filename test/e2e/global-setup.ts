/**
 * Runs once before the e2e suite: checks the environment and that the endpoint answers, so a missing
 * variable, a wrong URL or a rejected API key fails the whole run at once with one clear message instead
 * of every case timing out.
 */
import { E2eConfigurationError, E2eEnv, readE2eConfig } from './support/env';

/** A reachable endpoint answers GET /agents in well under this, even on a cold LocalStack Lambda. */
const PREFLIGHT_TIMEOUT_MS = 60_000;

export default async function setup(): Promise<void> {
  const config = readE2eConfig();
  const url = `${config.apiUrl}/agents`;
  let response: Response;
  try {
    response = await fetch(url, {
      headers: config.apiKey !== undefined ? { 'x-api-key': config.apiKey } : {},
      signal: AbortSignal.timeout(PREFLIGHT_TIMEOUT_MS),
    });
  } catch (error) {
    throw new E2eConfigurationError(
      `cannot reach ${E2eEnv.ApiUrl}=${config.apiUrl} (GET ${url}: ${(error as Error).message}); is the ` +
        'stack deployed or the server running?',
    );
  }
  if (response.status === 401 || response.status === 403) {
    throw new E2eConfigurationError(
      `GET ${url} answered ${response.status}: the API key is missing or wrong; set ${E2eEnv.ApiKey} to the ` +
        'value of the stack output ApiKeyId (aws apigateway get-api-key --include-value --api-key <id>)',
    );
  }
  if (response.status !== 200) {
    throw new E2eConfigurationError(
      `GET ${url} answered ${response.status} (${await response.text()}): ${E2eEnv.ApiUrl} must be the API ` +
        'base URL with its stage, e.g. the stack output ApiUrl',
    );
  }
}
