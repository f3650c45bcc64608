/**
 * Outputs through the public API: a small one inline in the result, a large one (over the task item's
 * inline limit) by reference, and both whole from GET /batches/{id}/tasks/{taskId}/output.
 */
import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { BatchResult } from '../../shared/domain/schemas';
import { ApiClient, uniqueBatchId } from './support/client';
import { readE2eConfig } from './support/env';

const config = readE2eConfig();
const api = new ApiClient(config);
const batchId = uniqueBatchId('outputs');
/** Over the 64 KiB kept in a task item, under the size the route answers in its body. */
const LARGE_OUTPUT_BYTES = 256 * 1024;

let result: BatchResult;

beforeAll(async () => {
  const submitted = await api.submit({
    batchId,
    tasks: [
      { id: 'summary', description: 'Summarize the release', role: 'technical_writer' },
      {
        id: 'client',
        description: 'Generate the API client',
        role: 'typescript_frontend_agent',
        input: { simulate: { durationMs: 100, outputBytes: LARGE_OUTPUT_BYTES } },
      },
    ],
  });
  expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
  result = await api.waitForTerminal(batchId);
});

async function output(taskId: string): Promise<{ status: number; text: string }> {
  const response = await fetch(`${config.apiUrl}/batches/${batchId}/tasks/${taskId}/output`, {
    headers: config.apiKey === undefined ? {} : { 'x-api-key': config.apiKey },
  });
  return { status: response.status, text: await response.text() };
}

describe('task outputs', () => {
  it('returns a small output, inline in the result, whole from the output route', async () => {
    const summary = result.tasks.find((t) => t.id === 'summary');
    const answer = await output('summary');

    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.text)).toEqual(summary?.output);
  });

  it('returns a large output, referenced by size and sha256 in the result, whole from the output route', async () => {
    const client = result.tasks.find((t) => t.id === 'client');
    const answer = await output('client');

    expect(client?.output).toBeUndefined();
    expect(client?.outputRef?.bytes).toBe(LARGE_OUTPUT_BYTES);
    expect(answer.status).toBe(200);
    expect(Buffer.byteLength(answer.text)).toBe(LARGE_OUTPUT_BYTES);
    expect(createHash('sha256').update(answer.text).digest('hex')).toBe(client?.outputRef?.sha256);
  });
});
