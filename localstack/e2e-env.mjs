#!/usr/bin/env node
/**
 * Prints the shell exports that point the e2e suite at a deployed stack, from the CDK outputs file:
 *
 *   eval "$(node localstack/e2e-env.mjs)"                                   # LocalStack, cdk-outputs.local.json
 *   eval "$(node localstack/e2e-env.mjs --target aws --outputs cdk-outputs.json)"   # AWS
 *
 * It reads ApiUrl, ApiKeyId and WebSocketUrl, fetches the API key's value with API Gateway GetApiKey
 * (includeValue) and prints META_AGENT_API_URL, META_AGENT_API_KEY and META_AGENT_WS_URL. On LocalStack the
 * URLs are rewritten to the form LocalStack serves (`http://<apiId>.execute-api.localhost.localstack.cloud:4566/v1/`)
 * and the SDK talks to the LocalStack endpoint with its test credentials.
 * Options: --outputs FILE, --stack NAME (default: the only stack in the file, or MetaAgent),
 * --target localstack|aws (default localstack), --endpoint URL (default $AWS_ENDPOINT_URL or http://localhost:4566).
 * Diagnostics go to stderr; stdout carries only the export lines.
 */
import { readFileSync } from 'node:fs';
import { APIGatewayClient, GetApiKeyCommand } from '@aws-sdk/client-api-gateway';

const DEFAULT_STACK = 'MetaAgent';
const DEFAULT_LOCALSTACK_ENDPOINT = 'http://localhost:4566';
/** Wildcard DNS name LocalStack documents for API Gateway invocations (resolves to 127.0.0.1). */
const LOCALSTACK_EXECUTE_API_DOMAIN = 'execute-api.localhost.localstack.cloud';
/** LocalStack's first run starts a container per Lambda function: give each batch more time. */
const LOCALSTACK_BATCH_TIMEOUT_MS = 300_000;
const DEFAULT_REGION = 'us-east-1';

class E2eEnvError extends Error {
  constructor(message) {
    super(message);
    this.name = 'E2eEnvError';
  }
}

function parseArgs(argv) {
  const options = { target: 'localstack', outputs: undefined, stack: undefined, endpoint: undefined };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i];
    const value = argv[i + 1];
    if (!['--outputs', '--stack', '--target', '--endpoint'].includes(name)) {
      throw new E2eEnvError(
        `unknown option ${name}; use --outputs FILE, --stack NAME, --target localstack|aws, --endpoint URL`,
      );
    }
    if (value === undefined) throw new E2eEnvError(`${name} needs a value`);
    options[name.slice(2)] = value;
    i++;
  }
  if (!['localstack', 'aws'].includes(options.target)) {
    throw new E2eEnvError(`--target must be localstack or aws, not ${options.target}`);
  }
  options.outputs ??= options.target === 'localstack' ? 'cdk-outputs.local.json' : 'cdk-outputs.json';
  return options;
}

function readOutputs(file, stackName) {
  let all;
  try {
    all = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new E2eEnvError(
      `cannot read the CDK outputs ${file} (${error.message}); deploy with --outputs-file ${file} first ` +
        '(npm run localstack:deploy writes cdk-outputs.local.json)',
    );
  }
  const stacks = Object.keys(all);
  const name = stackName ?? (stacks.length === 1 ? stacks[0] : DEFAULT_STACK);
  const outputs = all[name];
  if (!outputs) throw new E2eEnvError(`no stack ${name} in ${file} (it has: ${stacks.join(', ') || 'none'})`);
  for (const key of ['ApiUrl', 'ApiKeyId']) {
    if (typeof outputs[key] !== 'string')
      throw new E2eEnvError(`stack ${name} in ${file} has no output ${key}`);
  }
  return outputs;
}

/** `https://abc123.execute-api.us-east-1.amazonaws.com/v1/` -> the same API on LocalStack's edge port. */
function localstackUrl(deployedUrl, endpoint, protocol) {
  const deployed = new URL(deployedUrl);
  const edge = new URL(endpoint);
  const apiId = deployed.hostname.split('.')[0];
  const port = edge.port || (edge.protocol === 'https:' ? '443' : '80');
  return `${protocol}//${apiId}.${LOCALSTACK_EXECUTE_API_DOMAIN}:${port}${deployed.pathname}`;
}

/** Single-quoted for sh: safe for any value. */
function shellQuote(value) {
  return `'${String(value).replaceAll("'", `'"'"'`)}'`;
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const outputs = readOutputs(options.outputs, options.stack);
  const region = process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? DEFAULT_REGION;
  const local = options.target === 'localstack';
  const endpoint = options.endpoint ?? process.env.AWS_ENDPOINT_URL ?? DEFAULT_LOCALSTACK_ENDPOINT;
  const client = new APIGatewayClient(
    local ? { region, endpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } } : { region },
  );
  let apiKey;
  try {
    const key = await client.send(new GetApiKeyCommand({ apiKey: outputs.ApiKeyId, includeValue: true }));
    apiKey = key.value;
  } catch (error) {
    throw new E2eEnvError(
      `GetApiKey ${outputs.ApiKeyId} failed (${error.name}: ${error.message})` +
        (local ? ` against ${endpoint}; is LocalStack up (npm run localstack:up)?` : ''),
    );
  }
  if (!apiKey) throw new E2eEnvError(`GetApiKey ${outputs.ApiKeyId} returned no value`);

  const exports = {
    META_AGENT_API_URL: local ? localstackUrl(outputs.ApiUrl, endpoint, 'http:') : outputs.ApiUrl,
    META_AGENT_API_KEY: apiKey,
  };
  if (typeof outputs.WebSocketUrl === 'string') {
    exports.META_AGENT_WS_URL = local
      ? localstackUrl(outputs.WebSocketUrl, endpoint, 'ws:')
      : outputs.WebSocketUrl;
  } else {
    process.stderr.write('e2e-env: no WebSocketUrl output: the progress case will fail until one is set\n');
  }
  if (local && process.env.META_AGENT_E2E_TIMEOUT_MS === undefined) {
    exports.META_AGENT_E2E_TIMEOUT_MS = String(LOCALSTACK_BATCH_TIMEOUT_MS);
  }
  for (const [name, value] of Object.entries(exports))
    process.stdout.write(`export ${name}=${shellQuote(value)}\n`);
}

main().catch((error) => {
  process.stderr.write(`e2e-env: ${error.message}\n`);
  process.exit(error instanceof E2eEnvError ? 2 : 1);
});
