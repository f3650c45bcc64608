/**
 * Deploys a synthesized stack on moto (moto_server, the image's Python) through CloudFormation and compares
 * what was created with the template: `npx tsx scripts/moto-deploy.ts CDK_OUT_DIR` (.ci/run, after
 * `cdk synth -o CDK_OUT_DIR`).
 *
 * moto_server starts on 127.0.0.1 on a free port and is stopped at the end, whatever happens. The stack is
 * deployed as `cdk deploy` would after a bootstrap: the bootstrap version parameter is put in SSM, the file
 * assets (the bundled Lambda code, the dashboard's files, the layer) are zipped as the CDK's asset publishing
 * zips them and uploaded to the assets bucket, and the template is created with CreateStack. The stack must
 * reach CREATE_COMPLETE; then every resource of the template must be in the stack as CREATE_COMPLETE with
 * its type, except the types listed in MOTO_SKIPS (README, "Checked by third-party tools"), and the tables,
 * queues and functions moto made must have the template's key schema, indexes, timeouts and runtimes.
 * Exit 0 when all holds, 1 with every difference otherwise, 2 on bad usage.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CloudFormationClient,
  CreateStackCommand,
  DescribeStackEventsCommand,
  DescribeStacksCommand,
  paginateListStackResources,
  type StackResourceSummary,
} from '@aws-sdk/client-cloudformation';
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetFunctionConfigurationCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { freePort } from './free-port';

/** moto's default account; the region the stack is deployed in. */
const ACCOUNT = '123456789012';
const REGION = 'us-east-1';
const STACK_NAME = 'MetaAgent';
/** The CDK's default bootstrap qualifier and the bootstrap version the template's rule asks for (>= 6). */
const QUALIFIER = 'hnb659fds';
const BOOTSTRAP_VERSION = '30';
const STARTUP_TIMEOUT_MS = 30_000;
const DEPLOY_TIMEOUT_MS = 600_000;

/**
 * Resource types moto's CloudFormation does not create (it skips them and leaves them out of the stack's
 * resources), with the reason that is acceptable. A type here that moto does create is reported, so the
 * list only shrinks.
 */
export const MOTO_SKIPS: Readonly<Record<string, string>> = {
  'AWS::CDK::Metadata': "the CDK's version report to AWS; it creates nothing",
  'AWS::ApiGateway::Account':
    "the account-wide CloudWatch role of API Gateway's logs: a setting, no resource of the stack",
  'AWS::ApiGateway::ApiKey':
    'the REST API key (test/infra/stack.test.ts); the REST API, its resources and methods are created',
  'AWS::ApiGateway::GatewayResponse': 'CORS headers on gateway errors (test/infra/dashboard.test.ts)',
  'AWS::ApiGateway::Model':
    'request body schemas of the REST API; the handlers validate every body again themselves',
  'AWS::ApiGateway::RequestValidator': 'request validation of the REST API (test/infra/stack.test.ts)',
  'AWS::ApiGateway::Stage': 'the REST stage (throttling, access logs): test/infra/stack.test.ts and cdk-nag',
  'AWS::ApiGateway::UsagePlan': 'throttling and quota of the API key (test/infra/stack.test.ts)',
  'AWS::ApiGateway::UsagePlanKey': 'binds the API key to the usage plan (test/infra/stack.test.ts)',
  'AWS::ApiGatewayV2::Api':
    'the WebSocket API: moto has no API Gateway v2 in CloudFormation (test/infra/stack.test.ts)',
  'AWS::ApiGatewayV2::Authorizer': 'the WebSocket authorizer: as for the WebSocket API',
  'AWS::ApiGatewayV2::Integration': 'the WebSocket integrations: as for the WebSocket API',
  'AWS::ApiGatewayV2::Route': 'the WebSocket routes: as for the WebSocket API',
  'AWS::ApiGatewayV2::RouteResponse': 'the subscribe route response: as for the WebSocket API',
  'AWS::ApiGatewayV2::Stage': 'the WebSocket stage: as for the WebSocket API',
  'AWS::CloudFront::Distribution':
    "the dashboard's CDN: moto's CloudFormation has no CloudFront (test/infra/dashboard.test.ts)",
  'AWS::CloudFront::OriginAccessControl': "the dashboard bucket's origin access: as for the distribution",
  'AWS::CloudFront::ResponseHeadersPolicy': "the dashboard's security headers: as for the distribution",
  'AWS::CloudWatch::Alarm':
    'alarms on DLQ depth, failed executions and throttles: only the CloudWatch dashboard reads them',
  'AWS::S3::BucketPolicy':
    'TLS-only, CloudFront and log-delivery policies: cdk-nag, test/infra/artifacts.test.ts and dashboard.test.ts',
  'AWS::SQS::QueuePolicy': 'TLS-only queue policies: cdk-nag and test/infra/stack.test.ts',
};

