/**
 * The REST API: batches and agents, behind an API key with a usage plan.
 */
import { CfnOutput, Duration, type RemovalPolicy } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import {
  API_ROUTES,
  type ApiHandlerName,
  type ApiMethod,
  pathParameterNames,
  SECURITY_HEADERS,
  type ServedMethod,
  servedMethods,
} from '../../shared/api-routes';
import {
  MAX_DEPENDENCIES_PER_TASK,
  MAX_DESCRIPTION_CHARS,
  MAX_TASKS_PER_BATCH,
} from '../../shared/domain/limits';
import { acknowledge } from './nag';

/** How long a browser may reuse a preflight answer. */
const CORS_PREFLIGHT_MAX_AGE = Duration.hours(1);
/** Steady request rate and burst for the whole stage (every method); the usage plan caps each key again. */
export const STAGE_RATE_LIMIT = 50;
export const STAGE_BURST_LIMIT = 100;
/** Per API key: requests per second, burst, and a daily quota that stops a leaked key from running up cost. */
export const KEY_RATE_LIMIT = 20;
export const KEY_BURST_LIMIT = 40;
export const KEY_DAILY_QUOTA = 50_000;

export interface ApiProps {
  /** The function of every handler named in {@link API_ROUTES}. */
  readonly functions: Readonly<Record<ApiHandlerName, lambda.IFunction>>;
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
}

export class Api extends Construct {
  readonly restApi: apigw.RestApi;
  readonly apiKey: apigw.ApiKey;
  readonly usagePlan: apigw.UsagePlan;
  /** Every resource with a route, and its methods (for CORS preflights). */
  private readonly resources = new Map<apigw.IResource, ServedMethod[]>();
  /** API Gateway's own 4xx and 5xx answers (a missing key, an unknown route, throttling). */
  private readonly gatewayResponses: apigw.GatewayResponse[];

