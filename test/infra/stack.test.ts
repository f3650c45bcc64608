import { Match } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { resolveIntrinsics } from '../../infra/local-definition';
import { AGENTS_TABLE, TASKS_TABLE } from '../../shared/adapters/dynamodb/tables';
import { API_ROUTES, PROGRESS_TOKEN_PARAMETER, servedMethods } from '../../shared/api-routes';
import { EnvVar } from '../../shared/config';
import { GATE_REARM_SECONDS, MAX_WAIT_ROUNDS, WAIT_LIMIT_ERROR } from '../../shared/domain/limits';
import { BUILTIN_ROLES } from '../../shared/domain/roles';
import { StateName } from '../../shared/domain/workflow';
import { resourcesOf, type Synthesized, synthesizeDefaultStack, validateAsl } from './fixture';
import { CDK_PROVIDED_FUNCTIONS } from './template-functions';

let s: Synthesized;
let definition: Record<string, unknown>;

beforeAll(() => {
  s = synthesizeDefaultStack();
  const [sm] = Object.entries(resourcesOf(s.template, 'AWS::StepFunctions::StateMachine'));
  const resources = s.template.toJSON().Resources as Record<string, { Type: string }>;
  definition = JSON.parse(resolveIntrinsics(sm?.[1].Properties.DefinitionString, resources) as string);
});

const idOf = (ref: unknown): string => {
  const r = ref as { 'Fn::GetAtt'?: [string, string]; Ref?: string };
  return r['Fn::GetAtt']?.[0] ?? r.Ref ?? '';
};

describe('role queues and agent workers', () => {
  it('gives every built-in role a queue whose DLQ receives a message after 3 receives', () => {
    const queues = resourcesOf(s.template, 'AWS::SQS::Queue');
    for (const role of BUILTIN_ROLES) {
      const worker = s.stack.roleWorkers.byRole.get(role.name);
      expect(worker, role.name).toBeDefined();
      const queueId = s.stack.getLogicalId(worker?.queue.node.defaultChild as never);
      const props = queues[queueId]?.Properties ?? {};
      const redrive = props.RedrivePolicy as { maxReceiveCount: number; deadLetterTargetArn: unknown };
      expect(redrive.maxReceiveCount).toBe(3);
      expect(queues[idOf(redrive.deadLetterTargetArn)]).toBeDefined();
      expect(props.SqsManagedSseEnabled).toBe(true);
      expect(props.VisibilityTimeout as number).toBeGreaterThan(role.defaults.timeoutSeconds);
    }
  });

  it('encrypts every queue and denies every non-TLS request to it', () => {
    const queues = resourcesOf(s.template, 'AWS::SQS::Queue');
    const policies = Object.values(resourcesOf(s.template, 'AWS::SQS::QueuePolicy'));
    for (const [id, queue] of Object.entries(queues)) {
      expect(queue.Properties.SqsManagedSseEnabled, id).toBe(true);
      const policy = policies.find((p) => (p.Properties.Queues as unknown[]).some((q) => idOf(q) === id));
      expect(policy, `queue policy of ${id}`).toBeDefined();
      const statements = (
        policy?.Properties.PolicyDocument as { Statement?: Record<string, unknown>[] } | undefined
      )?.Statement;
      expect(statements, id).toContainEqual(
        expect.objectContaining({
          Effect: 'Deny',
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        }),
      );
    }
  });

  it('caps each role worker mapping at the role queue concurrency, one message per invocation, with partial batch responses', () => {
    const mappings = Object.values(resourcesOf(s.template, 'AWS::Lambda::EventSourceMapping'));
    for (const role of BUILTIN_ROLES) {
      const worker = s.stack.roleWorkers.byRole.get(role.name);
      const fnId = s.stack.getLogicalId(worker?.worker.fn.node.defaultChild as never);
      const mapping = mappings.find((m) => idOf(m.Properties.FunctionName) === fnId);
      expect(mapping?.Properties, role.name).toMatchObject({
        BatchSize: 1,
        ScalingConfig: { MaximumConcurrency: role.defaults.queueConcurrency },
        FunctionResponseTypes: ['ReportBatchItemFailures'],
      });
    }
  });

  it('tells each worker its role, and every router and worker (it runs the Complete of its attempts) the queue URL of every role', () => {
    const fns = resourcesOf(s.template, 'AWS::Lambda::Function');
    const envOf = (fn: unknown) => {
      const id = s.stack.getLogicalId((fn as { node: { defaultChild: never } }).node.defaultChild);
      const env = fns[id]?.Properties.Environment as { Variables: Record<string, unknown> } | undefined;
      return env?.Variables ?? {};
    };
    const worker = s.stack.roleWorkers.byRole.get('database_designer');
    expect(envOf(worker?.worker.fn)[EnvVar.AgentRole]).toBe('database_designer');
    const routers = [s.stack.functions.get('route'), s.stack.functions.get('complete')];
    for (const fn of [...routers, ...s.stack.roleWorkers.workers.map((w) => w.fn)]) {
      const urls = JSON.stringify(envOf(fn)[EnvVar.RoleQueueUrls]);
      for (const role of BUILTIN_ROLES) expect(urls).toContain(`"${role.name}\\":`);
    }
  });
});

