/**
 * Named limits of the public contract. Each is enforced by the batch schema and documented in the README.
 * Why these numbers: they keep one batch inside Step Functions' and DynamoDB's own quotas with room to spare.
 */

/**
 * Tasks per batch. Every task is one item of the execution input's Map item list, which must also fit in
 * MAX_EXECUTION_INPUT_BYTES: 2,000 tasks fit with ids of up to about 100 characters (2,000 ids of the full
 * 128 characters would not, and such a batch is refused with that reason).
 */
export const MAX_TASKS_PER_BATCH = 2_000;
/**
 * Step Functions' quota on an execution's input (and on any state's data): 256 KiB of UTF-8 JSON. The
 * execution input lists every task id once (`{"taskId": ..., "hasDeps": ...}`), so long ids in a large
 * batch can exceed it; StartExecution would refuse the batch after it was stored.
 */
export const MAX_EXECUTION_INPUT_BYTES = 256 * 1024;
/** Batch id length (BATCH_ID_PATTERN); a generated id is shorter. */
export const MAX_BATCH_ID_CHARS = 128;
/** Characters in a task description: enough for a detailed spec, small enough for one DynamoDB item. */
export const MAX_DESCRIPTION_CHARS = 32_768;
/** Serialized size of a task's free `input` JSON (UTF-8 bytes). DynamoDB items are capped at 400 KB. */
export const MAX_INPUT_BYTES = 64 * 1024;
/**
 * Nesting levels of a task's `input` (the object itself is level 1). Deep enough for any configuration-like
 * input; it bounds every recursive walk of user JSON afterwards (serializers, prompt rendering), which a
 * body nested a million levels deep would otherwise overflow. Checked without recursion.
 */
export const MAX_INPUT_DEPTH = 32;
/**
 * Nesting levels of an output an agent service answers (the `http` executor): an answer nested deeper fails
 * its attempt, for the same reason as MAX_INPUT_DEPTH.
 */
export const MAX_OUTPUT_DEPTH = 64;
/** Direct dependencies of one task. Each one is an UpdateItem on completion of the dependency. */
export const MAX_DEPENDENCIES_PER_TASK = 100;
/**
 * Task ids a dispatch message names for its worker to read beside its claim (the context's tasks): at most
 * 100 ids of 128 characters keep the message and the state's payload far below their 256 KiB limits. A task
 * whose context takes more names none and its worker reads them after the claim.
 */
export const CONTEXT_PREFETCH_MAX = 100;
/**
 * Dependents a worker's answer names (DispatchResult.dependents) for its Complete to release beside the task's
 * status write: at most 100 ids of 128 characters, like CONTEXT_PREFETCH_MAX. A task with more names none and
 * its Complete releases them after the status write, which reads them.
 */
export const RESULT_DEPENDENTS_MAX = 100;
/**
 * Dependents a task's item names in `dependentRoles` at most (dag.ts soleDependentRoles): a hint for the first
 * of them, in submission order. Unbounded, a task with 2,000 dependents of long ids would outgrow DynamoDB's
 * 400 KB item.
 */
export const MAX_DEPENDENT_ROLE_HINTS = 32;
/**
 * UTF-8 bytes of a free text the run writes into a task's DynamoDB item (400 KB): the task's `reason`, an
 * attempt's `error`, a failed validator review's `error`, an undelivered decision's error, and a batch's
 * `cancelReason` in the batch item. A provider's error can be a whole HTML page; unbounded, ten attempts' errors
 * and a reason that quotes them could push the item past 400 KB and lose the task's outcome. A longer text is kept
 * as its first bytes and a marker saying it was shortened and how long it was (item-size.ts shortenText).
 */
export const MAX_STORED_ERROR_BYTES = 1_024;
/**
 * UTF-8 bytes of an approval comment (a person's or a validator's) kept in the task item, which carries it into the
 * next attempt's prompt as feedback: every comment of MAX_APPROVAL_COMMENT_CHARS ASCII characters is kept whole;
 * one of 4,000 characters of other scripts (up to 16,000 bytes) is shortened with a marker, so the eleven records
 * of a task with ten attempts take at most about 56 KiB of the item (item-size.ts).
 */
export const MAX_STORED_COMMENT_BYTES = 4_096;
/**
 * Candidates and rejected agents a routing decision lists at most in the task item (each list's first ones, the
 * winner first; the rest counted in `unlistedCandidates` / `unlistedRejected`). Unbounded, a role of 1,000
 * agents made a decision of about 300 KB, and the attempt's start failed with the task's item too large. A routing
 * replay (replay.ts) of such a decision re-ranks its listed candidates only.
 */
