import { afterEach, describe, expect, it, vi } from 'vitest';
import { TokenRegistry } from '../../../shared/local/runtime/token-registry';

const DAY_MS = 24 * 3600 * 1000;

afterEach(() => {
  vi.useRealTimers();
});

describe('TokenRegistry timeouts', () => {
  it('times a token out after a wait longer than one Node timer holds (an approval of 30 days)', async () => {
    vi.useFakeTimers();
    const registry = new TokenRegistry();
    const { result } = registry.mint({
      executionArn: 'arn:exec',
      stateName: 'AwaitApproval',
      timeoutSeconds: 30 * 24 * 3600,
    });
    let outcome: unknown;
    result.then(
      () => {
        outcome = 'answered';
      },
      (error: Error) => {
        outcome = error.name;
      },
    );

    await vi.advanceTimersByTimeAsync(29 * DAY_MS);
    expect(outcome).toBeUndefined();
    expect(registry.pendingCount).toBe(1);

    await vi.advanceTimersByTimeAsync(DAY_MS + 1_000);
    expect(outcome).toBe('States.Timeout');
    expect(registry.pendingCount).toBe(0);
  });
});