describe('tables', () => {
  it('keys the tasks table by pk/sk with a new-and-old-image stream, and the agents table by agentId with a byRole index of whole agents and a byWait index of waiting marks in their order', () => {
    s.template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: TASKS_TABLE.partitionKey, KeyType: 'HASH' },
        { AttributeName: TASKS_TABLE.sortKey, KeyType: 'RANGE' },
      ],
      StreamSpecification: { StreamViewType: 'NEW_AND_OLD_IMAGES' },
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
    });
    s.template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: AGENTS_TABLE.partitionKey, KeyType: 'HASH' }],
      GlobalSecondaryIndexes: [
        Match.objectLike({ IndexName: AGENTS_TABLE.byRoleIndex.name, Projection: { ProjectionType: 'ALL' } }),
        {
          IndexName: AGENTS_TABLE.byWaitIndex.name,
          KeySchema: [
            { AttributeName: AGENTS_TABLE.byWaitIndex.partitionKey, KeyType: 'HASH' },
            { AttributeName: AGENTS_TABLE.byWaitIndex.sortKey, KeyType: 'RANGE' },
          ],
          // A release filters on handedAt and parkedToken: they must be in the index.
          Projection: { ProjectionType: 'ALL' },
        },
      ],
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    });
  });

  it('indexes batch items for GET /batches, and running batch items alone, without copying their task id lists into an index', () => {
    const indexes = [TASKS_TABLE.batchListIndex, TASKS_TABLE.runningIndex];
    s.template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: Match.arrayWith([{ AttributeName: TASKS_TABLE.partitionKey, KeyType: 'HASH' }]),
      GlobalSecondaryIndexes: indexes.map((index) => ({
        IndexName: index.name,
        KeySchema: [
          { AttributeName: index.partitionKey, KeyType: 'HASH' },
          { AttributeName: index.sortKey, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: [...index.nonKeyAttributes] },
      })),
    });
    for (const index of indexes) expect(index.nonKeyAttributes, index.name).not.toContain('taskIds');
  });

  it('retains the tables by default', () => {
    for (const table of Object.values(s.template.findResources('AWS::DynamoDB::Table'))) {
      expect(table.DeletionPolicy).toBe('Retain');
    }
  });
});

