/**
 * ArtifactStore on S3: one object per stored output, `application/json`, with its SHA-256 given to S3 as the
 * object's checksum (S3 refuses a body that does not match it) and returned in the reference.
 */
import { createHash } from 'node:crypto';
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import {
  artifactRefOf,
  batchArtifactPrefix,
  parseS3Location,
  type SerializedOutput,
  s3Location,
} from '../../domain/outputs';
import type { ArtifactRef } from '../../domain/schemas';
import type { ArtifactStore } from '../../ports';

/** The reference names a location this store cannot read. */
export class ArtifactLocationError extends Error {
  constructor(location: string) {
    super(`artifact location "${location}" is not an s3://bucket/key URI`);
    this.name = 'ArtifactLocationError';
  }
}

export class S3ArtifactStore implements ArtifactStore {
  constructor(
    private readonly bucket: string,
    private readonly client: S3Client = new S3Client({}),
  ) {}

  async put(
    key: string,
    json: string,
    serialized: Pick<SerializedOutput, 'bytes' | 'format' | 'fields'>,
  ): Promise<ArtifactRef> {
    const body = Buffer.from(json, 'utf8');
    const digest = createHash('sha256').update(body).digest();
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: body,
        ContentType: 'application/json',
        ContentLength: body.length,
        ChecksumSHA256: digest.toString('base64'),
      }),
    );
    return artifactRefOf(
      { json, bytes: serialized.bytes, format: serialized.format, ...pickFields(serialized) },
      s3Location(this.bucket, key),
      digest.toString('hex'),
    );
  }

  async readHead(ref: ArtifactRef, bytes: number): Promise<Uint8Array> {
    if (bytes >= ref.bytes) return this.read(ref);
    if (bytes <= 0) return new Uint8Array();
    return this.get(ref, `bytes=0-${bytes - 1}`);
  }

  async read(ref: ArtifactRef): Promise<Uint8Array> {
    return this.get(ref);
  }

  async downloadUrl(ref: ArtifactRef, expiresInSeconds: number): Promise<string> {
    const { bucket, key } = this.locate(ref);
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: bucket, Key: key }), {
      expiresIn: expiresInSeconds,
    });
  }

  async deleteBatchOutputs(batchId: string): Promise<number> {
    let deleted = 0;
    let ContinuationToken: string | undefined;
    do {
      // A listing page is at most 1,000 keys, as many as one DeleteObjects takes.
      const page = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: batchArtifactPrefix(batchId),
          ...(ContinuationToken ? { ContinuationToken } : {}),
        }),
      );
      const objects = (page.Contents ?? []).flatMap((o) => (o.Key ? [{ Key: o.Key }] : []));
      if (objects.length > 0) {
        const result = await this.client.send(
          new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: objects, Quiet: true } }),
        );
        const failed = result.Errors ?? [];
        if (failed.length > 0) {
          throw new Error(
            `S3 did not delete ${failed.length} outputs of batch ${batchId}: ${failed[0]?.Message}`,
          );
        }
        deleted += objects.length;
      }
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
    return deleted;
  }

  private async get(ref: ArtifactRef, range?: string): Promise<Uint8Array> {
    const { bucket, key } = this.locate(ref);
    const answer = await this.client.send(
      new GetObjectCommand({ Bucket: bucket, Key: key, ...(range ? { Range: range } : {}) }),
    );
    if (!answer.Body) return new Uint8Array();
    return answer.Body.transformToByteArray();
  }

  private locate(ref: ArtifactRef): { bucket: string; key: string } {
    const parsed = parseS3Location(ref.location);
    if (!parsed) throw new ArtifactLocationError(ref.location);
    return parsed;
  }
}

function pickFields(serialized: Pick<SerializedOutput, 'fields'>): { fields?: string[] } {
  return serialized.fields ? { fields: serialized.fields } : {};
}
