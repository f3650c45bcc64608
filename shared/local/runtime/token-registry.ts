/**
 * Task tokens for `.waitForTaskToken` states, which aws-local-stepfunctions does not implement: the runtime
 * mints one per waiting Task, the handlers answer it through the loopback Step Functions endpoint, and this
 * registry settles the waiting state, enforcing TimeoutSeconds and HeartbeatSeconds like Step Functions.
 */
import { randomBytes } from 'node:crypto';

/** Bytes of randomness in a token: opaque and unguessable, like the real ones. */
const TOKEN_BYTES = 48;
const MS_PER_SECOND = 1000;

/**
 * The error a waiting Task state fails with. aws-local-stepfunctions hands a Catch `{ Error: name, Cause:
 * message }`, so the name is the Step Functions error and the message its cause.
 */
export class TaskStateError extends Error {
  constructor(error: string, cause: string) {
    super(cause);
    this.name = error;
  }
}

/** The Step Functions API error a callback answers with (`__type` on the wire). */
export class SfnApiError extends Error {
  constructor(
    readonly type: 'TaskDoesNotExist' | 'TaskTimedOut' | 'InvalidToken' | 'InvalidOutput',
    message: string,
  ) {
    super(message);
    this.name = 'SfnApiError';
  }
}

export interface MintOptions {
  /** Owner execution, so StopExecution can cancel its tokens. */
  readonly executionArn: string;
  readonly stateName: string;
  readonly timeoutSeconds?: number;
  readonly heartbeatSeconds?: number;
}

/** A minted token and the promise the waiting state awaits. */
export interface MintedToken {
  readonly token: string;
  readonly result: Promise<unknown>;
}

/** Longest delay one Node timer holds (2^31 - 1 ms, about 24.8 days); a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A timer for any delay: an approval may wait up to a year, past what one Node timer holds, so a long delay
 * is a chain of timers. `clear` stops whichever link is pending.
 */
class LongTimer {
  #timer: NodeJS.Timeout | undefined;

  constructor(ms: number, fire: () => void) {
    const arm = (left: number) => {
      const step = Math.min(left, MAX_TIMER_MS);
      this.#timer = setTimeout(() => (left > step ? arm(left - step) : fire()), step);
    };
    arm(Math.max(0, ms));
  }

  clear(): void {
    clearTimeout(this.#timer);
  }
}

interface Pending {
  readonly options: MintOptions;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
  timeout?: LongTimer;
  heartbeat?: LongTimer;
}

type ClosedReason = 'answered' | 'timed-out' | 'cancelled';

export class TokenRegistry {
  readonly #pending = new Map<string, Pending>();
  /** Tokens no longer waiting, so late callbacks get TaskTimedOut (as Step Functions answers for closed tasks). */
  readonly #closed = new Map<string, { reason: ClosedReason; executionArn: string }>();

  /** Number of states currently waiting on a token. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Tokens waiting, with their state name (for tests and progress). */
  pending(): { token: string; stateName: string; executionArn: string }[] {
    return [...this.#pending].map(([token, p]) => ({
      token,
      stateName: p.options.stateName,
      executionArn: p.options.executionArn,
    }));
  }

  /** Mints a token; its timers start now, like the state's own clock. */
  mint(options: MintOptions): MintedToken {
    const token = randomBytes(TOKEN_BYTES).toString('base64url');
    let resolve: (value: unknown) => void = () => undefined;
    let reject: (error: Error) => void = () => undefined;
    const promise = new Promise<unknown>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // A token can fail before anyone awaits it (timeout while the handler runs): that is not unhandled.
    promise.catch(() => undefined);
    const pending: Pending = { options, resolve, reject };
    this.#pending.set(token, pending);
    if (options.timeoutSeconds !== undefined) {
      pending.timeout = new LongTimer(options.timeoutSeconds * MS_PER_SECOND, () =>
        this.#close(token, 'timed-out', new TaskStateError('States.Timeout', '')),
      );
    }
    this.#armHeartbeat(token, pending);
    return { token, result: promise };
  }

  /** SendTaskSuccess: `output` is the JSON text the handler sent. */
  succeed(token: string, output: string): void {
    const pending = this.#take(token);
    let value: unknown;
    try {
      value = JSON.parse(output);
    } catch {
      this.#pending.set(token, pending);
      throw new SfnApiError('InvalidOutput', 'The output is not valid JSON');
    }
    this.#settle(token, pending, 'answered');
    pending.resolve(value);
  }

  /** SendTaskFailure: the waiting state fails with `{ Error: error, Cause: cause }`. */
  fail(token: string, error = '', cause = ''): void {
    const pending = this.#take(token);
    this.#settle(token, pending, 'answered');
    pending.reject(new TaskStateError(error, cause));
  }

  /** SendTaskHeartbeat: restarts the heartbeat clock. */
  heartbeat(token: string): void {
    const pending = this.#take(token);
    this.#pending.set(token, pending);
    this.#armHeartbeat(token, pending);
  }

  /** Closes one token with an error (its state failed another way, e.g. the invoked handler threw). */
  abandon(token: string, error: Error): void {
    this.#close(token, 'cancelled', error);
  }

  /** Fails every token of an execution (StopExecution), so no state keeps waiting. */
  cancelExecution(executionArn: string): void {
    for (const [token, pending] of this.#pending) {
      if (pending.options.executionArn === executionArn) {
        this.#close(token, 'cancelled', new TaskStateError('States.Runtime', 'Execution stopped'));
      }
    }
  }

  /** Forgets the closed tokens of an ended execution (a late callback then hears TaskDoesNotExist). */
  forgetExecution(executionArn: string): void {
    for (const [token, closed] of this.#closed) {
      if (closed.executionArn === executionArn) this.#closed.delete(token);
    }
  }

  /** Cancels everything and clears every timer (runtime shutdown). */
  close(): void {
    for (const token of [...this.#pending.keys()]) {
      this.#close(token, 'cancelled', new TaskStateError('States.Runtime', 'Runtime stopped'));
    }
  }

  #armHeartbeat(token: string, pending: Pending): void {
    const seconds = pending.options.heartbeatSeconds;
    if (seconds === undefined) return;
    pending.heartbeat?.clear();
    pending.heartbeat = new LongTimer(seconds * MS_PER_SECOND, () =>
      this.#close(token, 'timed-out', new TaskStateError('States.HeartbeatTimeout', '')),
    );
  }

  /** Removes a pending token or throws the error Step Functions answers for it. */
  #take(token: string): Pending {
    const pending = this.#pending.get(token);
    if (pending) {
      this.#pending.delete(token);
      return pending;
    }
    if (this.#closed.has(token)) {
      throw new SfnApiError('TaskTimedOut', 'Task Timed Out: the task has timed out or was already closed');
    }
    throw new SfnApiError('TaskDoesNotExist', 'Task does not exist: unknown task token');
  }

  #settle(token: string, pending: Pending, reason: ClosedReason): void {
    pending.timeout?.clear();
    pending.heartbeat?.clear();
    this.#closed.set(token, { reason, executionArn: pending.options.executionArn });
  }

  #close(token: string, reason: ClosedReason, error: Error): void {
    const pending = this.#pending.get(token);
    if (!pending) return;
    this.#pending.delete(token);
    this.#settle(token, pending, reason);
    pending.reject(error);
  }
}