describe('state machine', () => {
  it('is a STANDARD state machine with logging of all events and X-Ray tracing', () => {
    s.template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'STANDARD',
      LoggingConfiguration: Match.objectLike({ Level: 'ALL' }),
      TracingConfiguration: { Enabled: true },
    });
  });

  it('passes asl-validator', () => {
    const result = validateAsl(definition);
    expect(result.errors).toEqual([]);
    expect(result.isValid).toBe(true);
  });

  it('maps the batch items in a DISTRIBUTED map with STANDARD child executions and MaxConcurrencyPath', () => {
    const states = definition.States as Record<string, Record<string, unknown>>;
    const map = states[StateName.ProcessTasks];
    expect(definition.StartAt).toBe(StateName.ProcessTasks);
    expect(map).toMatchObject({
      Type: 'Map',
      ItemsPath: '$.items',
      MaxConcurrencyPath: '$.concurrency',
      ToleratedFailurePercentage: 100,
      ResultPath: null,
      Next: StateName.IsExpansion,
      ItemProcessor: { ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' } },
    });
    expect(map?.Catch).toEqual([
      { ErrorEquals: ['States.ALL'], ResultPath: '$.mapError', Next: StateName.IsExpansion },
    ]);
    // A nested execution that ran an expansion's tasks ends without finalizing the batch.
    expect(states[StateName.IsExpansion]).toEqual({
      Type: 'Choice',
      Choices: [{ Variable: '$.expansion', IsPresent: true, Next: StateName.ExpansionDone }],
      Default: StateName.Finalize,
    });
    expect(states[StateName.ExpansionDone]).toEqual({ Type: 'Succeed' });
  });

  it('runs the tasks an expanding task added in a nested execution of itself, over their ids only', () => {
    const map = (definition.States as Record<string, Record<string, unknown>>)[StateName.ProcessTasks];
    expect(map?.ItemSelector).toMatchObject({ 'stateMachineArn.$': '$$.StateMachine.Id' });
    const child = (map?.ItemProcessor as { States: Record<string, Record<string, unknown>> } | undefined)
      ?.States as Record<string, Record<string, unknown>>;
    expect(child[StateName.CompleteTask]).toMatchObject({
      ResultPath: '$.completion',
      Next: StateName.Expanded,
    });
    expect(child[StateName.Expanded]).toEqual({
      Type: 'Choice',
      Choices: [{ Variable: '$.completion.expansion', IsPresent: true, Next: StateName.RunExpansion }],
      Default: StateName.TaskDone,
    });
    const run = child[StateName.RunExpansion] as { Parameters: { Input: Record<string, unknown> } };
    expect(run).toMatchObject({
      Resource: 'arn:aws:states:::states:startExecution.sync:2',
      Parameters: { 'StateMachineArn.$': '$.stateMachineArn' },
      ResultPath: null,
      Next: StateName.TaskDone,
    });
    // The nested execution's input is an execution input of the batch, marked: ids only, never task bodies.
    expect(Object.keys(run.Parameters.Input).sort()).toEqual([
      'AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$',
      'batchId.$',
      'concurrency.$',
      'expansion',
      'items.$',
    ]);
    expect(run.Parameters.Input['items.$']).toBe('$.completion.expansion.items');
  });

  it('retries a nested start that failed transiently, then fails the added tasks on any error (ExpansionFailed)', () => {
    const map = (definition.States as Record<string, Record<string, unknown>>)[StateName.ProcessTasks];
    const child = (map?.ItemProcessor as { States: Record<string, Record<string, unknown>> } | undefined)
      ?.States as Record<string, Record<string, unknown>>;
    expect(child[StateName.RunExpansion]?.Retry).toEqual([
      {
        ErrorEquals: [
          'StepFunctions.ExecutionLimitExceededException',
          'StepFunctions.AWSStepFunctionsException',
          'StepFunctions.SdkClientException',
        ],
        IntervalSeconds: 1,
        MaxAttempts: 6,
        BackoffRate: 2,
        JitterStrategy: 'FULL',
      },
    ]);
    // A nested execution that ran and failed (States.TaskFailed) is not retried: it is caught.
    expect(JSON.stringify(child[StateName.RunExpansion]?.Retry)).not.toContain('States.TaskFailed');
    expect(child[StateName.RunExpansion]?.Catch).toEqual([
      { ErrorEquals: ['States.ALL'], ResultPath: '$.expansionError', Next: StateName.ExpansionFailed },
    ]);
    // The Complete function, told the planner and the caught error, then the planner's iteration ends.
    expect(child[StateName.ExpansionFailed]).toMatchObject({
      Type: 'Task',
      Parameters: {
        'batchId.$': '$.batchId',
        'taskId.$': '$.taskId',
        'expansionError.$': '$.expansionError',
      },
      ResultPath: null,
      Next: StateName.TaskDone,
    });
    expect(JSON.stringify(child[StateName.ExpansionFailed]?.Resource)).toContain(
      s.stack.getLogicalId(s.stack.functions.get('complete')?.node.defaultChild as never),
    );
  });

  it("sends the state machine's executions that end without succeeding to Finalize, which may describe them (a policy of its own)", () => {
    const smId = s.stack.getLogicalId(s.stack.orchestration.stateMachine.node.defaultChild as never);
    const finalize = s.stack.functions.get('finalize');
    const finalizeId = s.stack.getLogicalId(finalize?.node.defaultChild as never);
    s.template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.states'],
        'detail-type': ['Step Functions Execution Status Change'],
        detail: { status: ['FAILED', 'TIMED_OUT', 'ABORTED'], stateMachineArn: [{ Ref: smId }] },
      },
      Targets: [
        Match.objectLike({ Arn: { 'Fn::GetAtt': [finalizeId, 'Arn'] }, RetryPolicy: Match.anyValue() }),
      ],
    });
    const roleId = s.stack.getLogicalId(finalize?.role?.node.defaultChild as never);
    const statements = Object.values(resourcesOf(s.template, 'AWS::IAM::Policy'))
      .filter((p) => JSON.stringify(p.Properties.Roles).includes(roleId))
      .flatMap(
        (p) =>
          (p.Properties.PolicyDocument as { Statement: { Action: string | string[]; Resource: unknown }[] })
            .Statement,
      );
    const describe = statements.find((st) => st.Action === 'states:DescribeExecution');
    expect(JSON.stringify(describe?.Resource)).toContain(`:execution:`);
    expect(JSON.stringify(describe?.Resource)).toContain(`"${smId}","Name"`);
  });

  it('lets the state machine start, describe and stop its own nested executions (a policy of its own)', () => {
    const smId = s.stack.getLogicalId(s.stack.orchestration.stateMachine.node.defaultChild as never);
    const roleId = s.stack.getLogicalId(s.stack.orchestration.stateMachine.role.node.defaultChild as never);
    const policies = Object.values(resourcesOf(s.template, 'AWS::IAM::Policy')).filter((p) =>
      JSON.stringify(p.Properties.Roles).includes(roleId),
    );
    const actions = policies.flatMap(
      (p) =>
        (p.Properties.PolicyDocument as { Statement: { Action: string | string[]; Resource: unknown }[] })
          .Statement,
    );
    expect(actions).toContainEqual({
      Effect: 'Allow',
      Action: 'states:StartExecution',
      Resource: { Ref: smId },
    });
    const flat = actions.flatMap((a) => (Array.isArray(a.Action) ? a.Action : [a.Action]));
    for (const action of [
      'states:DescribeExecution',
      'states:StopExecution',
      'events:PutTargets',
      'events:PutRule',
      'events:DescribeRule',
    ])
      expect(flat).toContain(action);
  });

  it('fails the task (FailOnError) when a Gate, Route, RecordAttempt or Complete handler error survives the retries', () => {
    const map = (definition.States as Record<string, { ItemProcessor: { States: Record<string, unknown> } }>)[
      StateName.ProcessTasks
    ];
    const child = map?.ItemProcessor.States as Record<string, Record<string, unknown>>;
    // The Completes too: a CompleteTask that failed after releasing some dependents would otherwise leave the
    // others waiting on their gates until these arm again.
    const handlers = [StateName.Route, StateName.RecordAttempt];
    const completes = [StateName.CompleteTask, StateName.SkipTask, StateName.FailTask];
    const failOnError = { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: StateName.FailOnError };
    for (const name of [...handlers, ...completes]) expect(child[name]?.Catch, name).toEqual([failOnError]);
    // The Gate's own timeout is not an error: it arms again (the next test).
    expect(child[StateName.Gate]?.Catch).toEqual([
      { ErrorEquals: ['States.Timeout'], ResultPath: null, Next: StateName.Gate },
      failOnError,
    ]);
    // FailOnError is the last word: its own error ends the child (the Map tolerates it), never a loop.
    expect(child[StateName.FailOnError]?.Catch).toBeUndefined();
    expect(child[StateName.FailOnError]).toMatchObject({
      Type: 'Task',
      ResultPath: null,
      Next: StateName.TaskDone,
      Parameters: {
        'batchId.$': '$.batchId',
        'taskId.$': '$.taskId',
        outcome: 'FAILED',
        'error.$': '$.error',
      },
    });
  });

  it('counts the WAITs of a task in its execution and fails it at MAX_WAIT_ROUNDS, before its history runs out', () => {
    const map = (definition.States as Record<string, Record<string, unknown>>)[StateName.ProcessTasks] ?? {};
    expect(map.ItemSelector).toMatchObject({ waits: { n: 0 } });
    const child = (map.ItemProcessor as { States: Record<string, Record<string, unknown>> }).States;
    // Both waits (a task's for a slot or budget, its review's for a validator) count into the same $.waits.n,
    // and the limit is tested first: a WAIT at the limit never waits again.
    const waits = [
      [StateName.RouteDecision, '$.route.decision', StateName.CountWait, StateName.WaitForCapacity],
      [StateName.ReviewDecision, '$.review.decision', StateName.CountReviewWait, StateName.WaitForReviewer],
    ] as const;
    for (const [decisionState, decision, count, wait] of waits) {
      const choices = child[decisionState]?.Choices as { Next: string }[];
      const toLimit = choices.findIndex((c) => c.Next === StateName.WaitLimit);
      const toCount = choices.findIndex((c) => c.Next === count);
      expect(toLimit, decisionState).toBeGreaterThanOrEqual(0);
      expect(toLimit, decisionState).toBeLessThan(toCount);
      expect(choices[toLimit]).toEqual({
        And: [
          { Variable: decision, StringEquals: 'WAIT' },
          { Variable: '$.waits.n', NumericGreaterThanEquals: MAX_WAIT_ROUNDS },
        ],
        Next: StateName.WaitLimit,
      });
      expect(child[count]).toEqual({
        Type: 'Pass',
        Parameters: { 'n.$': 'States.MathAdd($.waits.n, 1)' },
        ResultPath: '$.waits',
        Next: wait,
      });
    }
    expect(child[StateName.WaitLimit]).toMatchObject({
      Type: 'Pass',
      Parameters: { Error: WAIT_LIMIT_ERROR },
      ResultPath: '$.error',
      Next: StateName.FailOnError,
    });
    // A round (Route 5 events, RouteDecision 2, CountWait 2, a WaitForCapacity that times out 6) is about 15
    // events; the child's history holds 25,000, and the task's other states need room too.
    expect(MAX_WAIT_ROUNDS * 15).toBeLessThanOrEqual(25_000 * 0.75);
  });

  it('arms a gate again after GATE_REARM_SECONDS, so a lost answer costs a wait, never the batch', () => {
    const map = (definition.States as Record<string, { ItemProcessor: { States: Record<string, unknown> } }>)[
      StateName.ProcessTasks
    ];
    const child = map?.ItemProcessor.States as Record<string, Record<string, unknown>>;
    const gate = child[StateName.Gate];
    expect(gate).toMatchObject({
      Type: 'Task',
      Resource: expect.stringContaining('lambda:invoke.waitForTaskToken'),
      TimeoutSeconds: GATE_REARM_SECONDS,
    });
    // The Lambda retries stay for the arming call; the timeout is caught first, back to the Gate.
    const catchers = gate?.Catch as { ErrorEquals: string[]; Next: string }[];
    expect(catchers[0]).toMatchObject({ ErrorEquals: ['States.Timeout'], Next: StateName.Gate });
    // A child execution's history holds 25,000 events and a re-arm writes about six (entered, scheduled,
    // started, submitted, timed out, exited): a year of waiting, the longest an approval upstream may take,
    // must leave most of it to the task's own run.
    const rearmsInAYear = (365 * 24 * 60 * 60) / GATE_REARM_SECONDS;
    expect(rearmsInAYear * 6).toBeLessThan(25_000 * 0.6);
  });
  it("hands CompleteTask the worker's answer ($.result), so the attempt ends with the task's status", () => {
    const map = (definition.States as Record<string, { ItemProcessor: { States: Record<string, unknown> } }>)[
      StateName.ProcessTasks
    ];
    const child = map?.ItemProcessor.States as Record<string, Record<string, unknown>>;

    // A task nobody reviews goes from Dispatch to CompletedByWorker, then to CompleteTask unless its worker ran
    // the Complete; one whose output is reviewed is sent by the same Task state under another name,
    // DispatchToReview, whose message does not ask the worker to complete, then Reviewed chooses its review.
    const sent = {
      ResultPath: '$.result',
      Parameters: {
        MessageBody: {
          inlineResult: true,
          'role.$': '$.route.role',
          'executor.$': '$.route.executor',
          'contextIds.$': '$.route.contextIds',
          // Route's answer time: a worker that claims the message late beats at once.
          'dispatchedAt.$': '$.route.dispatchedAt',
        },
      },
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: StateName.RecordAttempt }],
    };
    expect(child[StateName.Dispatch]).toMatchObject({ ...sent, Next: StateName.CompletedByWorker });
    expect(child[StateName.DispatchToReview]).toMatchObject({ ...sent, Next: StateName.Reviewed });
    const bodyOf = (name: StateName) =>
      (child[name]?.Parameters as { MessageBody: Record<string, unknown> } | undefined)?.MessageBody ?? {};
    expect(bodyOf(StateName.Dispatch).complete).toBe(true);
    expect(bodyOf(StateName.DispatchToReview)).not.toHaveProperty('complete');
    // But for those, the two states are alike.
    const {
      Next: _next,
      Parameters: dispatchParameters,
      ...dispatchRest
    } = child[StateName.Dispatch] as Record<string, unknown>;
    const {
      Next: _nextToReview,
      Parameters: toReviewParameters,
      ...toReviewRest
    } = child[StateName.DispatchToReview] as Record<string, unknown>;
    expect(toReviewRest).toEqual(dispatchRest);
    const { complete: _complete, ...dispatchBody } = bodyOf(StateName.Dispatch);
    expect(toReviewParameters).toEqual({ ...(dispatchParameters as object), MessageBody: dispatchBody });
    expect(child[StateName.CompletedByWorker]).toEqual({
      Type: 'Choice',
      Choices: [
        {
          And: [
            { Variable: '$.result.completed', IsPresent: true },
            { Variable: '$.result.completed', BooleanEquals: true },
          ],
          Next: StateName.TaskDone,
        },
      ],
      Default: StateName.CompleteTask,
    });
    expect(child[StateName.CompleteTask]).toMatchObject({
      Parameters: { outcome: 'SUCCEEDED', 'result.$': '$.result', 'attempt.$': '$.route.attempt' },
    });
    // The failure paths have no $.result: referencing it there would fail the state.
    for (const name of [StateName.FailTask, StateName.SkipTask, StateName.FailOnError]) {
      expect(child[name]?.Parameters, name).not.toHaveProperty('result.$');
    }
  });

  it('hands the answer of a capacity wait to RouteDecision: a handed-over DISPATCH is dispatched without routing again', () => {
    const map = (definition.States as Record<string, { ItemProcessor: { States: Record<string, unknown> } }>)[
      StateName.ProcessTasks
    ];
    const child = map?.ItemProcessor.States as Record<string, Record<string, unknown>>;

    expect(child[StateName.WaitForCapacity]).toMatchObject({
      Resource: expect.stringContaining(':states:::lambda:invoke.waitForTaskToken'),
      TimeoutSecondsPath: '$.route.waitSeconds',
      ResultPath: '$.route',
      Next: StateName.RouteDecision,
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: null, Next: StateName.Route }],
    });
    expect(child[StateName.RouteDecision]).toMatchObject({ Type: 'Choice', Default: StateName.Route });
    // A DISPATCH whose output nobody reviews first, to Dispatch; any other DISPATCH to DispatchToReview.
    const choices = child[StateName.RouteDecision]?.Choices as unknown[];
    expect(choices.slice(0, 2)).toEqual([
      {
        And: [
          { Variable: '$.route.decision', IsPresent: true },
          { Variable: '$.route.decision', StringEquals: 'DISPATCH' },
          { Not: { Variable: '$.route.review', IsPresent: true } },
        ],
        Next: StateName.Dispatch,
      },
      { Variable: '$.route.decision', StringEquals: 'DISPATCH', Next: StateName.DispatchToReview },
    ]);
  });

  it("takes a dependent's Route output from its gate's answer when the Complete that opened the gate routed it", () => {
    const map = (definition.States as Record<string, { ItemProcessor: { States: Record<string, unknown> } }>)[
      StateName.ProcessTasks
    ];
    const child = map?.ItemProcessor.States as Record<string, Record<string, unknown>>;

    expect(child[StateName.DependenciesOk]?.Choices).toEqual([
      {
        And: [
          { Variable: '$.gate.proceed', BooleanEquals: true },
          {
            And: [
              { Variable: '$.gate.route.decision', IsPresent: true },
              { Variable: '$.gate.route.decision', StringEquals: 'DISPATCH' },
              { Not: { Variable: '$.gate.route.review', IsPresent: true } },
            ],
          },
        ],
        Next: StateName.DispatchedByGate,
      },
      {
        And: [
          { Variable: '$.gate.proceed', BooleanEquals: true },
          { Variable: '$.gate.route', IsPresent: true },
        ],
        Next: StateName.RoutedByGate,
      },
      { Variable: '$.gate.proceed', BooleanEquals: true, Next: StateName.Route },
    ]);
    // A DISPATCH nobody reviews goes straight to Dispatch (what RouteDecision does with it), one transition
    // less; a reviewed one takes RoutedByGate, and RouteDecision sends it to DispatchToReview.
    expect(child[StateName.DispatchedByGate]).toEqual({
      Type: 'Pass',
      InputPath: '$.gate.route',
      ResultPath: '$.route',
      Next: StateName.Dispatch,
    });
    expect(child[StateName.RoutedByGate]).toEqual({
      Type: 'Pass',
      InputPath: '$.gate.route',
      ResultPath: '$.route',
      Next: StateName.RouteDecision,
    });
  });

  it('waits for approvals on task tokens: before routing a first attempt, and on the held output after Dispatch', () => {
    const map = (definition.States as Record<string, { ItemProcessor: { States: Record<string, unknown> } }>)[
      StateName.ProcessTasks
    ];
    const child = map?.ItemProcessor.States as Record<string, Record<string, unknown>>;

    expect(child[StateName.RouteDecision]?.Choices).toContainEqual({
      Variable: '$.route.decision',
      StringEquals: 'APPROVAL',
      Next: StateName.AwaitApproval,
    });
    expect(child[StateName.AwaitApproval]).toMatchObject({
      Type: 'Task',
      Resource: expect.stringContaining(':states:::lambda:invoke.waitForTaskToken'),
      TimeoutSecondsPath: '$.route.timeoutSeconds',
      ResultPath: null,
      Next: StateName.Route,
      Parameters: { Payload: { stage: 'before', 'taskToken.$': '$$.Task.Token', 'taskId.$': '$.taskId' } },
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: StateName.FailOnError }],
    });
    expect(child[StateName.Reviewed]).toMatchObject({
      Type: 'Choice',
      Choices: [
        {
          And: [
            { Variable: '$.route.review', IsPresent: true },
            { Variable: '$.route.review', StringEquals: 'person' },
          ],
          Next: StateName.AwaitReview,
        },
        {
          And: [
            { Variable: '$.route.review', IsPresent: true },
            { Variable: '$.route.review', StringEquals: 'validator' },
          ],
          Next: StateName.RouteReview,
        },
      ],
      Default: StateName.CompleteTask,
    });
    // The held output travels in the payload; a rejection or the timeout fails the attempt (RecordAttempt).
    expect(child[StateName.AwaitReview]).toMatchObject({
      Resource: expect.stringContaining(':states:::lambda:invoke.waitForTaskToken'),
      TimeoutSecondsPath: '$.route.reviewTimeoutSeconds',
      ResultPath: null,
      Next: StateName.CompleteTask,
      Parameters: {
        Payload: { stage: 'after', 'result.$': '$.result', 'attempt.$': '$.route.attempt' },
      },
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: StateName.RecordAttempt }],
    });
  });

  it('routes the review of an output to a validator agent (approval.after.by) and waits on its verdict', () => {
    const map = (definition.States as Record<string, { ItemProcessor: { States: Record<string, unknown> } }>)[
      StateName.ProcessTasks
    ];
    const child = map?.ItemProcessor.States as Record<string, Record<string, unknown>>;

    expect(child[StateName.Reviewed]?.Choices).toContainEqual({
      And: [
        { Variable: '$.route.review', IsPresent: true },
        { Variable: '$.route.review', StringEquals: 'validator' },
      ],
      Next: StateName.RouteReview,
    });
    // The first RouteReview holds the output (it carries the worker's answer); a handler error fails the task.
    expect(child[StateName.RouteReview]).toMatchObject({
      Type: 'Task',
      ResultPath: '$.review',
      Next: StateName.ReviewDecision,
      Parameters: {
        review: { 'agentId.$': '$.route.agentId', 'attempt.$': '$.route.attempt', 'result.$': '$.result' },
      },
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: StateName.FailOnError }],
    });
    expect(child[StateName.ReviewDecision]).toMatchObject({
      Type: 'Choice',
      Choices: [
        { Variable: '$.review.decision', StringEquals: 'DISPATCH', Next: StateName.DispatchReview },
        // At the limit of WAITs, WaitLimit (see the wait-limit test above); otherwise counted, then parked.
        { And: expect.any(Array), Next: StateName.WaitLimit },
        { Variable: '$.review.decision', StringEquals: 'WAIT', Next: StateName.CountReviewWait },
        { Variable: '$.review.decision', StringEquals: 'FAIL', Next: StateName.ReviewFailed },
        { Variable: '$.review.decision', StringEquals: 'STOP', Next: StateName.TaskDone },
      ],
    });
    expect(child[StateName.WaitForReviewer]).toMatchObject({
      Resource: expect.stringContaining(':states:::lambda:invoke.waitForTaskToken'),
      TimeoutSecondsPath: '$.review.waitSeconds',
      Next: StateName.RouteReview,
      Parameters: { Payload: { 'role.$': '$.review.role', 'taskToken.$': '$$.Task.Token' } },
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: null, Next: StateName.RouteReview }],
    });
    // The verdict answers the review's token: approved -> CompleteTask (with the held $.result), rejected ->
    // RecordAttempt, no verdict -> RecordReview and another validator.
    expect(child[StateName.DispatchReview]).toMatchObject({
      Type: 'Task',
      Resource: expect.stringContaining(':states:::sqs:sendMessage.waitForTaskToken'),
      TimeoutSecondsPath: '$.review.timeoutSeconds',
      HeartbeatSecondsPath: '$.review.heartbeatSeconds',
      ResultPath: null,
      Next: StateName.CompleteTask,
      Parameters: {
        'QueueUrl.$': '$.review.queueUrl',
        MessageBody: {
          'agentId.$': '$.review.agentId',
          'attempt.$': '$.route.attempt',
          'taskToken.$': '$$.Task.Token',
          review: { 'run.$': '$.review.run' },
          'dispatchedAt.$': '$.review.startedAt',
        },
      },
      Catch: [
        { ErrorEquals: ['ApprovalRejected'], ResultPath: '$.error', Next: StateName.RecordAttempt },
        { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: StateName.RecordReview },
      ],
    });
    expect(child[StateName.RecordReview]).toMatchObject({
      ResultPath: null,
      Next: StateName.RouteReview,
      Parameters: {
        'error.$': '$.error',
        reviewer: { 'run.$': '$.review.run', 'agentId.$': '$.review.agentId' },
      },
    });
    expect(child[StateName.ReviewFailed]).toEqual({
      Type: 'Pass',
      Parameters: { Error: 'ReviewFailed', 'Cause.$': '$.review.reason' },
      ResultPath: '$.error',
      Next: StateName.RecordAttempt,
    });
  });

  it('uses JSONPath only: no JSONata, no Variables', () => {
    const text = JSON.stringify(definition);
    expect(text).not.toContain('JSONata');
    expect(text).not.toContain('"Assign"');
    expect(text).not.toContain('{%');
  });

  it('grants the state machine SendMessage on the role queues and never on every queue', () => {
    const policies = Object.values(resourcesOf(s.template, 'AWS::IAM::Policy'));
    const smRoleId = s.stack.getLogicalId(s.stack.orchestration.stateMachine.role.node.defaultChild as never);
    const send = policies
      .filter((p) => (p.Properties.Roles as unknown[]).some((r) => idOf(r) === smRoleId))
      .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Record<string, unknown>[] }).Statement)
      .filter((st) => [st.Action].flat().includes('sqs:SendMessage'));
    const resources = send.flatMap((st) => [st.Resource].flat()).map(idOf);
    const roleQueueIds = [...s.stack.roleWorkers.queues.values()].map((q) =>
      s.stack.getLogicalId(q.node.defaultChild as never),
    );
    expect(new Set(resources)).toEqual(new Set(roleQueueIds));
  });
});

