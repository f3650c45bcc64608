import { defineConfig } from 'vitest/config';

/** Test files that start no embedded runtime, emulator or server of the project's: two run side by side. */
const PARALLEL_TESTS = ['test/unit/**/*.test.ts', 'test/infra/**/*.test.ts'];
/** Test files that start embedded runtimes, emulators or the local server: one at a time (see below). */
const SERIAL_TESTS = ['test/integration/**/*.test.ts', 'test/browser/**/*.test.ts'];

export default defineConfig({
  test: {
    // Integration tests start real emulators on loopback; give them room on a 2-core CI machine.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    allowOnly: false,
    // Fails the run if tests leave CDK assemblies in the temp directory (test/support/leak-check.ts).
    globalSetup: ['test/support/leak-check.ts'],
    // Two groups run one after the other (sequence.groupOrder), never side by side: the parallel group first,
    // then the serial one, alone on the machine.
    projects: [
      {
        extends: true,
        test: {
          name: 'parallel',
          include: PARALLEL_TESTS,
          // One test file per core on a 2-core machine; each file runs in its own process (pool 'forks').
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'serial',
          include: SERIAL_TESTS,
          // One test file at a time: each embedded runtime already runs two threads (dynalite has its own), and
          // two runtimes side by side on 2 cores starved the pool tests' heartbeats into timeouts.
          maxWorkers: 1,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
