/** callerOf: who sent a request, from API Gateway's request context only (a decision's record keeps it). */
import type { APIGatewayProxyEvent, APIGatewayProxyEventV2 } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { callerOf } from '../../../functions/commons/http';

const KEY_VALUE = 'k3y-v4lue-n3ver-st0red';

function restEvent(requestContext: object, headers: Record<string, string> = {}): APIGatewayProxyEvent {
  return { headers, body: null, requestContext } as unknown as APIGatewayProxyEvent;
}

describe('callerOf', () => {
  it("names an API key by its id, never its value, with the caller's address", () => {
    const event = restEvent(
      { identity: { apiKey: KEY_VALUE, apiKeyId: 'a1b2c3', sourceIp: '203.0.113.7', userArn: null } },
      { 'x-api-key': KEY_VALUE },
    );

    expect(callerOf(event)).toEqual({ apiKeyId: 'a1b2c3', sourceIp: '203.0.113.7' });
    expect(JSON.stringify(callerOf(event))).not.toContain(KEY_VALUE);
  });

  it("keeps an IAM caller's ARN, a Cognito user's sub and a Lambda authorizer's principal", () => {
    const arn = 'arn:aws:iam::123456789012:user/alice';
    expect(callerOf(restEvent({ identity: { userArn: arn, sourceIp: '198.51.100.1' } }))).toEqual({
      userArn: arn,
      sourceIp: '198.51.100.1',
    });
    expect(callerOf(restEvent({ identity: {}, authorizer: { claims: { sub: 'c0ffee' } } }))).toEqual({
      cognitoSub: 'c0ffee',
    });
    expect(callerOf(restEvent({ identity: {}, authorizer: { principalId: 'ops-bot' } }))).toEqual({
      principalId: 'ops-bot',
    });
  });

  it('reads an HTTP API (v2) context: JWT sub, IAM ARN and source address', () => {
    const event = {
      headers: {},
      requestContext: {
        http: { sourceIp: '192.0.2.4' },
        authorizer: { jwt: { claims: { sub: 'u-42' } }, iam: { userArn: 'arn:aws:iam::1:role/ci' } },
      },
    } as unknown as APIGatewayProxyEventV2;

    expect(callerOf(event)).toEqual({
      userArn: 'arn:aws:iam::1:role/ci',
      cognitoSub: 'u-42',
      sourceIp: '192.0.2.4',
    });
  });

  it('is undefined when the context names nobody, whatever the headers claim', () => {
    expect(callerOf(restEvent({ identity: {} }, { 'x-user': 'mallory' }))).toBeUndefined();
  });
});
