/** When a view reads its data again after a read failed: the usual interval, backing off while reads fail. */
import { ApiError } from './api-error';

/** The longest wait between two tries of a read that keeps failing: a view left open learns within this. */
export const MAX_RETRY_MS = 60_000;

/** The wait before the next read after `failures` reads in a row failed: `everyMs` doubled per failure, capped. */
export function retryDelay(everyMs: number, failures: number): number {
  if (failures <= 0) return everyMs;
  return Math.min(everyMs * 2 ** (failures - 1), Math.max(everyMs, MAX_RETRY_MS));
}

/**
 * True for a failure that may pass if the read is tried again: the network, a server error (5xx), a timeout
 * (408) or throttling (429). Any other answer (a 404, a wrong key) stays the same however often it is asked.
 */
export function passing(error: unknown): boolean {
  return !(error instanceof ApiError) || error.status >= 500 || error.status === 408 || error.status === 429;
}
