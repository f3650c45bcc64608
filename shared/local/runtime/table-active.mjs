// Waiting for a DynamoDB table to turn ACTIVE, shared by createTables (emulators.ts, through an SDK client) and
// dynalite's thread (dynalite-worker.mjs, through dynalite's own request handler). Plain JavaScript: a worker
// thread does not inherit the TypeScript loader of its parent.

/**
 * Resolves once `table` and every one of its indexes is ACTIVE, asking `describe(table)` (its DescribeTable
 * answer) every `pollMs`: dynalite answers CreateTable with CREATING and turns a table ACTIVE on a timer, even
 * at 0 ms, so a write sent at once can meet ResourceNotFoundException. Throws, naming the table and its status,
 * once `timeoutMs` have passed.
 * @param {(table: string) => Promise<{ Table?: { TableStatus?: string, GlobalSecondaryIndexes?: { IndexStatus?: string }[] } }>} describe
 * @param {string} table
 * @param {{ timeoutMs: number, pollMs: number }} options
 * @returns {Promise<void>}
 */
export async function untilActive(describe, table, { timeoutMs, pollMs }) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { Table } = await describe(table);
    const indexes = Table?.GlobalSecondaryIndexes ?? [];
    if (Table?.TableStatus === 'ACTIVE' && indexes.every((i) => i.IndexStatus === 'ACTIVE')) return;
    if (Date.now() > deadline) {
      const waiting =
        Table?.TableStatus === 'ACTIVE' ? 'has an index not ACTIVE' : `is still ${Table?.TableStatus}`;
      throw new Error(`table ${table} ${waiting} after ${timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}
