/** An ArtifactStore in memory, for use-case tests (the S3 adapter has its own tests against fauxqs). */
import { createHash } from 'node:crypto';
import { artifactRefOf, batchArtifactPrefix, type SerializedOutput } from '../../shared/domain/outputs';
import type { ArtifactRef } from '../../shared/domain/schemas';
import type { ArtifactStore } from '../../shared/ports';

export class MemoryArtifacts implements ArtifactStore {
  readonly objects = new Map<string, Uint8Array>();
  /** Every read: the location and how many bytes were asked (undefined for a whole read). */
  readonly reads: { location: string; bytes?: number }[] = [];

  async put(
    key: string,
    json: string,
    serialized: Pick<SerializedOutput, 'bytes' | 'format' | 'fields'>,
  ): Promise<ArtifactRef> {
    const body = new TextEncoder().encode(json);
    const location = `s3://memory/${key}`;
    this.objects.set(location, body);
    const sha256 = createHash('sha256').update(body).digest('hex');
    return artifactRefOf({ json, ...serialized }, location, sha256);
  }

  async readHead(ref: ArtifactRef, bytes: number): Promise<Uint8Array> {
    this.reads.push({ location: ref.location, bytes });
    return this.body(ref).subarray(0, bytes);
  }

  async read(ref: ArtifactRef): Promise<Uint8Array> {
    this.reads.push({ location: ref.location });
    return this.body(ref);
  }

  async downloadUrl(ref: ArtifactRef, expiresInSeconds: number): Promise<string> {
    return `https://memory.invalid/${ref.location.slice('s3://memory/'.length)}?expires=${expiresInSeconds}`;
  }

  async deleteBatchOutputs(batchId: string): Promise<number> {
    const prefix = `s3://memory/${batchArtifactPrefix(batchId)}`;
    const keys = [...this.objects.keys()].filter((location) => location.startsWith(prefix));
    for (const key of keys) this.objects.delete(key);
    return keys.length;
  }

  private body(ref: ArtifactRef): Uint8Array {
    const body = this.objects.get(ref.location);
    if (!body) throw new Error(`no artifact at ${ref.location}`);
    return body;
  }
}
