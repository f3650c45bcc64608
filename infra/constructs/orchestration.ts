/**
 * The batch state machine (STANDARD, JSONPath only), built from the state names and payloads of
 * shared/domain/workflow.ts. The embedded runtime runs this very definition (infra/local-definition.ts).
 */
import { ArnFormat, Aws, Duration, type RemovalPolicy } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { EnvVar } from '../../shared/config';
import { APPROVAL_REJECTED_ERROR, REVIEW_FAILED_ERROR } from '../../shared/domain/approvals';
import { GATE_REARM_SECONDS, MAX_WAIT_ROUNDS, WAIT_LIMIT_ERROR } from '../../shared/domain/limits';
import { StateName } from '../../shared/domain/workflow';
import { acknowledge } from './nag';

/** Transient Lambda service errors worth retrying; a handler's own error is not retried here. */
export const LAMBDA_TRANSIENT_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
];
/** A WAIT (at `decision`) of a task that has waited MAX_WAIT_ROUNDS times in this execution already. */
const waitAtLimit = (decision: string) =>
  sfn.Condition.and(
    sfn.Condition.stringEquals(decision, 'WAIT'),
    sfn.Condition.numberGreaterThanEquals('$.waits.n', MAX_WAIT_ROUNDS),
  );

const LAMBDA_RETRY: sfn.RetryProps = {
  errors: LAMBDA_TRANSIENT_ERRORS,
  interval: Duration.seconds(1),
  maxAttempts: 6,
  backoffRate: 2,
};

/**
 * Errors of RunExpansion's StartExecution worth retrying (Step Functions names a service integration's errors
 * `StepFunctions.<SDK exception>`): the account's running-execution limit, throttling and service errors
 * (AWSStepFunctionsException), and the client's own failures. A nested execution that ran and failed
 * (States.TaskFailed) is not retried: the Catch fails its tasks instead.
 */
export const EXPANSION_START_TRANSIENT_ERRORS = [
  'StepFunctions.ExecutionLimitExceededException',
  'StepFunctions.AWSStepFunctionsException',
  'StepFunctions.SdkClientException',
];
/** Up to 1 + 2 + ... + 32 = 63 s of backoff (with jitter): long enough for running executions to end. */
const EXPANSION_START_RETRY: sfn.RetryProps = {
  errors: EXPANSION_START_TRANSIENT_ERRORS,
  interval: Duration.seconds(1),
  maxAttempts: 6,
  backoffRate: 2,
  jitterStrategy: sfn.JitterType.FULL,
};

export interface OrchestrationProps {
  readonly functions: {
    readonly gate: lambda.IFunction;
    readonly route: lambda.IFunction;
    readonly approval: lambda.IFunction;
    readonly recordAttempt: lambda.IFunction;
    readonly complete: lambda.IFunction;
    readonly finalize: lambda.IFunction;
  };
  /** Every role queue: Dispatch may send to any of them (the URL comes from the router at run time). */
  readonly roleQueues: readonly sqs.IQueue[];
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
}

export class Orchestration extends Construct {
  readonly stateMachine: sfn.StateMachine;
  readonly logGroup: logs.LogGroup;
  private readonly taskResponsePolicy: iam.Policy;

