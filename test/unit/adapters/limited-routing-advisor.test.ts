import { describe, expect, it, vi } from 'vitest';
import {
  type CallLimiter,
  type CallPermit,
  type CallTarget,
  providerErrorFromStatus,
} from '../../../shared/adapters/executors/policy';
import { limitedRoutingAdvisor } from '../../../shared/adapters/limited-routing-advisor';
import { RoutingAnswerError } from '../../../shared/adapters/routing-advisor';
import { buildContainer } from '../../../shared/adapters/wiring';
import { EnvVar } from '../../../shared/config';
import type { RoutingAdvisor, RoutingAnswer } from '../../../shared/ports';

const QUESTION = {
  taskId: 't-1',
  description: 'Write the OpenAPI specification of the orders service',
  candidates: [
    { role: 'api_integrator', description: 'third-party APIs' },
    { role: 'technical_writer', description: 'specifications' },
  ],
};

/** A limiter that records what the advisor asked of it, in order. */
class RecordingLimiter implements CallLimiter {
  readonly events: string[] = [];
  readonly targets: CallTarget[] = [];

  async acquire(target: CallTarget): Promise<CallPermit> {
    this.targets.push(target);
    this.events.push('acquire');
    return {
      beforeRequest: async () => {
        this.events.push('beforeRequest');
      },
      afterRequest: async (outcome) => {
        this.events.push(`afterRequest ${JSON.stringify(outcome)}`);
      },
      release: async () => {
        this.events.push('release');
      },
    };
  }
}

function advisor(answer: () => Promise<RoutingAnswer>, events: string[]): RoutingAdvisor {
  return {
    provider: 'anthropic',
    model: 'claude-haiku-5',
    choose: async () => {
      events.push('choose');
      return answer();
    },
  };
}

describe('the routing advisor under the fleet-wide provider limits', () => {
  it('holds a slot of its provider and model around the question and counts the tokens the answer used', async () => {
    const limiter = new RecordingLimiter();
    const limited = limitedRoutingAdvisor(
      advisor(
        async () => ({
          role: 'technical_writer',
          model: 'claude-haiku-5',
          usage: { inputTokens: 300, outputTokens: 20, cacheReadTokens: 5 },
        }),
        limiter.events,
      ),
      () => limiter,
      () => {},
    );

    const answer = await limited.choose(QUESTION, new AbortController().signal);

    expect(answer.role).toBe('technical_writer');
    expect(limiter.targets).toEqual([{ provider: 'anthropic', model: 'claude-haiku-5' }]);
    expect(limiter.events).toEqual([
      'acquire',
      'beforeRequest',
      'choose',
      'afterRequest {"tokens":325}',
      'release',
    ]);
  });

  it('reports a 429 as throttling, gives the slot back and still fails the question', async () => {
    const limiter = new RecordingLimiter();
    const tooMany = Object.assign(new Error('rate limited'), { status: 429 });
    const limited = limitedRoutingAdvisor(
      advisor(() => Promise.reject(tooMany), limiter.events),
      () => limiter,
      () => {},
    );

    await expect(limited.choose(QUESTION, new AbortController().signal)).rejects.toBe(tooMany);
    expect(limiter.events).toEqual([
      'acquire',
      'beforeRequest',
      'choose',
      'afterRequest {"throttled":true}',
      'release',
    ]);
  });

  it('counts the tokens of an unusable answer, and does not call a spent quota throttling', async () => {
    const limiter = new RecordingLimiter();
    const cut = new RoutingAnswerError('anthropic', 'cut short', { inputTokens: 90, outputTokens: 256 });
    const spent = providerErrorFromStatus('anthropic', 429, 'quota', { retry: false });
    const answers = [cut, spent];
    const limited = limitedRoutingAdvisor(
      advisor(() => Promise.reject(answers.shift()), limiter.events),
      () => limiter,
      () => {},
    );

    await expect(limited.choose(QUESTION, new AbortController().signal)).rejects.toBe(cut);
    await expect(limited.choose(QUESTION, new AbortController().signal)).rejects.toBe(spent);
    expect(limiter.events).toEqual([
      'acquire',
      'beforeRequest',
      'choose',
      'afterRequest {"tokens":346}',
      'release',
      'acquire',
      'beforeRequest',
      'choose',
      'release',
    ]);
  });

  it('reads an AWS SDK throttle from its metadata, and does not call other failures throttling', async () => {
    const limiter = new RecordingLimiter();
    const throttled = Object.assign(new Error('ThrottlingException'), { $metadata: { httpStatusCode: 429 } });
    const broken = Object.assign(new Error('internal'), { status: 500 });
    const answers = [throttled, broken];
    const limited = limitedRoutingAdvisor(
      advisor(() => Promise.reject(answers.shift()), limiter.events),
      () => limiter,
      () => {},
    );

    await expect(limited.choose(QUESTION, new AbortController().signal)).rejects.toBe(throttled);
    await expect(limited.choose(QUESTION, new AbortController().signal)).rejects.toBe(broken);
    expect(limiter.events.filter((e) => e.startsWith('afterRequest'))).toEqual([
      'afterRequest {"throttled":true}',
    ]);
    expect(limiter.events.filter((e) => e === 'release')).toHaveLength(2);
  });

  it('answers even when the limiter cannot record the outcome, and says so', async () => {
    const warnings: string[] = [];
    const failing: CallLimiter = {
      acquire: async () => ({
        beforeRequest: async () => {},
        afterRequest: () => Promise.reject(new Error('lost write')),
        release: () => Promise.reject(new Error('lost write')),
      }),
    };
    const limited = limitedRoutingAdvisor(
      advisor(
        async () => ({ role: 'api_integrator', model: 'm', usage: { inputTokens: 1, outputTokens: 1 } }),
        [],
      ),
      () => failing,
      (message) => warnings.push(message),
    );

    expect((await limited.choose(QUESTION, new AbortController().signal)).role).toBe('api_integrator');
    expect(warnings).toEqual(['provider limit: tokens not counted', 'provider limit: slot not released']);
  });
});

describe("the router's container", () => {
  it("puts the model-assisted routing question under the fleet's provider limiter", async () => {
    const container = buildContainer({
      [EnvVar.TasksTable]: 'tasks',
      [EnvVar.RoutingConfig]: JSON.stringify({
        assist: { provider: 'anthropic', url: 'http://127.0.0.1:9' },
      }),
      [EnvVar.CostsConfig]: JSON.stringify({ providerLimits: [{ provider: 'anthropic', maxConcurrent: 1 }] }),
    });
    const refused = new Error('no slot for this test');
    const targets: CallTarget[] = [];
    vi.spyOn(container.providerLimits.limiter, 'acquire').mockImplementation(async (target) => {
      targets.push(target);
      throw refused;
    });

    const advisor = container.routing.assist?.advisor;

    expect(advisor).toBeDefined();
    await expect(advisor?.choose(QUESTION, new AbortController().signal)).rejects.toBe(refused);
    expect(targets).toEqual([{ provider: 'anthropic', model: advisor?.model }]);
  });
});
