/**
 * How `npx meta-agent` finds the command in a checkout (README, Start-up): the cli workspace's bin, linked
 * by npm install as node_modules/.bin/meta-agent, and never a registry package of the same name.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../support/fake-io';

const readJson = (path: string) => JSON.parse(readFileSync(join(ROOT, path), 'utf8'));

describe('npx meta-agent', () => {
  const home = mkdtempSync(join(tmpdir(), 'npx-command-'));
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  it('is the cli workspace bin, linked into node_modules/.bin, and not declared by the project itself', () => {
    // A bin of that name in the project's own package.json sends npx down its install path (the checkout
    // installed into npx's cache, the whole tree read on every run).
    expect(readJson('package.json').bin?.['meta-agent']).toBeUndefined();
    expect(readJson('package.json').workspaces).toContain('cli');
    expect(readJson('cli/package.json').bin).toEqual({ 'meta-agent': 'meta-agent.js' });
    expect(realpathSync(join(ROOT, 'node_modules/.bin/meta-agent'))).toBe(
      realpathSync(join(ROOT, 'cli/meta-agent.js')),
    );
  });

  it("refuses to fetch a missing package from the registry whatever the user's npm config says", async () => {
    // Without the link npx would look `meta-agent` up on the registry, and without a terminal (CI) install
    // and run it unasked: the project's .npmrc says no. The user's and global config are left out here.
    const user = join(home, 'user-npmrc');
    const global = join(home, 'global-npmrc');
    for (const file of [user, global]) writeFileSync(file, '');
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_config_/i.test(k)));
    const { stdout } = await promisify(execFile)('npm', ['config', 'get', 'yes'], {
      cwd: ROOT,
      env: { ...env, HOME: home, npm_config_userconfig: user, npm_config_globalconfig: global },
    });
    expect(stdout.trim()).toBe('false');
  });
});