/**
 * Custom resources whose Lambda moto would have to run (in Docker, which the build machines do not have):
 * the script answers their CloudFormation callback with SUCCESS itself, so the stack can complete. Listed
 * with what is therefore not done.
 */
export const ANSWERED_CUSTOM_RESOURCES: Readonly<Record<string, string>> = {
  'Custom::CDKBucketDeployment':
    "the dashboard's files are not copied into the site bucket (the bucket is created)",
};

type TemplateResource = { Type: string; Properties?: Record<string, unknown> };
type Template = { Resources: Record<string, TemplateResource> };
type AssetManifest = {
  files?: Record<
    string,
    {
      source: { path: string; packaging?: 'zip' | 'file' };
      destinations: Record<string, { bucketName: string; objectKey: string }>;
    }
  >;
};

async function startMoto(port: number, logFile: string): Promise<ChildProcess> {
  const log = openSync(logFile, 'a');
  const child = spawn(process.env.MOTO_SERVER ?? 'moto_server', ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', log, log],
  });
  const exited = new Promise<never>((_, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`moto_server exited (${code}) before answering`)));
  });
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  const answering = (async () => {
    while (Date.now() < deadline) {
      try {
        const response = await fetch(`http://127.0.0.1:${port}/moto-api/`);
        if (response.ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`moto_server did not answer within ${STARTUP_TIMEOUT_MS} ms`);
  })();
  try {
    await Promise.race([answering, exited]);
  } catch (error) {
    child.kill();
    throw error;
  }
  return child;
}

async function stopMoto(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const killed = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(killed);
}

/** A zip of `dir` with paths relative to it (Python's zipfile: moto needs the image's Python anyway). */
function zipDirectory(dir: string, target: string): void {
  const script = [
    'import os, sys, zipfile',
    'root, target = sys.argv[1], sys.argv[2]',
    'with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as z:',
    '    for base, dirs, files in os.walk(root):',
    '        dirs.sort()',
    '        for name in sorted(files):',
    '            path = os.path.join(base, name)',
    '            z.write(path, os.path.relpath(path, root))',
  ].join('\n');
  const result = spawnSync(process.env.PYTHON ?? 'python3', ['-c', script, dir, target], {
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`zipping ${dir} failed: ${result.stderr || result.error}`);
}

/** The asset manifest's `${AWS::AccountId}`-style placeholders, for moto's account and this region. */
const resolvePlaceholders = (text: string) =>
  text.replace(/\$\{AWS::(AccountId|Region|Partition)\}/g, (_, name: string) =>
    name === 'AccountId' ? ACCOUNT : name === 'Region' ? REGION : 'aws',
  );

/** Uploads every file asset of the manifest where the template expects it. Returns how many. */
async function publishAssets(
  s3: S3Client,
  cdkOut: string,
  manifest: AssetManifest,
  work: string,
): Promise<number> {
  const buckets = new Set<string>();
  let count = 0;
  for (const [hash, asset] of Object.entries(manifest.files ?? {})) {
    const source = join(cdkOut, asset.source.path);
    let body: Buffer;
    if (statSync(source).isDirectory()) {
      const zip = join(work, `${hash}.zip`);
      zipDirectory(source, zip);
      body = readFileSync(zip);
    } else {
      body = readFileSync(source);
    }
    for (const destination of Object.values(asset.destinations)) {
      const bucket = resolvePlaceholders(destination.bucketName);
      if (!buckets.has(bucket)) {
        await s3.send(new CreateBucketCommand({ Bucket: bucket }));
        buckets.add(bucket);
      }
      await s3.send(
        new PutObjectCommand({ Bucket: bucket, Key: resolvePlaceholders(destination.objectKey), Body: body }),
      );
      count++;
    }
  }
  return count;
}

/** The resource types the installed moto's CloudFormation creates (its model map). */
function motoSupportedTypes(): Set<string> {
  const script =
    'import json\nfrom moto.cloudformation.parsing import get_model_map\nprint(json.dumps(sorted(get_model_map())))';
  const result = spawnSync(process.env.PYTHON ?? 'python3', ['-c', script], { encoding: 'utf8' });
  if (result.status !== 0)
    throw new Error(`reading moto's resource types failed: ${result.stderr || result.error}`);
  return new Set(JSON.parse(result.stdout) as string[]);
}

/**
 * The template as moto can take it: moto refuses a whole template with an Fn::GetAtt (or a ${Id.Attr} in
 * Fn::Sub) of a resource it skips, so each of those becomes the string `moto-skipped:Id.Attr`. Nothing else
 * changes. Returns the template and the attributes replaced.
 */
export function templateForMoto(template: Template, skipped: (type: string) => boolean) {
  const isSkipped = (id: string) => {
    const type = template.Resources[id]?.Type;
    return type !== undefined && skipped(type);
  };
  const replaced = new Set<string>();
  const rewrite = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(rewrite);
    if (!node || typeof node !== 'object') return node;
    const entries = Object.entries(node);
    const [key, value] = entries[0] ?? [];
    if (entries.length === 1 && key === 'Fn::GetAtt') {
      const [id, attribute] = Array.isArray(value) ? value : String(value).split(/\.(.*)/s);
      if (isSkipped(String(id))) {
        replaced.add(`${id}.${attribute}`);
        return `moto-skipped:${id}.${attribute}`;
      }
    }
    if (entries.length === 1 && key === 'Fn::Sub') {
      const subst = (text: string) =>
        text.replace(/\$\{([A-Za-z0-9]+)\.([A-Za-z0-9.]+)\}/g, (whole, id: string, attribute: string) => {
          if (!isSkipped(id)) return whole;
          replaced.add(`${id}.${attribute}`);
          return `moto-skipped:${id}.${attribute}`;
        });
      return {
        'Fn::Sub': Array.isArray(value) ? [subst(String(value[0])), rewrite(value[1])] : subst(String(value)),
      };
    }
    return Object.fromEntries(entries.map(([k, v]) => [k, rewrite(v)]));
  };
  const result = rewrite(template) as Template;
  // moto's AWS::ApiGateway::Method reads IntegrationHttpMethod and Uri of every integration (a KeyError
  // otherwise); AWS needs neither for a MOCK integration (the CORS preflights), so they get placeholders.
  for (const resource of Object.values(result.Resources)) {
    const integration = resource.Properties?.Integration as Record<string, unknown> | undefined;
    if (resource.Type !== 'AWS::ApiGateway::Method' || integration?.Type !== 'MOCK') continue;
    integration.IntegrationHttpMethod ??= resource.Properties?.HttpMethod;
    integration.Uri ??= 'moto-mock-integration';
  }
  return { template: result, replaced: [...replaced].sort() };
}

/** Answers the callback of each custom resource in ANSWERED_CUSTOM_RESOURCES, as its Lambda would. */
async function answerCustomResources(endpoint: string, stackId: string, template: Template): Promise<number> {
  let answered = 0;
  for (const [id, resource] of Object.entries(template.Resources)) {
    if (!(resource.Type in ANSWERED_CUSTOM_RESOURCES)) continue;
    const response = await fetch(
      `${endpoint}/cloudformation_${REGION}/cfnresponse?stack=${encodeURIComponent(stackId)}`,
      {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          Status: 'SUCCESS',
          StackId: stackId,
          LogicalResourceId: id,
          PhysicalResourceId: id,
          Data: {},
        }),
      },
    );
    if (!response.ok) throw new Error(`answering ${id} failed: ${response.status} ${await response.text()}`);
    answered++;
  }
  return answered;
}

