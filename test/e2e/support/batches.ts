/**
 * The batches the suite submits. Every task runs on the simulated executor (`input.simulate`), which every
 * role uses unless the stack was deployed with another default executor: no provider, no cost.
 */

/** Short simulated work, so a batch takes seconds wherever it runs. */
export const SHORT_TASK_MS = 100;
export const MEDIUM_TASK_MS = 200;
export const LONGER_TASK_MS = 300;
/**
 * The root of the followed batch runs longer: the subscription can only be sent once the batch exists
 * (after the 202), and every other task starts after the root finishes, so no dependent's message is
 * missed even when subscribing takes a Lambda round trip.
 */
export const ROOT_TASK_MS = 1_500;
/** A task that would run for ten minutes: only a cancel ends it within the test. */
export const LONG_TASK_MS = 600_000;
/** Its own timeout stays above the simulated duration, so the cancel (not a timeout) is what stops it. */
const LONG_TASK_TIMEOUT_SECONDS = 870;

export interface E2eTask {
  id: string;
  description: string;
  role: string;
  dependsOn?: string[];
  timeoutSeconds?: number;
  input: { simulate: { durationMs: number; failAttempts?: number; failMode?: 'error' } };
}

export interface E2eBatch {
  batchId?: string;
  tasks: E2eTask[];
  options?: { maxAttempts?: number };
}

/**
 * A diamond (design -> api, tests -> review), listed out of dependency order so that "tasks in submission
 * order" cannot pass by accident.
 */
export function diamondBatch(batchId: string): E2eBatch & { batchId: string } {
  return {
    batchId,
    tasks: [
      {
        id: 'review',
        description: 'Review the orders API and its tests for correctness and style',
        role: 'code_reviewer',
        dependsOn: ['api', 'tests'],
        input: { simulate: { durationMs: SHORT_TASK_MS } },
      },
      {
        id: 'api',
        description: 'Write the FastAPI endpoint POST /orders that stores an order in PostgreSQL',
        role: 'python_backend_coder',
        dependsOn: ['design'],
        input: { simulate: { durationMs: LONGER_TASK_MS } },
      },
      {
        id: 'design',
        description: 'Design the orders service: resources, data model and error handling',
        role: 'system_architect',
        input: { simulate: { durationMs: ROOT_TASK_MS } },
      },
      {
        id: 'tests',
        description: 'Write pytest tests for the POST /orders endpoint',
        role: 'test_generator',
        dependsOn: ['design'],
        input: { simulate: { durationMs: MEDIUM_TASK_MS } },
      },
    ],
  };
}

/** One short task, without a batch id (the server names the batch). */
export function singleTaskBatch(label: string): E2eBatch {
  return {
    tasks: [
      {
        id: 'only',
        description: `Document the deployment steps (${label})`,
        role: 'documentation_writer',
        input: { simulate: { durationMs: SHORT_TASK_MS } },
      },
    ],
  };
}

/** A ten-minute task and its dependent: cancelled while the first runs. */
export function longBatch(batchId: string): E2eBatch & { batchId: string } {
  return {
    batchId,
    tasks: [
      {
        id: 'long',
        description: 'Provision the staging environment with Terraform',
        role: 'devops_engineer',
        timeoutSeconds: LONG_TASK_TIMEOUT_SECONDS,
        input: { simulate: { durationMs: LONG_TASK_MS } },
      },
      {
        id: 'after',
        description: 'Configure monitoring dashboards for the staging environment',
        role: 'monitoring_agent',
        dependsOn: ['long'],
        input: { simulate: { durationMs: SHORT_TASK_MS } },
      },
    ],
  };
}

/**
 * One attempt per task and a task whose first attempt fails: it FAILS, its dependent is SKIPPED, the
 * independent task succeeds (PARTIAL). A redrive gives the failed task a second attempt, which succeeds.
 */
export function flakyBatch(batchId: string): E2eBatch & { batchId: string } {
  return {
    batchId,
    options: { maxAttempts: 1 },
    tasks: [
      {
        id: 'flaky',
        description: 'Write the database migration for the orders table',
        role: 'database_designer',
        input: { simulate: { durationMs: SHORT_TASK_MS, failAttempts: 1, failMode: 'error' } },
      },
      {
        id: 'solid',
        description: 'Write the README section on configuration',
        role: 'technical_writer',
        input: { simulate: { durationMs: SHORT_TASK_MS } },
      },
      {
        id: 'after',
        description: 'Write integration tests against the migrated orders table',
        role: 'integration_tester',
        dependsOn: ['flaky'],
        input: { simulate: { durationMs: SHORT_TASK_MS } },
      },
    ],
  };
}
