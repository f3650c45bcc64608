/**
 * The two DynamoDB tables. Keys come from shared/adapters/dynamodb/tables.ts so the embedded runtime's
 * emulated tables match the deployed ones exactly.
 */
import type { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { AGENTS_TABLE, TASKS_TABLE } from '../../shared/adapters/dynamodb/tables';
import { EnvVar } from '../../shared/config';
import { acknowledge } from './nag';

export type TableAccess = 'read' | 'readWrite';

export interface TablesProps {
  /** RETAIN in production (the default in the stack); DESTROY for throw-away dev stacks. */
  readonly removalPolicy: RemovalPolicy;
}

export class Tables extends Construct {
  /** Batches, tasks, idempotency keys, WebSocket connections; its stream feeds progress notifications. */
  readonly tasks: dynamodb.Table;
  /** Logical agents, with the byRole index. */
  readonly agents: dynamodb.Table;

  constructor(scope: Construct, id: string, props: TablesProps) {
    super(scope, id);
    // Encryption: AWS owned keys are the DynamoDB default; we ask for the AWS managed key (aws/dynamodb) so
    // key use shows in CloudTrail, without the cost and policy work of a customer managed key.
    const common = {
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      removalPolicy: props.removalPolicy,
    };
    this.tasks = new dynamodb.Table(this, 'Tasks', {
      ...common,
      partitionKey: { name: TASKS_TABLE.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: TASKS_TABLE.sortKey, type: dynamodb.AttributeType.STRING },
      stream: dynamodb.StreamViewType[TASKS_TABLE.streamViewType],
      timeToLiveAttribute: TASKS_TABLE.ttlAttribute,
    });
    // The batch list (GET /batches), and the running batches alone (the scaler's look at executions whose end
    // went unseen): batch items only, without their task id lists.
    for (const index of [TASKS_TABLE.batchListIndex, TASKS_TABLE.runningIndex]) {
      this.tasks.addGlobalSecondaryIndex({
        indexName: index.name,
        partitionKey: { name: index.partitionKey, type: dynamodb.AttributeType.STRING },
        sortKey: { name: index.sortKey, type: dynamodb.AttributeType.STRING },
        projectionType: dynamodb.ProjectionType.INCLUDE,
        nonKeyAttributes: [...index.nonKeyAttributes],
      });
    }
    this.agents = new dynamodb.Table(this, 'Agents', {
      ...common,
      partitionKey: { name: AGENTS_TABLE.partitionKey, type: dynamodb.AttributeType.STRING },
    });
    this.agents.addGlobalSecondaryIndex({
      indexName: AGENTS_TABLE.byRoleIndex.name,
      partitionKey: { name: AGENTS_TABLE.byRoleIndex.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: AGENTS_TABLE.byRoleIndex.sortKey, type: dynamodb.AttributeType.STRING },
      // The router and the scaler read whole agents (load, metrics, circuit) from this index: a KEYS_ONLY or
      // INCLUDE projection would hand them agents with missing counters.
      projectionType: dynamodb.ProjectionType.ALL,
    });
    // Waiting marks only, in the order releases hand them slots. ALL: a release filters on `handedAt` and
    // `parkedToken`, which a narrower projection would leave out (the filter then passes every mark).
    this.agents.addGlobalSecondaryIndex({
      indexName: AGENTS_TABLE.byWaitIndex.name,
      partitionKey: { name: AGENTS_TABLE.byWaitIndex.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: AGENTS_TABLE.byWaitIndex.sortKey, type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.ALL,
    });
  }

  /** Grants `fn` access to the tasks table and tells it the table name (TASKS_TABLE_NAME). */
  bindTasks(fn: lambda.Function, access: TableAccess): void {
    bind(this.tasks, fn, access, EnvVar.TasksTable);
  }

  /** Grants `fn` access to the agents table (and its byRole index) and sets AGENTS_TABLE_NAME. */
  bindAgents(fn: lambda.Function, access: TableAccess): void {
    bind(this.agents, fn, access, EnvVar.AgentsTable);
  }
}

function bind(table: dynamodb.Table, fn: lambda.Function, access: TableAccess, envVar: string): void {
  if (access === 'read') table.grantReadData(fn);
  else table.grantReadWriteData(fn);
  fn.addEnvironment(envVar, table.tableName);
  const tableId = table.stack.getLogicalId(table.node.defaultChild as dynamodb.CfnTable);
  if (fn.role) {
    acknowledge(
      fn.role,
      'AwsSolutions-IAM5',
      'The CDK table grant adds `<table>/index/*` so queries on this table own indexes (byRole, byWait) are allowed; it covers this table only.',
      [`Resource::<${tableId}.Arn>/index/*`],
    );
  }
}
