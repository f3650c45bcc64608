import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { API_ROUTES } from '../../shared/api-routes';
import { EnvVar } from '../../shared/config';
import { resourcesOf, type Synthesized, synthesizeDefaultStack } from './fixture';

let s: Synthesized;

beforeAll(() => {
  s = synthesizeDefaultStack();
});

const idOf = (construct: { node: { defaultChild?: unknown } }) =>
  s.stack.getLogicalId(construct.node.defaultChild as never);

describe('dashboard hosting', () => {
  it('keeps the files in a private, encrypted bucket that only this distribution may read, over TLS', () => {
    const bucketId = idOf(s.stack.dashboard.bucket);
    const distributionId = idOf(s.stack.dashboard.distribution);
    const bucket = resourcesOf(s.template, 'AWS::S3::Bucket')[bucketId];
    expect(bucket?.Properties.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(bucket?.Properties.BucketEncryption).toBeDefined();
    expect(bucket?.Properties.LoggingConfiguration).toBeDefined();

    const policy = Object.values(resourcesOf(s.template, 'AWS::S3::BucketPolicy')).find(
      (p) => JSON.stringify(p.Properties.Bucket) === JSON.stringify({ Ref: bucketId }),
    );
    const document = policy?.Properties.PolicyDocument as
      | { Statement: Record<string, unknown>[] }
      | undefined;
    const statements = document?.Statement ?? [];
    const allows = statements.filter((st) => st.Effect === 'Allow');
    // Every grant is to CloudFront, for this distribution only (origin access control, no public read).
    expect(allows.length).toBeGreaterThan(0);
    for (const allow of allows) {
      expect(allow.Principal).toEqual({ Service: 'cloudfront.amazonaws.com' });
      expect(JSON.stringify(allow.Condition)).toContain(distributionId);
    }
    expect(statements).toContainEqual(
      expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
    );
  });

  it('reaches the bucket through origin access control, redirects HTTP to HTTPS and logs requests', () => {
    s.template.hasResourceProperties('AWS::CloudFront::OriginAccessControl', {
      OriginAccessControlConfig: Match.objectLike({
        OriginAccessControlOriginType: 's3',
        SigningBehavior: 'always',
        SigningProtocol: 'sigv4',
      }),
    });
    const distribution = resourcesOf(s.template, 'AWS::CloudFront::Distribution')[
      idOf(s.stack.dashboard.distribution)
    ];
    expect(distribution?.Properties.DistributionConfig).toMatchObject({
      Origins: [{ OriginAccessControlId: expect.anything(), S3OriginConfig: { OriginAccessIdentity: '' } }],
      DefaultCacheBehavior: { ViewerProtocolPolicy: 'redirect-to-https', AllowedMethods: ['GET', 'HEAD'] },
      DefaultRootObject: 'index.html',
      Logging: expect.anything(),
    });
  });

  it('adds security headers: a CSP that reaches only this stack’s APIs, HSTS, nosniff, no framing, no referrer', () => {
    const [policy] = Object.values(resourcesOf(s.template, 'AWS::CloudFront::ResponseHeadersPolicy'));
    type Security = Record<string, Record<string, unknown>>;
    const config = policy?.Properties.ResponseHeadersPolicyConfig as
      | { SecurityHeadersConfig: Security }
      | undefined;
    const security = config?.SecurityHeadersConfig ?? {};
    const csp = JSON.stringify(security.ContentSecurityPolicy?.ContentSecurityPolicy);

    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain(idOf(s.stack.api.restApi));
    expect(csp).toContain(s.stack.getLogicalId(s.stack.progress.webSocketApi.node.defaultChild as never));
    expect(csp).not.toContain('unsafe');
    expect(security.StrictTransportSecurity).toMatchObject({
      AccessControlMaxAgeSec: 63_072_000,
      Override: true,
    });
    expect(security.ContentTypeOptions).toEqual({ Override: true });
    expect(security.FrameOptions).toEqual({ FrameOption: 'DENY', Override: true });
    expect(security.ReferrerPolicy).toEqual({ ReferrerPolicy: 'no-referrer', Override: true });
  });

  it("deploys the built files and config.json with the API's URL, and outputs the dashboard URL", () => {
    const [deployment] = Object.values(resourcesOf(s.template, 'Custom::CDKBucketDeployment'));
    expect(deployment?.Properties.DestinationBucketName).toEqual({ Ref: idOf(s.stack.dashboard.bucket) });
    expect(deployment?.Properties.DistributionId).toEqual({ Ref: idOf(s.stack.dashboard.distribution) });
    expect(JSON.stringify(deployment?.Properties.SourceMarkers)).toContain(idOf(s.stack.api.restApi));
    const outputs = s.template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(JSON.stringify(outputs.DashboardUrl?.Value)).toContain(idOf(s.stack.dashboard.distribution));
  });
});

describe('CORS for the dashboard', () => {
  const dashboardOrigin = () => ({
    'Fn::Join': ['', ['https://', { 'Fn::GetAtt': [idOf(s.stack.dashboard.distribution), 'DomainName'] }]],
  });

  it("answers preflights for the dashboard's origin only, without the API key", () => {
    const options = Object.values(resourcesOf(s.template, 'AWS::ApiGateway::Method')).filter(
      (m) => m.Properties.HttpMethod === 'OPTIONS',
    );
    expect(options.length).toBeGreaterThan(0);
    for (const method of options) {
      const integration = method.Properties.Integration as {
        IntegrationResponses: { ResponseParameters: Record<string, unknown> }[];
      };
      const parameters = integration.IntegrationResponses[0]?.ResponseParameters ?? {};
      const allowOrigin = parameters['method.response.header.Access-Control-Allow-Origin'];
      expect(JSON.stringify(allowOrigin)).toContain(idOf(s.stack.dashboard.distribution));
      expect(JSON.stringify(allowOrigin)).not.toContain('*');
    }
  });

  it("names the dashboard's origin on API Gateway's own errors and in every REST handler's answers", () => {
    const responses = Object.values(resourcesOf(s.template, 'AWS::ApiGateway::GatewayResponse'));
    expect(responses.map((r) => r.Properties.ResponseType).sort()).toEqual(['DEFAULT_4XX', 'DEFAULT_5XX']);
    for (const response of responses) {
      const headers = response.Properties.ResponseParameters as Record<string, unknown>;
      expect(JSON.stringify(headers['gatewayresponse.header.Access-Control-Allow-Origin'])).toContain(
        idOf(s.stack.dashboard.distribution),
      );
      // As the handlers' answers (functions/commons/http.ts) and every answer of meta-agent serve do.
      expect(headers).toMatchObject({
        'gatewayresponse.header.x-content-type-options': "'nosniff'",
        'gatewayresponse.header.referrer-policy': "'no-referrer'",
        'gatewayresponse.header.x-frame-options': "'DENY'",
      });
    }
    for (const name of new Set(API_ROUTES.map((r) => r.handler))) {
      const fn = s.stack.functions.get(name);
      const env = resourcesOf(s.template, 'AWS::Lambda::Function')[idOf(fn as never)]?.Properties
        .Environment as {
        Variables: Record<string, unknown>;
      };
      expect(env.Variables[EnvVar.CorsAllowedOrigin], name).toEqual(dashboardOrigin());
    }
  });
});
