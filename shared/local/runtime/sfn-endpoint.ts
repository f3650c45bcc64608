/**
 * A loopback HTTP server speaking the Step Functions AWS JSON 1.0 protocol for the operations the handlers
 * use, so they keep the stock SFNClient (endpoint from AWS_ENDPOINT_URL_SFN, fake static credentials).
 * Errors use the AWS shape (`{"__type": "TaskTimedOut", "message": ...}`, HTTP 400) so the SDK throws the
 * named exception (TaskTimedOut, TaskDoesNotExist, ExecutionDoesNotExist, ...).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { InProcessResponse, InProcessServer } from '../../adapters/in-process-transport';
import { listenOnLoopback } from './emulators';
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

export interface SfnEndpoint {
  /** `http://127.0.0.1:<port>`: the value for AWS_ENDPOINT_URL_SFN. */
  readonly url: string;
  readonly port: number;
  /** The same answers in process (in-process-transport.ts), beside the port. */
  readonly serve: InProcessServer;
  close(): Promise<void>;
}

function answerJson(statusCode: number, body: unknown, errorType?: string): InProcessResponse {
  return {
    statusCode,
    headers: {
      'content-type': JSON_CONTENT_TYPE,
      ...(errorType === undefined ? {} : { 'x-amzn-errortype': errorType }),
    },
    body: JSON.stringify(body),
  };
}

function answerError(type: string, message: string, status = 400): InProcessResponse {
  return answerJson(status, { __type: type, message }, type);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_BODY_BYTES) throw new SfnServiceError('ValidationException', 'Request body too large');
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** One request's answer, whichever way it came (a socket, or in process). */
async function answer(
  operations: SfnOperations,
  method: string | undefined,
  target: string | undefined,
  readText: () => Promise<string> | string,
): Promise<InProcessResponse> {
  if (method !== 'POST' || typeof target !== 'string' || !target.startsWith(TARGET_PREFIX)) {
    return answerError('UnknownOperationException', 'Expected POST with X-Amz-Target: AWSStepFunctions.<Op>');
  }
  const operation = target.slice(TARGET_PREFIX.length);
  if (!SERVED_OPERATIONS.has(operation)) {
    return answerError('UnknownOperationException', `Operation ${operation} is not served locally`);
  }
  try {
    const text = await readText();
    const input: unknown = text === '' ? {} : JSON.parse(text);
    const fn = operations[operation as keyof SfnOperations] as (input: unknown) => Promise<object> | object;
    return answerJson(200, await fn.call(operations, input));
  } catch (error) {
    if (error instanceof SfnServiceError || error instanceof SfnApiError) {
      return answerError(error.type, error.message);
    }
    if (error instanceof SyntaxError) return answerError('SerializationException', error.message);
    return answerError('InternalFailure', error instanceof Error ? error.message : String(error), 500);
  }
}

async function handle(operations: SfnOperations, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const target = req.headers['x-amz-target'];
  const reply = await answer(operations, req.method, typeof target === 'string' ? target : undefined, () =>
    readBody(req),
  );
  res.writeHead(reply.statusCode, { ...reply.headers, 'content-length': Buffer.byteLength(reply.body) });
  res.end(reply.body);
}

/** Starts the endpoint on 127.0.0.1 with an ephemeral port. */
export async function startSfnEndpoint(operations: SfnOperations): Promise<SfnEndpoint> {
  const server: Server = createServer((req, res) => {
    void handle(operations, req, res);
  });
  const port = await listenOnLoopback(server);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    serve: (request) =>
      answer(operations, request.method, request.headers['x-amz-target'], () => {
        if (Buffer.byteLength(request.body) > MAX_BODY_BYTES) {
          throw new SfnServiceError('ValidationException', 'Request body too large');
        }
        return request.body;
      }),
    close: () => closeServer(server),
  };
}

/** Closes a server and every connection still open to it (SDK clients keep sockets alive). */
export function closeServer(server: Server): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.close((error) => (error ? reject(error) : resolve()));
    server.closeAllConnections();
  });
}
