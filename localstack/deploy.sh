#!/bin/sh
# Deploys the stack to LocalStack (`npm run localstack:deploy`): cdklocal bootstrap, then deploy as a
# throw-away dev stack, with the outputs (ApiUrl, ApiKeyId, WebSocketUrl) in cdk-outputs.local.json.
# Extra arguments go to `cdklocal deploy` (e.g. --context defaultExecutor=simulated).
set -eu

# cdklocal drops every AWS_* variable that is not allow-listed (credentials become test/test, so this never
# reaches an AWS account) and points the CDK at localhost.localstack.cloud:4566. Let the region through.
export AWS_REGION="${AWS_REGION:-us-east-1}"
export AWS_DEFAULT_REGION="$AWS_REGION"
export AWS_ENVAR_ALLOWLIST="${AWS_ENVAR_ALLOWLIST:-AWS_REGION,AWS_DEFAULT_REGION}"
LOCALSTACK_ENDPOINT="${AWS_ENDPOINT_URL:-http://localhost:4566}"
# LocalStack's default account id.
ACCOUNT=000000000000
OUTPUTS="${CDK_OUTPUTS_FILE:-cdk-outputs.local.json}"

if ! curl -fsS "$LOCALSTACK_ENDPOINT/_localstack/health" >/dev/null 2>&1; then
  echo "localstack:deploy: LocalStack does not answer on $LOCALSTACK_ENDPOINT; run npm run localstack:up first" >&2
  exit 2
fi

npx cdklocal bootstrap "aws://$ACCOUNT/$AWS_REGION"
npx cdklocal deploy MetaAgent --require-approval never --context dev=true --outputs-file "$OUTPUTS" "$@"
echo "localstack:deploy: outputs in $OUTPUTS; next: eval \"\$(node localstack/e2e-env.mjs)\" && npm run test:e2e" >&2
