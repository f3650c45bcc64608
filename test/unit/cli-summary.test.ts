import { describe, expect, it } from 'vitest';
import type { BatchResult } from '../../shared/domain/schemas';
import { formatSummaryTable, formatUsd } from '../../shared/local/cli/progress';

const result: BatchResult = {
  batchId: 'b',
  status: 'PARTIAL',
  startedAt: 0,
  finishedAt: 100,
  makespanMs: 100,
  tasks: [
    {
      id: 'api',
      status: 'SUCCEEDED',
      role: 'python_backend_coder',
      agentId: 'p-1',
      startedAt: 0,
      finishedAt: 50,
      attempts: [],
      usage: { inputTokens: 1_000, outputTokens: 234 },
      costUsd: 0.00434,
    },
    { id: 'docs', status: 'CANCELLED', attempts: [], reason: 'budget exhausted' },
  ],
  usage: { inputTokens: 1_000, outputTokens: 234 },
  costUsd: 0.00434,
  budget: { maxCostUsd: 0.005, spentUsd: 0.00434, spentTokens: 1_234, reservedUsd: 0, reservedTokens: 0 },
};

describe('run summary', () => {
  it('shows tokens and cost per task, a total line and the budget', () => {
    const table = formatSummaryTable(result);
    const lines = table.split('\n');

    expect(lines[0]).toMatch(/tokens\s+cost\s+status$/);
    expect(lines.find((l) => l.startsWith('api'))).toMatch(/1,234\s+\$0\.00434\s+SUCCEEDED/);
    expect(lines.find((l) => l.startsWith('docs'))).toMatch(/-\s+-\s+CANCELLED/);
    expect(lines.find((l) => l.startsWith('total'))).toMatch(/1,234\s+\$0\.00434$/);
    expect(table).toContain('budget: $0.00434 of $0.005 spent');
    expect(table).not.toContain('more than the total');
  });

  it('says why the budget counts more than the total line: an attempt without usage is charged its hold', () => {
    // The docs task's attempt died: it reported nothing, and the budget charged it its hold (4,096 tokens, $0.002).
    const table = formatSummaryTable({
      ...result,
      budget: {
        ...(result.budget as NonNullable<BatchResult['budget']>),
        maxTokens: 10_000,
        spentTokens: 5_330,
        spentUsd: 0.00634,
      },
    });
    const lines = table.split('\n');
    const budget = lines.findIndex((l) => l.startsWith('budget:'));

    expect(lines.find((l) => l.startsWith('total'))).toMatch(/1,234\s+\$0\.00434$/);
    expect(lines[budget]).toContain('5,330 of 10,000 tokens');
    expect(lines[budget + 1]).toBe(
      '  the budget counts 4,096 tokens and $0.002 more than the total: attempts that reported no usage are charged their whole hold',
    );
  });

  it('marks simulated counts and says an unknown price is unknown', () => {
    const table = formatSummaryTable({
      ...result,
      tasks: [
        {
          ...(result.tasks[0] as BatchResult['tasks'][number]),
          costUsd: null,
          usage: { inputTokens: 4, outputTokens: 1, simulated: true },
        },
      ],
      usage: { inputTokens: 4, outputTokens: 1, simulated: true },
      costUsd: null,
    });

    expect(table).toMatch(/5\*\s+unknown/);
    expect(table).toContain('* tokens counted by the simulated executor');
  });

  it("shows a reason's control characters as escapes (a validator's comments, an agent's error)", () => {
    const table = formatSummaryTable({
      ...result,
      tasks: [
        { id: 'api', status: 'FAILED', attempts: [], reason: 'rejected by v-1: ok\u001b[2K\u001b]0;t\u0007' },
      ],
    });

    expect(table).toContain('FAILED (rejected by v-1: ok\\u001b[2K\\u001b]0;t\\u0007)');
    // biome-ignore lint/suspicious/noControlCharactersInRegex: none may reach the terminal.
    expect(table).not.toMatch(/[\u001b\u0007]/);
  });

  it('formats dollars with cents above one and six decimals below', () => {
    expect([formatUsd(12.345), formatUsd(0.0000004), formatUsd(0), formatUsd(undefined)]).toEqual([
      '$12.35',
      '<$0.000001',
      '$0',
      '-',
    ]);
  });
});
