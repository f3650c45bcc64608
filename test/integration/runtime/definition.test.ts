import { describe, expect, it } from 'vitest';
import {
  type AslDefinition,
  MAX_TIMER_SECONDS,
  prepareDefinition,
  UnsupportedDefinitionError,
} from '../../../shared/local/runtime/definition';

const dispatch = {
  Type: 'Task',
  Resource: 'arn:aws:states:::sqs:sendMessage.waitForTaskToken',
  Parameters: { 'QueueUrl.$': '$.route.queueUrl', MessageBody: { 'taskToken.$': '$$.Task.Token' } },
  TimeoutSecondsPath: '$.route.timeoutSeconds',
  HeartbeatSecondsPath: '$.route.heartbeatSeconds',
  End: true,
};

const inMap = (states: AslDefinition['States'], startAt: string): AslDefinition => ({
  StartAt: 'Map',
  States: {
    Map: {
      Type: 'Map',
      ItemsPath: '$.items',
      ItemProcessor: { StartAt: startAt, States: states },
      End: true,
    },
  },
});

describe('prepareDefinition', () => {
  it('wraps a nested Task so its timeout and heartbeat paths resolve against the state input', () => {
    const prepared = prepareDefinition(inMap({ Dispatch: dispatch }, 'Dispatch'));

    const processor = prepared.definition.States.Map?.ItemProcessor as AslDefinition;
    expect(processor.States.Dispatch).toEqual({
      Type: 'Task',
      Resource: dispatch.Resource,
      Parameters: {
        payload: dispatch.Parameters,
        'timeoutSeconds.$': '$.route.timeoutSeconds',
        'heartbeatSeconds.$': '$.route.heartbeatSeconds',
      },
      TimeoutSeconds: MAX_TIMER_SECONDS,
      End: true,
    });
    expect(prepared.tasks.get('Dispatch')?.kind).toBe('sqs-token');
  });

  it('keeps static timeouts and tells a payloadResponseOnly function ARN from lambda:invoke', () => {
    const prepared = prepareDefinition({
      StartAt: 'A',
      States: {
        A: { Type: 'Task', Resource: 'arn:aws:states:::lambda:invoke', TimeoutSeconds: 30, Next: 'B' },
        B: { Type: 'Task', Resource: 'arn:aws:lambda:us-east-1:123456789012:function:finalize', End: true },
      },
    });

    expect(prepared.tasks.get('A')).toMatchObject({ kind: 'lambda-invoke', timeoutSeconds: 30 });
    expect(prepared.tasks.get('B')?.kind).toBe('lambda-function');
    expect(prepared.definition.States.B?.Parameters).toEqual({ 'payload.$': '$' });
  });

  it('turns a SecondsPath Wait into a scaled local sleep only when a scale is given', () => {
    const wait = { Type: 'Wait', SecondsPath: '$.route.waitSeconds', Next: 'Route' };
    const definition = inMap(
      { WaitForCapacity: wait, Route: { Type: 'Pass', End: true } },
      'WaitForCapacity',
    );

    const unscaled = prepareDefinition(definition, 1);
    const scaled = prepareDefinition(definition, 0.1);

    expect(unscaled.tasks.has('WaitForCapacity')).toBe(false);
    expect(scaled.tasks.get('WaitForCapacity')?.kind).toBe('local-wait');
  });

  it('refuses a resource the runtime cannot serve, naming the state', () => {
    const definition: AslDefinition = {
      StartAt: 'Put',
      States: { Put: { Type: 'Task', Resource: 'arn:aws:states:::dynamodb:putItem', End: true } },
    };

    expect(() => prepareDefinition(definition)).toThrow(UnsupportedDefinitionError);
    expect(() => prepareDefinition(definition)).toThrow(/State "Put"/);
  });

  it('refuses state names repeated across nested state machines', () => {
    const definition = inMap({ Map: { Type: 'Pass', End: true } }, 'Map');

    expect(() => prepareDefinition(definition)).toThrow(/unique/);
  });

  it('ends only the failing iteration of a Map that tolerates every failure, after its own Catches', () => {
    const definition = inMap(
      {
        Work: {
          Type: 'Task',
          Resource: 'arn:aws:states:::lambda:invoke',
          Catch: [{ ErrorEquals: ['States.Timeout'], Next: 'Work' }],
          Next: 'Check',
        },
        Check: {
          Type: 'Choice',
          Choices: [{ Variable: '$.ok', BooleanEquals: true, Next: 'Done' }],
          Default: 'Give up',
        },
        'Give up': { Type: 'Fail', Error: 'Nope' },
        Done: {
          Type: 'Task',
          Resource: 'arn:aws:states:::lambda:invoke',
          Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Done' }],
          End: true,
        },
      },
      'Work',
    );
    const map = definition.States.Map as Record<string, unknown>;
    map.ToleratedFailurePercentage = 100;

    const rewritten = prepareDefinition(definition).definition.States.Map as Record<string, unknown>;
    const states = (rewritten.ItemProcessor as AslDefinition).States;
    expect(rewritten.ToleratedFailurePercentage).toBeUndefined();
    expect(states.Work?.Catch).toEqual([
      { ErrorEquals: ['States.Timeout'], Next: 'Work' },
      { ErrorEquals: ['States.ALL'], Next: 'Map.ToleratedFailure' },
    ]);
    expect(states.Done?.Catch).toEqual([{ ErrorEquals: ['States.ALL'], Next: 'Done' }]);
    expect(states.Check?.Catch).toBeUndefined();
    expect(states['Give up']).toEqual({ Type: 'Succeed' });
    expect(states['Map.ToleratedFailure']).toEqual({ Type: 'Succeed' });
    // Without the tolerance nothing is added: one failed iteration fails the Map, as on AWS.
    const strict = prepareDefinition(
      inMap({ Work: { Type: 'Task', Resource: 'arn:aws:states:::lambda:invoke', End: true } }, 'Work'),
    );
    const strictMap = strict.definition.States.Map as Record<string, unknown>;
    expect((strictMap.ItemProcessor as AslDefinition).States.Work?.Catch).toBeUndefined();
    map.ToleratedFailurePercentage = 50;
    expect(() => prepareDefinition(definition)).toThrow(
      /State "Map".*tolerated failure other than 100 percent/,
    );
  });
});
