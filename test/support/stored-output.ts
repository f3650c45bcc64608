/** A task's output as the worker stores it in the artifacts bucket: the task's work naming it, and its bytes. */
import type { TaskWork } from '../../shared/domain/context';
import { serializeOutput } from '../../shared/domain/outputs';
import type { ArtifactRef } from '../../shared/domain/schemas';
import { utf8Encode } from '../../shared/domain/utf8';

export function storedOutput(taskId: string, output: unknown): { work: TaskWork; bytes: Uint8Array } {
  const serialized = serializeOutput(output);
  const outputRef: ArtifactRef = {
    location: `s3://bucket/outputs/b/${taskId}/attempt-1.json`,
    bytes: serialized.bytes,
    sha256: 'f'.repeat(64),
    contentType: 'application/json',
    format: serialized.format,
    ...(serialized.fields ? { fields: serialized.fields } : {}),
  };
  return {
    work: {
      taskId,
      status: 'SUCCEEDED',
      role: 'database_designer',
      agentId: `agent-${taskId}`,
      outputRef,
      dependsOn: [],
    },
    bytes: utf8Encode(serialized.json),
  };
}
