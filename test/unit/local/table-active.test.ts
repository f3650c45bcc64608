import { describe, expect, it } from 'vitest';
import { type DescribedTable, untilActive } from '../../../shared/local/runtime/table-active.mjs';

/** A describe that answers `answers` in turn (the last one from then on), counting its calls. */
function answering(...answers: DescribedTable[]) {
  const asked: string[] = [];
  const describe = async (table: string) => {
    asked.push(table);
    return answers[Math.min(asked.length, answers.length) - 1] ?? {};
  };
  return { describe, asked };
}

const active = (...indexes: string[]): DescribedTable => ({
  Table: { TableStatus: 'ACTIVE', GlobalSecondaryIndexes: indexes.map((IndexStatus) => ({ IndexStatus })) },
});
const OPTIONS = { timeoutMs: 1_000, pollMs: 1 };

describe("untilActive (shared by createTables and dynalite's thread)", () => {
  it('resolves once the table and every one of its indexes is ACTIVE, asking about the table it was given', async () => {
    const { describe: ask, asked } = answering(
      { Table: { TableStatus: 'CREATING' } },
      active('CREATING', 'ACTIVE'),
      active('ACTIVE', 'ACTIVE'),
    );

    await untilActive(ask, 'tasks', OPTIONS);

    expect(asked).toEqual(['tasks', 'tasks', 'tasks']);
  });

  it('throws naming the table and its status once the timeout has passed', async () => {
    const { describe: ask } = answering({ Table: { TableStatus: 'CREATING' } });

    await expect(untilActive(ask, 'agents', { timeoutMs: 20, pollMs: 1 })).rejects.toThrow(
      'table agents is still CREATING after 20 ms',
    );
  });

  it('says an index is not ACTIVE when the table is', async () => {
    const { describe: ask } = answering(active('ACTIVE', 'CREATING'));

    await expect(untilActive(ask, 'agents', { timeoutMs: 20, pollMs: 1 })).rejects.toThrow(
      'table agents has an index not ACTIVE after 20 ms',
    );
  });
});
