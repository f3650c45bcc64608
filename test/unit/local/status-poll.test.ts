import { describe, expect, it } from 'vitest';
import { STATUS_POLL_COST_FACTOR, STATUS_POLL_MS, statusPollDelay } from '../../../shared/local/system';

describe('statusPollDelay', () => {
  it('polls at the base interval while polls are cheap', () => {
    expect(statusPollDelay(STATUS_POLL_MS, 3)).toBe(STATUS_POLL_MS);
  });

  it('backs off in proportion to an expensive poll, so polling stays a bounded share of the time', () => {
    const cost = 400; // a status read of a large batch under load
    const delay = statusPollDelay(STATUS_POLL_MS, cost);
    expect(delay).toBe(STATUS_POLL_COST_FACTOR * cost);
    expect(cost / (cost + delay)).toBeLessThanOrEqual(0.2);
  });
});
