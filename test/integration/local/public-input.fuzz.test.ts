/**
 * Fuzzing the public input (issue 12) with fast-check: batch JSON through the CLI's validation (`plan`) and a
 * real `run`, and HTTP requests of any method, path, headers and body to `meta-agent serve`. No input gives a
 * 5xx or an internal error, `run` exits 0, 1 or 2 only, and no request changes a batch it does not name (a
 * seeded, finished batch reads the same after every request naming other ids).
 *
 * Run counts (FUZZ_RUNS) keep the file within about a minute on two cores; FUZZ_SEED replays a failure.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../../shared/local/cli/main';
import { type LocalServer, startLocalServer } from '../../../shared/local/server';
import { fakeIO } from '../../support/fake-io';
import { rawRequest } from '../../support/raw-http';

/** Runs of each property: validation is cheap, a `run` starts a whole system, a request is a few ms. */
const FUZZ_RUNS = { plan: 600, run: 8, http: 1_000 } as const;
/** FUZZ_SCALE=10 runs ten times as many (a longer hunt); FUZZ_SEED=n replays a reported failure. */
const SCALE = Number(process.env.FUZZ_SCALE ?? 1);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
const params = (numRuns: number) => ({
  numRuns: Math.max(1, Math.round(numRuns * SCALE)),
  ...(SEED === undefined ? {} : { seed: SEED }),
});

/** A finished batch and a running one, which no fuzzed request names. */
const SEEDED = 'seeded';
const SEEDED_RUNNING = 'seeded-running';
const KEY = 'fuzz-key-0123456789abcdefghijklmnop';

// ------------------------------------------------------------------------------------------- batch JSON

/** Nested `depth` levels: past every depth limit, and past a recursive walk's stack when deep enough. */
function nested(depth: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
}

const json = fc.jsonValue({ maxDepth: 3 });
const hostileKey = fc.constantFrom(
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'valueOf',
  'hasOwnProperty',
);
/** Task and batch ids: good ones, dot segments, prototype names, too long, not strings. */
const id = fc.oneof(
  fc.constantFrom('a', 'b', 'c', '.', '..', '', ' ', 'x'.repeat(129), 'a/b', '%2e', 'é', 'ok:id-1_2.3'),
  hostileKey,
  fc.string({ maxLength: 8 }),
);
const anyId = fc.oneof({ weight: 5, arbitrary: id }, { weight: 1, arbitrary: json });
/** A task input without `simulate` (whose durations a real `run` would wait for). */
const input = fc.oneof(
  fc.dictionary(fc.oneof(hostileKey, fc.string({ maxLength: 6 })), json, { maxKeys: 4 }),
  fc.constantFrom(nested(20), nested(40)),
  json,
);
/** Input nested far past any recursive walk's stack, as text (JSON.stringify itself would overflow). */
const DEEP = 100_000;
const deepBatch = `{"tasks":[{"id":"a","description":"x","input":${'{"a":'.repeat(DEEP)}1${'}'.repeat(DEEP)}}]}`;
const task = fc.record(
  {
    id: anyId,
    description: fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom('{{deps.a.output}}', '{{', ''), json),
    role: fc.oneof(fc.constantFrom('python_backend_coder', 'code_reviewer', 'nope'), hostileKey, json),
    dependsOn: fc.oneof(fc.array(anyId, { maxLength: 3 }), json),
    priority: fc.oneof(fc.constantFrom(1, 2, 3, 0, 4, 1.5), json),
    timeoutSeconds: fc.oneof(fc.integer({ min: -5, max: 2_000 }), json),
    trigger: fc.oneof(fc.constantFrom('all_success', 'all_done', 'one_success', 'bogus'), json),
    context: fc.oneof(fc.constantFrom('none', 'dependencies'), fc.array(anyId, { maxLength: 2 }), json),
    contextBudgetBytes: fc.oneof(fc.integer({ min: -1, max: 2_000_000 }), json),
    outputSchema: fc.oneof(fc.constant({ type: 'object' }), json),
    requirements: fc.oneof(
      fc.record({ languages: fc.array(fc.string({ maxLength: 5 }), { maxLength: 2 }) }),
      json,
    ),
    input,
  },
  { requiredKeys: [] },
);
const batch = fc.record(
  {
    batchId: anyId,
    tasks: fc.oneof(
      { weight: 5, arbitrary: fc.array(task, { maxLength: 4 }) },
      { weight: 1, arbitrary: json },
    ),
    options: fc.oneof(
      fc.record(
        { maxAttempts: fc.integer({ min: -1, max: 12 }), failFast: fc.boolean() },
        { requiredKeys: [] },
      ),
      json,
    ),
  },
  { requiredKeys: [] },
);
/** A body as text: batch-like, any JSON, or not JSON at all. */
const batchText = fc.oneof(
  { weight: 6, arbitrary: batch.map((b) => JSON.stringify(b)) },
  { weight: 1, arbitrary: json.map((j) => JSON.stringify(j)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '{"tasks":',
      '\uFEFF{"tasks":[]}',
      '{"tasks":[{"id":"a","description":"x"}]}',
      deepBatch,
    ),
  },
);

