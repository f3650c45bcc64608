import { defineConfig } from 'vitest/config';
import { DEFAULT_BATCH_TIMEOUT_MS, E2eEnv } from './test/e2e/support/env';

/**
 * The e2e suite: one suite against any deployed endpoint (AWS, LocalStack, `meta-agent serve`), configured by
 * the META_AGENT_* variables (test/e2e/support/env.ts). The global setup fails the run when they are missing.
 */
const batchTimeoutMs = Number(process.env[E2eEnv.TimeoutMs]) || DEFAULT_BATCH_TIMEOUT_MS;
/** The longest case (cancel, then redrive) waits for up to three batch phases in a row. */
const PHASES_PER_CASE = 3;
const CASE_OVERHEAD_MS = 30_000;

export default defineConfig({
  test: {
    include: ['test/e2e/**/*.test.ts'],
    globalSetup: ['test/e2e/global-setup.ts'],
    testTimeout: batchTimeoutMs * PHASES_PER_CASE + CASE_OVERHEAD_MS,
    // The lifecycle file's beforeAll waits for its batch to finish.
    hookTimeout: batchTimeoutMs + CASE_OVERHEAD_MS * 2,
    // One file at a time: a LocalStack container on a laptop is the slowest target and sets the pace.
    fileParallelism: false,
    pool: 'forks',
    allowOnly: false,
    passWithNoTests: false,
  },
});