describe('lambda functions', () => {
  // The project's functions: CDK's own (CDK_PROVIDED_FUNCTIONS) run aws-cdk-lib's code on its runtime.
  const fns = () =>
    Object.entries(resourcesOf(s.template, 'AWS::Lambda::Function')).filter(
      ([id]) => !CDK_PROVIDED_FUNCTIONS.some((prefix) => id.startsWith(prefix)),
    );

  it('runs every function on Node.js 22 or newer', () => {
    for (const [id, fn] of fns()) {
      const runtime = String(fn.Properties.Runtime);
      const major = Number(/^nodejs(\d+)\.x$/.exec(runtime)?.[1]);
      expect(major, `${id}: ${runtime}`).toBeGreaterThanOrEqual(22);
    }
  });

  it('runs every function on arm64 with active tracing', () => {
    for (const [id, fn] of fns()) {
      expect(fn.Properties.Architectures, id).toEqual(['arm64']);
      expect(fn.Properties.TracingConfig, id).toEqual({ Mode: 'Active' });
    }
  });

  it('reserves no concurrency on role workers: their scaling is the event source MaximumConcurrency', () => {
    for (const w of s.stack.roleWorkers.byRole.values()) {
      const fn = resourcesOf(s.template, 'AWS::Lambda::Function')[
        s.stack.getLogicalId(w.worker.fn.node.defaultChild as never)
      ];
      expect(fn?.Properties.ReservedConcurrentExecutions).toBeUndefined();
    }
  });
});

