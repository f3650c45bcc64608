/** Errors the use cases raise for the handlers to map (400 / 404 / 409). */
export { NotFoundError } from '../ports';

/** The request conflicts with the batch's current state (still running, already finished, id taken). */
export class ConflictError extends Error {
  /** When the conflict is temporary (a submission still in progress): seconds after which to retry. */
  constructor(
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'ConflictError';
  }
}

/**
 * The request was taken but a service it depends on failed past its retries (503): the same request sent again
 * after `retryAfterSeconds` finishes it.
 */
export class UnavailableError extends Error {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
    this.name = 'UnavailableError';
  }
}

/**
 * A service the request depends on refused it for a reason sending it again cannot cure (a permission, a
 * validation): 502 naming the cause. Nothing of the request stands; the same request fails the same way until
 * the cause is fixed, so no Retry-After is offered.
 */
export class UpstreamRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UpstreamRefusedError';
  }
}

/** A request body that does not match its schema (besides batches, which raise BatchValidationError). */
export class RequestValidationError extends Error {
  constructor(readonly issues: { path: string; message: string }[]) {
    super(issues.map((i) => `${i.path}: ${i.message}`).join('\n'));
    this.name = 'RequestValidationError';
  }
}

/** Deployment configuration the use case cannot work without (e.g. no queue for a role). */
export class ConfigurationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigurationError';
  }
}
