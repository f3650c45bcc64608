/** The embedded local runtime: see local-runtime.ts for its use and what the emulators support. */
export { type AslDefinition, prepareDefinition, UnsupportedDefinitionError } from './definition';
export { type Emulators, LOCAL_CREDENTIALS, startEmulators } from './emulators';
export {
  type ExecutionRecord,
  ExecutionRunner,
  type ExecutionStatus,
  type InvocationObserver,
  type InvocationTiming,
  LocalRuntimeConfigError,
  type NestedStartFault,
} from './execution-runner';
export { type LambdaHandler, makeLambdaContext } from './lambda-context';
export {
  type EventSourceBackend,
  type LambdaEndpoint,
  mappingUuid,
  startLambdaEndpoint,
} from './lambda-endpoint';
export {
  assertRuntimeNode,
  LocalRuntime,
  type LocalRuntimeOptions,
  MIN_RUNTIME_NODE_MAJOR,
  WAIT_SCALE_ENV,
} from './local-runtime';
export { type PollerInvocation, type PollerObserver, QueuePollers, type SqsHandler } from './pollers';
export { startSfnEndpoint } from './sfn-endpoint';
export { TaskStateError, TokenRegistry } from './token-registry';