  constructor(scope: Construct, id: string, props: OrchestrationProps) {
    super(scope, id);
    const fns = props.functions;
    const ref = { batchId: sfn.JsonPath.stringAt('$.batchId'), taskId: sfn.JsonPath.stringAt('$.taskId') };
    const invoke = this.invoke.bind(this);

    const taskDone = new sfn.Succeed(this, StateName.TaskDone, { stateName: StateName.TaskDone });
    // A handler error that survives the retries fails the task with that error (dependents are skipped)
    // rather than ending the child execution with the task unfinished and its dependents' gates waiting.
    const failOnError = invoke(
      StateName.FailOnError,
      fns.complete,
      { ...ref, outcome: 'FAILED', error: sfn.JsonPath.objectAt('$.error') },
      sfn.JsonPath.DISCARD,
    ).next(taskDone);
    const catchAll = { errors: [sfn.Errors.ALL], resultPath: '$.error' };
    // Each WAIT of this execution, for a slot, for budget or for a validator, is counted ($.waits.n, from the
    // Map's ItemSelector; countWait): a task that waits without end (a role with no capacity for a day) fails
    // with a reason at MAX_WAIT_ROUNDS, before its execution's history runs out and ends it with the task
    // unfinished and its dependents waiting.
    const waitLimit = new sfn.Pass(this, StateName.WaitLimit, {
      stateName: StateName.WaitLimit,
      parameters: {
        Error: WAIT_LIMIT_ERROR,
        Cause:
          `the task waited ${MAX_WAIT_ROUNDS} times for a free slot (of its role, or of a validator for its ` +
          "review) or for its batch's budget (Step Functions' history of its execution would run out): give " +
          'the role more agents or capacity, or the batch more budget, then redrive the batch',
      },
      resultPath: '$.error',
    }).next(failOnError);
    // CompleteTask, SkipTask and FailTask too: a Complete whose handler failed after it released some of the
    // task's dependents, before their gates' answers went out, would otherwise leave them waiting on their
    // gates until these arm again (GATE_REARM_SECONDS). FailOnError's Complete finds the task's status written
    // (or writes FAILED), releases the dependents not yet released with it, and answers the open gates.
    // FailTask (withAgent, FAILED) comes only from RetryAllowed: RecordAttempt's answer ($.retry) says why the
    // task is not routed again, which its Complete records as the task's reason.
    const complete = (name: StateName, outcome: 'SUCCEEDED' | 'FAILED' | 'SKIPPED', withAgent: boolean) =>
      invoke(
        name,
        fns.complete,
        {
          ...ref,
          outcome,
          ...(withAgent
            ? {
                agentId: sfn.JsonPath.stringAt('$.route.agentId'),
                attempt: sfn.JsonPath.numberAt('$.route.attempt'),
                ...(outcome === 'FAILED' ? { retry: sfn.JsonPath.objectAt('$.retry') } : {}),
              }
            : {}),
        },
        sfn.JsonPath.DISCARD,
      )
        .addCatch(failOnError, catchAll)
        .next(taskDone);

    const skipTask = complete(StateName.SkipTask, 'SKIPPED', false);
    const completeTask = this.completeAndExpand(invoke, fns.complete, ref, taskDone, (state) =>
      state.addCatch(failOnError, catchAll),
    );
    const failTask = complete(StateName.FailTask, 'FAILED', true);

    const route = invoke(StateName.Route, fns.route, ref, '$.route').addCatch(failOnError, catchAll);
    const routeDecision = new sfn.Choice(this, StateName.RouteDecision, {
      stateName: StateName.RouteDecision,
    });
    // No agent free: parked until a slot frees, at most the WAIT's waitSeconds (30 s, then 60 s; a wait for
    // budget 2 s, doubling to 60 s; see park). The release of a slot on an agent of the role hands it over:
    // the slot is reserved for the task, its attempt started, and the token answered with the DISPATCH (into
    // $.route, so RouteDecision dispatches it without routing again); a release that cannot hand over
    // answers WOKEN (RouteDecision: Route again).
    const waitForCapacity = this.park(
      StateName.WaitForCapacity,
      fns.route,
      ref,
      '$.route',
      route,
      routeDecision,
    );

    const recordAttempt = invoke(
      StateName.RecordAttempt,
      fns.recordAttempt,
      {
        ...ref,
        agentId: sfn.JsonPath.stringAt('$.route.agentId'),
        attempt: sfn.JsonPath.numberAt('$.route.attempt'),
        error: sfn.JsonPath.objectAt('$.error'),
      },
      '$.retry',
    )
      .addCatch(failOnError, catchAll)
      .next(
        new sfn.Choice(this, StateName.RetryAllowed, { stateName: StateName.RetryAllowed })
          .when(sfn.Condition.booleanEquals('$.retry.retry', true), route)
          .otherwise(failTask),
      );

    // A CustomState because the queue is chosen at run time ($.route.queueUrl): the L2 SqsSendMessage needs
    // a fixed queue. Its IAM (SendMessage on the role queues only) is granted below.
    const messageBody = {
      'batchId.$': '$.batchId',
      'taskId.$': '$.taskId',
      'agentId.$': '$.route.agentId',
      'role.$': '$.route.role',
      'executor.$': '$.route.executor',
      'attempt.$': '$.route.attempt',
      'taskToken.$': '$$.Task.Token',
      // The tasks whose work the context takes, read by the worker beside its claim.
      'contextIds.$': '$.route.contextIds',
      // When Route answered: a worker that claims the message late beats at once (keepAlive).
      'dispatchedAt.$': '$.route.dispatchedAt',
      // CompleteTask below takes the attempt's end from the worker's answer (see DispatchMessage).
      inlineResult: true,
    };
    /**
     * The Dispatch task under `name`: a failure of the attempt goes to RecordAttempt. `workerCompletes`: the
     * message asks the worker to run the Complete itself (DispatchMessage.complete).
     */
    const sendToQueue = (name: StateName, workerCompletes: boolean) =>
      new sfn.CustomState(this, name, {
        stateJson: {
          Type: 'Task',
          Resource: `arn:${Aws.PARTITION}:states:::sqs:sendMessage.waitForTaskToken`,
          Parameters: {
            'QueueUrl.$': '$.route.queueUrl',
            MessageBody: workerCompletes ? { ...messageBody, complete: true } : messageBody,
          },
          TimeoutSecondsPath: '$.route.timeoutSeconds',
          HeartbeatSecondsPath: '$.route.heartbeatSeconds',
          ResultPath: '$.result',
        },
      }).addCatch(recordAttempt, {
        errors: [sfn.Errors.ALL],
        resultPath: '$.error',
      });
    // Dispatch for a task nobody reviews (no $.route.review): its worker runs the Complete when it can (hop
    // latency: no CompleteTask invocation between the work's end and its dependents' dispatch), else the
    // answer goes to CompleteTask. A worker that dies inside its Complete times the attempt out: RecordAttempt
    // finds the task SUCCEEDED already, and FailTask's Complete releases its dependents as SUCCEEDED.
    const dispatch = sendToQueue(StateName.Dispatch, true).next(
      new sfn.Choice(this, StateName.CompletedByWorker, { stateName: StateName.CompletedByWorker })
        .when(
          sfn.Condition.and(
            sfn.Condition.isPresent('$.result.completed'),
            sfn.Condition.booleanEquals('$.result.completed', true),
          ),
          taskDone,
        )
        .otherwise(completeTask),
    );
    // The same for a task whose output is reviewed (approval.after), then Reviewed chooses the review.
    const dispatchToReview = sendToQueue(StateName.DispatchToReview, false).next(
      new sfn.Choice(this, StateName.Reviewed, { stateName: StateName.Reviewed })
        .when(
          sfn.Condition.and(
            sfn.Condition.isPresent('$.route.review'),
            sfn.Condition.stringEquals('$.route.review', 'person'),
          ),
          this.awaitReview(fns.approval, ref, recordAttempt, completeTask),
        )
        .when(
          sfn.Condition.and(
            sfn.Condition.isPresent('$.route.review'),
            sfn.Condition.stringEquals('$.route.review', 'validator'),
          ),
          this.validatorReview(fns, ref, { recordAttempt, completeTask, failOnError, taskDone, waitLimit }),
        )
        .otherwise(completeTask),
    );
    /** A DISPATCH at `path` (a Route output) whose output nobody reviews. */
    const unreviewedDispatch = (path: string) =>
      sfn.Condition.and(
        sfn.Condition.isPresent(`${path}.decision`),
        sfn.Condition.stringEquals(`${path}.decision`, 'DISPATCH'),
        sfn.Condition.not(sfn.Condition.isPresent(`${path}.review`)),
      );

    // approval.before: the task waits for a decision on its token, holding nothing; approved, it routes; a
    // rejection or the wait's timeout fails it (FailOnError names why).
    const awaitApproval = new tasks.LambdaInvoke(this, StateName.AwaitApproval, {
      stateName: StateName.AwaitApproval,
      lambdaFunction: fns.approval,
      integrationPattern: sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
      payload: sfn.TaskInput.fromObject({ ...ref, stage: 'before', taskToken: sfn.JsonPath.taskToken }),
      taskTimeout: sfn.Timeout.at('$.route.timeoutSeconds'),
      retryOnServiceExceptions: false,
      resultPath: sfn.JsonPath.DISCARD,
    })
      .addRetry(LAMBDA_RETRY)
      .addCatch(failOnError, catchAll)
      .next(route);

    route.next(
      routeDecision
        .when(unreviewedDispatch('$.route'), dispatch)
        .when(sfn.Condition.stringEquals('$.route.decision', 'DISPATCH'), dispatchToReview)
        .when(sfn.Condition.stringEquals('$.route.decision', 'APPROVAL'), awaitApproval)
        .when(waitAtLimit('$.route.decision'), waitLimit)
        .when(
          sfn.Condition.stringEquals('$.route.decision', 'WAIT'),
          this.countWait(StateName.CountWait, waitForCapacity),
        )
        .when(sfn.Condition.stringEquals('$.route.decision', 'STOP'), taskDone)
        // A wake (WaitForCapacity answered with WOKEN, no decision of Route's) routes the task again.
        .otherwise(route),
    );

    /** A Pass under `name` that takes the Route output the gate's answer carries as the task's ($.route). */
    const routeFromGate = (name: StateName) =>
      new sfn.Pass(this, name, { stateName: name, inputPath: '$.gate.route', resultPath: '$.route' });
    const gate = new tasks.LambdaInvoke(this, StateName.Gate, {
      stateName: StateName.Gate,
      lambdaFunction: fns.gate,
      integrationPattern: sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
      payload: sfn.TaskInput.fromObject({ ...ref, taskToken: sfn.JsonPath.taskToken }),
      retryOnServiceExceptions: false,
      resultPath: '$.gate',
      // Arms again after GATE_REARM_SECONDS (the Catch below): a gate whose answer was lost (every run of the
      // Complete that opened it failed before answering) waits that long, not forever.
      taskTimeout: sfn.Timeout.duration(Duration.seconds(GATE_REARM_SECONDS)),
    });
    gate
      .addRetry(LAMBDA_RETRY)
      .addCatch(gate, { errors: [sfn.Errors.TIMEOUT], resultPath: sfn.JsonPath.DISCARD })
      .addCatch(failOnError, catchAll)
      .next(
        new sfn.Choice(this, StateName.DependenciesOk, { stateName: StateName.DependenciesOk })
          // The Complete that opened the gate routed the task already (hop latency): no Route state, and a
          // DISPATCH goes to Dispatch without RouteDecision (one state transition less on the way).
          .when(
            sfn.Condition.and(
              sfn.Condition.booleanEquals('$.gate.proceed', true),
              unreviewedDispatch('$.gate.route'),
            ),
            routeFromGate(StateName.DispatchedByGate).next(dispatch),
          )
          .when(
            sfn.Condition.and(
              sfn.Condition.booleanEquals('$.gate.proceed', true),
              sfn.Condition.isPresent('$.gate.route'),
            ),
            routeFromGate(StateName.RoutedByGate).next(routeDecision),
          )
          .when(sfn.Condition.booleanEquals('$.gate.proceed', true), route)
          .otherwise(skipTask),
      );

    const child = new sfn.Choice(this, StateName.HasDependencies, { stateName: StateName.HasDependencies })
      .when(sfn.Condition.booleanEquals('$.hasDeps', true), gate)
      .otherwise(route);

    const finalize = invoke(
      StateName.Finalize,
      fns.finalize,
      { batchId: sfn.JsonPath.stringAt('$.batchId') },
      '$',
    );

    const processTasks = new sfn.DistributedMap(this, StateName.ProcessTasks, {
      stateName: StateName.ProcessTasks,
      mapExecutionType: sfn.StateMachineType.STANDARD,
      itemsPath: sfn.JsonPath.stringAt('$.items'),
      itemSelector: {
        batchId: sfn.JsonPath.stringAt('$.batchId'),
        // An expanding task starts a nested execution of this state machine (RunExpansion): its ARN.
        stateMachineArn: sfn.JsonPath.stringAt('$$.StateMachine.Id'),
        taskId: sfn.JsonPath.stringAt('$$.Map.Item.Value.taskId'),
        hasDeps: sfn.JsonPath.stringAt('$$.Map.Item.Value.hasDeps'),
        // The WAITs of this task in this execution (CountWait, MAX_WAIT_ROUNDS).
        waits: { n: 0 },
      },
      maxConcurrencyPath: sfn.JsonPath.stringAt('$.concurrency'),
      // A failed task is a normal outcome (its dependents are skipped); Finalize reports it.
      toleratedFailurePercentage: 100,
      resultPath: sfn.JsonPath.DISCARD,
    });
    processTasks.itemProcessor(child);
    // A nested execution that ran an expansion's tasks ends there; the batch's own execution finalizes it.
    const afterTasks = new sfn.Choice(this, StateName.IsExpansion, { stateName: StateName.IsExpansion })
      .when(
        sfn.Condition.isPresent('$.expansion'),
        new sfn.Succeed(this, StateName.ExpansionDone, { stateName: StateName.ExpansionDone }),
      )
      .otherwise(finalize);
    processTasks.addCatch(afterTasks, { errors: [sfn.Errors.ALL], resultPath: '$.mapError' });

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromChainable(processTasks.next(afterTasks)),
      logs: { destination: this.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
      tracingEnabled: true,
    });
    this.stateMachine.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['sqs:SendMessage'],
        resources: props.roleQueues.map((q) => q.queueArn),
      }),
    );
    this.taskResponsePolicy = new iam.Policy(this, 'TaskResponsePolicy', {
      statements: [
        new iam.PolicyStatement({
          actions: ['states:SendTaskSuccess', 'states:SendTaskFailure', 'states:SendTaskHeartbeat'],
          resources: [this.stateMachine.stateMachineArn],
        }),
      ],
    });
    this.grantExpansionRuns();
    this.suppressStateMachineFindings(fns);
  }

  /**
   * CompleteTask, then, when the task expanded (README "Workflow control"), RunExpansion: a nested execution of
   * this same state machine over the added task ids (never their bodies; at most MAX_TASKS_PER_EXPANSION of
   * them), waited for (startExecution.sync:2), so the batch's Map, and so Finalize, waits for the added tasks.
   * The nested execution may expand again, up to MAX_EXPANSION_DEPTH levels. A start that still fails after
   * the retries, or a nested execution that fails, goes to ExpansionFailed: Complete fails every added task not
   * finished and releases its dependents, so the planner's dependents and the batch's Map never wait forever.
   */
  private completeAndExpand(
    invoke: (
      name: StateName,
      fn: lambda.IFunction,
      payload: Record<string, unknown>,
      resultPath: string,
    ) => sfn.TaskStateBase,
    fn: lambda.IFunction,
    ref: Record<string, string>,
    taskDone: sfn.IChainable,
    onError: (state: sfn.TaskStateBase) => sfn.TaskStateBase,
  ): sfn.IChainable {
    const runExpansion = new sfn.CustomState(this, StateName.RunExpansion, {
      stateJson: {
        Type: 'Task',
        Resource: `arn:${Aws.PARTITION}:states:::states:startExecution.sync:2`,
        Parameters: {
          'StateMachineArn.$': '$.stateMachineArn',
          Input: {
            'batchId.$': '$.batchId',
            'items.$': '$.completion.expansion.items',
            'concurrency.$': '$.completion.expansion.concurrency',
            expansion: true,
            'AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$': '$$.Execution.Id',
          },
        },
        ResultPath: null,
      },
    })
      .addRetry(EXPANSION_START_RETRY)
      .addCatch(
        invoke(
          StateName.ExpansionFailed,
          fn,
          { ...ref, expansionError: sfn.JsonPath.objectAt('$.expansionError') },
          sfn.JsonPath.DISCARD,
        ).next(taskDone),
        { errors: [sfn.Errors.ALL], resultPath: '$.expansionError' },
      )
      .next(taskDone);
    return onError(
      invoke(
        StateName.CompleteTask,
        fn,
        {
          ...ref,
          outcome: 'SUCCEEDED',
          agentId: sfn.JsonPath.stringAt('$.route.agentId'),
          attempt: sfn.JsonPath.numberAt('$.route.attempt'),
          // The worker's answer carries the attempt's end: Complete writes it with the status.
          result: sfn.JsonPath.objectAt('$.result'),
        },
        '$.completion',
      ),
    ).next(
      new sfn.Choice(this, StateName.Expanded, { stateName: StateName.Expanded })
        .when(sfn.Condition.isPresent('$.completion.expansion'), runExpansion)
        .otherwise(taskDone),
    );
  }

  /**
   * RunExpansion's grants (startExecution.sync:2): start executions of this state machine, describe and stop
   * them, and the EventBridge rule Step Functions uses to learn that they ended. In a policy of its own: a
   * grant on its own ARN in the state machine's default policy would make the state machine depend on itself.
   */
  private grantExpansionRuns(): void {
    const sm = this.stateMachine;
    const policy = new iam.Policy(this, 'ExpansionRunPolicy', {
      statements: [
        new iam.PolicyStatement({ actions: ['states:StartExecution'], resources: [sm.stateMachineArn] }),
        new iam.PolicyStatement({
          actions: ['states:DescribeExecution', 'states:StopExecution'],
          resources: [this.executionsArn()],
        }),
        new iam.PolicyStatement({
          actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
          resources: [
            sm.stack.formatArn({
              service: 'events',
              resource: 'rule',
              resourceName: 'StepFunctionsGetEventsForStepFunctionsExecutionRule',
            }),
          ],
        }),
      ],
    });
    policy.attachToRole(sm.role);
    this.acknowledgeExecutions(policy, 'RunExpansion describes and stops the nested executions it starts');
  }

  /**
   * approval.after (AwaitReview): the worker's answer is held while a person decides; the agent's slot is given
   * back by the approval handler. Approved: the output is accepted (`next`). A rejection, or the wait's
   * timeout, fails the attempt (`onReject`, RecordAttempt), and the task is routed again.
   */
  private awaitReview(
    fn: lambda.IFunction,
    ref: Record<string, string>,
    onReject: sfn.IChainable,
    next: sfn.IChainable,
  ): sfn.IChainable {
    return new tasks.LambdaInvoke(this, StateName.AwaitReview, {
      stateName: StateName.AwaitReview,
      lambdaFunction: fn,
      integrationPattern: sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
      payload: sfn.TaskInput.fromObject({
        ...ref,
        stage: 'after',
        agentId: sfn.JsonPath.stringAt('$.route.agentId'),
        attempt: sfn.JsonPath.numberAt('$.route.attempt'),
        result: sfn.JsonPath.objectAt('$.result'),
        taskToken: sfn.JsonPath.taskToken,
      }),
      taskTimeout: sfn.Timeout.at('$.route.reviewTimeoutSeconds'),
      retryOnServiceExceptions: false,
      resultPath: sfn.JsonPath.DISCARD,
    })
      .addRetry(LAMBDA_RETRY)
      .addCatch(onReject, { errors: [sfn.Errors.ALL], resultPath: '$.error' })
      .next(next);
  }

  /** A Lambda Task state answering at once (its payload's response only), retried on transient errors. */
  private invoke(
    name: StateName,
    fn: lambda.IFunction,
    payload: Record<string, unknown>,
    resultPath: string,
  ) {
    return new tasks.LambdaInvoke(this, name, {
      stateName: name,
      lambdaFunction: fn,
      payload: sfn.TaskInput.fromObject(payload),
      payloadResponseOnly: true,
      retryOnServiceExceptions: false,
      resultPath,
    }).addRetry(LAMBDA_RETRY);
  }

  /** Counts a WAIT of this execution ($.waits.n) on the way to `wait` (see MAX_WAIT_ROUNDS). */
  private countWait(name: StateName, wait: sfn.IChainable): sfn.IChainable {
    return new sfn.Pass(this, name, {
      stateName: name,
      parameters: { n: sfn.JsonPath.mathAdd(sfn.JsonPath.numberAt('$.waits.n'), 1) },
      resultPath: '$.waits',
    }).next(wait);
  }

  /**
   * No agent free (WaitForCapacity, WaitForReviewer): the router parks the state's token on the task's waiting
   * mark for the role at `${decision}.role`; the release of a slot on a full agent of the role answers it. The
   * timeout (the WAIT's waitSeconds) routes again anyway, and so does any error: a wake lost to a race costs
   * one wait, never the task. With `answered`, the answer replaces the decision at `decision` and goes there
   * (a capacity hand-off answers with the DISPATCH); without it, the answer is dropped and the task routes.
   */
  private park(
    name: StateName,
    fn: lambda.IFunction,
    ref: Record<string, string>,
    decision: string,
    route: sfn.State & sfn.IChainable,
    answered?: sfn.State & sfn.IChainable,
  ): sfn.IChainable {
    return new tasks.LambdaInvoke(this, name, {
      stateName: name,
      lambdaFunction: fn,
      integrationPattern: sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
      payload: sfn.TaskInput.fromObject({
        ...ref,
        role: sfn.JsonPath.stringAt(`${decision}.role`),
        taskToken: sfn.JsonPath.taskToken,
      }),
      taskTimeout: sfn.Timeout.at(`${decision}.waitSeconds`),
      retryOnServiceExceptions: false,
      resultPath: answered ? decision : sfn.JsonPath.DISCARD,
    })
      .addCatch(route, { errors: [sfn.Errors.ALL], resultPath: sfn.JsonPath.DISCARD })
      .next(answered ?? route);
  }

  /**
   * approval.after.by: an agent of the validator role reviews the output. RouteReview holds the output (the
   * agent's slot given back) and routes the review like a task of that role, waiting for a free validator like
   * Route does (WaitForReviewer). DispatchReview sends the review to the validator's queue and waits on a token
   * the validator's verdict answers through the approval use case, as a person's decision would: approved, the
   * output is accepted; ApprovalRejected fails the attempt (RecordAttempt, routed again with the comments).
   * A review that gives no verdict (an error, an answer that is none, a crash, a timeout) is recorded
   * (RecordReview) and routed to another validator, up to MAX_REVIEWS_PER_ATTEMPT; then RouteReview answers
   * FAIL and the attempt fails with the last reason (ReviewFailed).
   */
  private validatorReview(
    fns: OrchestrationProps['functions'],
    ref: Record<string, string>,
    next: {
      recordAttempt: sfn.IChainable;
      completeTask: sfn.IChainable;
      failOnError: sfn.IChainable;
      taskDone: sfn.IChainable;
      waitLimit: sfn.IChainable;
    },
  ): sfn.IChainable {
    const catchAll = { errors: [sfn.Errors.ALL], resultPath: '$.error' };
    const routeReview = this.invoke(
      StateName.RouteReview,
      fns.route,
      {
        ...ref,
        review: {
          agentId: sfn.JsonPath.stringAt('$.route.agentId'),
          attempt: sfn.JsonPath.numberAt('$.route.attempt'),
          result: sfn.JsonPath.objectAt('$.result'),
        },
      },
      '$.review',
    ).addCatch(next.failOnError, catchAll);
    const waitForReviewer = this.park(StateName.WaitForReviewer, fns.route, ref, '$.review', routeReview);
    const recordReview = this.invoke(
      StateName.RecordReview,
      fns.recordAttempt,
      {
        ...ref,
        reviewer: {
          agentId: sfn.JsonPath.stringAt('$.review.agentId'),
          role: sfn.JsonPath.stringAt('$.review.role'),
          run: sfn.JsonPath.numberAt('$.review.run'),
          attempt: sfn.JsonPath.numberAt('$.route.attempt'),
          startedAt: sfn.JsonPath.numberAt('$.review.startedAt'),
        },
        error: sfn.JsonPath.objectAt('$.error'),
      },
      sfn.JsonPath.DISCARD,
    )
      .addCatch(next.failOnError, catchAll)
      .next(routeReview);
    const dispatchReview = new sfn.CustomState(this, StateName.DispatchReview, {
      stateJson: {
        Type: 'Task',
        Resource: `arn:${Aws.PARTITION}:states:::sqs:sendMessage.waitForTaskToken`,
        Parameters: {
          'QueueUrl.$': '$.review.queueUrl',
          MessageBody: {
            'batchId.$': '$.batchId',
            'taskId.$': '$.taskId',
            'agentId.$': '$.review.agentId',
            'role.$': '$.review.role',
            'executor.$': '$.review.executor',
            'attempt.$': '$.route.attempt',
            'taskToken.$': '$$.Task.Token',
            review: { 'run.$': '$.review.run' },
            'dispatchedAt.$': '$.review.startedAt',
          },
        },
        TimeoutSecondsPath: '$.review.timeoutSeconds',
        HeartbeatSecondsPath: '$.review.heartbeatSeconds',
        ResultPath: null,
      },
    })
      .addCatch(next.recordAttempt, { errors: [APPROVAL_REJECTED_ERROR], resultPath: '$.error' })
      .addCatch(recordReview, { errors: [sfn.Errors.ALL], resultPath: '$.error' })
      .next(next.completeTask);
    const reviewFailed = new sfn.Pass(this, StateName.ReviewFailed, {
      stateName: StateName.ReviewFailed,
      parameters: { Error: REVIEW_FAILED_ERROR, Cause: sfn.JsonPath.stringAt('$.review.reason') },
      resultPath: '$.error',
    }).next(next.recordAttempt);
    routeReview.next(
      new sfn.Choice(this, StateName.ReviewDecision, { stateName: StateName.ReviewDecision })
        .when(sfn.Condition.stringEquals('$.review.decision', 'DISPATCH'), dispatchReview)
        .when(waitAtLimit('$.review.decision'), next.waitLimit)
        .when(
          sfn.Condition.stringEquals('$.review.decision', 'WAIT'),
          this.countWait(StateName.CountReviewWait, waitForReviewer),
        )
        .when(sfn.Condition.stringEquals('$.review.decision', 'FAIL'), reviewFailed)
        .when(sfn.Condition.stringEquals('$.review.decision', 'STOP'), next.taskDone),
    );
    return routeReview;
  }

  /** submit / redrive: start (and redrive) executions; sets STATE_MACHINE_ARN. */
  bindStart(fn: lambda.Function): void {
    this.stateMachine.grantStartExecution(fn);
    this.stateMachine.grantExecution(fn, 'states:DescribeExecution', 'states:RedriveExecution');
    this.setArn(fn);
  }

  /**
   * scaler: describes the executions of running batches, to end a batch whose execution ended with its status
   * change event lost (usecases/interrupted.ts endLostStoppedExecutions); sets STATE_MACHINE_ARN.
   */
  bindDescribe(fn: lambda.Function): void {
    this.stateMachine.grantExecution(fn, 'states:DescribeExecution');
    this.setArn(fn);
  }

  /** cancel: stop and describe executions; sets STATE_MACHINE_ARN. */
  bindStop(fn: lambda.Function): void {
    this.stateMachine.grantExecution(fn, 'states:StopExecution', 'states:DescribeExecution');
    this.setArn(fn);
  }

  /**
   * gate, complete, agent workers: answer task tokens of this state machine. The grant goes into one
   * separate policy, not the functions' default policies: the state machine depends on its handlers
   * (it invokes gate and complete), so a grant in their default policy would close a dependency cycle.
   */
  bindTaskResponse(fn: lambda.Function): void {
    if (!fn.role) throw new Error(`Function ${fn.node.path} has no role to grant task responses to`);
    this.taskResponsePolicy.attachToRole(fn.role);
  }

  /**
   * finalize: ends a batch whose execution ended otherwise than by succeeding (failed on an error no state
   * catches, timed out, stopped from the console), which never reached its Finalize state and would stay RUNNING
   * (usecases/interrupted.ts endStoppedExecution). Step Functions' status change events of this state machine
   * go to it through an EventBridge rule (best-effort delivery, retried by EventBridge). It reads an execution's
   * input when the event left it out (too large): DescribeExecution, in a policy of its own, since the state
   * machine invokes the function (a grant in its default policy would close a dependency cycle).
   */
  bindExecutionEnded(fn: lambda.Function): void {
    const sm = this.stateMachine;
    new events.Rule(this, 'ExecutionEnded', {
      description: 'Ends a batch whose execution failed, timed out or was stopped before its Finalize state',
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: { status: ['FAILED', 'TIMED_OUT', 'ABORTED'], stateMachineArn: [sm.stateMachineArn] },
      },
      targets: [new targets.LambdaFunction(fn, { retryAttempts: 8, maxEventAge: Duration.hours(2) })],
    });
    if (!fn.role) throw new Error(`Function ${fn.node.path} has no role to grant DescribeExecution to`);
    const policy = new iam.Policy(this, 'ExecutionEndedPolicy', {
      statements: [
        new iam.PolicyStatement({
          actions: ['states:DescribeExecution'],
          resources: [this.executionsArn()],
        }),
      ],
    });
    policy.attachToRole(fn.role);
    this.acknowledgeExecutions(
      policy,
      'Finalize reads the input of an execution of this state machine that ended without it, when the status change event left the input out',
    );
  }

  /** Every execution of this state machine (execution:<name>:*): their ARNs are minted at run time. */
  private executionsArn(): string {
    const sm = this.stateMachine;
    return sm.stack.formatArn({
      service: 'states',
      resource: 'execution',
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      resourceName: `${sm.stateMachineName}:*`,
    });
  }

  /** cdk-nag's IAM5 acknowledged for `policy`'s grant on executionsArn(), with why it needs it. */
  private acknowledgeExecutions(policy: iam.Policy, why: string): void {
    const id = this.stateMachine.stack.getLogicalId(
      this.stateMachine.node.defaultChild as sfn.CfnStateMachine,
    );
    acknowledge(
      policy,
      'AwsSolutions-IAM5',
      `${why}; their ARNs are minted at run time (execution:<this state machine>:*).`,
      [`Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:<${id}.Name>:*`],
    );
  }

  private setArn(fn: lambda.Function): void {
    fn.addEnvironment(EnvVar.StateMachineArn, this.stateMachine.stateMachineArn);
    if (fn.role) {
      acknowledge(
        fn.role,
        'AwsSolutions-IAM5',
        'Execution ARNs are minted per batch; the grant covers executions of this state machine only (execution:<name>:*).',
        [executionWildcard(this.stateMachine)],
      );
    }
  }

  private suppressStateMachineFindings(fns: OrchestrationProps['functions']): void {
    const stack = this.stateMachine.stack;
    const fnArns = Object.values(fns).map(
      (fn) => `Resource::<${stack.getLogicalId(fn.node.defaultChild as lambda.CfnFunction)}.Arn>:*`,
    );
    acknowledge(
      this.stateMachine,
      'AwsSolutions-IAM5',
      'CDK grants lambda:InvokeFunction on `<function>:*` so versions and aliases of these six handlers can be invoked; no other function.',
      fnArns,
    );
    acknowledge(
      this.stateMachine,
      'AwsSolutions-IAM5',
      'Step Functions log delivery and X-Ray actions support no resource-level permissions (AWS documents Resource *).',
      ['Resource::*'],
    );
    acknowledge(
      this.stateMachine,
      'AwsSolutions-IAM5',
      'The Distributed Map starts child executions of this same state machine and must describe and stop them.',
      [executionWildcard(this.stateMachine), executionWildcard(this.stateMachine, '/*')],
    );
  }
}

/** The nag finding of a grant on every execution (or, with `suffix` `/*`, every map run) of `stateMachine`. */
function executionWildcard(stateMachine: sfn.StateMachine, suffix = ''): string {
  const id = stateMachine.stack.getLogicalId(stateMachine.node.defaultChild as sfn.CfnStateMachine);
  const name = JSON.stringify({ 'Fn::Select': [6, { 'Fn::Split': [':', { Ref: id }] }] });
  return `Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:${name}${suffix}:*`;
}
