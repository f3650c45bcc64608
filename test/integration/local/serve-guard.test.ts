/**
 * `meta-agent serve` as an attacker's web page meets it (issue 12, problems 2 and 4, and the "also seen"
 * list): foreign Host and Origin headers, bodies that are not JSON, missing keys, oversized bodies and
 * WebSocket messages are refused, and nothing of what a request chose is echoed back.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { MAX_REQUEST_BODY_BYTES, MAX_WEBSOCKET_MESSAGE_BYTES } from '../../../shared/domain/limits';
import { DATA_DIR_LOCK_FILE } from '../../../shared/local/cli/data-dir';
import { main } from '../../../shared/local/cli/main';
import { type LocalServer, startLocalServer } from '../../../shared/local/server';
import { EmbeddedSystem } from '../../../shared/local/system';
import { fakeIO, ROOT } from '../../support/fake-io';
import { rawRequest } from '../../support/raw-http';

let server: LocalServer;
let key: string;
let port: number;

beforeAll(async () => {
  // No key given: the server makes one, as `meta-agent serve` does by default.
  server = await startLocalServer({
    port: 0,
    apiKey: 'a-key-of-some-length-0123456789ab',
    system: { scalerIntervalMs: 0 },
  });
  key = 'a-key-of-some-length-0123456789ab';
  port = Number(new URL(server.url).port);
});

afterAll(async () => {
  await server?.close();
});

/** One request with exactly these headers (fetch would not let a test choose Host). */
const raw = (
  method: string,
  path: string,
  headers: Record<string, string | number>,
  body?: string | Buffer,
) => rawRequest(port, method, path, headers, body);

const batch = (batchId: string) =>
  JSON.stringify({ batchId, tasks: [{ id: 'a', description: 'Write the Python FastAPI endpoint' }] });
const json = { 'content-type': 'application/json' };

async function exists(batchId: string): Promise<boolean> {
  const answer = await raw('GET', `/batches/${batchId}`, { 'x-api-key': key });
  return answer.status === 200;
}

