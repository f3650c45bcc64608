/**
 * The artifacts bucket (outputs too large for a task item) and who may touch it: private, encrypted, TLS
 * only, access-logged, expiring; the workers read and write objects, the output route only reads them, and
 * no other function reaches the bucket.
 */
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { addMetaAgentStack } from '../../infra/config';
import { ARTIFACT_RETENTION_DAYS } from '../../infra/constructs/artifacts';
import { EnvVar } from '../../shared/config';
import { testApp } from '../support/cdk-app';
import { synthesizeDefaultStack } from './fixture';
import { referencedIds, type Statement, templateFunctions } from './template-functions';

/** A full synthesis takes seconds; much longer on a busy 2-core machine. */
const SYNTH_TIMEOUT_MS = 180_000;

let template: Template;
let bucketId: string;
let logsId: string;

beforeAll(() => {
  const { stack } = synthesizeDefaultStack();
  template = Template.fromStack(stack);
  bucketId = stack.getLogicalId(stack.artifacts.bucket.node.defaultChild as never);
  logsId = stack.getLogicalId(stack.artifacts.accessLogs.node.defaultChild as never);
}, SYNTH_TIMEOUT_MS);

const s3Actions = (statements: readonly Statement[]) =>
  statements.flatMap((st) =>
    [st.Action]
      .flat()
      .filter((a) => a.startsWith('s3:'))
      .map((a) => ({ a, st })),
  );

describe('the artifacts bucket', () => {
  it('blocks every public access, enforces bucket-owner objects and encrypts at rest', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
      LoggingConfiguration: { DestinationBucketName: { Ref: logsId }, LogFilePrefix: 'artifacts/' },
    });
  });

  it('denies every request that does not use TLS', () => {
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: bucketId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });

  it('expires outputs after the retention period and aborts incomplete uploads', () => {
    const bucket = template.findResources('AWS::S3::Bucket')[bucketId];
    const rules = (bucket?.Properties as { LifecycleConfiguration?: { Rules: unknown[] } } | undefined)
      ?.LifecycleConfiguration?.Rules;
    expect(rules).toEqual([
      {
        Id: 'ExpireOutputs',
        Status: 'Enabled',
        ExpirationInDays: ARTIFACT_RETENTION_DAYS,
        AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
      },
    ]);
  });

  it('is retained with the stack by default', () => {
    const buckets = template.findResources('AWS::S3::Bucket');
    expect(buckets[bucketId]?.DeletionPolicy).toBe('Retain');
  });
});

describe('access to the artifacts bucket', () => {
  it('lets every worker get and put objects of the bucket only, and tells it the bucket name', () => {
    const fns = templateFunctions(template.toJSON() as Parameters<typeof templateFunctions>[0]);
    const workers = fns.filter((fn) => fn.handler === 'agent-worker');
    expect(workers.length).toBeGreaterThan(20);
    for (const worker of workers) {
      const granted = s3Actions(worker.statements);
      expect(granted.map((g) => g.a).sort(), worker.logicalId).toEqual(['s3:GetObject', 's3:PutObject']);
      for (const { st } of granted) {
        expect(JSON.stringify(st.Resource)).toBe(
          JSON.stringify({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, '/*']] }),
        );
      }
      expect(worker.env[EnvVar.ArtifactsBucket]).toEqual({ Ref: bucketId });
    }
  });

  it("lets the output route and Complete (an expanding task's stored plan) only read objects, and no other function reach the bucket at all", () => {
    const fns = templateFunctions(template.toJSON() as Parameters<typeof templateFunctions>[0]);
    const readers = new Set(['output', 'complete']);
    for (const fn of fns.filter((f) => f.handler !== 'agent-worker')) {
      const granted = s3Actions(fn.statements).map((g) => g.a);
      expect(granted, `${fn.handler} (${fn.logicalId})`).toEqual(
        readers.has(fn.handler) ? ['s3:GetObject'] : [],
      );
      const refersToBucket = referencedIds(fn.env).has(bucketId);
      expect(refersToBucket, fn.handler).toBe(readers.has(fn.handler));
    }
  });
});

describe('a dev stack', () => {
  it(
    'empties and deletes the bucket with the stack, and cdk-nag still finds nothing',
    () => {
      const app = testApp({ context: { 'aws:cdk:bundling-stacks': [], dev: 'true' } });
      const stack = addMetaAgentStack(app, []);
      const dev = Template.fromStack(stack);
      const id = stack.getLogicalId(stack.artifacts.bucket.node.defaultChild as never);

      expect(dev.findResources('AWS::S3::Bucket')[id]?.DeletionPolicy).toBe('Delete');
      dev.hasResourceProperties('Custom::S3AutoDeleteObjects', { BucketName: { Ref: id } });
      const report = new AwsSolutionsChecks(app).validateScope(app);
      const findings = report.violations.map(
        (v) => `${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
      );
      expect(findings).toEqual([]);
    },
    SYNTH_TIMEOUT_MS,
  );
});