export const MAX_DECISION_AGENTS_LISTED = 32;
/** Upper bound a batch may ask for in `options.maxAttempts`. */
export const MAX_ATTEMPTS_LIMIT = 10;
/** Attempts per task when the batch does not say. */
export const DEFAULT_MAX_ATTEMPTS = 3;
/** Longest task id (the same as a batch id's). */
export const MAX_TASK_ID_CHARS = 128;
/**
 * Task id grammar (wire format). Ids are path segments of the API (`/batches/{id}/tasks/{taskId}`), so the
 * dot segments `.` and `..`, which every URL parser removes from a path, are refused: such an id could be
 * stored but never addressed.
 */
export const TASK_ID_PATTERN = new RegExp(`^(?!\\.{1,2}$)[A-Za-z0-9._:-]{1,${MAX_TASK_ID_CHARS}}$`);
/** Batch id grammar: same alphabet and the same dot-segment rule as task ids, it ends up in keys and URLs. */
export const BATCH_ID_PATTERN = new RegExp(`^(?!\\.{1,2}$)[A-Za-z0-9._:-]{1,${MAX_BATCH_ID_CHARS}}$`);
/** How the two id rules read in messages. */
export const ID_RULE = '1-128 characters of A-Z a-z 0-9 . _ : - (not "." or "..")';
/**
 * Per-task timeout bounds in seconds (Step Functions TimeoutSeconds on the Dispatch state). The upper bound
 * is what an agent worker can run on AWS: Lambda's 900 s maximum, less the 30 s the worker keeps to store
 * the output and answer its token. A longer task would be killed mid-way and retried forever.
 */
export const MIN_TASK_TIMEOUT_SECONDS = 1;
export const MAX_TASK_TIMEOUT_SECONDS = 870;
/** Default task priority (1 highest, 3 lowest). */
export const DEFAULT_PRIORITY = 2;
/** Entries in each of requirements.languages / frameworks / skills, and characters in one entry. */
export const MAX_REQUIREMENT_ENTRIES = 32;
export const MAX_REQUIREMENT_CHARS = 64;
/** Simulated executor: longest simulated duration a task may ask for (1 hour). */
export const MAX_SIMULATED_DURATION_MS = 3_600_000;
/**
 * Simulated executor: largest output a task may ask for with `input.simulate.outputBytes`: twice
 * MAX_OUTPUT_BYTES (a 10 MiB output is a real provider's answer, 20 MiB shows the over-limit failure without one).
 */
export const MAX_SIMULATED_OUTPUT_BYTES = 20 * 1024 * 1024;
/**
 * Request body of the REST API. Lambda's synchronous invocation payload is capped at 6 MB, so a larger
 * body could never reach the submit handler on AWS; the local server refuses it with 413 likewise.
 */
export const MAX_REQUEST_BODY_BYTES = 6 * 1024 * 1024;
/**
 * A message a WebSocket client sends (`{"action":"subscribe",...}` is under 300 bytes): API Gateway's
 * WebSocket frame size, which `meta-agent serve` enforces too (larger messages close the connection, 1009).
 */
export const MAX_WEBSOCKET_MESSAGE_BYTES = 32 * 1024;
/**
 * How long the submit Lambda may run (infra/stack.ts sets its timeout from this): writing 2,000 tasks takes
 * about a second, the rest is room for DynamoDB throttling retries.
 */
export const SUBMIT_TIMEOUT_SECONDS = 60;
/**
 * Lifetime of a batch creation claim (usecases/submit.ts): twice the submit's own timeout, so when a claim
 * expires the submit that held it is certainly gone and its writes cannot interleave with those of the
 * request that takes the creation over. A submission that died part-way is finished by the same request
 * sent again after at most this long (at once when it failed with an error rather than crashed).
 */
export const BATCH_CREATION_LEASE_MS = 2 * SUBMIT_TIMEOUT_SECONDS * 1000;

// ------------------------------------------------------------------- work passed along the edges
// (context, artifacts and structured outputs; README "Passing work between tasks")

/**
 * Bytes of dependency work (the context section and placeholder substitutions together) one attempt's
 * request may carry when the task does not say (`contextBudgetBytes`). About 25k tokens: room for a schema,
 * an endpoint and a review, well inside every current model's context window.
 */
