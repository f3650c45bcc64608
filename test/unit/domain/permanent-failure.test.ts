import { describe, expect, it } from 'vitest';
import { failsAgain, notRetriedReason } from '../../../shared/domain/permanent-failure';
import type { PermanentFailure } from '../../../shared/domain/schemas';

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
