import { describe, expect, it } from 'vitest';
import { callerText } from '../../../web/src/format';

describe('callerText', () => {
  it('says who sent a decision, as far as the API knows, and nothing when it knows nobody', () => {
    expect(callerText({ apiKeyId: 'a1b2c3', sourceIp: '203.0.113.7' })).toBe(
      'API key a1b2c3, from 203.0.113.7',
    );
    expect(
      callerText({ userArn: 'arn:aws:iam::1:user/alice', cognitoSub: 'c0ffee', principalId: 'ops' }),
    ).toBe('arn:aws:iam::1:user/alice, Cognito user c0ffee, principal ops');
    expect(callerText(undefined)).toBe('');
  });
});