async function waitForStack(cfn: CloudFormationClient): Promise<string> {
  const deadline = Date.now() + DEPLOY_TIMEOUT_MS;
  for (;;) {
    const { Stacks } = await cfn.send(new DescribeStacksCommand({ StackName: STACK_NAME }));
    const status = Stacks?.[0]?.StackStatus ?? 'UNKNOWN';
    if (!status.endsWith('_IN_PROGRESS')) return status;
    if (Date.now() > deadline) return `${status} (still, after ${DEPLOY_TIMEOUT_MS} ms)`;
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

async function failedEvents(cfn: CloudFormationClient): Promise<string[]> {
  const { StackEvents = [] } = await cfn.send(new DescribeStackEventsCommand({ StackName: STACK_NAME }));
  return StackEvents.filter((e) => e.ResourceStatus?.endsWith('FAILED')).map(
    (e) => `${e.LogicalResourceId} (${e.ResourceType}): ${e.ResourceStatus} ${e.ResourceStatusReason ?? ''}`,
  );
}

/** Differences between the template's resources and the stack's (logical id, type, status). */
export function compareResources(
  template: Template,
  created: readonly StackResourceSummary[],
  skips: Readonly<Record<string, string>> = MOTO_SKIPS,
): { problems: string[]; skipped: Record<string, number> } {
  const problems: string[] = [];
  const skipped: Record<string, number> = {};
  const byId = new Map(created.map((r) => [r.LogicalResourceId, r]));
  for (const [id, resource] of Object.entries(template.Resources)) {
    const made = byId.get(id);
    byId.delete(id);
    if (resource.Type in skips) {
      if (made)
        problems.push(
          `${id}: ${resource.Type} is listed as skipped by moto but was created: update MOTO_SKIPS`,
        );
      else skipped[resource.Type] = (skipped[resource.Type] ?? 0) + 1;
      continue;
    }
    if (!made) problems.push(`${id} (${resource.Type}): in the template, not in the stack`);
    else if (made.ResourceType !== resource.Type)
      problems.push(`${id}: type ${made.ResourceType}, template ${resource.Type}`);
    else if (made.ResourceStatus !== 'CREATE_COMPLETE')
      problems.push(`${id} (${resource.Type}): ${made.ResourceStatus}`);
  }
  for (const [id, made] of byId)
    problems.push(`${id} (${made.ResourceType}): in the stack, not in the template`);
  return { problems, skipped };
}

type Clients = { ddb: DynamoDBClient; sqs: SQSClient; lambda: LambdaClient };

/** The created tables, queues and functions, read back from their services, against the template. */
async function compareProperties(template: Template, created: readonly StackResourceSummary[], c: Clients) {
  const problems: string[] = [];
  const physical = new Map(created.map((r) => [r.LogicalResourceId, r.PhysicalResourceId ?? '']));
  const same = (id: string, what: string, actual: unknown, expected: unknown) => {
    if (JSON.stringify(actual) !== JSON.stringify(expected))
      problems.push(
        `${id}: ${what} is ${JSON.stringify(actual)}, the template says ${JSON.stringify(expected)}`,
      );
  };
  const counted = { tables: 0, queues: 0, functions: 0 };
  for (const [id, resource] of Object.entries(template.Resources)) {
    const name = physical.get(id);
    const p = resource.Properties ?? {};
    if (!name) continue;
    if (resource.Type === 'AWS::DynamoDB::Table') {
      const { Table } = await c.ddb.send(new DescribeTableCommand({ TableName: name }));
      same(id, 'KeySchema', Table?.KeySchema, p.KeySchema);
      const indexes = (Table?.GlobalSecondaryIndexes ?? []).map((i) => ({
        name: i.IndexName,
        keys: i.KeySchema,
      }));
      const expected = ((p.GlobalSecondaryIndexes ?? []) as { IndexName: string; KeySchema: unknown }[]).map(
        (i) => ({
          name: i.IndexName,
          keys: i.KeySchema,
        }),
      );
      same(id, 'GlobalSecondaryIndexes', indexes, expected);
      same(
        id,
        'BillingMode',
        Table?.BillingModeSummary?.BillingMode ?? 'PROVISIONED',
        p.BillingMode ?? 'PROVISIONED',
      );
      counted.tables++;
    } else if (resource.Type === 'AWS::SQS::Queue') {
      const { Attributes = {} } = await c.sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: name, AttributeNames: ['All'] }),
      );
      if (p.VisibilityTimeout !== undefined)
        same(id, 'VisibilityTimeout', Number(Attributes.VisibilityTimeout), p.VisibilityTimeout);
      if (p.MessageRetentionPeriod !== undefined)
        same(
          id,
          'MessageRetentionPeriod',
          Number(Attributes.MessageRetentionPeriod),
          p.MessageRetentionPeriod,
        );
      if (p.RedrivePolicy !== undefined) {
        const redrive = JSON.parse(Attributes.RedrivePolicy ?? '{}') as { maxReceiveCount?: unknown };
        const expectedCount = (p.RedrivePolicy as { maxReceiveCount?: unknown }).maxReceiveCount;
        same(id, 'RedrivePolicy.maxReceiveCount', Number(redrive.maxReceiveCount), expectedCount);
      }
      counted.queues++;
    } else if (resource.Type === 'AWS::Lambda::Function') {
      const fn = await c.lambda.send(new GetFunctionConfigurationCommand({ FunctionName: name }));
      same(id, 'Runtime', fn.Runtime, p.Runtime);
      same(id, 'Handler', fn.Handler, p.Handler);
      if (p.Timeout !== undefined) same(id, 'Timeout', fn.Timeout, p.Timeout);
      if (p.MemorySize !== undefined) same(id, 'MemorySize', fn.MemorySize, p.MemorySize);
      counted.functions++;
    }
  }
  return { problems, counted };
}

