/**
 * Retention of `meta-agent serve` (issue 12): beyond its bound, the oldest finished batches are deleted whole
 * (batch and task items, stored outputs, the runtime's execution records), the newest kept, and a running
 * batch is never deleted, however old.
 */
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { INLINE_OUTPUT_MAX_BYTES } from '../../../shared/domain/workflow';
import { main } from '../../../shared/local/cli/main';
import { LOCAL_CREDENTIALS } from '../../../shared/local/runtime';
import { type LocalServer, startLocalServer } from '../../../shared/local/server';
import { EmbeddedSystem } from '../../../shared/local/system';
import { fakeIO } from '../../support/fake-io';

const KEEP = 3;
let server: LocalServer;

beforeAll(async () => {
  server = await startLocalServer({
    port: 0,
    apiKey: false,
    system: { scalerIntervalMs: 0, keepFinishedBatches: KEEP, retentionIntervalMs: 100 },
  });
});

afterAll(async () => {
  await server?.close();
});

const api = (path: string, init?: RequestInit) =>
  fetch(`${server.url}${path}`, { ...init, headers: { 'content-type': 'application/json' } });

/** A batch of one task whose output is large enough to be stored in the artifacts bucket. */
const batchOf = (batchId: string, durationMs = 0) =>
  JSON.stringify({
    batchId,
    tasks: [
      {
        id: 'a',
        description: 'Write the Python FastAPI endpoint',
        input: { simulate: { durationMs, outputBytes: INLINE_OUTPUT_MAX_BYTES + 1 } },
      },
    ],
  });

async function status(batchId: string): Promise<number> {
  return (await api(`/batches/${batchId}`)).status;
}

async function until(condition: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function finished(batchId: string): Promise<boolean> {
  const body = (await (await api(`/batches/${batchId}`)).json()) as { status: string };
  return body.status !== 'RUNNING';
}

/** Every item of the tasks table, by partition key. */
async function tableKeys(): Promise<string[]> {
  const { emulators } = server.system.runtime;
  const client = new DynamoDBClient({
    region: emulators.region,
    endpoint: emulators.dynamodbEndpoint,
    credentials: LOCAL_CREDENTIALS,
  });
  try {
    const keys: string[] = [];
    let ExclusiveStartKey: Record<string, never> | undefined;
    do {
      const page = await client.send(
        new ScanCommand({ TableName: emulators.tasksTableName, ExclusiveStartKey }),
      );
      for (const item of page.Items ?? []) keys.push(String(item.pk?.S));
      ExclusiveStartKey = page.LastEvaluatedKey as Record<string, never> | undefined;
    } while (ExclusiveStartKey);
    return keys;
  } finally {
    client.destroy();
  }
}

/** Every key of the artifacts bucket. */
async function bucketKeys(): Promise<string[]> {
  const { emulators } = server.system.runtime;
  const client = new S3Client({
    region: emulators.region,
    endpoint: emulators.s3Endpoint,
    credentials: LOCAL_CREDENTIALS,
    forcePathStyle: true,
  });
  try {
    const page = await client.send(new ListObjectsV2Command({ Bucket: emulators.artifactsBucketName }));
    return (page.Contents ?? []).map((o) => String(o.Key));
  } finally {
    client.destroy();
  }
}

const executionsOf = (batchId: string) =>
  server.system.runtime.runner.list().filter((e) => JSON.parse(e.input).batchId === batchId);

describe('meta-agent serve retention', () => {
  it('deletes the oldest finished batches beyond its bound, whole, keeps the newest, and never a running one', async () => {
    // The oldest batch runs the longest: it is never deleted while it runs.
    expect((await api('/batches', { method: 'POST', body: batchOf('slow', 60_000) })).status).toBe(202);
    const quick = ['q1', 'q2', 'q3', 'q4', 'q5'];
    for (const batchId of quick) {
      expect((await api('/batches', { method: 'POST', body: batchOf(batchId) })).status).toBe(202);
      await until(() => finished(batchId), `${batchId} finished`);
    }

    await until(async () => (await status('q2')) === 404, 'q2 deleted');
    // The pass that deleted q2 may still be deleting its outputs and forgetting executions: this joins it.
    await server.system.pruneBatches();

    expect(await Promise.all(quick.map(status))).toEqual([404, 404, 200, 200, 200]);
    expect((await api('/batches/q1/tasks/a/output')).status).toBe(404);
    expect((await api('/batches/q5/tasks/a/output')).status).toBe(200);
    expect(await status('slow')).toBe(200);
    expect(await finished('slow')).toBe(false);
    // Nothing of the deleted batches is left: items, outputs, execution records.
    const keys = await tableKeys();
    expect(keys.filter((k) => k === 'BATCH#q1' || k === 'BATCH#q2')).toEqual([]);
    expect(keys.filter((k) => k.startsWith('IDEMPOTENCY#') || k.startsWith('CONNECTION#'))).toEqual([]);
    expect(new Set(keys.filter((k) => k.startsWith('BATCH#')))).toEqual(
      new Set(['BATCH#slow', 'BATCH#q3', 'BATCH#q4', 'BATCH#q5']),
    );
    const outputs = await bucketKeys();
    expect(outputs.filter((k) => k.startsWith('outputs/q1/') || k.startsWith('outputs/q2/'))).toEqual([]);
    expect(outputs.filter((k) => k.startsWith('outputs/q5/'))).toHaveLength(1);
    expect([...executionsOf('q1'), ...executionsOf('q2')]).toEqual([]);

    // Once the old batch ends (cancelled), it is the oldest finished of four: it goes, the newest three stay.
    expect((await api('/batches/slow', { method: 'DELETE' })).status).toBeLessThan(300);
    await until(() => finished('slow'), 'slow finished');
    await until(async () => (await status('slow')) === 404, 'slow deleted');
    await server.system.pruneBatches();
    expect(await Promise.all(['q3', 'q4', 'q5'].map(status))).toEqual([200, 200, 200]);
    const left = (await tableKeys()).filter((k) => k.startsWith('BATCH#'));
    expect(new Set(left)).toEqual(new Set(['BATCH#q3', 'BATCH#q4', 'BATCH#q5']));
    expect(await bucketKeys()).toHaveLength(KEEP);

    // A deleted batch's id is free again.
    expect((await api('/batches', { method: 'POST', body: batchOf('q1') })).status).toBe(202);
    await until(() => finished('q1'), 'q1 finished again');
  });
});

describe('meta-agent serve --keep-batches', () => {
  it('exits 2 naming the flag for a bound that is not a whole number from 1, starting nothing', async () => {
    const start = vi.spyOn(EmbeddedSystem, 'start');
    const answers = [];
    for (const value of ['0', '2.5', 'all', '100001']) {
      const io = fakeIO();
      answers.push({ code: await main(['serve', '--keep-batches', value], io), err: io.err });
    }

    for (const { code, err } of answers) {
      expect(code).toBe(2);
      expect(err).toContain('--keep-batches must be a whole number from 1 to 100000');
    }
    expect(start).not.toHaveBeenCalled();
    start.mockRestore();
  });
});
