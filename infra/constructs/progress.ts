/**
 * Live progress: a WebSocket API whose subscribers follow a batch, fed by the tasks table stream.
 * Table access of the two functions is bound by the stack (Tables.bindTasks); this construct wires the API,
 * the stream mapping and the ManageConnections permission.
 */
import { CfnOutput, Duration, type RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { WebSocketLambdaAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { PROGRESS_TOKEN_PARAMETER } from '../../shared/api-routes';
import { EnvVar } from '../../shared/config';
import { NOTIFIED_ITEM_TYPES, STREAM_BATCH_SIZE, STREAM_RETRY_ATTEMPTS } from '../../shared/deployment';
import { acknowledge } from './nag';

export { NOTIFIED_ITEM_TYPES, STREAM_BATCH_SIZE, STREAM_RETRY_ATTEMPTS };

const WS_RATE_LIMIT = 50;
const WS_BURST_LIMIT = 100;
const DLQ_RETENTION = Duration.days(14);

export interface ProgressProps {
  readonly tasksTable: dynamodb.ITable;
  readonly websocketFn: lambda.Function;
  readonly notifierFn: lambda.Function;
  /**
   * Mints progress tokens (POST /progress-tokens) and is the $connect authorizer that redeems them: a
   * browser cannot send the API key on a WebSocket handshake, so a connect carries `?token=` instead.
   */
  readonly progressTokenFn: lambda.Function;
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
}

export class Progress extends Construct {
  readonly webSocketApi: apigwv2.WebSocketApi;
  readonly stage: apigwv2.WebSocketStage;
  readonly notifierDeadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: ProgressProps) {
    super(scope, id);
    const integration = (name: string) => new WebSocketLambdaIntegration(name, props.websocketFn);
    this.webSocketApi = new apigwv2.WebSocketApi(this, 'WebSocketApi', {
      description: 'Meta-agent live progress: subscribe to a batch',
      routeSelectionExpression: '$request.body.action',
      disconnectRouteOptions: { integration: integration('Disconnect') },
    });
    // No identity cache: each token opens one connection (the authorizer spends it).
    const authorizer = new WebSocketLambdaAuthorizer('TokenAuthorizer', props.progressTokenFn, {
      identitySource: [`route.request.querystring.${PROGRESS_TOKEN_PARAMETER}`],
    });
    const connectRoute = new apigwv2.WebSocketRoute(this, 'ConnectRoute', {
      webSocketApi: this.webSocketApi,
      routeKey: '$connect',
      integration: integration('Connect'),
      authorizer,
    });
    // The subscribe answer ({"subscribed": batchId}) goes back to the client: a client reads the batch's
    // state after it, so no change falls between that read and the subscription.
    this.webSocketApi.addRoute('subscribe', { integration: integration('Subscribe'), returnResponse: true });

    const accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });
    this.stage = new apigwv2.WebSocketStage(this, 'Stage', {
      webSocketApi: this.webSocketApi,
      stageName: 'v1',
      autoDeploy: true,
      throttle: { rateLimit: WS_RATE_LIMIT, burstLimit: WS_BURST_LIMIT },
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(accessLogs),
        format: apigw.AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            routeKey: '$context.routeKey',
            eventType: '$context.eventType',
            connectionId: '$context.connectionId',
            status: '$context.status',
            sourceIp: '$context.identity.sourceIp',
            requestTime: '$context.requestTime',
            error: '$context.error.message',
          }),
        ),
      },
    });

    this.notifierDeadLetterQueue = new sqs.Queue(this, 'NotifierDlq', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: DLQ_RETENTION,
      removalPolicy: props.removalPolicy,
    });
    acknowledge(
      this.notifierDeadLetterQueue,
      'AwsSolutions-SQS3',
      'This queue is the on-failure destination of the notifier stream mapping; it is itself the DLQ.',
    );
    props.notifierFn.addEventSource(
      new DynamoEventSource(props.tasksTable, {
        startingPosition: lambda.StartingPosition.LATEST,
        batchSize: STREAM_BATCH_SIZE,
        bisectBatchOnError: true,
        retryAttempts: STREAM_RETRY_ATTEMPTS,
        reportBatchItemFailures: true,
        onFailure: new SqsDlq(this.notifierDeadLetterQueue),
        filters: [
          lambda.FilterCriteria.filter({
            dynamodb: { NewImage: { type: { S: lambda.FilterRule.or(...NOTIFIED_ITEM_TYPES) } } },
          }),
        ],
      }),
    );
    this.webSocketApi.grantManageConnections(props.notifierFn);
    props.notifierFn.addEnvironment(EnvVar.WebSocketEndpoint, this.stage.callbackUrl);

    new CfnOutput(this, 'WebSocketUrl', { key: 'WebSocketUrl', value: this.stage.url });
    // Handed out with every token, so clients that know only the REST URL find the socket.
    props.progressTokenFn.addEnvironment(EnvVar.ProgressWebSocketUrl, this.stage.url);

    const stack = Stack.of(this);
    const apiLogicalId = stack.getLogicalId(this.webSocketApi.node.defaultChild as apigwv2.CfnApi);
    for (const scope of [this.webSocketApi, connectRoute]) {
      acknowledge(
        scope,
        'AwsSolutions-APIG4',
        '$connect has a Lambda authorizer that redeems a single-use progress token minted behind the API key (POST /progress-tokens); API Gateway evaluates authorization on $connect only, so $disconnect and subscribe run on an admitted connection.',
      );
    }
    if (props.notifierFn.role) {
      acknowledge(
        props.notifierFn.role,
        'AwsSolutions-IAM5',
        'ManageConnections on `@connections/*` of this WebSocket API only: connection ids are created by clients at run time.',
        [
          `Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<${apiLogicalId}>/*/*/@connections/*`,
        ],
      );
    }
  }
}
