/**
 * GET /batches/{id}/tasks/{taskId}/output: the whole output of a task, as its JSON. Small outputs come from
 * the task item; stored artifacts are read from the bucket up to OUTPUT_RESPONSE_MAX_BYTES, and a larger one
 * is handed over as a short-lived download URL (the API's response size is capped).
 */
import { OUTPUT_RESPONSE_MAX_BYTES, OUTPUT_URL_TTL_SECONDS } from '../domain/limits';
import type { ArtifactRef } from '../domain/schemas';
import { type ArtifactStore, NotFoundError, type TaskStore } from '../ports';

export interface OutputDeps {
  store: TaskStore;
  artifacts: ArtifactStore;
}

/** The output's JSON itself, or where to download it. */
export type TaskOutput =
  | { kind: 'body'; json: string; ref?: ArtifactRef }
  | { kind: 'redirect'; url: string; ref: ArtifactRef; expiresInSeconds: number };

/** Throws NotFoundError for an unknown task and for a task without an output (with its status). */
export async function getTaskOutput(deps: OutputDeps, batchId: string, taskId: string): Promise<TaskOutput> {
  const task = await deps.store.getTask(batchId, taskId);
  if (!task) throw new NotFoundError('task', `${batchId}/${taskId}`);
  const ref = task.outputRef;
  if (ref) {
    if (ref.bytes > OUTPUT_RESPONSE_MAX_BYTES) {
      const url = await deps.artifacts.downloadUrl(ref, OUTPUT_URL_TTL_SECONDS);
      return { kind: 'redirect', url, ref, expiresInSeconds: OUTPUT_URL_TTL_SECONDS };
    }
    const bytes = await deps.artifacts.read(ref);
    return { kind: 'body', json: new TextDecoder('utf-8').decode(bytes), ref };
  }
  if (task.output !== undefined) return { kind: 'body', json: JSON.stringify(task.output) };
  const why =
    task.status === 'SUCCEEDED'
      ? 'it succeeded without producing one'
      : `it is ${task.status}${task.status === 'FAILED' || task.status === 'SKIPPED' || task.status === 'CANCELLED' ? '' : ' (not finished yet)'}`;
  throw new NotFoundError('output', `${batchId}/${taskId}`, `task "${taskId}" has no output: ${why}`);
}