describe('meta-agent serve refuses', () => {
  it('a Host header that names another server (DNS rebinding), whatever else is right', async () => {
    const post = await raw(
      'POST',
      '/batches',
      { ...json, 'x-api-key': key, host: 'evil.example:80' },
      batch('rebound'),
    );
    const get = await raw('GET', '/agents', { 'x-api-key': key, host: `attacker.example:${port}` });

    expect([post.status, get.status]).toEqual([403, 403]);
    expect(JSON.parse(post.body).message).toContain('DNS rebinding');
    expect(await exists('rebound')).toBe(false);
  });

  it('a request from another origin, with or without the key', async () => {
    const withKey = await raw(
      'POST',
      '/batches',
      { ...json, 'x-api-key': key, origin: 'https://evil.example' },
      batch('cross-origin'),
    );
    const withoutKey = await raw('POST', '/batches', { ...json, origin: 'null' }, batch('cross-origin'));
    const crossSite = await raw('GET', '/agents', { 'x-api-key': key, 'sec-fetch-site': 'cross-site' });
    const sameOrigin = await raw('GET', '/agents', { 'x-api-key': key, origin: `http://localhost:${port}` });

    expect([withKey.status, withoutKey.status, crossSite.status]).toEqual([403, 403, 403]);
    expect(sameOrigin.status).toBe(200);
    expect(await exists('cross-origin')).toBe(false);
  });

  it('a body a cross-site form could send (text/plain, form encodings) with 415, key or not', async () => {
    for (const type of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
    ]) {
      const answer = await raw('POST', '/batches', { 'content-type': type, 'x-api-key': key }, batch('form'));
      expect(answer.status, type).toBe(415);
    }
    const untyped = await raw('POST', '/batches', { 'x-api-key': key }, batch('form'));
    const gzipped = await raw(
      'POST',
      '/batches',
      { 'content-type': 'application/json', 'content-encoding': 'gzip', 'x-api-key': key },
      gzipSync(batch('form')),
    );

    expect(untyped.status).toBe(415);
    expect(gzipped.status).toBe(415);
    expect(gzipped.body).toContain('Content-Encoding \\"gzip\\" is not supported');
    expect(await exists('form')).toBe(false);
    // A POST without a body needs no type (curl -X POST .../redrive).
    expect((await raw('POST', '/batches/form/redrive', { 'x-api-key': key })).status).toBe(404);
  });

  it('a JSON body in another charset than UTF-8 with 415 naming the charset', async () => {
    const latin1 = Buffer.from(batch('latin1-café'.replace('é', 'e')).replace('Write', 'Écrire'), 'latin1');

    const answer = await raw(
      'POST',
      '/batches',
      { 'content-type': 'application/json; charset=ISO-8859-1', 'x-api-key': key },
      latin1,
    );
    const utf8 = await raw(
      'POST',
      '/batches',
      { 'content-type': 'application/json; charset=utf-8', 'x-api-key': key },
      batch('utf8-charset'),
    );

    expect(answer.status).toBe(415);
    expect(JSON.parse(answer.body).message).toContain('names charset "iso-8859-1"');
    expect(await exists('latin1-cafe')).toBe(false);
    expect(utf8.status).toBe(202);
  });

  it('a request without the generated key, or with a wrong one of any length', async () => {
    const wrong = [undefined, '', key.slice(0, -1), `${key}x`, key.toUpperCase()];

    for (const given of wrong) {
      const answer = await raw(
        'POST',
        '/batches',
        { ...json, ...(given === undefined ? {} : { 'x-api-key': given }) },
        batch('no-key'),
      );
      expect(answer.status, String(given)).toBe(403);
    }
    expect(await exists('no-key')).toBe(false);
    expect(key.length).toBeGreaterThanOrEqual(32);
    expect(server.openUrl).toBe(`${server.url}/#key=${key}`);
  });

  it('an oversized body with the 413 it means (the client reads the answer), declared or streamed', async () => {
    const oversized = Buffer.alloc(MAX_REQUEST_BODY_BYTES + 1, 0x20);

    const declared = await raw('POST', '/batches', { ...json, 'x-api-key': key }, oversized);
    const streamed = await raw(
      'POST',
      '/batches',
      { ...json, 'x-api-key': key, 'transfer-encoding': 'chunked' },
      oversized,
    );

    expect([declared.status, streamed.status]).toEqual([413, 413]);
    expect(JSON.parse(declared.body).message).toContain(String(MAX_REQUEST_BODY_BYTES));
  });

  it('a body that is not UTF-8 with a 400 naming the byte, and stores nothing', async () => {
    // "description": "x\xff y" on the second line: a lenient decoder would store "x\uFFFD y".
    const text = batch('not-utf8').replace('"tasks"', '\n"tasks"');
    const at = Buffer.byteLength(text.slice(0, text.indexOf('Write')));
    const body = Buffer.concat([
      Buffer.from(text.slice(0, text.indexOf('Write'))),
      Buffer.from([0xff]),
      Buffer.from(text.slice(text.indexOf('Write'))),
    ]);

    const answer = await raw('POST', '/batches', { ...json, 'x-api-key': key }, body);

    expect(answer.status, answer.body).toBe(400);
    expect(JSON.parse(answer.body).issues).toEqual([
      {
        path: '$',
        message: `the request body is not UTF-8 text: byte ${at} (line 2) starts a malformed sequence; send it encoded as UTF-8`,
      },
    ]);
    expect(await exists('not-utf8')).toBe(false);
  });

  it('an oversized body announced with Expect: 100-continue before it is sent', async () => {
    const answer = await new Promise<number>((resolve, reject) => {
      const req = httpRequest({
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/batches',
        headers: {
          ...json,
          'x-api-key': key,
          expect: '100-continue',
          'content-length': MAX_REQUEST_BODY_BYTES + 1,
        },
      });
      req.on('continue', () => reject(new Error('the server asked for the oversized body')));
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.flushHeaders();
    });

    expect(answer).toBe(413);
  });

  it('WebSocket handshakes from another origin or host, and messages over the size limit', async () => {
    const closed = (url: string, headers: Record<string, string>) =>
      new Promise<boolean>((resolve) => {
        const socket = new WebSocket(url, { headers });
        socket.on('open', () => {
          socket.close();
          resolve(false);
        });
        socket.on('error', () => resolve(true));
      });
    expect(await closed(server.wsUrl, { origin: 'https://evil.example' })).toBe(true);
    expect(await closed(server.wsUrl, { host: 'evil.example' })).toBe(true);

    const minted = await raw('POST', '/progress-tokens', { 'x-api-key': key });
    const { token } = JSON.parse(minted.body) as { token: string };
    const socket = new WebSocket(`${server.wsUrl}?token=${encodeURIComponent(token)}`);
    await new Promise((resolve, reject) => {
      socket.on('open', resolve);
      socket.on('error', reject);
    });
    const code = await new Promise<number>((resolve) => {
      socket.on('close', (closeCode) => resolve(closeCode));
      socket.send('x'.repeat(MAX_WEBSOCKET_MESSAGE_BYTES + 1));
    });

    expect(code).toBe(1009);
  });
});