export const DEFAULT_CONTEXT_BUDGET_BYTES = 100_000;
/** Bounds of a task's `contextBudgetBytes`. */
export const MIN_CONTEXT_BUDGET_BYTES = 1_024;
export const MAX_CONTEXT_BUDGET_BYTES = 1_000_000;
/** Ids a task's `context` list may name (dependencies or transitive ancestors). */
export const MAX_CONTEXT_IDS = 100;
/**
 * Placeholders (`{{deps.<id>.output...}}`) one task may hold, in its description and input together. Each is
 * substituted within the context budget and recorded in every attempt's context record, which lives in the
 * task's DynamoDB item (400 KB): unbounded, a description and input full of them (about 5,000) made one
 * attempt's record too large to store, and the task failed with DynamoDB's ValidationException after minutes
 * of planning their shares.
 */
export const MAX_PLACEHOLDERS_PER_TASK = 100;
/**
 * Bytes (as JSON) of one attempt's context record (what it was passed, per task and placeholder), which is kept
 * with the attempt in the task's DynamoDB item (400 KB) and rides in the worker's answer through Step Functions
 * (256 KiB). Unbounded, the largest task the validation accepts (100 context ids and 100 placeholders of the
 * longest, in a description and input at their limits) made a record of 139 KB, and its third attempt's record
 * did not fit in the item (DynamoDB's ValidationException, the task's outcome lost). Bounded, ten attempts'
 * records take at most 80 KiB beside the task's own fields (description, input, outputSchema and an inline
 * output: under 300 KB at their limits). A longer record lists its items while they fit and counts the rest.
 */
export const MAX_CONTEXT_RECORD_BYTES = 8 * 1024;
/**
 * Largest output a task may produce (UTF-8 bytes of its JSON). Above it the task FAILS with that reason
 * and is not retried (another agent would produce the same). Outputs up to INLINE_OUTPUT_MAX_BYTES
 * (domain/workflow.ts) live in the task item; larger ones in the artifacts bucket.
 */
export const MAX_OUTPUT_BYTES = 10 * 1024 * 1024;
/**
 * Bytes of one provider answer's body read at most (decoded, before parsing): a provider or agent service that
 * sends more fails the call, not the process's memory. Three times MAX_OUTPUT_BYTES leaves room for a 10 MiB
 * output's JSON escapes, framing and whitespace; any answer above it would fail its task as too large anyway.
 */
export const MAX_PROVIDER_ANSWER_BYTES = 3 * MAX_OUTPUT_BYTES;
/** Serialized size of a task's `outputSchema` (JSON Schema). */
export const MAX_OUTPUT_SCHEMA_BYTES = 16 * 1024;

// ------------------------------------------------------------------- reading batches (GET /batches)

/** Batches per page of GET /batches when the request does not say (`?limit=`). */
export const DEFAULT_BATCH_PAGE_SIZE = 20;
/**
 * Most batches one page of GET /batches may hold. A running batch on the page costs one query over its
 * task items (for its progress), so a page is kept small.
 */
export const MAX_BATCH_PAGE_SIZE = 100;
/** Characters of the opaque `cursor` of GET /batches (a page's last key, base64url JSON). */
export const MAX_CURSOR_CHARS = 1_024;

// ------------------------------------------------------------------- progress over the WebSocket

/**
 * Lifetime of a progress token (POST /progress-tokens). A browser cannot set the `x-api-key` header on a
 * WebSocket connect, so it opens the socket with a token minted by an authenticated REST call; the token is
 * good for one connect within this many seconds, so one that leaks through a log is worth nothing.
 */
export const PROGRESS_TOKEN_TTL_SECONDS = 60;
/**
 * Largest output `GET /batches/{id}/tasks/{taskId}/output` returns in its response body. A Lambda proxy
 * response is at most 6 MB of JSON, in which the body is escaped once more (quotes and backslashes double),
 * and API Gateway's own limit is 10 MB: a larger output is answered with a 303 redirect to a presigned S3 URL.
 */
export const OUTPUT_RESPONSE_MAX_BYTES = 2 * 1024 * 1024;
/** How long the presigned URL of a redirected output download stays valid. */
export const OUTPUT_URL_TTL_SECONDS = 300;

// ------------------------------------------------------------------- workflow control (README "Workflow control")

/** How long a person has to decide an approval when the task does not say (`approval.timeoutSeconds`): a day. */
export const DEFAULT_APPROVAL_TIMEOUT_SECONDS = 24 * 3600;
/**
 * The longest approval wait a task may ask for: a year, a Standard execution's own limit (a longer wait would
 * outlive the execution that waits).
 */