describe('IAM', () => {
  const dataAction = /^(dynamodb|sqs|states):/;
  // Listing actions that AWS defines without resource-level permissions: Resource "*" is the only form.
  // (DynamoEventSource adds dynamodb:ListStreams for the notifier.)
  const listOnly = new Set(['dynamodb:ListStreams']);

  it('never grants DynamoDB, SQS or Step Functions data actions on Resource "*"', () => {
    const offenders: string[] = [];
    for (const [id, policy] of Object.entries(resourcesOf(s.template, 'AWS::IAM::Policy'))) {
      const statements = (policy.Properties.PolicyDocument as { Statement: Record<string, unknown>[] })
        .Statement;
      for (const st of statements) {
        const actions = [st.Action].flat().map(String);
        const resources = [st.Resource].flat();
        if (actions.some((a) => dataAction.test(a) && !listOnly.has(a)) && resources.includes('*'))
          offenders.push(`${id}: ${actions}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it('lets the scaler update only the role workers event source mappings', () => {
    const scalerRoleId = s.stack.getLogicalId(s.stack.scaler.handler.fn.role?.node.defaultChild as never);
    const statements = Object.values(resourcesOf(s.template, 'AWS::IAM::Policy'))
      .filter((p) => (p.Properties.Roles as unknown[]).some((r) => idOf(r) === scalerRoleId))
      .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Record<string, unknown>[] }).Statement);
    const update = statements.find((st) => [st.Action].flat().includes('lambda:UpdateEventSourceMapping'));
    expect([update?.Resource].flat()).toHaveLength(BUILTIN_ROLES.length);
    expect([update?.Resource].flat()).not.toContain('*');
  });
});

describe('scaler', () => {
  it("may describe the state machine's executions and write the tasks table, to end a batch whose execution ended with its event lost", () => {
    const fn = s.stack.scaler.handler.fn;
    const roleId = s.stack.getLogicalId(fn.role?.node.defaultChild as never);
    const smId = s.stack.getLogicalId(s.stack.orchestration.stateMachine.node.defaultChild as never);
    const tasksId = s.stack.getLogicalId(s.stack.tables.tasks.node.defaultChild as never);
    const statements = Object.values(resourcesOf(s.template, 'AWS::IAM::Policy'))
      .filter((p) => (p.Properties.Roles as unknown[]).some((r) => idOf(r) === roleId))
      .flatMap(
        (p) =>
          (p.Properties.PolicyDocument as { Statement: { Action: string | string[]; Resource: unknown }[] })
            .Statement,
      );
    const describes = statements.find((st) => [st.Action].flat().includes('states:DescribeExecution'));
    expect(JSON.stringify(describes?.Resource)).toContain(':execution:');
    expect(JSON.stringify(describes?.Resource)).toContain(`"${smId}"`);
    const writes = statements.find(
      (st) =>
        [st.Action].flat().includes('dynamodb:UpdateItem') &&
        JSON.stringify(st.Resource).includes(`"${tasksId}"`),
    );
    expect(writes).toBeDefined();
  });
});

describe('API', () => {
  it('requires an API key on every REST method', () => {
    const methods = Object.entries(resourcesOf(s.template, 'AWS::ApiGateway::Method')).filter(
      ([, m]) => m.Properties.HttpMethod !== 'OPTIONS',
    );
    expect(methods.map(([, m]) => m.Properties.HttpMethod).sort()).toEqual(
      API_ROUTES.flatMap((r) => servedMethods(r)).sort(),
    );
    for (const [id, method] of methods) expect(method.Properties.ApiKeyRequired, id).toBe(true);
  });

  it('throttles the stage and each key, with a daily quota', () => {
    s.template.hasResourceProperties('AWS::ApiGateway::Stage', {
      MethodSettings: Match.arrayWith([
        Match.objectLike({ HttpMethod: '*', ResourcePath: '/*', ThrottlingRateLimit: Match.anyValue() }),
      ]),
      TracingEnabled: true,
      AccessLogSetting: Match.objectLike({ DestinationArn: Match.anyValue() }),
    });
    s.template.hasResourceProperties('AWS::ApiGateway::UsagePlan', {
      Throttle: Match.objectLike({ RateLimit: Match.anyValue() }),
      Quota: Match.objectLike({ Period: 'DAY' }),
    });
  });

  it('validates the batch body against a model before the submit function runs', () => {
    s.template.hasResourceProperties('AWS::ApiGateway::Method', {
      HttpMethod: 'POST',
      RequestModels: { 'application/json': Match.anyValue() },
      RequestValidatorId: Match.anyValue(),
    });
  });

  it('outputs the API URL, the API key id (never its value) and the WebSocket URL', () => {
    const outputs = s.template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(Object.keys(outputs)).toEqual(expect.arrayContaining(['ApiUrl', 'ApiKeyId', 'WebSocketUrl']));
    expect(outputs.ApiKeyId?.Value).toEqual({ Ref: expect.any(String) });
  });

  it('opens a WebSocket only with a progress token, redeemed by a Lambda authorizer on $connect', () => {
    const tokenFnId = s.stack.getLogicalId(
      s.stack.functions.get('progress-token')?.node.defaultChild as never,
    );
    const authorizers = Object.entries(resourcesOf(s.template, 'AWS::ApiGatewayV2::Authorizer'));
    expect(authorizers).toHaveLength(1);
    const [authorizerId, authorizer] = authorizers[0] as [string, { Properties: Record<string, unknown> }];
    expect(authorizer.Properties).toMatchObject({
      AuthorizerType: 'REQUEST',
      IdentitySource: [`route.request.querystring.${PROGRESS_TOKEN_PARAMETER}`],
    });
    expect(JSON.stringify(authorizer.Properties.AuthorizerUri)).toContain(tokenFnId);
    s.template.hasResourceProperties('AWS::ApiGatewayV2::Route', {
      RouteKey: '$connect',
      AuthorizationType: 'CUSTOM',
      AuthorizerId: { Ref: authorizerId },
    });
    s.template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: 'subscribe' });
    // Tokens are minted behind the API key, like every other REST method.
    expect(API_ROUTES).toContainEqual({
      method: 'POST',
      path: '/progress-tokens',
      handler: 'progress-token',
    });
  });
});

describe('progress', () => {
  it('feeds the notifier from the tasks stream with bisection, a failure destination and an item-type filter', () => {
    const notifierId = s.stack.getLogicalId(s.stack.functions.get('notifier')?.node.defaultChild as never);
    s.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: notifierId },
      BisectBatchOnFunctionError: true,
      DestinationConfig: { OnFailure: { Destination: Match.anyValue() } },
      FilterCriteria: {
        Filters: [
          { Pattern: JSON.stringify({ dynamodb: { NewImage: { type: { S: ['task', 'batch'] } } } }) },
        ],
      },
    });
  });
});

describe('observability', () => {
  it('alarms on every dead-letter queue, on failed executions and on Lambda throttles', () => {
    const alarms = Object.values(resourcesOf(s.template, 'AWS::CloudWatch::Alarm'));
    const byMetric = (name: string) => alarms.filter((a) => a.Properties.MetricName === name);
    expect(byMetric('ApproximateNumberOfMessagesVisible')).toHaveLength(BUILTIN_ROLES.length + 1);
    expect(byMetric('ExecutionsFailed')).toHaveLength(1);
    expect(byMetric('Throttles').length).toBeGreaterThanOrEqual(BUILTIN_ROLES.length);
    for (const alarm of byMetric('ApproximateNumberOfMessagesVisible')) {
      expect(alarm.Properties).toMatchObject({ Threshold: 0, ComparisonOperator: 'GreaterThanThreshold' });
    }
  });

  it('has a dashboard', () => {
    s.template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
  });
});

describe('cdk-nag', () => {
  it('finds no unacknowledged AwsSolutions errors', () => {
    const report = new AwsSolutionsChecks(s.app).validateScope(s.app);
    const errors = report.violations
      .filter((v) => v.severity === 'error')
      .map((v) => `${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`);
    expect(errors).toEqual([]);
  });

  it('finds no unacknowledged AwsSolutions warnings either', () => {
    const report = new AwsSolutionsChecks(s.app).validateScope(s.app);
    expect(report.violations.map((v) => v.ruleName)).toEqual([]);
  });
});
