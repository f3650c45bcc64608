import { describe, expect, it } from 'vitest';
import { CREDENTIAL_FINGERPRINT_CHARS } from '../../../shared/domain/limits';
import {
  CREDENTIALS_MARK_MS,
  type CredentialsMark,
  credentialsMarkOf,
  failsAgain,
  markedFailure,
  markInForce,
  markOn,
  notRetriedReason,
  someConfigurationEscapes,
  standingMarks,
} from '../../../shared/domain/permanent-failure';
import { BASE_ROLE_DEFAULTS, resolveRoles } from '../../../shared/domain/roles';
import { newAgent } from '../../../shared/domain/routing';
import type { Agent, ExecutorConfig, PermanentFailure, Role } from '../../../shared/domain/schemas';

const anthropic = { name: 'anthropic' as const, model: 'claude-a' };

describe('which executor a permanent failure follows', () => {
  it('follows a bad key to every model of the provider at that url, not to another provider or url', () => {
    const failure: PermanentFailure = { cause: 'credentials', executor: anthropic };

    expect(failsAgain(failure, { ...anthropic, model: 'claude-b' })).toBe(true);
    expect(failsAgain(failure, { name: 'openai', model: 'gpt-x' })).toBe(false);
    expect(failsAgain(failure, { ...anthropic, url: 'http://gateway.example' })).toBe(false);
  });

  it('follows a refused request to the same provider and model only', () => {
    const failure: PermanentFailure = { cause: 'request', executor: anthropic };

    expect(failsAgain(failure, { ...anthropic, maxOutputTokens: 64_000 })).toBe(true);
    expect(failsAgain(failure, { ...anthropic, model: 'claude-b' })).toBe(false);
  });

  it('counts an unnamed model as the provider default', () => {
    const failure: PermanentFailure = { cause: 'request', executor: { name: 'anthropic' } };

    expect(failsAgain(failure, { name: 'anthropic', model: 'claude-sonnet-5-5' })).toBe(true);
  });

  it('lets an answer cut at the output limit go to the same model only when it may answer longer', () => {
    const failure: PermanentFailure = {
      cause: 'output-limit',
      executor: { ...anthropic, maxOutputTokens: 1000 },
    };

    expect(failsAgain(failure, { ...anthropic, maxOutputTokens: 1000 })).toBe(true);
    expect(failsAgain(failure, { ...anthropic, maxOutputTokens: 500 })).toBe(true);
    expect(failsAgain(failure, { ...anthropic, maxOutputTokens: 4000 })).toBe(false);
  });

  it('says what failed and what a retry would have needed', () => {
    expect(notRetriedReason({ cause: 'credentials', executor: anthropic })).toBe(
      'not retried: the failure is permanent (credentials) for anthropic (model claude-a), and no agent that could take the task differs in provider or url (the key is per provider)',
    );
  });
});

describe('the fleet-wide mark of a refused key', () => {
  const by = { agentId: 'coder-1', batchId: 'b1', taskId: 't1' };

  it('is set by a credentials failure only, of its provider and url whatever the model, for CREDENTIALS_MARK_MS', () => {
    const mark = credentialsMarkOf({ cause: 'credentials', executor: anthropic }, by, 1_000);

    expect(mark).toEqual({
      executor: { name: 'anthropic' },
      at: 1_000,
      until: 1_000 + CREDENTIALS_MARK_MS,
      ...by,
    });
    expect(credentialsMarkOf({ cause: 'request', executor: anthropic }, by, 1_000)).toBeUndefined();
    expect(credentialsMarkOf(undefined, by, 1_000)).toBeUndefined();
    const marks = [mark as CredentialsMark];
    expect(markOn(marks, { name: 'anthropic', model: 'claude-b' })).toBe(mark);
    expect(markOn(marks, { name: 'anthropic', url: 'https://gateway.example' })).toBeUndefined();
    expect(markOn(marks, { name: 'openai' })).toBeUndefined();
  });

  it('stands until it expires, so a rotated key is tried again', () => {
    const mark = credentialsMarkOf({ cause: 'credentials', executor: anthropic }, by, 0) as CredentialsMark;

    expect(standingMarks([mark], CREDENTIALS_MARK_MS - 1)).toEqual([mark]);
    expect(standingMarks([mark], CREDENTIALS_MARK_MS)).toEqual([]);
  });

  it('leaves a task somewhere to go only through an agent or a spawn of another configuration', () => {
    const mark = credentialsMarkOf({ cause: 'credentials', executor: anthropic }, by, 0) as CredentialsMark;
    const fails = (executor: ExecutorConfig) => markOn([mark], executor) !== undefined;
    const role = { name: 'coder', defaults: { ...BASE_ROLE_DEFAULTS, executor: anthropic, maxAgents: 2 } };
    const agent = (id: string, executor: ExecutorConfig, status: Agent['status'] = 'idle') => ({
      ...newAgent({ ...resolveRoles([]).get('python_backend_coder'), ...role } as Role, id, 0),
      executor,
      status,
    });

    expect(someConfigurationEscapes([agent('coder-1', anthropic)], role, fails)).toBe(false);
    expect(someConfigurationEscapes([agent('coder-1', { name: 'openai' }, 'terminated')], role, fails)).toBe(
      false,
    );
    expect(someConfigurationEscapes([agent('other', { name: 'openai' })], role, fails)).toBe(true);
    expect(
      someConfigurationEscapes(
        [agent('coder-1', anthropic)],
        { ...role, defaults: { ...role.defaults, executor: { name: 'openai' } } },
        fails,
      ),
    ).toBe(true);
  });

  it('is of the refused key: it carries its fingerprint, names it, and applies only while that key is in use', () => {
    const refused = 'c'.repeat(CREDENTIAL_FINGERPRINT_CHARS);
    const mark = credentialsMarkOf(
      { cause: 'credentials', executor: anthropic, fingerprint: refused },
      by,
      0,
    ) as CredentialsMark;

    expect(mark.fingerprint).toBe(refused);
    expect(notRetriedReason(markedFailure(mark), mark)).toContain(
      `marked fleet-wide for its key of fingerprint ${refused} at`,
    );
    expect(markInForce(mark, refused)).toBe(true);
    expect(markInForce(mark, 'd'.repeat(CREDENTIAL_FINGERPRINT_CHARS))).toBe(false);
    // The key in use unknown, or a mark of no key: it applies.
    expect(markInForce(mark, undefined)).toBe(true);
    const { fingerprint: _, ...anyKey } = mark;
    expect(markInForce(anyKey, 'd'.repeat(CREDENTIAL_FINGERPRINT_CHARS))).toBe(true);
  });

  it('is named in the reason of a task it fails', () => {
    const mark = credentialsMarkOf({ cause: 'credentials', executor: anthropic }, by, 0) as CredentialsMark;

    expect(notRetriedReason(markedFailure(mark), mark)).toBe(
      `not retried: the failure is permanent (credentials) for anthropic, marked fleet-wide at 1970-01-01T00:00:00.000Z until ${new Date(CREDENTIALS_MARK_MS).toISOString()} by task b1/t1 on agent coder-1 (PUT /agents/{id} with this provider and url, or another key, clears it), and no agent that could take the task differs in provider or url (the key is per provider)`,
    );
  });
});
