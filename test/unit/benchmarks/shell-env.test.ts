import { delimiter } from 'node:path';
import { describe, expect, it } from 'vitest';
import { shellEnv } from '../../../benchmarks/shell-env';

describe('shellEnv', () => {
  const npmPath = [
    '/work/main/node_modules/.bin',
    '/work/node_modules/.bin',
    '/node_modules/.bin',
    '/usr/lib/node_modules/npm/node_modules/@npmcli/run-script/lib/node-gyp-bin',
    '/usr/local/bin',
    '/opt/tool/node_modules/.bin',
    '/usr/bin',
  ].join(delimiter);

  it("drops the PATH entries npm puts ahead of the shell's, and keeps the shell's own", () => {
    expect(shellEnv({ PATH: npmPath }).PATH).toBe(
      ['/usr/local/bin', '/opt/tool/node_modules/.bin', '/usr/bin'].join(delimiter),
    );
  });

  it("drops npm's variables and keeps every other", () => {
    const env = shellEnv({
      PATH: '/usr/bin',
      HOME: '/root',
      npm_config_yes: 'true',
      npm_package_name: 'meta-agent-orchestrator',
      npm_lifecycle_event: 'bench:startup',
      NPM_CONFIG_OFFLINE: 'true',
      INIT_CWD: '/work/main',
      NODE: '/work/main/node_modules/node/bin/node',
      NODE_OPTIONS: '--max-old-space-size=4096',
    });
    expect(env).toEqual({ PATH: '/usr/bin', HOME: '/root', NODE_OPTIONS: '--max-old-space-size=4096' });
  });

  it('leaves a PATH npm did not change as it is', () => {
    expect(shellEnv({ PATH: `/usr/local/bin${delimiter}/usr/bin` }).PATH).toBe(
      `/usr/local/bin${delimiter}/usr/bin`,
    );
  });
});
