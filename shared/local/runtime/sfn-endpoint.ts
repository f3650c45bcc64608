/**
 * A loopback HTTP server speaking the Step Functions AWS JSON 1.0 protocol for the operations the handlers
 * use, so they keep the stock SFNClient (endpoint from AWS_ENDPOINT_URL_SFN, fake static credentials).
 * Errors use the AWS shape (`{"__type": "TaskTimedOut", "message": ...}`, HTTP 400) so the SDK throws the
 * named exception (TaskTimedOut, TaskDoesNotExist, ExecutionDoesNotExist, ...).
 */
import type { InProcessResponse } from '../../adapters/in-process-transport';
import {
  type EndpointRequest,
  jsonResponse,
  type LoopbackEndpoint,
  startLoopbackEndpoint,
} from './loopback-endpoint';
import { SfnApiError } from './token-registry';

const TARGET_PREFIX = 'AWSStepFunctions.';
const JSON_CONTENT_TYPE = 'application/x-amz-json-1.0';
/** A request body larger than Step Functions accepts (256 KiB payload, plus envelope) is refused. */
const MAX_BODY_BYTES = 1024 * 1024;

/** An error this endpoint returns with HTTP 400 and `__type: type`. */
export class SfnServiceError extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
    this.name = 'SfnServiceError';
  }
}

/** The operations served; inputs and outputs are the API's JSON shapes. */
export interface SfnOperations {
  SendTaskSuccess(input: { taskToken?: string; output?: string }): Promise<object> | object;
  SendTaskFailure(input: { taskToken?: string; error?: string; cause?: string }): Promise<object> | object;
  SendTaskHeartbeat(input: { taskToken?: string }): Promise<object> | object;
  StartExecution(input: {
    stateMachineArn?: string;
    name?: string;
    input?: string;
  }): Promise<object> | object;
  DescribeExecution(input: { executionArn?: string }): Promise<object> | object;
  StopExecution(input: { executionArn?: string; error?: string; cause?: string }): Promise<object> | object;
}

const SERVED_OPERATIONS: ReadonlySet<string> = new Set<keyof SfnOperations>([
  'SendTaskSuccess',
  'SendTaskFailure',
  'SendTaskHeartbeat',
  'StartExecution',
  'DescribeExecution',
  'StopExecution',
]);

/** `url` is the value for AWS_ENDPOINT_URL_SFN. */
export type SfnEndpoint = LoopbackEndpoint;

function answerError(type: string, message: string, status = 400): InProcessResponse {
  return jsonResponse(status, JSON_CONTENT_TYPE, { __type: type, message }, type);
}

/** One request's answer, whichever way it came (a socket, or in process). */
async function answer(operations: SfnOperations, request: EndpointRequest): Promise<InProcessResponse> {
  const { method, target } = request;
  if (method !== 'POST' || target === undefined || !target.startsWith(TARGET_PREFIX)) {
    return answerError('UnknownOperationException', 'Expected POST with X-Amz-Target: AWSStepFunctions.<Op>');
  }
  const operation = target.slice(TARGET_PREFIX.length);
  if (!SERVED_OPERATIONS.has(operation)) {
    return answerError('UnknownOperationException', `Operation ${operation} is not served locally`);
  }
  try {
    const text = await request.readBody();
    const input: unknown = text === '' ? {} : JSON.parse(text);
    const fn = operations[operation as keyof SfnOperations] as (input: unknown) => Promise<object> | object;
    return jsonResponse(200, JSON_CONTENT_TYPE, await fn.call(operations, input));
  } catch (error) {
    if (error instanceof SfnServiceError || error instanceof SfnApiError) {
      return answerError(error.type, error.message);
    }
    if (error instanceof SyntaxError) return answerError('SerializationException', error.message);
    return answerError('InternalFailure', error instanceof Error ? error.message : String(error), 500);
  }
}

/** Starts the endpoint on 127.0.0.1 with an ephemeral port. */
export function startSfnEndpoint(operations: SfnOperations): Promise<SfnEndpoint> {
  return startLoopbackEndpoint((request) => answer(operations, request), {
    maxBytes: MAX_BODY_BYTES,
    tooLarge: () => new SfnServiceError('ValidationException', 'Request body too large'),
  });
}
