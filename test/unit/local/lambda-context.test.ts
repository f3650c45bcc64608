import { describe, expect, it } from 'vitest';
import { makeLambdaContext } from '../../../shared/local/runtime/lambda-context';

describe('the local Lambda context', () => {
  it('reports the Lambda maximum as time left, and none once the runtime cuts the invocation short', () => {
    const stopping = new AbortController();
    const context = makeLambdaContext('scaler', 'us-east-1', stopping.signal);
    const before = context.getRemainingTimeInMillis();

    stopping.abort();

    expect(before).toBeGreaterThan(14 * 60 * 1000);
    expect(context.getRemainingTimeInMillis()).toBe(0);
  });
});
