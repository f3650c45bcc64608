import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  attemptWorstCase,
  chargeOf,
  couldFitLater,
  exhaustedReason,
  formatCount,
  type LedgerState,
  overLimit,
  promptBytesBound,
  unpricedReason,
} from '../../../shared/domain/budget';
import { DEFAULT_MAX_OUTPUT_TOKENS, PriceTable, REQUEST_OVERHEAD_TOKENS } from '../../../shared/domain/costs';
import { DEFAULT_CONTEXT_BUDGET_BYTES } from '../../../shared/domain/limits';
import { renderPrompt, resolveRoles } from '../../../shared/domain/roles';
import { extractRequirements } from '../../../shared/domain/routing';
import type { Task } from '../../../shared/domain/schemas';
import { utf8Length } from '../../../shared/domain/utf8';

const catalog = resolveRoles([]);
const task: Task = {
  id: 'api',
  description: 'Write the FastAPI login endpoint',
  role: 'python_backend_coder',
};
const role = catalog.get('python_backend_coder') as NonNullable<ReturnType<typeof catalog.get>>;
const requirements = extractRequirements(task, catalog);
const state = (over: Partial<LedgerState>): LedgerState => ({
  spent: { nanoUsd: 0, tokens: 0 },
  reserved: { nanoUsd: 0, tokens: 0 },
  ...over,
});

describe('the worst case of an attempt', () => {
  it('bounds a task without dependencies by its rendered prompt', () => {
    const bytes = promptBytesBound({ role, task, requirements, attempt: 1 });

    expect(bytes).toBe(utf8Length(renderPrompt(role, task, requirements, '')));
  });

  it("adds the context budget for a task that takes other tasks' work, and its output schema", () => {
    const schema = { type: 'object', properties: { steps: { type: 'array' } } };
    const plain = promptBytesBound({ role, task, requirements, attempt: 1 });
    const taking = promptBytesBound({
      role,
      task: { ...task, dependsOn: ['plan'], contextBudgetBytes: 2_048, outputSchema: schema },
      requirements,
      attempt: 1,
    });

    expect(taking - plain).toBeGreaterThanOrEqual(2_048 + JSON.stringify(schema).length);
    expect(taking - plain).toBeLessThan(2_048 * 4 + JSON.stringify(schema).length);
    expect(
      promptBytesBound({
        role,
        task: { ...task, dependsOn: ['plan'], context: 'none' },
        requirements,
        attempt: 1,
      }),
    ).toBe(plain);
    expect(
      promptBytesBound({ role, task: { ...task, dependsOn: ['plan'] }, requirements, attempt: 1 }) - plain,
    ).toBeGreaterThanOrEqual(DEFAULT_CONTEXT_BUDGET_BYTES);
  });

  it('counts the reviews of rejected outputs the next attempt is told about', () => {
    const approvals = [
      {
        stage: 'after' as const,
        decision: 'reject' as const,
        by: 'person',
        comment: 'x'.repeat(500),
        attempt: 1,
        at: 1,
      },
    ];
    const first = promptBytesBound({ role, task, requirements, approvals, attempt: 1 });
    const second = promptBytesBound({ role, task, requirements, approvals, attempt: 2 });

    expect(second - first).toBeGreaterThan(500);
  });

  it('holds the framing and max output tokens per call, a re-ask with an outputSchema, and prices them', () => {
    const prices = new PriceTable([{ provider: 'http', inputUsdPerMTok: 1, outputUsdPerMTok: 2 }]);
    const prompt = promptBytesBound({ role, task, requirements, attempt: 1 });
    const worst = attemptWorstCase({
      role,
      task,
      requirements,
      attempt: 1,
      executor: { name: 'http' },
      prices,
    });

    const input = prompt + REQUEST_OVERHEAD_TOKENS;
    expect(worst.tokens).toBe(input + DEFAULT_MAX_OUTPUT_TOKENS);
    expect(worst.nanoUsd).toBe(input * 1_000 + DEFAULT_MAX_OUTPUT_TOKENS * 2_000);
    const structured = attemptWorstCase({
      role,
      task: { ...task, outputSchema: { type: 'object' } },
      requirements,
      attempt: 1,
      executor: { name: 'http', maxOutputTokens: 100 },
      prices,
    });
    expect(structured.tokens).toBeGreaterThan(2 * (input + 100));
  });

  it('has no cost when the model has no price', () => {
    const worst = attemptWorstCase({
      role,
      task,
      requirements,
      attempt: 1,
      executor: { name: 'anthropic', model: 'claude-unpriced' },
      prices: new PriceTable(),
    });

    expect(worst.nanoUsd).toBeNull();
    expect(unpricedReason({ name: 'anthropic', model: 'claude-unpriced' })).toContain(
      'claude-unpriced has no price',
    );
  });
});

