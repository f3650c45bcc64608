/**
 * The artifacts bucket: whole task outputs too large for a task item (claim check, README "Passing work
 * between tasks"). Private (public access blocked, bucket-owner objects), encrypted, TLS only, access
 * logged, and emptied by a lifecycle rule. Workers write and read outputs; the output route only reads.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as cxapi from 'aws-cdk-lib/cx-api';
import { Construct } from 'constructs';
import { EnvVar } from '../../shared/config';
import { acknowledge } from './nag';

/**
 * Days an output stays in the bucket. Task items (and so the references) have no expiry; a batch older than
 * this answers its output route with S3's NoSuchKey. 90 days covers a release cycle's reviews.
 */
export const ARTIFACT_RETENTION_DAYS = 90;
/** Days the server access logs of the bucket are kept. */
export const ACCESS_LOG_RETENTION_DAYS = 90;
/** Outputs are written in one PutObject; a multipart upload left behind by a crash is aborted after a day. */
const ABORT_INCOMPLETE_UPLOAD_DAYS = 1;

export type ArtifactAccess = 'read' | 'readWrite';

export interface ArtifactsProps {
  /** RETAIN (the stack's default) keeps the outputs when the stack is deleted; DESTROY empties and deletes. */
  readonly removalPolicy: RemovalPolicy;
  /** Days an output is kept (default ARTIFACT_RETENTION_DAYS). */
  readonly retentionDays?: number;
}

export class Artifacts extends Construct {
  readonly bucket: s3.Bucket;
  readonly accessLogs: s3.Bucket;

  constructor(scope: Construct, id: string, props: ArtifactsProps) {
    super(scope, id);
    // Log delivery is granted by a bucket policy (the current AWS recommendation) instead of the
    // LogDeliveryWrite ACL, which bucket-owner-enforced ownership (ACLs off) does not allow.
    this.node.setContext(cxapi.S3_SERVER_ACCESS_LOGS_USE_BUCKET_POLICY, true);
    const destroy = props.removalPolicy === RemovalPolicy.DESTROY;
    const common = {
      // SSE-S3: server access log delivery supports no other key on the target bucket, and the outputs need
      // no key policy of their own (who may read them is IAM's answer).
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: props.removalPolicy,
      autoDeleteObjects: destroy,
    };
    this.accessLogs = new s3.Bucket(this, 'AccessLogs', {
      ...common,
      lifecycleRules: [{ id: 'ExpireLogs', expiration: Duration.days(ACCESS_LOG_RETENTION_DAYS) }],
    });
    acknowledge(
      this.accessLogs,
      'AwsSolutions-S1',
      'This bucket receives the server access logs of the artifacts bucket; logging it in turn would only log log deliveries.',
    );
    this.bucket = new s3.Bucket(this, 'Bucket', {
      ...common,
      serverAccessLogsBucket: this.accessLogs,
      serverAccessLogsPrefix: 'artifacts/',
      lifecycleRules: [
        {
          id: 'ExpireOutputs',
          expiration: Duration.days(props.retentionDays ?? ARTIFACT_RETENTION_DAYS),
          abortIncompleteMultipartUploadAfter: Duration.days(ABORT_INCOMPLETE_UPLOAD_DAYS),
        },
      ],
    });
  }

  /**
   * Tells `fn` the bucket (ARTIFACTS_BUCKET_NAME) and lets it `read` outputs (s3:GetObject: whole, ranges and
   * the presigned downloads it signs) or also write them (`readWrite`: s3:PutObject). Object actions only,
   * on the bucket's objects only: no listing, no deleting, no bucket settings.
   */
  bind(fn: lambda.Function, access: ArtifactAccess): void {
    const actions = access === 'read' ? ['s3:GetObject'] : ['s3:GetObject', 's3:PutObject'];
    fn.addToRolePolicy(new iam.PolicyStatement({ actions, resources: [this.bucket.arnForObjects('*')] }));
    fn.addEnvironment(EnvVar.ArtifactsBucket, this.bucket.bucketName);
    const bucketId = fn.stack.getLogicalId(this.bucket.node.defaultChild as s3.CfnBucket);
    acknowledge(
      fn.role ?? fn,
      'AwsSolutions-IAM5',
      'Output keys are made at run time (outputs/<batch>/<task>/attempt-<n>.json); the grant is object actions on this bucket only.',
      [`Resource::<${bucketId}.Arn>/*`],
    );
  }
}