describe('meta-agent serve keeps its memory bounded', () => {
  it('cutting a WebSocket client that sends and never reads once its unread answers pass the limit', async () => {
    const minted = await raw('POST', '/progress-tokens', { 'x-api-key': key });
    const { token } = JSON.parse(minted.body) as { token: string };
    const socket = new WebSocket(`${server.wsUrl}?token=${encodeURIComponent(token)}`);
    await new Promise((resolve, reject) => {
      socket.on('open', resolve);
      socket.on('error', reject);
    });
    // Never reads: every answer the server sends stays queued, first in the kernel, then in the server.
    const connection = (socket as unknown as { _socket: Socket })._socket;
    connection.pause();
    let answers = 0;
    socket.on('message', () => {
      answers += 1;
    });
    const closed = new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)));
    const sent = 200_000;
    for (let i = 0; i < sent; i += 1) {
      socket.send('{}');
      if (i % 5_000 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await new Promise((resolve) => setTimeout(resolve, 2_000));

    connection.resume();
    const ended = await Promise.race([
      closed.then(() => 'closed'),
      new Promise((resolve) => setTimeout(() => resolve('still open'), 15_000)),
    ]);

    expect(ended).toBe('closed');
    // The kernel's buffers and MAX_WEBSOCKET_BUFFERED_BYTES held what was answered; the rest was never queued.
    expect(answers).toBeGreaterThan(0);
    expect(answers).toBeLessThan(sent);
  }, 60_000);
});

describe('meta-agent serve answers', () => {
  it('a body that starts with a byte order mark as the same JSON without it, as `run` reads a file', async () => {
    const answer = await raw('POST', '/batches', { ...json, 'x-api-key': key }, `\uFEFF${batch('with-bom')}`);

    expect(answer.status, answer.body).toBe(202);
    expect(await exists('with-bom')).toBe(true);
  });

  it('with its own address in statusUrl, never the Host the request named', async () => {
    const answer = await raw(
      'POST',
      '/batches',
      { ...json, 'x-api-key': key, host: `localhost:${port}`, 'x-forwarded-proto': 'javascript' },
      batch('status-url'),
    );

    expect(answer.status, answer.body).toBe(202);
    expect(JSON.parse(answer.body).statusUrl).toBe(`http://127.0.0.1:${port}/batches/status-url`);
  });
});

describe('meta-agent serve without a key', () => {
  it('serves requests without one only when told so, and still refuses foreign origins', async () => {
    const open = await startLocalServer({ port: 0, apiKey: false, system: { scalerIntervalMs: 0 } });
    try {
      const agents = await fetch(`${open.url}/agents`);
      const foreign = await fetch(`${open.url}/agents`, { headers: { origin: 'https://evil.example' } });

      expect(open.apiKey).toBeUndefined();
      expect(agents.status).toBe(200);
      expect(foreign.status).toBe(403);
    } finally {
      await open.close();
    }
  });
});

describe('the meta-agent serve command', () => {
  it('generates a key, prints the URL that carries it in the fragment, and stops on SIGTERM with 0', async () => {
    const child = spawn(process.execPath, ['bin/meta-agent.js', 'serve', '--port', '0'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, META_AGENT_API_KEY: '' },
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      let out = '';
      const opened = await new Promise<URL>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          const url = /open (http:\/\/127\.0\.0\.1:\d+\/#key=\S+)/.exec(out)?.[1];
          if (url) resolve(new URL(url));
        });
        child.on('exit', () => reject(new Error(`serve exited: ${out}`)));
      });
      const printedKey = decodeURIComponent(opened.hash.slice('#key='.length));

      const without = await fetch(new URL('/agents', opened));
      const withKey = await fetch(new URL('/agents', opened), { headers: { 'x-api-key': printedKey } });

      expect(without.status).toBe(403);
      expect(withKey.status).toBe(200);
      // Without --data-dir the banner says what a stop costs.
      expect(out).toContain('state in memory: stopping the server (Ctrl-C, SIGTERM, kill) loses every batch');
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });

  it('refuses --api-key with --no-api-key, and an empty key, before starting anything', async () => {
    const start = vi.spyOn(EmbeddedSystem, 'start');
    const io = fakeIO();

    const both = await main(['serve', '--api-key', 'k', '--no-api-key'], io);
    const empty = await main(['serve', '--api-key', ' '], io);

    expect([both, empty]).toEqual([2, 2]);
    expect(io.err).toContain('contradict');
    expect(start).not.toHaveBeenCalled();
    start.mockRestore();
  });

  it('on a port another server holds exits 2 naming the port and --port, and frees its data directory', async () => {
    const start = vi.spyOn(EmbeddedSystem, 'start');
    const dataDir = await mkdtemp(join(tmpdir(), 'meta-agent-port-'));
    const io = fakeIO();

    const code = await main(['serve', '--port', String(port), '--no-api-key', '--data-dir', dataDir], io);

    expect(code).toBe(2);
    expect(io.err).toContain(`port ${port} on 127.0.0.1 is in use`);
    expect(io.err).toContain('--port N (0 picks a free port)');
    expect(start).not.toHaveBeenCalled();
    expect(await readdir(dataDir)).not.toContain(DATA_DIR_LOCK_FILE);
    start.mockRestore();
    await rm(dataDir, { recursive: true, force: true });
  });
});