async function main(): Promise<number> {
  const cdkOut = process.argv[2];
  if (!cdkOut || !existsSync(join(cdkOut, `${STACK_NAME}.template.json`))) {
    console.error(
      `usage: moto-deploy CDK_OUT_DIR (a \`cdk synth -o\` directory with ${STACK_NAME}.template.json)`,
    );
    return 2;
  }
  const templateText = readFileSync(join(cdkOut, `${STACK_NAME}.template.json`), 'utf8');
  const template = JSON.parse(templateText) as Template;
  const manifest = JSON.parse(
    readFileSync(join(cdkOut, `${STACK_NAME}.assets.json`), 'utf8'),
  ) as AssetManifest;

  const work = mkdtempSync(join(tmpdir(), 'moto-deploy-'));
  const logFile = join(work, 'moto_server.log');
  const port = await freePort();
  const started = performance.now();
  let moto: ChildProcess | undefined;
  try {
    moto = await startMoto(port, logFile);
    console.log(`moto: moto_server on 127.0.0.1:${port} (pid ${moto.pid})`);
    const config = {
      region: REGION,
      endpoint: `http://127.0.0.1:${port}`,
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
      forcePathStyle: true,
    };
    const s3 = new S3Client(config);
    // No retry: a CreateStack that failed half-way must be reported, not retried into "already exists".
    const cfn = new CloudFormationClient({ ...config, maxAttempts: 1 });
    await new SSMClient(config).send(
      new PutParameterCommand({
        Name: `/cdk-bootstrap/${QUALIFIER}/version`,
        Value: BOOTSTRAP_VERSION,
        Type: 'String',
      }),
    );
    const published = await publishAssets(s3, cdkOut, manifest, work);
    console.log(`moto: ${published} assets uploaded`);

    const supported = motoSupportedTypes();
    const unknown = [...new Set(Object.values(template.Resources).map((r) => r.Type))].filter(
      (type) => !supported.has(type) && !(type in MOTO_SKIPS) && !(type in ANSWERED_CUSTOM_RESOURCES),
    );
    if (unknown.length > 0) {
      console.error(
        `moto: types moto does not create and MOTO_SKIPS does not list (add each with its reason): ${unknown.join(', ')}`,
      );
      return 1;
    }
    const nowSupported = Object.keys(MOTO_SKIPS).filter((type) => supported.has(type));
    if (nowSupported.length > 0)
      console.log(`moto: now supported by moto, drop from MOTO_SKIPS: ${nowSupported.join(', ')}`);
    const deployable = templateForMoto(template, (type) => type in MOTO_SKIPS);
    const replacedOf = deployable.replaced.map(
      (attribute) => template.Resources[attribute.split('.')[0] ?? '']?.Type,
    );
    const replacedTypes = [...new Set(replacedOf)].join(', ');
    console.log(
      `moto: ${deployable.replaced.length} attributes of skipped resources replaced (${replacedTypes})`,
    );

    const { StackId } = await cfn.send(
      new CreateStackCommand({
        StackName: STACK_NAME,
        TemplateBody: JSON.stringify(deployable.template),
        Capabilities: ['CAPABILITY_IAM', 'CAPABILITY_NAMED_IAM', 'CAPABILITY_AUTO_EXPAND'],
      }),
    );
    const answered = await answerCustomResources(config.endpoint, StackId ?? STACK_NAME, template);
    if (answered > 0)
      console.log(
        `moto: ${answered} custom resources answered (${Object.values(ANSWERED_CUSTOM_RESOURCES).join('; ')})`,
      );
    const status = await waitForStack(cfn);
    console.log(`moto: stack ${STACK_NAME} ${status}`);
    if (status !== 'CREATE_COMPLETE') {
      for (const line of await failedEvents(cfn)) console.error(`  ${line}`);
      return 1;
    }
    const created: StackResourceSummary[] = [];
    for await (const page of paginateListStackResources({ client: cfn }, { StackName: STACK_NAME })) {
      created.push(...(page.StackResourceSummaries ?? []));
    }
    // moto lists each resource it skipped as a summary without logical id or type: as many as it skipped.
    const blank = created.filter((r) => !r.LogicalResourceId && !r.ResourceType);
    const { problems, skipped } = compareResources(
      template,
      created.filter((r) => !blank.includes(r)),
    );
    const skippedCount = Object.values(skipped).reduce((a, b) => a + b, 0);
    if (blank.length !== skippedCount)
      problems.push(
        `moto listed ${blank.length} resources without a logical id, ${skippedCount} were skipped`,
      );
    const properties = await compareProperties(template, created, {
      ddb: new DynamoDBClient(config),
      sqs: new SQSClient(config),
      lambda: new LambdaClient(config),
    });
    problems.push(...properties.problems);
    const total = Object.keys(template.Resources).length;
    console.log(
      `moto: ${total - skippedCount} of ${total} template resources created; read back ${properties.counted.tables} tables, ${properties.counted.queues} queues, ${properties.counted.functions} functions`,
    );
    for (const [type, count] of Object.entries(skipped))
      console.log(`moto: skipped ${count} ${type}: ${MOTO_SKIPS[type]}`);
    for (const problem of problems) console.error(`moto: ${problem}`);
    console.log(
      `moto: ${problems.length === 0 ? 'ok' : `${problems.length} differences`} in ${Math.round(performance.now() - started)} ms`,
    );
    return problems.length === 0 ? 0 : 1;
  } catch (error) {
    console.error(`moto: ${error instanceof Error ? error.message : String(error)}`);
    try {
      console.error(readFileSync(logFile, 'utf8').split('\n').slice(-30).join('\n'));
    } catch {}
    return 1;
  } finally {
    if (moto) await stopMoto(moto);
    rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = await main();