/**
 * A valid batch `run` carries out quickly: ids t0, t1, ..., dependencies on earlier tasks, a placeholder for
 * t0's output (then t0 is a dependency), inputs with hostile keys and any JSON. Refusals come from batchText.
 */
const runnableBatch = fc
  .array(
    fc.record({
      description: fc
        .string({ minLength: 1, maxLength: 20 })
        .filter((d) => d.trim() !== '' && !d.includes('{{')),
      placeholder: fc.boolean(),
      role: fc.constantFrom(undefined, 'python_backend_coder', 'code_reviewer'),
      deps: fc.array(fc.nat(3), { maxLength: 2 }),
      input: fc.dictionary(fc.oneof(hostileKey, fc.string({ maxLength: 6 })), json, { maxKeys: 3 }),
    }),
    { minLength: 1, maxLength: 3 },
  )
  .map((tasks) => ({
    tasks: tasks.map((t, i) => {
      const placeholder = t.placeholder && i > 0;
      const deps = [...t.deps.filter((d) => d < i), ...(placeholder ? [0] : [])];
      return {
        id: `t${i}`,
        description: placeholder ? `${t.description} {{deps.t0.output}}` : t.description,
        ...(t.role === undefined ? {} : { role: t.role }),
        dependsOn: [...new Set(deps)].map((d) => `t${d}`),
        input: t.input,
      };
    }),
  }));

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meta-agent-fuzz-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('fuzzed batch JSON', () => {
  it('is planned or refused by `plan` (exit 0 or 2), never an internal error', async () => {
    const file = join(dir, 'plan.json');
    await fc.assert(
      fc.asyncProperty(batchText, async (text) => {
        await writeFile(file, text);
        const io = fakeIO(dir);
        const code = await main(['plan', file], io);
        expect(io.err).not.toContain('internal error');
        expect([0, 2]).toContain(code);
      }),
      params(FUZZ_RUNS.plan),
    );
  });

  it('is run or refused by `run` with exit 0, 1 or 2, never an internal error', async () => {
    const file = join(dir, 'run.json');
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          { weight: 3, arbitrary: runnableBatch.map((b) => JSON.stringify(b)) },
          { weight: 1, arbitrary: batchText },
        ),
        async (text) => {
          await writeFile(file, text);
          const io = fakeIO(dir);
          const code = await main(['run', file, '--json'], io);
          expect(io.err).not.toContain('internal error');
          expect([0, 1, 2]).toContain(code);
        },
      ),
      params(FUZZ_RUNS.run),
    );
  }, 120_000);
});

// ------------------------------------------------------------------------------------------- HTTP

let server: LocalServer;
let port: number;

/** One request as given; Node's client sends a DELETE's or OPTIONS' body with no length unless told one. */
const send = (method: string, path: string, headers: Record<string, string>, body: string | undefined) =>
  rawRequest(
    port,
    method,
    path,
    { ...headers, ...(body === undefined ? {} : { 'content-length': String(Buffer.byteLength(body)) }) },
    body,
  );

/** Ids a request may name: anything but the seeded batch's. */
const otherId = fc
  .oneof(
    id,
    fc.constantFrom('%2e%2e', '%2E', '%00', '%ZZ', '%', 'seeded%20', 'SEEDED', `${SEEDED}x`, 'a%2Fb'),
  )
  .filter((s) => s !== SEEDED && s !== SEEDED_RUNNING);
