import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  BUILD_INPUTS,
  buildState,
  CLI_BUILD_DIR,
  MANIFEST_FILE,
  MANIFEST_VERSION,
  manifestOf,
} from '../../../scripts/build-state.mjs';

let root: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'meta-agent-build-state-'));
  mkdirSync(join(root, 'shared'));
  writeFileSync(join(root, 'shared', 'a.ts'), 'export const a = 1;\n');
  writeFileSync(join(root, 'package-lock.json'), '{}\n');
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

function writeBuild(manifest: unknown): void {
  mkdirSync(join(root, CLI_BUILD_DIR), { recursive: true });
  writeFileSync(join(root, CLI_BUILD_DIR, MANIFEST_FILE), JSON.stringify(manifest));
}

describe('build state', () => {
  it('calls a build fresh while every file it was made from hashes the same', () => {
    writeBuild(manifestOf(root, ['shared/a.ts']));

    expect(buildState(root)).toEqual({ fresh: true });
  });

  it('calls a build stale once a source changes, and names the file', () => {
    writeBuild(manifestOf(root, ['shared/a.ts']));
    writeFileSync(join(root, 'shared', 'a.ts'), 'export const a = 2;\n');

    expect(buildState(root)).toEqual({ fresh: false, reason: 'shared/a.ts changed since the build' });
  });

  it('calls a build stale when the lock file changes (the versions of the external packages)', () => {
    writeBuild(manifestOf(root, ['shared/a.ts']));
    writeFileSync(join(root, 'package-lock.json'), '{"lockfileVersion":3}\n');

    expect(buildState(root)).toEqual({ fresh: false, reason: 'package-lock.json changed since the build' });
  });

  it('calls a build stale when a source it read is gone', () => {
    writeBuild(manifestOf(root, ['shared/a.ts']));
    rmSync(join(root, 'shared', 'a.ts'));

    expect(buildState(root)).toMatchObject({ fresh: false, reason: 'shared/a.ts changed since the build' });
  });

  it('always records the lock file and the build scripts themselves', () => {
    expect(Object.keys(manifestOf(root, ['shared/a.ts']).inputs).sort()).toEqual(
      [...BUILD_INPUTS, 'shared/a.ts'].sort(),
    );
  });

  it('says there is no build, or that it is from an older build script, instead of trusting it', () => {
    expect(buildState(root)).toEqual({ fresh: false, reason: 'no build' });

    writeBuild({ ...manifestOf(root, ['shared/a.ts']), version: MANIFEST_VERSION - 1 });

    expect(buildState(root)).toEqual({
      fresh: false,
      reason: 'the build is from an older version of the build script',
    });
  });
});
