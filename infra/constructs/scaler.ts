/**
 * The scaler: every minute it spawns or terminates idle logical agents, opens or closes circuit breakers,
 * reclaims expired reservations and sets each role's MaximumConcurrency from its queue depth. It wakes tasks
 * parked for the slots it reclaims or spawns, so the stack grants it task responses (MetaAgentStack).
 */
import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { HandlerFunction } from './handler-function';
import { acknowledge } from './nag';
import type { RoleWorkers } from './role-workers';
import type { Tables } from './tables';

/** How often the scaler runs (EventBridge's finest schedule). */
export const SCALER_RATE = Duration.minutes(1);
/**
 * One run at a time: two overlapping runs would race on the same agents and mappings. Accounts whose
 * concurrency quota is the new-account minimum (10) cannot reserve any; pass 0 there (context
 * `scalerReservedConcurrency=0`) and rely on the handler's conditional writes.
 */
export const SCALER_RESERVED_CONCURRENCY = 1;
const SCALER_TIMEOUT = Duration.seconds(50);

export interface ScalerProps {
  readonly tables: Tables;
  readonly roleWorkers: RoleWorkers;
  readonly environment: Record<string, string>;
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
  /** Reserved concurrency of the scaler; 0 reserves none. Default {@link SCALER_RESERVED_CONCURRENCY}. */
  readonly reservedConcurrency?: number;
}

export class Scaler extends Construct {
  readonly handler: HandlerFunction;
  readonly schedule: events.Rule;

  constructor(scope: Construct, id: string, props: ScalerProps) {
    super(scope, id);
    const reserved = props.reservedConcurrency ?? SCALER_RESERVED_CONCURRENCY;
    this.handler = new HandlerFunction(this, 'Scaler', {
      handler: 'scaler',
      description: 'Scales logical agents and role queue concurrency',
      timeout: SCALER_TIMEOUT,
      ...(reserved > 0 ? { reservedConcurrentExecutions: reserved } : {}),
      environment: props.environment,
      logRetention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });
    const fn = this.handler.fn;
    props.tables.bindAgents(fn, 'readWrite');
    props.roleWorkers.bindQueues(fn, 'attributes');
    // The scaler finds a role's mapping by its queue ARN (ListEventSourceMappings, which has no
    // resource-level permission) and may only read and update the role workers' own mappings.
    fn.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['lambda:ListEventSourceMappings'], resources: ['*'] }),
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['lambda:GetEventSourceMapping', 'lambda:UpdateEventSourceMapping'],
        resources: [...props.roleWorkers.byRole.values()].map((w) => w.eventSource.eventSourceMappingArn),
      }),
    );
    this.schedule = new events.Rule(this, 'Schedule', {
      description: 'Runs the meta-agent scaler',
      schedule: events.Schedule.rate(SCALER_RATE),
      targets: [new targets.LambdaFunction(fn, { retryAttempts: 0 })],
    });
    if (fn.role) {
      acknowledge(
        fn.role,
        'AwsSolutions-IAM5',
        'lambda:ListEventSourceMappings supports no resource-level permission; updates are limited to the role workers mappings.',
        ['Resource::*'],
      );
    }
  }
}
