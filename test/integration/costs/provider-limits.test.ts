/**
 * Fleet-wide provider limits on the embedded runtime, against a local stand-in of the Anthropic API:
 * 40 concurrent attempts over 4 roles on one provider model capped at 5 calls, and a 429 storm on another
 * model capped at 5. The stand-in counts the requests it is handling when each one arrives.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatchResult } from '../../../shared/domain/schemas';
import { EmbeddedSystem } from '../../../shared/local/system';
import type { ProviderLimitView } from '../../../shared/usecases/providers';
import { anthropicText, taskOf } from '../../support/provider-replies';
import {
  type FakeProvider,
  type RecordedRequest,
  type Reply,
  startFakeProvider,
} from '../../unit/executors/fake-provider';

const CAPPED = 'claude-capped-test';
const STORMY = 'claude-stormy-test';
const CAP = 5;
/** Requests of the stormy model answered 429 before it answers again. */
const STORM_REQUESTS = 10;
/**
 * 429s a task gets at most: the five calls that hold the slots through the storm get two each. Without it one
 * task could take four in a row and sit out their jittered backoffs (up to 3.5 s) while the rest ran, leaving
 * too few calls after the storm to show the halved limit.
 */
const THROTTLES_PER_TASK = 2;
const CALL_MS = 150;

const cappedRoles = ['python_backend_coder', 'test_generator', 'code_reviewer', 'documentation_writer'];
const stormyRoles = ['database_designer', 'security_auditor', 'devops_engineer', 'api_integrator'];

const modelOf = (request: RecordedRequest) => (JSON.parse(request.body) as { model: string }).model;
/** Indexes (in the stand-in's request order) of the stormy model's requests, and how each was answered. */
const stormy: { index: number; task: string; status: number }[] = [];

function reply(index: number, request: RecordedRequest): Reply {
  const task = taskOf(request);
  if (modelOf(request) === STORMY) {
    const throttled = stormy.filter((r) => r.status === 429);
    const status =
      throttled.length < STORM_REQUESTS &&
      throttled.filter((r) => r.task === task).length < THROTTLES_PER_TASK
        ? 429
        : 200;
    stormy.push({ index, task, status });
    if (status === 429)
      return {
        status: 429,
        json: { type: 'error', error: { type: 'rate_limit_error', message: 'slow down' } },
        delayMs: CALL_MS,
      };
  }
  return { ...anthropicText(`work of ${task}`), delayMs: CALL_MS };
}

let provider: FakeProvider;
let system: EmbeddedSystem;
let secretsDir: string;

beforeAll(async () => {
  provider = await startFakeProvider(reply);
  secretsDir = await mkdtemp(join(tmpdir(), 'meta-agent-limits-'));
  const secrets = join(secretsDir, 'secrets.json');
  await writeFile(secrets, JSON.stringify({ anthropic: 'sk-ant-test' }), { mode: 0o600 });
  const role = (name: string, model: string) => ({
    name,
    defaults: {
      executor: { name: 'anthropic', model },
      capacity: 10,
      maxAgents: 1,
      queueConcurrency: 10,
    },
  });
  system = await EmbeddedSystem.start({
    scalerIntervalMs: 0,
    roles: [...cappedRoles.map((r) => role(r, CAPPED)), ...stormyRoles.map((r) => role(r, STORMY))],
    costs: {
      providerLimits: [
        { provider: 'anthropic', model: CAPPED, maxConcurrent: CAP },
        { provider: 'anthropic', model: STORMY, maxConcurrent: CAP },
      ],
    },
    env: { ANTHROPIC_BASE_URL: provider.url, META_AGENT_SECRETS_FILE: secrets },
  });
}, 120_000);

afterAll(async () => {
  await system?.stop();
  await provider?.close();
  await rm(secretsDir, { recursive: true, force: true });
});

/** 40 independent tasks spread over `roles`. */
function batchOf(batchId: string, roles: readonly string[]) {
  return {
    batchId,
    tasks: Array.from({ length: 40 }, (_, i) => ({
      id: `t${i}`,
      description: `Do part ${i} of the work`,
      role: roles[i % roles.length],
    })),
  };
}

describe('fleet-wide provider limits', () => {
  let capped: BatchResult;
  let first: number;
  let last: number;

  it('never lets the provider see more than 5 calls at once over 40 concurrent attempts, and none fails', async () => {
    first = provider.requests.length;
    await system.submit(batchOf('capped', cappedRoles));
    capped = await system.waitForBatch('capped');
    last = provider.requests.length;

    expect(capped.tasks.map((t) => t.status)).toEqual(Array(40).fill('SUCCEEDED'));
    expect(last - first).toBeGreaterThanOrEqual(40);
    const seen = provider.inFlightAtArrival.slice(first, last);
    // Capped, and the cap was the bound (the attempts really were concurrent).
    expect(Math.max(...seen)).toBe(CAP);
  }, 120_000);

  it('slows the provider down after a 429 storm, and every task still succeeds', async () => {
    await system.submit(batchOf('stormy', stormyRoles));
    const result = await system.waitForBatch('stormy');

    expect(result.tasks.map((t) => t.status)).toEqual(Array(40).fill('SUCCEEDED'));
    expect(stormy.filter((r) => r.status === 429)).toHaveLength(STORM_REQUESTS);
    const seen = stormy.map((r) => provider.inFlightAtArrival[r.index] ?? 0);
    expect(Math.max(...seen)).toBeLessThanOrEqual(CAP);
    // Once the calls that held slots through the storm are answered, new calls get half the slots.
    const throttledTasks = new Set(stormy.filter((r) => r.status === 429).map((r) => r.task));
    const stormOver = Math.max(
      ...stormy
        .filter((r) => throttledTasks.has(r.task))
        .map((r) => provider.finishedAt[r.index] ?? Infinity),
    );
    const after = stormy.filter((r) => (provider.arrivedAt[r.index] ?? 0) > stormOver);
    expect(after.length).toBeGreaterThanOrEqual(20);
    expect(Math.max(...after.map((r) => provider.inFlightAtArrival[r.index] ?? 0))).toBeLessThanOrEqual(
      Math.floor(CAP / 2),
    );
  }, 120_000);

  it('shows in use / limit per provider in GET /agents: the stormy model at half its slots or less, cooling down', async () => {
    const response = await system.request({ method: 'GET', path: '/agents' });
    expect(response.statusCode).toBe(200);
    const { providers } = JSON.parse(response.body) as { providers: ProviderLimitView[] };
    const byKey = new Map(providers.map((p) => [p.key, p]));

    expect(byKey.get(`anthropic/${CAPPED}`)).toMatchObject({
      provider: 'anthropic',
      model: CAPPED,
      inUse: 0,
      limit: CAP,
      maxConcurrent: CAP,
      rateFactor: 1,
      throttles: 0,
    });
    const stormyView = byKey.get(`anthropic/${STORMY}`);
    expect(stormyView).toMatchObject({ inUse: 0, maxConcurrent: CAP, coolingUntil: expect.any(Number) });
    // Halved once per 2 s of 429s: once, or more when a slow machine spread the storm's retries out.
    expect(stormyView?.throttles).toBeGreaterThanOrEqual(1);
    expect(stormyView?.rateFactor).toBeLessThanOrEqual(0.5);
    expect(stormyView?.limit).toBeLessThanOrEqual(Math.floor(CAP / 2));
    // The built-in roles call the simulated executor, which no limit covers.
    expect(providers.map((p) => p.key).sort()).toEqual([`anthropic/${CAPPED}`, `anthropic/${STORMY}`]);
  });
});
