/**
 * The dashboard's hosting: the static files of dist/web (built by `npm install`) in a private S3 bucket,
 * served by CloudFront through origin access control, HTTPS only, with a security headers policy (a CSP that
 * lets the page call this stack's REST and WebSocket APIs and nothing else). `config.json` beside the page
 * tells it the API's URL. Its URL is the `DashboardUrl` output; the API answers CORS for that origin only.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CfnOutput, Duration, type RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import { S3BucketOrigin } from 'aws-cdk-lib/aws-cloudfront-origins';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3deploy from 'aws-cdk-lib/aws-s3-deployment';
import * as cxapi from 'aws-cdk-lib/cx-api';
import { Construct } from 'constructs';
import { dashboardCsp, WEB_ROOT } from '../../shared/local/static-files';
import { acknowledge } from './nag';

/** How long browsers keep the HSTS promise (two years, the preload list's minimum). */
const HSTS_MAX_AGE = Duration.days(730);
/** CloudFront's and S3's access logs are kept this long. */
const ACCESS_LOG_DAYS = 90;

export interface DashboardProps {
  /** The REST API's URL (stage included): written to config.json for the page. */
  readonly apiUrl: string;
  /** Origins the page may connect to (the REST API's and the WebSocket API's), for the CSP. */
  readonly connectOrigins: readonly string[];
  readonly removalPolicy: RemovalPolicy;
  /** The built dashboard (default dist/web). */
  readonly sourceDir?: string;
}

export class Dashboard extends Construct {
  readonly bucket: s3.Bucket;
  readonly distribution: cloudfront.Distribution;
  /** `https://<distribution domain>`: the origin the API answers CORS for. */
  readonly origin: string;

  constructor(scope: Construct, id: string, props: DashboardProps) {
    super(scope, id);
    // The site bucket's server access logs are granted by a bucket policy, not the legacy LogDeliveryWrite
    // ACL (AccessControl, which cfn-lint and the CDK's own validation flag as legacy, W3045). CloudFront's
    // standard logs still need ACLs accepted on the log bucket (BUCKET_OWNER_PREFERRED below).
    this.node.setContext(cxapi.S3_SERVER_ACCESS_LOGS_USE_BUCKET_POLICY, true);
    const sourceDir = props.sourceDir ?? WEB_ROOT;
    const built = existsSync(join(sourceDir, 'index.html'));
    // A deployable synth needs the built files; one that skips bundling (the local runtime's definition,
    // tests) deploys nothing and gets a placeholder instead of failing on a checkout that was not built.
    if (!built && Stack.of(this).bundlingRequired) {
      throw new Error(`the dashboard is not built (${sourceDir} has no index.html): run \`npm run build\``);
    }
    const files = built
      ? s3deploy.Source.asset(sourceDir)
      : s3deploy.Source.data(
          'index.html',
          'synthesized without the built dashboard: deploy from a full build',
        );
    const logs = new s3.Bucket(this, 'AccessLogs', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      // CloudFront's standard logs are written with an ACL grant: the bucket must accept ACLs.
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
      lifecycleRules: [{ expiration: Duration.days(ACCESS_LOG_DAYS) }],
      removalPolicy: props.removalPolicy,
    });
    acknowledge(
      logs,
      'AwsSolutions-S1',
      'This is the access log bucket itself; logging it into itself would loop.',
    );
    this.bucket = new s3.Bucket(this, 'Site', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: logs,
      serverAccessLogsPrefix: 'site/',
      removalPolicy: props.removalPolicy,
      autoDeleteObjects: false,
    });
    const headers = new cloudfront.ResponseHeadersPolicy(this, 'SecurityHeaders', {
      comment: 'meta-agent dashboard: CSP, HSTS, no sniffing, no framing, no referrer',
      securityHeadersBehavior: {
        contentSecurityPolicy: { contentSecurityPolicy: dashboardCsp(props.connectOrigins), override: true },
        strictTransportSecurity: {
          accessControlMaxAge: HSTS_MAX_AGE,
          includeSubdomains: true,
          override: true,
        },
        contentTypeOptions: { override: true },
        frameOptions: { frameOption: cloudfront.HeadersFrameOption.DENY, override: true },
        referrerPolicy: { referrerPolicy: cloudfront.HeadersReferrerPolicy.NO_REFERRER, override: true },
      },
    });
    this.distribution = new cloudfront.Distribution(this, 'Distribution', {
      comment: 'meta-agent dashboard',
      defaultRootObject: 'index.html',
      defaultBehavior: {
        origin: S3BucketOrigin.withOriginAccessControl(this.bucket),
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        responseHeadersPolicy: headers,
        cachePolicy: cloudfront.CachePolicy.CACHING_OPTIMIZED,
        allowedMethods: cloudfront.AllowedMethods.ALLOW_GET_HEAD,
      },
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      minimumProtocolVersion: cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
      enableLogging: true,
      logBucket: logs,
      logFilePrefix: 'cloudfront/',
    });
    this.origin = `https://${this.distribution.distributionDomainName}`;

    new s3deploy.BucketDeployment(this, 'Files', {
      sources: [
        files,
        // Beside the page: where its API is (a page served by meta-agent serve has none and uses its origin).
        s3deploy.Source.jsonData('config.json', { apiUrl: props.apiUrl }),
      ],
      destinationBucket: this.bucket,
      distribution: this.distribution,
      distributionPaths: ['/index.html', '/config.json'],
      prune: true,
    });

    new CfnOutput(this, 'DashboardUrl', { key: 'DashboardUrl', value: `${this.origin}/` });

    acknowledge(
      this.distribution,
      'AwsSolutions-CFR1',
      'No geo restriction: operators may work from anywhere; every call still needs the API key.',
    );
    acknowledge(
      this.distribution,
      'AwsSolutions-CFR2',
      'WAF is an account-level choice with its own cost; the distribution serves public static files only, no data.',
    );
    acknowledge(
      this.distribution,
      'AwsSolutions-CFR4',
      'The default *.cloudfront.net certificate cannot pin a minimum TLS version (CloudFront allows TLSv1 on it); give the distribution your own domain and certificate to enforce TLSv1.2_2021, which this distribution already asks for.',
    );
    // BucketDeployment's custom resource: a Lambda function CDK ships (runtime and policies are its own).
    const stack = Stack.of(this);
    for (const child of stack.node.findAll()) {
      if (!child.node.id.startsWith('Custom::CDKBucketDeployment')) continue;
      acknowledge(
        child,
        'AwsSolutions-L1',
        "CDK's BucketDeployment handler: its runtime is chosen by aws-cdk-lib.",
      );
      acknowledge(
        child,
        'AwsSolutions-IAM4',
        "CDK's BucketDeployment handler runs with AWSLambdaBasicExecutionRole (its logs).",
        ['Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole'],
      );
      acknowledge(
        child,
        'AwsSolutions-IAM5',
        "CDK's BucketDeployment handler copies the staged dashboard files from the CDK assets bucket into the site bucket (object-level actions on those two buckets) and invalidates the distribution (CloudFront's CreateInvalidation takes no resource: *).",
        [
          'Action::s3:GetObject*',
          'Action::s3:GetBucket*',
          'Action::s3:List*',
          'Action::s3:DeleteObject*',
          'Action::s3:Abort*',
          'Resource::*',
          `Resource::<${stack.getLogicalId(this.bucket.node.defaultChild as s3.CfnBucket)}.Arn>/*`,
          'Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*',
        ],
      );
    }
  }
}
