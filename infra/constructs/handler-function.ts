/**
 * One Lambda function per handler entry (functions/<name>.ts), all built by a single local esbuild run.
 *
 * Why one build: 22 role workers and a dozen core handlers share their dependencies; building every entry in
 * one esbuild call (instead of NodejsFunction's one build per function) keeps a full `cdk synth` to a few
 * seconds, and the workers all point at the same asset directory, so CDK uploads it once.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, type RemovalPolicy, Stack, Tags } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { buildSync } from 'esbuild';
import { HANDLER_NAMES, type HandlerName } from '../../shared/deployment';
import { acknowledge } from './nag';

export { HANDLER_NAMES, type HandlerName };

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Build output (git-ignored `dist/`): one directory per handler, each holding index.mjs and its source map. */
export const LAMBDA_BUILD_DIR = join(REPO_ROOT, 'dist', 'lambda');

/** ESM bundles still meet CommonJS dependencies that call `require`; give them one. */
const ESM_REQUIRE_BANNER =
  "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);";

/** When bundling is skipped (local runtime, tests), every function gets this instead of a real bundle. */
const PLACEHOLDER_CODE =
  "exports.handler = async () => { throw new Error('synthesized with bundling skipped: deploy from a full synth'); };";

let builtOnce = false;

/**
 * Bundles every handler entry with the local esbuild (never Docker), once per process.
 * Exported for the synth-time check in tests and scripts; constructs call it through {@link handlerCode}.
 */
export function buildAllHandlers(outdir: string = LAMBDA_BUILD_DIR): void {
  if (builtOnce && outdir === LAMBDA_BUILD_DIR) return;
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  const entryPoints = Object.fromEntries(
    HANDLER_NAMES.map((name) => [`${name}/index`, join(REPO_ROOT, 'functions', `${name}.ts`)]),
  );
  buildSync({
    entryPoints,
    outdir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    minify: true,
    sourcemap: true,
    // The Lambda Node.js runtime ships the AWS SDK v3; bundling it would only grow cold starts.
    external: ['@aws-sdk/*'],
    banner: { js: ESM_REQUIRE_BANNER },
    logLevel: 'error',
  });
  if (outdir === LAMBDA_BUILD_DIR) builtOnce = true;
}

/** The code of one handler: its bundle directory, or an inline placeholder when bundling is skipped. */
export function handlerCode(scope: Construct, name: HandlerName): lambda.Code {
  if (!Stack.of(scope).bundlingRequired) return lambda.Code.fromInline(PLACEHOLDER_CODE);
  buildAllHandlers();
  const dir = join(LAMBDA_BUILD_DIR, name);
  if (!existsSync(join(dir, 'index.mjs'))) {
    throw new Error(`esbuild produced no bundle for handler ${name} in ${dir}`);
  }
  return lambda.Code.fromAsset(dir);
}

/**
 * Tag naming the handler entry (functions/<name>.ts) a function runs. It is in the template (tests map each
 * function to its handler by it) and in the console (operators find every worker of the one handler).
 */
export const HANDLER_TAG = 'meta-agent:handler';

/** Service name and metrics namespace every handler's Powertools reads. */
export const POWERTOOLS_SERVICE_NAME = 'meta-agent';
export const POWERTOOLS_METRICS_NAMESPACE = 'MetaAgent';

export interface HandlerFunctionProps {
  readonly handler: HandlerName;
  readonly description: string;
  readonly timeout?: Duration;
  readonly memorySize?: number;
  readonly environment?: Record<string, string>;
  /** Only where concurrency must be bounded (e.g. one scaler run at a time). */
  readonly reservedConcurrentExecutions?: number;
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
}

const DEFAULT_TIMEOUT = Duration.seconds(30);
const DEFAULT_MEMORY_MB = 512;

/**
 * A handler's Lambda: Node.js 24 on ARM64 (cheaper per GB-second), X-Ray active, its own log group with a
 * retention (no LogRetention custom resource), Powertools configured by environment.
 */
export class HandlerFunction extends Construct {
  readonly fn: lambda.Function;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: HandlerFunctionProps) {
    super(scope, id);
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });
    this.fn = new lambda.Function(this, 'Function', {
      description: props.description,
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      handler: 'index.handler',
      code: handlerCode(this, props.handler),
      timeout: props.timeout ?? DEFAULT_TIMEOUT,
      memorySize: props.memorySize ?? DEFAULT_MEMORY_MB,
      tracing: lambda.Tracing.ACTIVE,
      logGroup: this.logGroup,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      environment: {
        POWERTOOLS_SERVICE_NAME,
        POWERTOOLS_METRICS_NAMESPACE,
        NODE_OPTIONS: '--enable-source-maps',
        ...props.environment,
      },
    });
    Tags.of(this.fn).add(HANDLER_TAG, props.handler, { includeResourceTypes: ['AWS::Lambda::Function'] });
    const role = this.fn.role;
    if (role) {
      acknowledge(
        role,
        'AwsSolutions-IAM4',
        'AWSLambdaBasicExecutionRole only lets this function write its own CloudWatch logs: the least-privilege managed policy for it.',
        ['Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole'],
      );
      acknowledge(
        role,
        'AwsSolutions-IAM5',
        'X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions; Lambda active tracing needs them.',
        ['Resource::*'],
      );
    }
  }
}