export const MAX_APPROVAL_TIMEOUT_SECONDS = 365 * 24 * 3600;
/** Characters of a reviewer's comment: room for a review, small enough for the task item and every prompt. */
export const MAX_APPROVAL_COMMENT_CHARS = 4_000;
/**
 * Pauses before each further try of a decision's answer to its waiting state (SendTaskSuccess/Failure) whose
 * try threw (the SDK's own retries spent: throttling, a network error): three tries in about 1.2 s, well
 * within the API's 29 s. Past them the decision stays recorded and a repeat of it sends the answer again.
 */
export const APPROVAL_ANSWER_RETRY_DELAYS_MS: readonly number[] = [200, 1_000];
/**
 * Validator agents asked to review one attempt's output (approval.after.by) when a review gives no verdict
 * (an error, an answer that is no verdict, a crash, a timeout): the third failure fails the attempt with the
 * last reason, so a broken validator role costs a bounded number of tries, never a hung task.
 */
export const MAX_REVIEWS_PER_ATTEMPT = 3;
/** Simulated verdicts a task may list (`input.simulate.verdicts`): a review per attempt, with failures. */
export const MAX_SIMULATED_VERDICTS = 50;

// ------------------------------------------------------------------- retention (meta-agent serve)

/**
 * Finished batches `meta-agent serve` keeps (`--keep-batches`): beyond them the oldest finished batches are
 * deleted whole (batch, tasks, outputs), so a long-running server's memory stays bounded. A running batch is
 * never deleted and does not count. At the default a server of batches of a few dozen tasks stays within a
 * few hundred MB.
 */
export const DEFAULT_KEPT_FINISHED_BATCHES = 500;
/** Bounds of `--keep-batches`: at least one (the batch just finished must stay readable). */
export const MIN_KEPT_FINISHED_BATCHES = 1;
export const MAX_KEPT_FINISHED_BATCHES = 100_000;

// ------------------------------------------------------------------- fleet-wide provider limits
// (costs.providerLimits; README "Provider limits"; shared/domain/provider-limits.ts)

/**
 * How long a provider call's slot is leased. The holder renews it every third of this while its call runs,
 * so a live call never loses its slot, and a worker that died (a Lambda killed mid-call, a crashed process)
 * gives it back at most this long after its last renewal.
 */
export const PROVIDER_SLOT_LEASE_MS = 30_000;
/** Renewals of a slot's lease per lease period: one lost renewal write never costs the slot. */
export const PROVIDER_SLOT_RENEWALS_PER_LEASE = 3;
/**
 * A call waiting for a slot or a rate token polls the limiter items with full jitter between this and the
 * ceiling below, doubling per try: waiting workers spread out instead of retrying in lockstep, and a slot
 * freed in another process is seen within about the ceiling. A release in the same process wakes its
 * waiters at once.
 */
export const PROVIDER_WAIT_BASE_MS = 50;
export const PROVIDER_WAIT_MAX_MS = 1_000;
/**
 * Burst of a requests- or tokens-per-minute bucket: this many seconds of the rate may be spent at once
 * (at least one request). A full minute would let a fleet fire a whole minute's requests in the first second.
 */
export const PROVIDER_BUCKET_BURST_SECONDS = 10;
/**
 * Throttling by the provider (an HTTP 429) multiplies the provider's rate (its concurrency and requests per
 * minute) by this factor (AIMD's multiplicative decrease), at most once per PROVIDER_DECREASE_WINDOW_MS:
 * the many 429s of one storm, answered to calls that were all in flight at once, count as one signal.
 */
export const PROVIDER_RATE_DECREASE = 0.5;
export const PROVIDER_DECREASE_WINDOW_MS = 2_000;
/** The lowest the rate goes: this fraction of the configured one (never below one call at a time). */
export const PROVIDER_MIN_RATE_FACTOR = 0.05;
/** After a decrease the rate holds this long before it starts to recover. */
export const PROVIDER_COOLDOWN_MS = 30_000;
/**
 * Recovery after the cool-down: this fraction of the configured rate comes back every
 * PROVIDER_RECOVERY_INTERVAL_MS (AIMD's additive increase), so a halved rate is whole again 50 s later.
 */
export const PROVIDER_RECOVERY_STEP = 0.1;
export const PROVIDER_RECOVERY_INTERVAL_MS = 10_000;

