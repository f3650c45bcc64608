/**
 * Dashboard and alarms. Alarms have no action here: attach an SNS topic or a chat integration per account.
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';

const PERIOD = Duration.minutes(1);
/** Dashboard graphs hold at most this many lines before they stop being readable. */
const MAX_LINES_PER_GRAPH = 25;

export interface ObservabilityProps {
  readonly stateMachine: sfn.StateMachine;
  /** Every dead-letter queue: any message in one is a task or notification that needs a look. */
  readonly deadLetterQueues: readonly sqs.IQueue[];
  /** role name -> queue. */
  readonly roleQueues: ReadonlyMap<string, sqs.IQueue>;
  /** Every function, by a readable name. */
  readonly functions: ReadonlyMap<string, lambda.IFunction>;
}

export class Observability extends Construct {
  readonly dashboard: cloudwatch.Dashboard;
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    const failed = props.stateMachine.metricFailed({ period: PERIOD, statistic: 'Sum' });
    this.alarms.push(
      failed.createAlarm(this, 'ExecutionsFailed', {
        alarmDescription: 'A batch execution failed (Finalize could not run or the workflow broke).',
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );
    props.deadLetterQueues.forEach((dlq, index) => {
      this.alarms.push(
        dlq
          .metricApproximateNumberOfMessagesVisible({ period: PERIOD, statistic: 'Maximum' })
          .createAlarm(this, `DlqDepth${index}`, {
            alarmDescription: 'Messages reached a dead-letter queue: inspect them, then redrive.',
            threshold: 0,
            comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluationPeriods: 1,
            treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
          }),
      );
    });
    for (const [name, fn] of props.functions) {
      this.alarms.push(
        fn.metricThrottles({ period: PERIOD, statistic: 'Sum' }).createAlarm(this, `Throttles-${name}`, {
          alarmDescription: `Lambda ${name} is throttled: raise its concurrency or the account limit.`,
          threshold: 0,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
    }

    const chunk = <T>(items: readonly T[]): T[][] => {
      const out: T[][] = [];
      for (let i = 0; i < items.length; i += MAX_LINES_PER_GRAPH)
        out.push(items.slice(i, i + MAX_LINES_PER_GRAPH));
      return out;
    };
    const queueDepth = [...props.roleQueues].map(([role, q]) =>
      q.metricApproximateNumberOfMessagesVisible({ period: PERIOD, statistic: 'Maximum', label: role }),
    );
    const fnEntries = [...props.functions];
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      widgets: [
        [
          new cloudwatch.GraphWidget({
            title: 'Batch executions',
            width: 12,
            left: [
              props.stateMachine.metricStarted({ period: PERIOD }),
              props.stateMachine.metricSucceeded({ period: PERIOD }),
              failed,
              props.stateMachine.metricAborted({ period: PERIOD }),
            ],
          }),
          new cloudwatch.AlarmStatusWidget({ title: 'Alarms', width: 12, alarms: this.alarms }),
        ],
        chunk(queueDepth).map(
          (left, i) => new cloudwatch.GraphWidget({ title: `Role queue depth (${i + 1})`, width: 12, left }),
        ),
        chunk(fnEntries).flatMap(([...entries], i) => [
          new cloudwatch.GraphWidget({
            title: `Lambda errors (${i + 1})`,
            width: 12,
            left: entries.map(([name, fn]) => fn.metricErrors({ period: PERIOD, label: name })),
          }),
          new cloudwatch.GraphWidget({
            title: `Lambda throttles (${i + 1})`,
            width: 12,
            left: entries.map(([name, fn]) => fn.metricThrottles({ period: PERIOD, label: name })),
          }),
        ]),
      ],
    });
  }
}
