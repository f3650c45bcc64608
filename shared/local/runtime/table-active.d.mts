/** Types of table-active.mjs (plain JavaScript: dynalite's worker thread imports it too). */

/** The part of a DescribeTable answer that untilActive reads. */
export interface DescribedTable {
  Table?: { TableStatus?: string; GlobalSecondaryIndexes?: { IndexStatus?: string }[] };
}

/**
 * Resolves once `table` and its indexes are ACTIVE, asking `describe(table)` every `pollMs`; throws, naming the
 * table and its status, after `timeoutMs`.
 */
export declare function untilActive(
  describe: (table: string) => Promise<DescribedTable>,
  table: string,
  options: { timeoutMs: number; pollMs: number },
): Promise<void>;
