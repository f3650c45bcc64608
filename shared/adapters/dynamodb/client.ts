/**
 * The DynamoDB document client every adapter defaults to. The SDK reads the region and an endpoint
 * override (AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_DYNAMODB) from the environment, so the same default works
 * against AWS, LocalStack and dynalite.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, type TranslateConfig, type UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { type LeanConfig, leanHandler, servedLean } from '../in-process-calls';
import { tunedClient } from '../sdk-client';

/** What DocumentClient reads of a document command (lib-dynamodb's DynamoDBDocumentClientCommand). */
interface DocumentCommand {
  readonly clientCommand?: {
    resolveMiddleware(stack: unknown, config: unknown, options: undefined): ResolvedHandler;
    readonly middlewareStack?: unknown;
    readonly schema?: Parameters<typeof leanHandler>[1]['schema'];
  };
  readonly middlewareStack?: unknown;
  addMarshallingMiddleware?(config: unknown): void;
}
type ResolvedHandler = (command: unknown) => Promise<{ output: unknown }>;

/**
 * The document client, its middleware resolved once per command class (the low-level clients' `cacheMiddleware`,
 * tunedClient, which lib-dynamodb refuses: its commands' resolved handler sends the command it was resolved
 * for, whatever command it is given). Here a command class's handler is resolved from its first command, its
 * marshalling middleware included (which reads only the class's key paths and the client's options), and then
 * given each command's own low-level command, whose input it marshals and sends. The endpoint is the same for
 * every call of a client (table names, never ARNs), so the context the calls share holds nothing of one call
 * that another reads. A call with options (an abort signal) or a command of another shape is sent as
 * lib-dynamodb sends it.
 */
export class DocumentClient extends DynamoDBDocumentClient {
  readonly #handlers = new Map<unknown, ResolvedHandler>();
  /** Whether its item calls go lean (in-process-calls.ts): DynamoDB served in process, nothing else in its stack. */
  readonly #lean: boolean;

  constructor(client: DynamoDBClient, translateConfig?: TranslateConfig) {
    super(client, translateConfig);
    this.#lean = servedLean(client.config as unknown as LeanConfig, client.middlewareStack);
  }

  /**
   * Sends through the command class's handler (see the class); with options, or a command of another shape,
   * as lib-dynamodb sends it. A method, as the SDK's own send is, so a test's mock of DocumentClient replaces it.
   */
  // biome-ignore lint/suspicious/noExplicitAny: one signature for send's overloads (promise or callback)
  override send(command: unknown, ...rest: unknown[]): any {
    const handler = rest.length === 0 ? this.#handlerOf(command as DocumentCommand) : undefined;
    if (!handler) return (super.send as (...args: unknown[]) => unknown).call(this, command, ...rest);
    return handler((command as Required<DocumentCommand>).clientCommand).then((result) => result.output);
  }

  /** The handler of `command`'s class; undefined when the command is not shaped as lib-dynamodb's are. */
  #handlerOf(command: DocumentCommand): ResolvedHandler | undefined {
    const known = this.#handlers.get(command.constructor);
    if (known) return known;
    const { clientCommand, middlewareStack } = command;
    if (!clientCommand || !middlewareStack || typeof command.addMarshallingMiddleware !== 'function') return;
    command.addMarshallingMiddleware(this.config);
    const lean = this.#lean
      ? leanHandler(this.config as unknown as LeanConfig, clientCommand, clientCommand.middlewareStack)
      : undefined;
    if (lean) {
      const handler: ResolvedHandler = (sent) => lean(sent as Parameters<typeof lean>[0]);
      this.#handlers.set(command.constructor, handler);
      return handler;
    }
    const stack = this.middlewareStack.concat(
      middlewareStack as Parameters<typeof this.middlewareStack.concat>[0],
    );
    const handler = clientCommand.resolveMiddleware(stack, this.config, undefined);
    this.#handlers.set(command.constructor, handler);
    return handler;
  }
}

/** Wraps a low-level client: undefined fields are dropped rather than rejected. */
export function documentClient(
  client: DynamoDBClient = tunedClient(new DynamoDBClient({})),
): DynamoDBDocumentClient {
  return new DocumentClient(client, {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
    unmarshallOptions: { wrapNumbers: false },
  });
}

/** True for the error DynamoDB returns when a ConditionExpression did not hold. */
export function isConditionFailed(error: unknown): boolean {
  return error instanceof Error && error.name === 'ConditionalCheckFailedException';
}

/**
 * Sends a conditional update: the attributes it returned ({} when it asked for none) when it applied,
 * undefined when its condition did not hold. Every other error is thrown.
 */
export async function sendConditional(
  client: DynamoDBDocumentClient,
  command: UpdateCommand,
): Promise<Record<string, unknown> | undefined> {
  try {
    return (await client.send(command)).Attributes ?? {};
  } catch (error) {
    if (isConditionFailed(error)) return undefined;
    throw error;
  }
}
