/** Real-shaped Lambda events for handler tests. */
import type { APIGatewayProxyEvent, SQSEvent, SQSRecord } from 'aws-lambda';

export function apiEvent(
  options: {
    method?: string;
    path?: string;
    body?: string | null;
    headers?: Record<string, string>;
    pathParameters?: Record<string, string> | null;
  } = {},
): APIGatewayProxyEvent {
  return {
    httpMethod: options.method ?? 'POST',
    path: options.path ?? '/batches',
    resource: options.path ?? '/batches',
    body: options.body ?? null,
    headers: { host: 'abc123.execute-api.us-east-1.amazonaws.com', ...(options.headers ?? {}) },
    multiValueHeaders: {},
    isBase64Encoded: false,
    pathParameters: options.pathParameters ?? null,
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    stageVariables: null,
    requestContext: {
      accountId: '123456789012',
      apiId: 'api',
      authorizer: null,
      protocol: 'HTTP/1.1',
      httpMethod: options.method ?? 'POST',
      identity: {} as APIGatewayProxyEvent['requestContext']['identity'],
      path: options.path ?? '/batches',
      stage: 'prod',
      requestId: 'req-1',
      requestTimeEpoch: 0,
      resourceId: 'res',
      resourcePath: options.path ?? '/batches',
      domainName: 'abc123.execute-api.us-east-1.amazonaws.com',
    },
  };
}

export function sqsRecord(messageId: string, body: string): SQSRecord {
  return {
    messageId,
    receiptHandle: `handle-${messageId}`,
    body,
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: '0',
      SenderId: 'sender',
      ApproximateFirstReceiveTimestamp: '0',
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:python_backend_coder',
    awsRegion: 'us-east-1',
  };
}

export const sqsEvent = (...records: SQSRecord[]): SQSEvent => ({ Records: records });

/** Environment every handler module needs at load. */
export const HANDLER_ENV = {
  TASKS_TABLE_NAME: 'tasks',
  AGENTS_TABLE_NAME: 'agents',
  STATE_MACHINE_ARN: 'arn:aws:states:us-east-1:123456789012:stateMachine:orchestrator',
  ROLE_QUEUE_URLS: JSON.stringify({ python_backend_coder: 'https://sqs.local/python_backend_coder' }),
  ARTIFACTS_BUCKET_NAME: 'artifacts',
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
  POWERTOOLS_METRICS_DISABLED: 'true',
  POWERTOOLS_LOG_LEVEL: 'SILENT',
};