/** A path segment as sent: URL-encoded, or raw when it is already a safe (possibly bad) escape. */
const segment = otherId.map((s) => (/^[A-Za-z0-9._:%-]*$/.test(s) ? s : encodeURIComponent(s)));
const path = fc.oneof(
  fc
    .tuple(
      fc.constantFrom(
        '/batches/{id}',
        '/batches/{id}/graph',
        '/batches/{id}/decisions',
        '/batches/{id}/redrive',
        '/batches/{id}/tasks/{task}',
        '/batches/{id}/tasks/{task}/output',
        '/batches/{id}/tasks/{task}/approval',
        '/agents/{id}',
        '/{id}',
        '/batches/{id}/{task}/x',
      ),
      segment,
      segment,
    )
    .map(([template, a, b]) => template.replace('{id}', a).replace('{task}', b)),
  fc.constantFrom(
    '/batches',
    '/agents',
    '/progress-tokens',
    '/',
    '//batches',
    '/batches/',
    '/index.html',
    '/assets/x.js',
  ),
  fc
    .tuple(
      fc.constantFrom('/batches?limit=', '/batches?cursor=', '/batches?limit=5&cursor='),
      fc.oneof(
        fc.string({ maxLength: 12 }).map(encodeURIComponent),
        fc.constantFrom('-1', '0', '1e9', '%ZZ', 'eyJ9'),
      ),
    )
    .map(([p, q]) => p + q),
);
const method = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS');
const headerValue = fc.stringMatching(/^[\x20-\x7e]{0,40}$/);
/** Mostly what the server lets through (its key, JSON), so most requests reach a route; sometimes not. */
const headers = fc
  .record({
    'content-type': fc.oneof(
      { weight: 12, arbitrary: fc.constantFrom('application/json', 'application/json; charset=utf-8') },
      { weight: 1, arbitrary: fc.constantFrom('text/plain', 'x/y', '') },
    ),
    'x-api-key': fc.oneof({ weight: 20, arbitrary: fc.constant(KEY) }, { weight: 1, arbitrary: headerValue }),
    'idempotency-key': fc.option(headerValue, { freq: 2 }),
    // A foreign origin is always refused (serve-guard.test.ts): rarely, so most requests reach a route.
    origin: fc.oneof(
      { weight: 1, arbitrary: fc.constantFrom('http://evil.example', 'null') },
      { weight: 20, arbitrary: fc.constant(null) },
    ),
    accept: fc.option(headerValue, { freq: 2 }),
  })
  .map((h) => Object.fromEntries(Object.entries(h).filter(([, v]) => v !== null)) as Record<string, string>);
const requestBody = fc.oneof(
  batchText,
  fc
    .record({ decision: fc.constantFrom('approve', 'reject', 'maybe'), comment: json }, { requiredKeys: [] })
    .map((b) => JSON.stringify(b)),
  fc.record({ capacity: json, status: json, role: json }, { requiredKeys: [] }).map((b) => JSON.stringify(b)),
);

type Request = readonly [
  method: string,
  path: string,
  headers: Record<string, string>,
  body: string | undefined,
];
/** Any request, and now and then a valid submission of another id: batches run while the fuzzing goes on. */
const request = fc.oneof(
  {
    weight: 9,
    arbitrary: fc
      .tuple(method, path, headers, fc.option(requestBody))
      .map(([m, p, h, b]): Request => [m, p, h, b ?? undefined]),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(headers, otherId, runnableBatch)
      .map(([h, batchId, b]): Request => ['POST', '/batches', h, JSON.stringify({ ...b, batchId })]),
  },
);

describe('fuzzed HTTP requests to meta-agent serve', () => {
  let seeded: { result: string; output: string };

  beforeAll(async () => {
    server = await startLocalServer({ port: 0, apiKey: KEY, system: { scalerIntervalMs: 0 } });
    port = Number(new URL(server.url).port);
    const seed = async (batch: unknown) => {
      const json = { 'content-type': 'application/json', 'x-api-key': KEY };
      expect((await send('POST', '/batches', json, JSON.stringify(batch))).status).toBe(202);
    };
    await seed({
      batchId: SEEDED,
      tasks: [
        { id: 'a', description: 'Write the Python FastAPI endpoint' },
        { id: 'b', description: 'Review it', dependsOn: ['a'] },
      ],
    });
    await server.system.waitForBatch(SEEDED);
    seeded = await readSeeded();
    await seed({
      batchId: SEEDED_RUNNING,
      tasks: [
        { id: 'long', description: 'Write the endpoint', input: { simulate: { durationMs: 600_000 } } },
      ],
    });
  });

  afterAll(async () => {
    await server?.close();
  });

  async function readSeeded(): Promise<{ result: string; output: string }> {
    const auth = { 'x-api-key': KEY };
    const [result, output] = await Promise.all([
      send('GET', `/batches/${SEEDED}`, auth, undefined),
      send('GET', `/batches/${SEEDED}/tasks/b/output`, auth, undefined),
    ]);
    expect([result.status, output.status]).toEqual([200, 200]);
    return { result: result.body, output: output.body };
  }

  it('answers every request below 500 and changes no batch it does not name', async () => {
    await fc.assert(
      fc.asyncProperty(request, async ([m, p, h, body]) => {
        const withBody = m === 'GET' || m === 'HEAD' ? undefined : body;
        const answer = await send(m, p, h, withBody);
        expect(answer.status, `${m} ${p} -> ${answer.status} ${answer.body.slice(0, 200)}`).toBeLessThan(500);
      }),
      params(FUZZ_RUNS.http),
    );

    expect(await readSeeded()).toEqual(seeded);
    const running = JSON.parse(
      (await send('GET', `/batches/${SEEDED_RUNNING}`, { 'x-api-key': KEY }, undefined)).body,
    );
    expect(running).toMatchObject({ status: 'RUNNING', tasks: [{ id: 'long', status: 'RUNNING' }] });
    expect(running.tasks[0].attempts).toHaveLength(1);
  }, 120_000);
});
