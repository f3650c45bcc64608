/**
 * Per role of the catalog: a role queue (with its DLQ) and the agent-worker function that consumes it.
 */
import { Annotations, Aws, Duration, type RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { SecretEnvVar } from '../../shared/adapters/secrets';
import { EnvVar } from '../../shared/config';
import { AGENT_BATCH_SIZE } from '../../shared/deployment';
import type { RoleCatalog } from '../../shared/domain/roles';
import type { Role } from '../../shared/domain/schemas';
import { HandlerFunction } from './handler-function';
import { acknowledge } from './nag';

export { AGENT_BATCH_SIZE };

/** A message is tried this many times before it moves to the DLQ (a worker crash counts as one). */
export const MAX_RECEIVE_COUNT = 3;
/** Lambda's hard maximum timeout. */
const LAMBDA_MAX_TIMEOUT_SECONDS = 900;
/** Time the worker gets beyond the role's timeout to report the outcome (SendTaskFailure) after a timeout. */
const WORKER_GRACE_SECONDS = 30;
/** Visibility must outlast the worker, or SQS redelivers a message that is still being worked on. */
const VISIBILITY_MARGIN_SECONDS = 60;
/** SQS maximum visibility timeout (12 hours). */
const SQS_MAX_VISIBILITY_SECONDS = 43_200;
/** DLQ messages are kept for inspection and redrive for the SQS maximum (14 days). */
const DLQ_RETENTION = Duration.days(14);
/**
 * ROLE_QUEUE_URLS must fit Lambda's 4 KB environment (all variables, keys and values, together). A queue
 * URL is `https://sqs.<region>.amazonaws.com/<12-digit account>/<name>`, and CloudFormation names a queue
 * `<stack>-<logical id>-<13 random chars>`, cut at 80 characters. With the 22 built-in roles and the stack
 * name `MetaAgent` the map takes about 3.0 KB (3.16 KB worst case); ROLES_CONFIG and DEFAULT_EXECUTOR
 * count against the same budget.
 */
const QUEUE_URL_PREFIX_BYTES = 'https://sqs..amazonaws.com/123456789012/'.length;
/** Longest region name today (e.g. ap-southeast-5 is 14; leave room for longer ones). */
const MAX_REGION_BYTES = 16;
const CFN_RANDOM_SUFFIX_BYTES = 13;
const SQS_MAX_NAME_BYTES = 80;
/**
 * 4,096 bytes minus ~475 for the other variables of the functions that hold the map, the largest an agent
 * worker's (it runs the Complete of its attempts): its role, two table names, the artifacts bucket, a provider
 * secret's name or parameter prefix, Powertools, NODE_OPTIONS, the keys.
 */
export const ROLE_QUEUE_URLS_BUDGET_BYTES = 3_620;

/** Raised at synth when the role catalog is too large for ROLE_QUEUE_URLS to fit a Lambda environment. */
export class RoleQueueUrlsTooLargeError extends Error {
  constructor(
    readonly roles: number,
    readonly estimatedBytes: number,
  ) {
    super(
      `ROLE_QUEUE_URLS for ${roles} roles (with ROLES_CONFIG, COSTS_CONFIG and ROUTING_CONFIG) may take ${estimatedBytes} bytes, over the ${ROLE_QUEUE_URLS_BUDGET_BYTES}-byte budget ` +
        'within the Lambda 4 KB environment limit: remove roles, prices or routing settings from the rolesConfig file, shorten role names or the stack name.',
    );
    this.name = 'RoleQueueUrlsTooLargeError';
  }
}

/** Worst-case size of the ROLE_QUEUE_URLS JSON, from each role name and its queue logical id. */
export function estimateRoleQueueUrlsBytes(
  stackName: string,
  queues: readonly { role: string; logicalId: string }[],
): number {
  const entries = queues.map(({ role, logicalId }) => {
    const name = Math.min(
      SQS_MAX_NAME_BYTES,
      stackName.length + logicalId.length + CFN_RANDOM_SUFFIX_BYTES + 2,
    );
    // "role":"url",
    return role.length + QUEUE_URL_PREFIX_BYTES + MAX_REGION_BYTES + name + 6;
  });
  return 2 + entries.reduce((a, b) => a + b, 0);
}

/** Foundation models of the stack's region (Bedrock foundation-model ARNs have no account). */
const BEDROCK_FOUNDATION_MODELS_ARN = `arn:${Aws.PARTITION}:bedrock:${Aws.REGION}::foundation-model/*`;
/** How cdk-nag names that resource in its IAM5 finding. */
const BEDROCK_FOUNDATION_MODELS_FINDING = 'arn:<AWS::Partition>:bedrock:<AWS::Region>::foundation-model/*';
/** Cross-Region (system-defined) inference profiles of this account in the stack's region (`global.`, `us.` ...). */
const BEDROCK_INFERENCE_PROFILES_ARN = `arn:${Aws.PARTITION}:bedrock:${Aws.REGION}:${Aws.ACCOUNT_ID}:inference-profile/*`;
const BEDROCK_INFERENCE_PROFILES_FINDING =
  'arn:<AWS::Partition>:bedrock:<AWS::Region>:<AWS::AccountId>:inference-profile/*';
/**
 * The foundation models a profile routes to: in any destination region (geographic profiles) or without a
 * region (global profiles). Allowed only through one of the profiles above (bedrock:InferenceProfileArn).
 */
const BEDROCK_ROUTED_MODELS_ARNS = [
  `arn:${Aws.PARTITION}:bedrock:*::foundation-model/*`,
  `arn:${Aws.PARTITION}:bedrock:::foundation-model/*`,
];
const BEDROCK_ROUTED_MODELS_FINDINGS = [
  'Resource::arn:<AWS::Partition>:bedrock:*::foundation-model/*',
  'Resource::arn:<AWS::Partition>:bedrock:::foundation-model/*',
];

/** Raised when the SSM parameter prefix cannot name a parameter path. */
export class ParameterPrefixError extends Error {
  constructor(prefix: string) {
    super(
      `SSM parameter prefix "${prefix}" is invalid: use a path such as /meta-agent/providers (letters, digits, _.-/ only).`,
    );
    this.name = 'ParameterPrefixError';
  }
}

/** `/meta-agent/providers/` -> `meta-agent/providers` (the ARN form, without the leading slash). */
export function normalizeParameterPrefix(prefix: string): string {
  const path = prefix.replace(/^\/+|\/+$/g, '');
  if (path === '' || !/^[A-Za-z0-9_.\-/]+$/.test(path) || path.includes('//')) {
    throw new ParameterPrefixError(prefix);
  }
  return path;
}

export interface RoleWorker {
  readonly role: Role;
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;
  readonly worker: HandlerFunction;
  readonly eventSource: SqsEventSource;
}

export interface RoleWorkersProps {
  readonly roles: RoleCatalog;
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
  /** Extra environment for every worker (table names are set by the table bind methods). */
  readonly environment?: Record<string, string>;
}

export type QueueAccess = 'send' | 'attributes';

export class RoleWorkers extends Construct {
  /** role name -> its queue, DLQ, worker and event source. */
  readonly byRole: ReadonlyMap<string, RoleWorker>;

  constructor(scope: Construct, id: string, props: RoleWorkersProps) {
    super(scope, id);
    const byRole = new Map<string, RoleWorker>();
    for (const role of props.roles.values()) {
      byRole.set(role.name, this.addRole(role, props));
    }
    this.byRole = byRole;
    const stack = Stack.of(this);
    const estimated = estimateRoleQueueUrlsBytes(
      stack.stackName,
      [...byRole].map(([role, w]) => ({
        role,
        logicalId: stack.getLogicalId(w.queue.node.defaultChild as sqs.CfnQueue),
      })),
    );
    // The shared variables (ROLES_CONFIG, COSTS_CONFIG, DEFAULT_EXECUTOR, ROUTING_CONFIG) sit next to
    // ROLE_QUEUE_URLS in the same 4 KB.
    const shared = Object.entries(props.environment ?? {}).reduce((n, [k, v]) => n + k.length + v.length, 0);
    if (estimated + shared > ROLE_QUEUE_URLS_BUDGET_BYTES) {
      throw new RoleQueueUrlsTooLargeError(byRole.size, estimated + shared);
    }
  }

  /** role name -> queue. */
  get queues(): ReadonlyMap<string, sqs.Queue> {
    return new Map([...this.byRole].map(([name, w]) => [name, w.queue]));
  }

  get workers(): readonly HandlerFunction[] {
    return [...this.byRole.values()].map((w) => w.worker);
  }

  get deadLetterQueues(): readonly sqs.Queue[] {
    return [...this.byRole.values()].map((w) => w.deadLetterQueue);
  }

  /**
   * Sets ROLE_QUEUE_URLS (JSON role -> URL) on `fn` and grants it `access` on every role queue:
   * `send` (sqs:SendMessage) or `attributes` (sqs:GetQueueAttributes, for depth-based scaling).
   */
  bindQueues(fn: lambda.Function, access: QueueAccess = 'send'): void {
    const urls: Record<string, string> = {};
    for (const [name, { queue }] of this.byRole) {
      urls[name] = queue.queueUrl;
      if (access === 'send') queue.grantSendMessages(fn);
    }
    // One statement for every queue (a grant per queue is a statement each: with 25 roles the scaler's
    // inline policy neared IAM's 10,240 characters, and CDK moved its next grants to an overflow policy).
    if (access === 'attributes')
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl'],
          resources: [...this.byRole.values()].map((w) => w.queue.queueArn),
        }),
      );
    fn.addEnvironment(EnvVar.RoleQueueUrls, fn.stack.toJsonString(urls));
  }

  /**
   * Lets every worker call Bedrock (the `bedrock` executor: Converse and ConverseStream, which IAM
   * authorizes as InvokeModel / InvokeModelWithResponseStream) on the foundation models of this region.
   */
  grantBedrock(extra: readonly lambda.Function[] = []): void {
    const actions = ['bedrock:InvokeModel', 'bedrock:InvokeModelWithResponseStream'];
    const statements = [
      new iam.PolicyStatement({
        actions,
        resources: [BEDROCK_FOUNDATION_MODELS_ARN, BEDROCK_INFERENCE_PROFILES_ARN],
      }),
      new iam.PolicyStatement({
        actions,
        resources: BEDROCK_ROUTED_MODELS_ARNS,
        conditions: { StringLike: { 'bedrock:InferenceProfileArn': BEDROCK_INFERENCE_PROFILES_ARN } },
      }),
    ];
    for (const fn of [...this.workers.map((w) => w.fn), ...extra]) {
      for (const statement of statements) fn.addToRolePolicy(statement);
      acknowledge(
        fn.role ?? fn,
        'AwsSolutions-IAM5',
        'The model is chosen per role and per agent at run time (executor.model); the grant covers the foundation models of this region only, and Bedrock model access still has to be enabled per model.',
        [`Resource::${BEDROCK_FOUNDATION_MODELS_FINDING}`],
      );
      acknowledge(
        fn.role ?? fn,
        'AwsSolutions-IAM5',
        'The default Bedrock model is a cross-region inference profile (global.anthropic...): the workers may use the profiles of this account and region, and the foundation models those route to only through them (condition bedrock:InferenceProfileArn).',
        [`Resource::${BEDROCK_INFERENCE_PROFILES_FINDING}`, ...BEDROCK_ROUTED_MODELS_FINDINGS],
      );
    }
  }

  /**
   * Lets every worker read the provider keys secret (an existing Secrets Manager secret, by name) and tells
   * the workers its name (PROVIDER_SECRET_ID).
   */
  grantProviderSecret(secretName: string, extra: readonly lambda.Function[] = []): void {
    const secret = secretsmanager.Secret.fromSecretNameV2(this, 'ProviderSecret', secretName);
    for (const fn of [...this.workers.map((w) => w.fn), ...extra]) {
      secret.grantRead(fn);
      fn.addEnvironment(SecretEnvVar.SecretId, secretName);
      acknowledge(
        fn.role ?? fn,
        'AwsSolutions-IAM5',
        'Secrets Manager appends 6 random characters to a secret ARN; `<name>-??????` matches this one secret only.',
        [
          `Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:${secretName}-??????`,
        ],
      );
    }
  }

  /**
   * Lets every worker read the SecureString parameters under `prefix` (`<prefix>/anthropic`, ...), decrypting
   * them with KMS only through SSM, and tells the workers the prefix (PROVIDER_SSM_PREFIX).
   */
  grantProviderParameters(prefix: string, extra: readonly lambda.Function[] = []): void {
    const path = normalizeParameterPrefix(prefix);
    const stack = Stack.of(this);
    const parameters = stack.formatArn({ service: 'ssm', resource: 'parameter', resourceName: `${path}/*` });
    const statements = [
      new iam.PolicyStatement({
        actions: ['ssm:GetParameter', 'ssm:GetParameters'],
        resources: [parameters],
      }),
      // SecureStrings are encrypted with aws/ssm or a customer key the operator chooses; decryption is allowed
      // only when SSM asks for it on the workers' behalf.
      new iam.PolicyStatement({
        actions: ['kms:Decrypt'],
        resources: [stack.formatArn({ service: 'kms', resource: 'key', resourceName: '*' })],
        conditions: { StringEquals: { 'kms:ViaService': `ssm.${Aws.REGION}.amazonaws.com` } },
      }),
    ];
    for (const fn of [...this.workers.map((w) => w.fn), ...extra]) {
      for (const statement of statements) fn.addToRolePolicy(statement);
      fn.addEnvironment(SecretEnvVar.SsmPrefix, `/${path}`);
      acknowledge(
        fn.role ?? fn,
        'AwsSolutions-IAM5',
        'One SecureString per provider under the configured prefix (`<prefix>/anthropic`, ...); the grant covers that prefix only.',
        [`Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter/${path}/*`],
      );
      acknowledge(
        fn.role ?? fn,
        'AwsSolutions-IAM5',
        "The key of a SecureString is the operator's choice (aws/ssm or a CMK); kms:Decrypt is allowed only via SSM in this region (kms:ViaService).",
        ['Resource::arn:<AWS::Partition>:kms:<AWS::Region>:<AWS::AccountId>:key/*'],
      );
    }
  }

  private addRole(role: Role, props: RoleWorkersProps): RoleWorker {
    const scope = new Construct(this, role.name);
    const roleTimeout = role.defaults.timeoutSeconds;
    if (roleTimeout + WORKER_GRACE_SECONDS > LAMBDA_MAX_TIMEOUT_SECONDS) {
      Annotations.of(scope).addWarningV2(
        'meta-agent:role-timeout',
        `Role ${role.name} allows ${roleTimeout}s per task but a Lambda worker stops at ${LAMBDA_MAX_TIMEOUT_SECONDS}s; ` +
          'longer tasks will time out in the Dispatch state and be retried on another agent.',
      );
    }
    const workerTimeout = Math.min(LAMBDA_MAX_TIMEOUT_SECONDS, roleTimeout + WORKER_GRACE_SECONDS);
    const visibility = Math.min(
      SQS_MAX_VISIBILITY_SECONDS,
      Math.max(roleTimeout, workerTimeout) + VISIBILITY_MARGIN_SECONDS,
    );

    const deadLetterQueue = new sqs.Queue(scope, 'Dlq', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: DLQ_RETENTION,
      removalPolicy: props.removalPolicy,
    });
    acknowledge(
      deadLetterQueue,
      'AwsSolutions-SQS3',
      'This queue is the dead-letter queue of the role queue; a DLQ of a DLQ would only hide messages.',
    );
    const queue = new sqs.Queue(scope, 'Queue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(visibility),
      deadLetterQueue: { queue: deadLetterQueue, maxReceiveCount: MAX_RECEIVE_COUNT },
      removalPolicy: props.removalPolicy,
    });
    const worker = new HandlerFunction(scope, 'Worker', {
      handler: 'agent-worker',
      description: `Agent worker for role ${role.name}`,
      timeout: Duration.seconds(workerTimeout),
      logRetention: props.logRetention,
      removalPolicy: props.removalPolicy,
      environment: { ...props.environment, [EnvVar.AgentRole]: role.name },
    });
    const eventSource = new SqsEventSource(queue, {
      batchSize: AGENT_BATCH_SIZE,
      maxConcurrency: role.defaults.queueConcurrency,
      reportBatchItemFailures: true,
    });
    worker.fn.addEventSource(eventSource);
    return { role, queue, deadLetterQueue, worker, eventSource };
  }
}
