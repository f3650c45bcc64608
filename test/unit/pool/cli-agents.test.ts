/** `meta-agent agents`: the default pool from the catalog, and a running API's agents through --url. */
import { rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveRoles } from '../../../shared/domain/roles';
import { API_KEY_ENV, command } from '../../../shared/local/cli/commands/agents';
import { ExitCode } from '../../../shared/local/cli/io';
import type { AgentView } from '../../../shared/usecases/agents';
import { fakeIO } from '../../support/fake-io';

const AGENTS: AgentView[] = [
  {
    agentId: 'code_reviewer-1',
    role: 'code_reviewer',
    status: 'active',
    reserved: 1,
    capacity: 2,
    specializations: [],
    attempts: 4,
    successes: 3,
    failures: 1,
    successRate: 0.75,
    ewmaLatencyMs: 1234.4,
    circuit: 'closed',
    lastActiveAt: 1,
  },
  {
    agentId: 'security_auditor-1',
    role: 'security_auditor',
    status: 'active',
    reserved: 0,
    capacity: 2,
    specializations: [],
    attempts: 3,
    successes: 0,
    failures: 3,
    successRate: 0,
    circuit: 'open',
    circuitOpenUntil: Date.now() + 60_000,
    lastActiveAt: 1,
  },
];

let server: Server;
let url: string;
const requests: { path: string | undefined; headers: IncomingHttpHeaders }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    requests.push({ path: req.url, headers: req.headers });
    if (req.headers['x-api-key'] !== 'secret') {
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: 'Forbidden' }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ agents: AGENTS }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

describe('meta-agent agents', () => {
  it('lists the default pool, one template per catalog role, without a running system', async () => {
    const io = fakeIO();

    const code = await command(['--json'], io);

    const { roles } = JSON.parse(io.out);
    const coder = resolveRoles([]).get('python_backend_coder')?.defaults;
    expect(code).toBe(ExitCode.Ok);
    expect(roles).toHaveLength(resolveRoles([]).size);
    expect(roles.find((r: { role: string }) => r.role === 'python_backend_coder')).toEqual({
      role: 'python_backend_coder',
      capacity: coder?.capacity,
      minAgents: coder?.minAgents,
      maxAgents: coder?.maxAgents,
      queueConcurrency: coder?.queueConcurrency,
      executor: coder?.executor.name,
      timeoutSeconds: coder?.timeoutSeconds,
      idleTtlSeconds: coder?.idleTtlSeconds,
    });
  });

  it('applies a role override file to the default pool table', async () => {
    const config = join(tmpdir(), `roles-${process.pid}.json`);
    writeFileSync(config, JSON.stringify({ roles: [{ name: 'code_reviewer', defaults: { maxAgents: 9 } }] }));
    const io = fakeIO();

    const code = await command(['--config', config], io).finally(() => rmSync(config, { force: true }));

    const line = io.out.split('\n').find((l) => l.startsWith('code_reviewer '));
    const reviewer = resolveRoles([]).get('code_reviewer')?.defaults;
    expect(code).toBe(ExitCode.Ok);
    expect(io.out.split('\n')[0]).toMatch(/^role\s+capacity\s+min\s+max\s+queue\s+executor/);
    expect(line?.split(/\s+/).slice(0, 4)).toEqual([
      'code_reviewer',
      String(reviewer?.capacity),
      String(reviewer?.minAgents),
      '9',
    ]);
  });

  it('prints the live agents of a running API with load, success rate, latency and circuit', async () => {
    const io = fakeIO(undefined, { [API_KEY_ENV]: 'secret' });

    const code = await command(['--url', `${url}/`], io);

    expect(code).toBe(ExitCode.Ok);
    expect(requests.at(-1)?.path).toBe('/agents');
    const [header, reviewer, auditor] = io.out.split('\n');
    expect(header).toMatch(/^agent\s+role\s+status\s+load\s+success\s+latency\s+circuit$/);
    expect(reviewer).toMatch(
      /^code_reviewer-1\s+code_reviewer\s+active\s+1\/2\s+75% \(3\/4\)\s+1234ms\s+closed$/,
    );
    expect(auditor).toMatch(/open \(\d+s\)$/);
  });

  it('prefers --api-key over the environment and prints JSON with --json', async () => {
    const io = fakeIO(undefined, { [API_KEY_ENV]: 'wrong' });

    const code = await command(['--url', url, '--api-key', 'secret', '--json'], io);

    expect(code).toBe(ExitCode.Ok);
    expect(JSON.parse(io.out).agents.map((a: AgentView) => a.agentId)).toEqual([
      'code_reviewer-1',
      'security_auditor-1',
    ]);
  });

  it('reports a refused key as a configuration error naming the fix', async () => {
    const io = fakeIO();

    const run = command(['--url', url], io);

    await expect(run).rejects.toMatchObject({
      exitCode: ExitCode.BadInput,
      message: expect.stringContaining('--api-key'),
    });
  });

  it('reports an unreachable API as a configuration error', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));

    const run = command(['--url', `http://127.0.0.1:${port}`], fakeIO());

    await expect(run).rejects.toMatchObject({
      exitCode: ExitCode.BadInput,
      message: expect.stringContaining('cannot reach'),
    });
  });
});
