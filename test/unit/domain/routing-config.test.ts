import { describe, expect, it } from 'vitest';
import { resolveRoles } from '../../../shared/domain/roles';
import {
  candidateRoles,
  extractRequirements,
  targetRole,
  weightedScore,
} from '../../../shared/domain/routing';
import {
  AssistConfigSchema,
  applyAssist,
  assistCandidates,
  needsAssist,
  normaliseWeights,
  parseRoutingConfig,
  RoutingConfigError,
  routingConfidence,
} from '../../../shared/domain/routing-config';
import type { ExtractedRequirements, RoutingAssist } from '../../../shared/domain/schemas';

const catalog = resolveRoles();
const unsure = 'Go through the checkout and tidy the error handling';
const sure = 'Write unit tests for the invoice calculator';
const extract = (description: string) => extractRequirements({ id: 't', description }, catalog);
const config = AssistConfigSchema.parse({ provider: 'anthropic' });

function record(requirements: ExtractedRequirements, chosen?: string): RoutingAssist {
  return {
    provider: 'anthropic',
    model: 'm',
    confidence: routingConfidence(requirements),
    threshold: config.threshold,
    candidates: assistCandidates(requirements, catalog, config.candidates),
    ...(chosen ? { chosen } : {}),
    fallback: targetRole(requirements),
    cached: false,
    at: 0,
  };
}

describe('routing confidence', () => {
  it('is the best role lead over the second, 1 for an explicit role, 0 without candidates', () => {
    const r = extract(unsure);
    const [first, second] = r.roleCandidates;

    expect(routingConfidence(r)).toBeCloseTo((first?.confidence ?? 0) - (second?.confidence ?? 0));
    expect(
      routingConfidence(extractRequirements({ id: 't', description: unsure, role: 'qa' }, catalog)),
    ).toBe(1);
    expect(routingConfidence(extract('Lorem ipsum dolor'))).toBe(0);
  });

  it('asks a model only below the threshold, without an explicit role, and once', () => {
    const low = extract(unsure);

    expect(needsAssist(low, config)).toBe(true);
    expect(needsAssist(extract(sure), config)).toBe(false);
    expect(
      needsAssist(extractRequirements({ id: 't', description: unsure, role: 'x' }, catalog), config),
    ).toBe(false);
    expect(needsAssist(applyAssist(low, record(low, 'refactoring_specialist')), config)).toBe(false);
  });
});

describe('assist candidates and choices', () => {
  it('offers the best candidates, or the whole catalog when fewer than two roles matched', () => {
    const low = extract(unsure);

    expect(assistCandidates(low, catalog, 2)).toEqual(low.roleCandidates.slice(0, 2).map((c) => c.role));
    expect(assistCandidates(extract('Lorem ipsum dolor'), catalog, 4)).toEqual([...catalog.keys()]);
  });

  it('routes to the role the model chose, with the choice recorded', () => {
    const low = extract(unsure);
    const second = low.roleCandidates[1]?.role as string;

    const applied = applyAssist(low, record(low, second));

    expect(targetRole(applied)).toBe(second);
    expect(candidateRoles(applied)).toEqual([second]);
    expect(applied.roleCandidates[0]?.role).toBe(second);
    expect(applied.assist?.chosen).toBe(second);
  });

  it('keeps the deterministic role when the model answered a role it was not offered', () => {
    const low = extract(unsure);

    const applied = applyAssist(low, record(low, 'hrm_reasoning_agent'));

    expect(targetRole(applied)).toBe(targetRole(low));
    expect(applied.assist?.chosen).toBeUndefined();
    expect(applied.assist?.note).toContain('hrm_reasoning_agent');
  });
});

describe('routing config', () => {
  it('fills the assist defaults and normalises the weights to sum 1', () => {
    const parsed = parseRoutingConfig({
      weights: { specialization: 2, availability: 1, success: 1, speed: 0 },
      assist: { provider: 'openai' },
    });

    expect(parsed.assist).toMatchObject({ provider: 'openai', threshold: 0.35, candidates: 4 });
    expect(normaliseWeights(parsed.weights as NonNullable<typeof parsed.weights>)).toEqual({
      specialization: 0.5,
      availability: 0.25,
      success: 0.25,
      speed: 0,
    });
  });

  it('names the JSON path of every problem', () => {
    const attempt = () =>
      parseRoutingConfig({
        assist: { provider: 'cohere', threshold: 2 },
        weights: { specialization: 0, availability: 0, success: 0, speed: 0 },
      });

    expect(attempt).toThrow(RoutingConfigError);
    try {
      attempt();
    } catch (error) {
      const paths = (error as RoutingConfigError).issues.map((i) => i.path);
      expect(paths).toEqual(
        expect.arrayContaining([
          '$.routing.assist.provider',
          '$.routing.assist.threshold',
          '$.routing.weights',
        ]),
      );
    }
  });

  it('scores a breakdown with the given weights', () => {
    const breakdown = { specialization: 0.2, availability: 1, success: 0.5, speed: 1 };

    expect(weightedScore(breakdown)).toBeCloseTo(0.4 * 0.2 + 0.3 + 0.1 + 0.1);
    expect(
      weightedScore(breakdown, { specialization: 1, availability: 0, success: 0, speed: 0 }),
    ).toBeCloseTo(0.2);
  });
});
