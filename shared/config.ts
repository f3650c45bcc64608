/**
 * Environment variables the handlers read (once, at module load, failing fast with the variable's name).
 * infra/ sets them through the constructs' bind methods; the embedded runtime sets them for its handlers.
 */
export const EnvVar = {
  TasksTable: 'TASKS_TABLE_NAME',
  AgentsTable: 'AGENTS_TABLE_NAME',
  StateMachineArn: 'STATE_MACHINE_ARN',
  /** JSON object: role name -> queue URL. */
  RoleQueueUrls: 'ROLE_QUEUE_URLS',
  /** JSON array of user-defined or overriding roles (merged over the built-in catalog). */
  RolesConfig: 'ROLES_CONFIG',
  /** JSON `routing` section of the config: score weights and model-assisted routing (read by the router). */
  RoutingConfig: 'ROUTING_CONFIG',
  /**
   * JSON `costs` section of the config: prices, the default batch budget, fleet-wide provider limits (read by
   * the workers, the router, submit and the agents API).
   */
  CostsConfig: 'COSTS_CONFIG',
  /** The role an agent worker function serves. */
  AgentRole: 'AGENT_ROLE',
  /** Executor to use when a role does not say (`simulated` by default). */
  DefaultExecutor: 'DEFAULT_EXECUTOR',
  /** Name or ARN of the Secrets Manager secret holding provider API keys (JSON: { anthropic, openai, http }). */
  ProviderSecretId: 'PROVIDER_SECRET_ID',
  /** The progress WebSocket's URL (wss://.../v1), handed out with progress tokens so clients know where to connect. */
  ProgressWebSocketUrl: 'PROGRESS_WEBSOCKET_URL',
  /** The dashboard's origin (https://<distribution>): REST answers carry it in Access-Control-Allow-Origin. */
  CorsAllowedOrigin: 'CORS_ALLOWED_ORIGIN',
  /** WebSocket management endpoint for progress notifications. */
  WebSocketEndpoint: 'WEBSOCKET_ENDPOINT',
  /** Optional: Dispatch HeartbeatSeconds override (DEFAULT_HEARTBEAT_SECONDS otherwise); workers beat at a third. */
  HeartbeatSeconds: 'HEARTBEAT_SECONDS',
  /** The artifacts bucket: outputs too large for a task item (workers write, workers and the output route read). */
  ArtifactsBucket: 'ARTIFACTS_BUCKET_NAME',
  /**
   * Optional, `true` on the embedded runtime only: path-style S3 URLs (`http://127.0.0.1:PORT/bucket/key`), as
   * the local S3 of fauxqs has no DNS for virtual-hosted bucket names. The AWS SDK has no variable for it.
   */
  ArtifactsPathStyle: 'ARTIFACTS_PATH_STYLE',
  /**
   * Optional, `stderr` on the embedded runtime only: handler log lines go to stderr, so the CLI's stdout (the
   * report of `meta-agent run --json`) stays one JSON document when logs are turned on (`--log-level`).
   */
  LogStream: 'LOG_STREAM',
  /**
   * Optional, `true` on the embedded runtime only: its store (dynalite) answers on one thread, so writes nobody
   * waits on yield to the calls on the way to a dispatch. A Complete writes its agent's bookkeeping (outcome,
   * slot, hand-off) after its dependents' routes, once the store is quiet a moment, instead of beside them, and
   * routes the dependents it opens in its handler's route lane, the most urgent first (CompleteDeps.routeLane).
   * DynamoDB's calls do not compete: the deployed stack leaves it unset.
   */
  SingleThreadedStore: 'SINGLE_THREADED_STORE',
} as const;
export type EnvVarName = (typeof EnvVar)[keyof typeof EnvVar];

/** Reads a required variable, failing with its name. */
export function requireEnv(name: EnvVarName, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  if (value === undefined || value === '') {
    throw new Error(`Missing required environment variable ${name}`);
  }
  return value;
}
