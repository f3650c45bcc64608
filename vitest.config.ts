import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'test/unit/**/*.test.ts',
      'test/infra/**/*.test.ts',
      'test/integration/**/*.test.ts',
      'test/browser/**/*.test.ts',
    ],
    // Integration tests start real emulators on loopback; give them room on a 2-core CI machine.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // One test file at a time: each embedded runtime already runs two threads (dynalite has its own), and
    // two runtimes side by side on 2 cores starved the pool tests' heartbeats into timeouts.
    maxWorkers: 1,
    allowOnly: false,
    // Fails the run if tests leave CDK assemblies in the temp directory (test/support/leak-check.ts).
    globalSetup: ['test/support/leak-check.ts'],
  },
});