/**
 * Re-asks of the model within one attempt when its structured answer does not fit the outputSchema: the
 * answer and the validation errors go back, and the model answers again (Instructor's and the SDKs' pattern).
 * One is enough to fix most format slips at a fraction of a new attempt, which re-sends the whole context
 * and is routed to another agent; past it the attempt fails with the errors and is re-routed. A budget holds
 * the re-ask's worst case too.
 */
export const STRUCTURED_OUTPUT_REASKS = 1;

/** Highest `maxCostUsd` of a budget (a batch's or the deployment's default): far above any batch, catches a unit slip. */
export const MAX_BUDGET_USD = 1_000_000;
/**
 * Lowest `maxCostUsd` of a budget: one nano-dollar, the ledger's unit (costs.ts usdToNano), so a budget never
 * rounds to nothing. Smaller values were also outside the numbers DynamoDB stores (from 1e-130) and failed
 * the batch's write.
 */
export const MIN_BUDGET_USD = 1e-9;
/** Highest `maxTokens` of a budget. */
export const MAX_BUDGET_TOKENS = 10_000_000_000;
/**
 * Tasks one expansion (an `expands: true` task's output) may add. Its ids travel through the state machine
 * (CompleteTask's result, then the nested execution's input), so this bounds that state's size far below
 * MAX_EXECUTION_INPUT_BYTES (100 ids of 128 characters are about 16 KiB).
 */
export const MAX_TASKS_PER_EXPANSION = 100;
/** Tasks every expansion of one batch may add together (the batch as a whole stays within MAX_TASKS_PER_BATCH). */
export const MAX_EXPANSION_TASKS_PER_BATCH = 500;
/**
 * Tasks expansions may add to the dependencies of one task (an expanding task's dependents wait for every task it
 * adds, task-store.ts addDependencies): each is kept in its dependsOn and, once finished, in releasedBy. Unbounded,
 * a task downstream of several expanding tasks could gain MAX_EXPANSION_TASKS_PER_BATCH ids twice, about 130 KB of
 * its DynamoDB item (400 KB), and the write of its release or outcome was refused. An expansion that would pass it
 * is refused and adds nothing. Checked against the dependent as read before the expansion writes: two expansions
 * running at once that share a dependent can each pass the check and together pass the limit (not yet atomic).
 */
export const MAX_ADDED_DEPENDENCIES_PER_TASK = MAX_TASKS_PER_EXPANSION;
/**
 * How deep expansions nest: a submitted task that expands adds tasks of depth 1, an added task that expands
 * adds tasks of depth 2, and so on up to this depth. Each level is one nested execution on AWS.
 */
export const MAX_EXPANSION_DEPTH = 3;

/**
 * How long a Gate waits on one token before it arms again with a new one. The Complete that opens a gate
 * answers its token; should every run of that Complete fail after the release and before the answer (the
 * retried Complete and FailOnError's answer it again), the gate would wait forever. Arming again is safe: an
 * open gate answers itself (and routes the task), and an answer to the old token is refused (TaskTimedOut).
 * Each re-arm is one Gate invocation and about six events of the child execution's history, which holds
 * 25,000: every 4 hours, a year of waiting (a dependency awaiting approval for that long) is about 13,000.
 * The embedded runtime arms again sooner (LOCAL_GATE_REARM_SECONDS).
 */
export const GATE_REARM_SECONDS = 4 * 60 * 60;

/**
 * WAITs one task may make in one execution (waiting for a slot, for budget, or for a validator for its
 * review) before it fails with WaitLimitExceeded. Each round (Route, RouteDecision, CountWait, a
 * WaitForCapacity that times out; its review's likewise) writes about 15 events of its child execution's
 * history, which holds 25,000; past it the execution would fail with the task unfinished and its dependents
 * waiting. At the longest wait (60 s) the limit is about 20 hours of waiting; a release that offers the task
 * a slot ends a wait early, and counts as one too. A redrive starts a new execution, and counts afresh.
 */
export const MAX_WAIT_ROUNDS = 1_200;

/** The error a task that reached MAX_WAIT_ROUNDS fails with. */
export const WAIT_LIMIT_ERROR = 'WaitLimitExceeded';

/**
 * Hex characters of a credential's fingerprint (adapters/secrets credentialFingerprint): 64 bits of a salted
 * SHA-256 of the key, enough to tell one key from the next and far too few to find the key by.
 */
export const CREDENTIAL_FINGERPRINT_CHARS = 16;
