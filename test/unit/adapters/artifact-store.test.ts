import { createHash } from 'node:crypto';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { S3ArtifactStore } from '../../../shared/adapters/s3/artifact-store';
import { serializeOutput } from '../../../shared/domain/outputs';

const client = new S3Client({
  region: 'us-east-1',
  credentials: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'secret' },
});
const s3 = mockClient(client);
const store = new S3ArtifactStore('artifacts-bucket', client);

/** A GetObject answer: the SDK's streaming body, of which the store reads the bytes. */
const body = (text: string) =>
  ({ Body: { transformToByteArray: async () => new Uint8Array(Buffer.from(text)) } }) as never;

beforeEach(() => s3.reset());

describe('S3ArtifactStore', () => {
  it('puts the JSON with its SHA-256 as the S3 checksum and answers the reference', async () => {
    s3.on(PutObjectCommand).resolves({});
    const serialized = serializeOutput({ tables: ['users'] });

    const ref = await store.put('outputs/b/t/attempt-1.json', serialized.json, serialized);

    const digest = createHash('sha256').update(serialized.json).digest();
    const sent = s3.commandCalls(PutObjectCommand)[0]?.args[0].input;
    expect(sent).toMatchObject({
      Bucket: 'artifacts-bucket',
      Key: 'outputs/b/t/attempt-1.json',
      ContentType: 'application/json',
      ContentLength: serialized.bytes,
      ChecksumSHA256: digest.toString('base64'),
    });
    expect(ref).toEqual({
      location: 's3://artifacts-bucket/outputs/b/t/attempt-1.json',
      bytes: serialized.bytes,
      sha256: digest.toString('hex'),
      contentType: 'application/json',
      format: 'json',
      fields: ['tables'],
    });
  });

  it('reads the head of an artifact with one ranged GET, and all of it when asked for as much', async () => {
    s3.on(GetObjectCommand).callsFake((input) => body(input.Range ? '{"text":"ab' : '{"text":"abc"}'));
    const ref = {
      location: 's3://other-bucket/outputs/b/t/attempt-2.json',
      bytes: 14,
      sha256: 'a'.repeat(64),
      contentType: 'application/json',
    };

    const head = await store.readHead(ref, 11);
    const whole = await store.readHead(ref, 100);

    const calls = s3.commandCalls(GetObjectCommand).map((c) => c.args[0].input);
    expect(calls).toEqual([
      { Bucket: 'other-bucket', Key: 'outputs/b/t/attempt-2.json', Range: 'bytes=0-10' },
      { Bucket: 'other-bucket', Key: 'outputs/b/t/attempt-2.json' },
    ]);
    expect(Buffer.from(head).toString()).toBe('{"text":"ab');
    expect(Buffer.from(whole).toString()).toBe('{"text":"abc"}');
  });

  it('signs a GET of the object for a download URL that expires', async () => {
    const url = new URL(
      await store.downloadUrl(
        {
          location: 's3://artifacts-bucket/outputs/b/t/attempt-1.json',
          bytes: 1,
          sha256: 'a'.repeat(64),
          contentType: 'application/json',
        },
        300,
      ),
    );

    expect(url.pathname).toBe('/outputs/b/t/attempt-1.json');
    expect(url.hostname).toBe('artifacts-bucket.s3.us-east-1.amazonaws.com');
    expect(url.searchParams.get('X-Amz-Expires')).toBe('300');
    expect(url.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
  });
});
