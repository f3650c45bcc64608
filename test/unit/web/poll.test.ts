import { describe, expect, it } from 'vitest';
import { ApiError } from '../../../web/src/api-error';
import { MAX_RETRY_MS, passing, retryDelay } from '../../../web/src/poll';

describe('retryDelay', () => {
  it('waits the usual interval after a success, then doubles it per failure in a row, up to its cap', () => {
    const delays = [0, 1, 2, 3, 4, 5, 10].map((failures) => retryDelay(5_000, failures));

    expect(delays).toEqual([5_000, 5_000, 10_000, 20_000, 40_000, MAX_RETRY_MS, MAX_RETRY_MS]);
  });

  it('never waits less than the usual interval, even one longer than the cap', () => {
    expect(retryDelay(2 * MAX_RETRY_MS, 3)).toBe(2 * MAX_RETRY_MS);
  });
});

describe('passing', () => {
  it('takes the network, server errors, timeouts and throttling as failures that may pass', () => {
    const errors = [new TypeError('Failed to fetch'), new ApiError(500, 'x'), new ApiError(503, 'x')];

    expect([...errors, new ApiError(408, 'x'), new ApiError(429, 'x')].map(passing)).toEqual(
      Array(5).fill(true),
    );
    expect([new ApiError(404, 'x'), new ApiError(403, 'x'), new ApiError(400, 'x')].map(passing)).toEqual([
      false,
      false,
      false,
    ]);
  });
});