  constructor(scope: Construct, id: string, props: ApiProps) {
    super(scope, id);
    const accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });
    this.restApi = new apigw.RestApi(this, 'RestApi', {
      description: 'Meta-agent orchestrator: submit and follow batches of agent tasks, manage agents',
      cloudWatchRole: true,
      cloudWatchRoleRemovalPolicy: props.removalPolicy,
      deployOptions: {
        stageName: 'v1',
        tracingEnabled: true,
        metricsEnabled: true,
        loggingLevel: apigw.MethodLoggingLevel.ERROR,
        accessLogDestination: new apigw.LogGroupLogDestination(accessLogs),
        accessLogFormat: apigw.AccessLogFormat.jsonWithStandardFields(),
        throttlingRateLimit: STAGE_RATE_LIMIT,
        throttlingBurstLimit: STAGE_BURST_LIMIT,
      },
      defaultMethodOptions: { apiKeyRequired: true },
    });

    // API Gateway's own answers carry the security headers the handlers' answers carry (SECURITY_HEADERS).
    const securityHeaders = Object.fromEntries(
      Object.entries(SECURITY_HEADERS).map(([name, value]) => [name, `'${value}'`]),
    );
    this.gatewayResponses = [
      this.restApi.addGatewayResponse('Default4xx', {
        type: apigw.ResponseType.DEFAULT_4XX,
        responseHeaders: securityHeaders,
      }),
      this.restApi.addGatewayResponse('Default5xx', {
        type: apigw.ResponseType.DEFAULT_5XX,
        responseHeaders: securityHeaders,
      }),
    ];

    const validator = new apigw.RequestValidator(this, 'Validator', {
      restApi: this.restApi,
      validateRequestBody: true,
      validateRequestParameters: true,
    });
    // API Gateway's own payload limit is 10 MB and cannot be lowered. This model rejects oversized batches
    // before any Lambda runs (task count, description length, dependency count); the submit handler then
    // enforces the byte limits of `input` and of the whole body (see shared/domain/limits.ts).
    const batchModel = this.restApi.addModel('BatchModel', {
      contentType: 'application/json',
      schema: {
        schema: apigw.JsonSchemaVersion.DRAFT4,
        type: apigw.JsonSchemaType.OBJECT,
        required: ['tasks'],
        properties: {
          batchId: { type: apigw.JsonSchemaType.STRING, maxLength: 128 },
          tasks: {
            type: apigw.JsonSchemaType.ARRAY,
            minItems: 1,
            maxItems: MAX_TASKS_PER_BATCH,
            items: {
              type: apigw.JsonSchemaType.OBJECT,
              required: ['id', 'description'],
              properties: {
                id: { type: apigw.JsonSchemaType.STRING, maxLength: 128 },
                description: { type: apigw.JsonSchemaType.STRING, maxLength: MAX_DESCRIPTION_CHARS },
                dependsOn: {
                  type: apigw.JsonSchemaType.ARRAY,
                  maxItems: MAX_DEPENDENCIES_PER_TASK,
                  items: { type: apigw.JsonSchemaType.STRING },
                },
              },
            },
          },
        },
      },
    });
    const agentModel = this.restApi.addModel('AgentModel', {
      contentType: 'application/json',
      schema: { schema: apigw.JsonSchemaVersion.DRAFT4, type: apigw.JsonSchemaType.OBJECT },
    });
    // Method options by route: the batch body is validated against the model before submit runs, agents
    // against theirs; every route's path parameters are required.
    const models: Partial<Record<`${ApiMethod} ${string}`, apigw.IModel>> = {
      'POST /batches': batchModel,
      'PUT /agents/{id}': agentModel,
    };
    // One integration per function, allowed to be invoked by this API (any of its stages, methods and paths)
    // with one permission: scoped to each method, every method cost two (the stage's and the console's test
    // invocations), 2 of the stack's 500 CloudFormation resources and 2 statements of the function's 20 KB
    // resource policy, with a HEAD beside each GET. Only the methods below integrate the function.
    const integrations = new Map<ApiHandlerName, apigw.LambdaIntegration>();
    const integrationOf = (handler: ApiHandlerName) => {
      const integration =
        integrations.get(handler) ??
        new apigw.LambdaIntegration(props.functions[handler], { scopePermissionToMethod: false });
      integrations.set(handler, integration);
      return integration;
    };
    for (const route of API_ROUTES) {
      const model = models[`${route.method} ${route.path}`];
      const parameters = pathParameterNames(route.path);
      const resource = this.resourceAt(route.path);
      const methods = servedMethods(route);
      this.resources.set(resource, [...(this.resources.get(resource) ?? []), ...methods]);
      for (const method of methods) {
        resource.addMethod(method, integrationOf(route.handler), {
          requestValidator: validator,
          ...(parameters.length > 0
            ? {
                requestParameters: Object.fromEntries(
                  parameters.map((p) => [`method.request.path.${p}`, true]),
                ),
              }
            : {}),
          ...(model ? { requestModels: { 'application/json': model } } : {}),
        });
      }
    }

    this.apiKey = new apigw.ApiKey(this, 'ApiKey', { description: 'Meta-agent API key' });
    this.usagePlan = this.restApi.addUsagePlan('UsagePlan', {
      throttle: { rateLimit: KEY_RATE_LIMIT, burstLimit: KEY_BURST_LIMIT },
      quota: { limit: KEY_DAILY_QUOTA, period: apigw.Period.DAY },
      apiStages: [{ api: this.restApi, stage: this.restApi.deploymentStage }],
    });
    this.usagePlan.addApiKey(this.apiKey);

    new CfnOutput(this, 'ApiUrl', { key: 'ApiUrl', value: this.restApi.url });
    // The key id only: read the value with `aws apigateway get-api-key --include-value --api-key <id>`.
    new CfnOutput(this, 'ApiKeyId', { key: 'ApiKeyId', value: this.apiKey.keyId });

    acknowledge(
      this.restApi,
      'AwsSolutions-APIG4',
      'Every method requires an API key tied to a usage plan (throttle + quota); callers are operators and CI, not end users. Put a Cognito or IAM authorizer in front for multi-tenant use.',
    );
    acknowledge(
      this.restApi,
      'AwsSolutions-APIG3',
      'WAF is an account-level choice with its own cost; stage throttling, key quotas and the request model bound abuse here.',
    );
    acknowledge(
      this.restApi,
      'AwsSolutions-COG4',
      'No Cognito user pool: callers authenticate with the API key (see APIG4).',
    );
    acknowledge(
      this.restApi,
      'AwsSolutions-IAM4',
      'AmazonAPIGatewayPushToCloudWatchLogs is the policy API Gateway documents for its account-wide logging role.',
      ['Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs'],
    );
  }

  /**
   * Lets a page on `origin` (the deployed dashboard) call the API: a preflight answer on every resource for
   * that origin only, and API Gateway's own 4xx/5xx answers (a missing key, throttling) carry it too, so the
   * page can read why a call failed. The handlers add the header to their answers (CORS_ALLOWED_ORIGIN).
   */
  allowBrowserOrigin(origin: string): void {
    for (const [resource, methods] of this.resources) {
      resource.addCorsPreflight({
        allowOrigins: [origin],
        allowMethods: [...methods],
        allowHeaders: ['content-type', 'x-api-key', 'idempotency-key'],
        maxAge: CORS_PREFLIGHT_MAX_AGE,
      });
    }
    for (const response of this.gatewayResponses) {
      const cfn = response.node.defaultChild as apigw.CfnGatewayResponse;
      cfn.responseParameters = {
        ...(cfn.responseParameters as Record<string, string>),
        'gatewayresponse.header.Access-Control-Allow-Origin': `'${origin}'`,
        'gatewayresponse.header.Vary': "'Origin'",
      };
    }
  }

  /** The resource at `path` (`/batches/{id}`), created segment by segment on first use. */
  private resourceAt(path: string): apigw.IResource {
    let resource: apigw.IResource = this.restApi.root;
    for (const segment of path.split('/').filter((p) => p !== '')) {
      resource = resource.getResource(segment) ?? resource.addResource(segment);
    }
    return resource;
  }
}
