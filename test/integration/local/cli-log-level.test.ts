/** `--log-level` / META_AGENT_LOG_LEVEL of `meta-agent run` and `serve`: the local handlers' logs on stderr. */
import { afterEach, describe, expect, it, type MockInstance, vi } from 'vitest';
import { LOG_LEVEL_ENV } from '../../../shared/local/cli/log-level';
import { main } from '../../../shared/local/cli/main';
import { EmbeddedSystem } from '../../../shared/local/system';
import { fakeIO } from '../../support/fake-io';

const EXAMPLE = 'examples/auth-feature.json';

let stderr: MockInstance | undefined;

afterEach(() => {
  stderr?.mockRestore();
  stderr = undefined;
});

/** Runs the CLI, returning its exit code, its own output and the handlers' JSON log lines (process stderr). */
async function runCli(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const lines: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  stderr = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array, ...rest) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    if (text.startsWith('{"level":')) lines.push(...text.split('\n').filter((l) => l !== ''));
    else return write(chunk, ...(rest as []));
    return true;
  });
  const io = fakeIO(undefined, env);
  const code = await main(argv, io);
  stderr.mockRestore();
  stderr = undefined;
  const logs = lines.map((l) => JSON.parse(l) as { level: string; message: string; handler: string });
  return { code, io, logs };
}

describe('meta-agent run --log-level', () => {
  it('prints the handlers’ debug logs as JSON lines on stderr, leaving --json stdout one document', async () => {
    const { code, io, logs } = await runCli(['run', EXAMPLE, '--json', '--log-level', 'debug']);

    expect(code).toBe(0);
    expect(() => JSON.parse(io.out)).not.toThrow();
    expect(logs.some((l) => l.level === 'DEBUG' && l.message === 'attempt started')).toBe(true);
    expect(logs.some((l) => l.level === 'INFO' && l.handler === 'route' && l.message === 'routed')).toBe(
      true,
    );
  });

  it('prints nothing of the handlers without the flag, and only INFO and above at info (also from the env)', async () => {
    const silent = await runCli(['run', EXAMPLE, '--json']);
    const info = await runCli(['run', EXAMPLE, '--json'], { [LOG_LEVEL_ENV]: 'info' });

    expect(silent.code).toBe(0);
    expect(silent.logs).toEqual([]);
    expect(info.code).toBe(0);
    expect(info.logs.length).toBeGreaterThan(0);
    expect(info.logs.filter((l) => l.level === 'DEBUG')).toEqual([]);
  });

  it('exits 2 naming the flag or the variable for a value that is not a level, starting nothing', async () => {
    const start = vi.spyOn(EmbeddedSystem, 'start');

    const flag = await runCli(['run', EXAMPLE, '--log-level', 'verbose']);
    const env = await runCli(['run', EXAMPLE], { [LOG_LEVEL_ENV]: 'loud' });
    const serve = await runCli(['serve', '--log-level', '7']);

    expect([flag.code, env.code, serve.code]).toEqual([2, 2, 2]);
    expect(flag.io.err).toContain(
      '--log-level must be one of trace, debug, info, warn, error, critical, silent, got "verbose"',
    );
    expect(env.io.err).toContain(`${LOG_LEVEL_ENV} must be one of`);
    expect(env.io.err).toContain('got "loud"');
    expect(serve.io.err).toContain('--log-level must be one of');
    expect(start).not.toHaveBeenCalled();
    start.mockRestore();
  });
});