describe('fitting an attempt into a budget', () => {
  it('charges what an attempt reported, else what it held', () => {
    const held = { nanoUsd: 9_000, tokens: 900 };

    expect(chargeOf(held, { usage: { inputTokens: 10, outputTokens: 5 }, costUsd: 0.000001 })).toEqual({
      nanoUsd: 1_000,
      tokens: 15,
    });
    expect(chargeOf(held, {})).toEqual(held);
    expect(chargeOf(held, { usage: { inputTokens: 10, outputTokens: 5 }, costUsd: null })).toEqual({
      nanoUsd: 9_000,
      tokens: 15,
    });
  });

  it('names the limit an attempt breaks, counting what is held unless told not to', () => {
    const ledger = state({
      maxNanoUsd: 100,
      maxTokens: 50,
      spent: { nanoUsd: 40, tokens: 10 },
      reserved: { nanoUsd: 50, tokens: 0 },
    });

    expect(overLimit(ledger, { nanoUsd: 20, tokens: 1 })).toBe('cost');
    expect(overLimit(ledger, { nanoUsd: 10, tokens: 41 })).toBe('tokens');
    expect(overLimit(ledger, { nanoUsd: 10, tokens: 40 })).toBeUndefined();
    expect(overLimit(ledger, { nanoUsd: 20, tokens: 1 }, false)).toBeUndefined();
  });

  it('waits only while attempts in flight could free enough room', () => {
    const hold = { nanoUsd: 0, tokens: 30 };

    expect(
      couldFitLater(
        state({ maxTokens: 50, spent: { nanoUsd: 0, tokens: 10 }, reserved: { nanoUsd: 0, tokens: 30 } }),
        hold,
      ),
    ).toBe(true);
    expect(
      couldFitLater(
        state({ maxTokens: 50, spent: { nanoUsd: 0, tokens: 30 }, reserved: { nanoUsd: 0, tokens: 10 } }),
        hold,
      ),
    ).toBe(false);
    expect(couldFitLater(state({ maxTokens: 50, spent: { nanoUsd: 0, tokens: 30 } }), hold)).toBe(false);
  });

  it('says why the budget is exhausted, in dollars or tokens', () => {
    const ledger = state({
      maxNanoUsd: 5_000_000_000,
      maxTokens: 20_000,
      spent: { nanoUsd: 4_321_000_000, tokens: 12_345 },
    });

    expect(exhaustedReason(ledger, { nanoUsd: 900_000_000, tokens: 0 }, 'cost')).toBe(
      'budget exhausted: $4.32 of $5.00 spent, $0.68 left (the next attempt could cost up to $0.90)',
    );
    expect(exhaustedReason(ledger, { nanoUsd: 0, tokens: 8_000 }, 'tokens')).toBe(
      'budget exhausted: 12,345 of 20,000 tokens spent (the next attempt could use up to 8,000)',
    );
  });

  it('writes dollars with the decimals that show the next attempt above what is left', () => {
    // $1.2345 left, $1.2349 needed: in cents both are $1.23.
    const ledger = state({ maxNanoUsd: 5_000_000_000, spent: { nanoUsd: 3_765_500_000, tokens: 0 } });

    expect(exhaustedReason(ledger, { nanoUsd: 1_234_900_000, tokens: 0 }, 'cost')).toBe(
      'budget exhausted: $3.766 of $5.000 spent, $1.234 left (the next attempt could cost up to $1.235)',
    );
    expect(
      exhaustedReason(
        state({ maxNanoUsd: 2, spent: { nanoUsd: 1, tokens: 0 } }),
        { nanoUsd: 2, tokens: 0 },
        'cost',
      ),
    ).toBe(
      'budget exhausted: $0.000000001 of $0.000000002 spent, $0.000000001 left (the next attempt could cost up to $0.000000002)',
    );
  });

  it('states a comparison that holds as written, for any spent, limit and hold that do not fit', () => {
    const amounts =
      /\$(\d+\.\d+) of \$(\d+\.\d+) spent, \$(\d+\.\d+) left \(the next attempt could cost up to \$(\d+\.\d+)\)$/;
    const units = (text: string) => BigInt(text.replace('.', ''));
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10 ** 15 }),
        fc.integer({ min: 0, max: 10 ** 15 }),
        fc.integer({ min: 1, max: 10 ** 15 }),
        (max, spent, next) => {
          fc.pre(spent <= max && spent + next > max);
          const match = amounts.exec(
            exhaustedReason(
              state({ maxNanoUsd: max, spent: { nanoUsd: spent, tokens: 0 } }),
              { nanoUsd: next, tokens: 0 },
              'cost',
            ),
          );
          expect(match).not.toBeNull();
          const [shownSpent, shownMax, shownLeft, shownNext] = (match ?? [])
            .slice(1)
            .map((m) => units(m ?? ''));
          expect((shownSpent ?? 0n) + (shownLeft ?? 0n)).toBe(shownMax);
          expect(shownNext).toBeGreaterThan(shownLeft ?? 0n);
        },
      ),
    );
  });
});

describe('counts as a person reads them', () => {
  it('groups thousands as en-US does, for every safe integer', () => {
    for (const n of [
      0,
      7,
      999,
      1000,
      -1000,
      123456,
      1234567,
      Number.MAX_SAFE_INTEGER,
      Number.MIN_SAFE_INTEGER,
    ])
      expect(formatCount(n)).toBe(n.toLocaleString('en-US'));
    fc.assert(
      fc.property(fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }), (n) => {
        expect(formatCount(n)).toBe(n.toLocaleString('en-US'));
      }),
    );
  });

  it('leaves fractions and larger numbers to toLocaleString', () => {
    for (const n of [1234.5678, 2 ** 60, Number.NaN, Number.POSITIVE_INFINITY])
      expect(formatCount(n)).toBe(n.toLocaleString('en-US'));
  });
});
