/**
 * The state machine definition for the embedded local runtime: synthesized from the very construct that is
 * deployed (never a hand-written copy), with CloudFormation intrinsics resolved to plain local ARNs.
 */
import { rmSync } from 'node:fs';
import { App, CfnResource } from 'aws-cdk-lib';
import type { CfnStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { StateName, TaskStateHandler } from '../shared/domain/workflow';
import { addMetaAgentStack } from './config';
import type { HandlerName } from './constructs/handler-function';
import type { MetaAgentStack } from './stack';

/** Placeholders the local runtime sees for the pseudo parameters. */
export const LOCAL_PARTITION = 'aws';
export const LOCAL_REGION = 'local';
export const LOCAL_ACCOUNT = '000000000000';

export interface LocalDefinition {
  /** The ASL, as deployed, with every intrinsic resolved. */
  readonly definition: Record<string, unknown>;
  /** Task state name -> handler name (functions/<name>.ts). */
  readonly taskStates: Record<string, string>;
}

/** Raised when the synthesized definition holds an intrinsic this resolver does not know. */
export class LocalDefinitionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LocalDefinitionError';
  }
}

type Resources = Record<string, { Type: string }>;

/** The local ARN (or value) of `Fn::GetAtt [logicalId, attribute]`. */
function getAtt(resources: Resources, logicalId: string, attribute: string): string {
  const type = resources[logicalId]?.Type;
  if (type === undefined) throw new LocalDefinitionError(`Fn::GetAtt names unknown resource ${logicalId}`);
  const base = `${LOCAL_REGION}:${LOCAL_ACCOUNT}`;
  if (type === 'AWS::Lambda::Function' && attribute === 'Arn') {
    return `arn:${LOCAL_PARTITION}:lambda:${base}:function:${logicalId}`;
  }
  if (type === 'AWS::SQS::Queue' && attribute === 'Arn')
    return `arn:${LOCAL_PARTITION}:sqs:${base}:${logicalId}`;
  if (type === 'AWS::SQS::Queue' && attribute === 'QueueUrl') {
    return `http://sqs.${LOCAL_REGION}.localhost/${LOCAL_ACCOUNT}/${logicalId}`;
  }
  const service = type.split('::')[1]?.toLowerCase() ?? 'local';
  return `arn:${LOCAL_PARTITION}:${service}:${base}:${logicalId}/${attribute}`;
}

function ref(resources: Resources, name: string): string {
  switch (name) {
    case 'AWS::Partition':
      return LOCAL_PARTITION;
    case 'AWS::Region':
      return LOCAL_REGION;
    case 'AWS::AccountId':
      return LOCAL_ACCOUNT;
    case 'AWS::URLSuffix':
      return 'amazonaws.com';
    default:
      if (resources[name] === undefined) throw new LocalDefinitionError(`Ref names unknown resource ${name}`);
      return name;
  }
}

/** Resolves Fn::Join / Ref / Fn::GetAtt in `value` to plain strings. */
export function resolveIntrinsics(value: unknown, resources: Resources): unknown {
  if (Array.isArray(value)) return value.map((v) => resolveIntrinsics(v, resources));
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value as Record<string, unknown>);
  const [first] = entries;
  if (entries.length === 1 && first && (first[0] === 'Ref' || first[0].startsWith('Fn::'))) {
    const [fn, arg] = first;
    if (fn === 'Ref' && typeof arg === 'string') return ref(resources, arg);
    if (fn === 'Fn::GetAtt' && Array.isArray(arg) && arg.length === 2) {
      return getAtt(resources, String(arg[0]), String(arg[1]));
    }
    if (fn === 'Fn::Join' && Array.isArray(arg) && typeof arg[0] === 'string' && Array.isArray(arg[1])) {
      return (arg[1] as unknown[]).map((part) => String(resolveIntrinsics(part, resources))).join(arg[0]);
    }
    throw new LocalDefinitionError(`Unsupported intrinsic ${fn} in the state machine definition`);
  }
  return Object.fromEntries(entries.map(([k, v]) => [k, resolveIntrinsics(v, resources)]));
}

/**
 * Task state -> handler: the workflow contract's table plus Dispatch, DispatchToReview and DispatchReview,
 * served by the role's agent worker.
 */
export const LOCAL_TASK_STATES: Readonly<Record<string, HandlerName>> = {
  ...TaskStateHandler,
  [StateName.Dispatch]: 'agent-worker',
  [StateName.DispatchToReview]: 'agent-worker',
  [StateName.DispatchReview]: 'agent-worker',
};

const cache = new Map<string, LocalDefinition>();

/**
 * The state machine's DefinitionString exactly as synthesis writes it into the template (the CFN property
 * resolved by its stack), with the types of all resources it may reference.
 *
 * Why not `app.synth()`: a full synthesis of the stack (380 resources, template validation, tree.json)
 * takes 3-7 s; resolving the one property takes milliseconds and yields the same value
 * (test/infra asserts it equals the DefinitionString of the synthesized template).
 */
export function stateMachineDefinitionString(stack: MetaAgentStack): {
  definitionString: unknown;
  resources: Resources;
} {
  const resources: Resources = {};
  for (const construct of stack.node.findAll()) {
    if (CfnResource.isCfnResource(construct)) {
      resources[stack.getLogicalId(construct)] = { Type: construct.cfnResourceType };
    }
  }
  const cfn = stack.orchestration.stateMachine.node.defaultChild as CfnStateMachine;
  return { definitionString: stack.resolve(cfn.definitionString), resources };
}

/**
 * Builds the stack in a fresh in-process App with bundling skipped (context `aws:cdk:bundling-stacks: []`),
 * takes the state machine's DefinitionString and resolves its intrinsics to local ARNs
 * (`arn:aws:lambda:local:000000000000:function:<logicalId>`).
 * `rolesConfig` is a parsed role config (`{ "roles": [...] }` or the bare array). Cached per config.
 */
export function synthesizeLocalDefinition(options: { rolesConfig?: unknown } = {}): LocalDefinition {
  const key = JSON.stringify(options.rolesConfig ?? null);
  const cached = cache.get(key);
  if (cached) return structuredClone(cached);

  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  let stack: MetaAgentStack;
  try {
    stack = addMetaAgentStack(app, options.rolesConfig ?? []);
  } finally {
    // The App made a temporary assembly directory (cdk.out*) it never writes here: nothing to keep.
    rmSync(app.outdir, { recursive: true, force: true });
  }
  const { definitionString, resources } = stateMachineDefinitionString(stack);
  const resolved = resolveIntrinsics(definitionString, resources);
  if (typeof resolved !== 'string')
    throw new LocalDefinitionError('DefinitionString did not resolve to a string');
  const result: LocalDefinition = {
    definition: JSON.parse(resolved) as Record<string, unknown>,
    taskStates: { ...LOCAL_TASK_STATES },
  };
  cache.set(key, result);
  return structuredClone(result);
}
