import { describe, expect, it } from 'vitest';
import { addMetaAgentStack } from '../../infra/config';
import {
  LocalDefinitionError,
  resolveIntrinsics,
  stateMachineDefinitionString,
  synthesizeLocalDefinition,
} from '../../infra/local-definition';
import { StateName, TaskStateHandler } from '../../shared/domain/workflow';
import { testApp } from '../support/cdk-app';
import { defaultTemplateJson, validateAsl } from './fixture';

type States = Record<string, Record<string, unknown> & { ItemProcessor?: { States: States } }>;

/** Every state, the Map's child states included, by name. */
function allStates(definition: Record<string, unknown>): States {
  const top = definition.States as States;
  const map = top[StateName.ProcessTasks];
  return { ...top, ...(map?.ItemProcessor?.States ?? {}) };
}

describe('synthesizeLocalDefinition', () => {
  it('returns in under 3 seconds (the CLI needs its first dispatch within seconds)', () => {
    const started = performance.now();
    synthesizeLocalDefinition({
      rolesConfig: { roles: [{ name: 'code_reviewer', defaults: { timeoutSeconds: 77 } }] },
    });
    expect(performance.now() - started).toBeLessThan(3_000);
  });

  it('produces a definition that passes asl-validator and contains every state of the workflow contract', () => {
    const { definition } = synthesizeLocalDefinition();
    expect(validateAsl(definition).errors).toEqual([]);
    expect(Object.keys(allStates(definition)).sort()).toEqual(Object.values(StateName).sort());
  });

  it('runs the Map DISTRIBUTED with STANDARD children', () => {
    const { definition } = synthesizeLocalDefinition();
    const map = (definition.States as States)[StateName.ProcessTasks];
    expect(map?.ItemProcessor).toMatchObject({
      ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' },
    });
  });

  it('leaves no CloudFormation intrinsic: Lambda tasks point at local function ARNs', () => {
    const { definition } = synthesizeLocalDefinition();
    const text = JSON.stringify(definition);
    expect(text).not.toMatch(/Fn::|"Ref"|AWS::/);
    const route = allStates(definition)[StateName.Route];
    expect(route?.Resource).toMatch(/^arn:aws:lambda:local:000000000000:function:\w+$/);
    expect(allStates(definition)[StateName.Dispatch]?.Resource).toBe(
      'arn:aws:states:::sqs:sendMessage.waitForTaskToken',
    );
  });

  it('maps each Task state to its handler, Dispatch, DispatchToReview and DispatchReview to the agent worker', () => {
    const { definition, taskStates } = synthesizeLocalDefinition();
    expect(taskStates).toEqual({
      ...TaskStateHandler,
      [StateName.Dispatch]: 'agent-worker',
      [StateName.DispatchToReview]: 'agent-worker',
      [StateName.DispatchReview]: 'agent-worker',
    });
    // RunExpansion starts a nested execution of the state machine: the runtime serves it, no handler.
    const taskNames = Object.entries(allStates(definition))
      .filter(([name, st]) => st.Type === 'Task' && name !== StateName.RunExpansion)
      .map(([name]) => name)
      .sort();
    expect(Object.keys(taskStates).sort()).toEqual(taskNames);
    expect(allStates(definition)[StateName.RunExpansion]?.Resource).toBe(
      'arn:aws:states:::states:startExecution.sync:2',
    );
  });

  it('is the definition the deployed template carries', () => {
    const app = testApp({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = addMetaAgentStack(app, []);
    const { definitionString, resources } = stateMachineDefinitionString(stack);
    // The default stack's template (the same app and config), synthesized once for every infra test file: a
    // synthesis of its own took 15 s of this file's 20.
    const template = defaultTemplateJson();
    const deployed = Object.values(template.Resources).find(
      (r) => r.Type === 'AWS::StepFunctions::StateMachine',
    );
    expect(definitionString).toEqual(deployed?.Properties.DefinitionString);
    expect(JSON.parse(resolveIntrinsics(definitionString, resources) as string)).toEqual(
      synthesizeLocalDefinition().definition,
    );
  });

  it('rejects an intrinsic it cannot resolve instead of passing it through', () => {
    expect(() => resolveIntrinsics({ 'Fn::ImportValue': 'x' }, {})).toThrow(LocalDefinitionError);
    expect(() => resolveIntrinsics({ Ref: 'Missing' }, {})).toThrow(LocalDefinitionError);
  });

  it('refuses a role config that breaks the catalog, naming the path', () => {
    expect(() => synthesizeLocalDefinition({ rolesConfig: { roles: [{ name: 'Bad Name' }] } })).toThrow(
      /\$\.roles\[0\]/,
    );
  });
});
