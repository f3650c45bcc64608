import { mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
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
  RACY_MS,
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

  // Each start checks the build: about 180 files, 14 to 23 ms to hash, under 2 ms to stat.
  describe('without reading what has not changed', () => {
    /** The manifest as if made long after its files were last written (none of its stats racy). */
    const settled = () => manifestOf(root, ['shared/a.ts'], Date.now() + 10 * RACY_MS);
    /** The same manifest with a wrong hash recorded for shared/a.ts: fresh only if the file is not read. */
    const withWrongHash = (manifest: ReturnType<typeof manifestOf>) => ({
      ...manifest,
      inputs: {
        ...manifest.inputs,
        'shared/a.ts': { ...manifest.inputs['shared/a.ts'], sha256: 'not the hash of a.ts' },
      },
    });

    it('trusts a file whose size, inode, and modification and change times are those recorded', () => {
      const manifest = settled();
      expect(manifest.inputs['shared/a.ts']?.stat).toBeDefined();
      writeBuild(withWrongHash(manifest));

      expect(buildState(root)).toEqual({ fresh: true });
    });

    it('reads a file rewritten to the same size with its modification time put back (its change time moved)', () => {
      const file = join(root, 'shared', 'a.ts');
      // A whole second, which utimes sets back exactly (nanoseconds included).
      const second = Math.floor(Date.now() / 1000) - 3600;
      utimesSync(file, second, second);
      writeBuild(settled());
      writeFileSync(file, 'export const a = 2;\n');
      utimesSync(file, second, second);
      expect(statSync(file).mtimeMs).toBe(second * 1000);

      expect(buildState(root)).toEqual({ fresh: false, reason: 'shared/a.ts changed since the build' });
    });

    it('records no stat for a file written within RACY_MS of the manifest, so it is read at every check', () => {
      const manifest = manifestOf(root, ['shared/a.ts']);
      expect(manifest.inputs['shared/a.ts']).toEqual({ sha256: expect.any(String) });
      writeBuild(withWrongHash(manifest));

      expect(buildState(root)).toEqual({ fresh: false, reason: 'shared/a.ts changed since the build' });
    });

    it('hashes a file a copy or checkout wrote again, and keeps the build when its content is the same', () => {
      writeBuild(settled());
      writeFileSync(join(root, 'shared', 'a.ts'), 'export const a = 1;\n');

      expect(buildState(root)).toEqual({ fresh: true });
    });
  });

  it("calls a build stale, without failing, when a file it read can no longer be stat'ed", () => {
    const manifest = manifestOf(root, ['shared/a.ts'], Date.now() + 10 * RACY_MS);
    const stat = manifest.inputs['shared/a.ts']?.stat;
    // A link to itself: stat fails with ELOOP (a missing file or directory answers undefined instead).
    symlinkSync('loop.ts', join(root, 'shared', 'loop.ts'));
    writeBuild({ ...manifest, inputs: { ...manifest.inputs, 'shared/loop.ts': { sha256: 'x', stat } } });

    expect(buildState(root)).toEqual({ fresh: false, reason: 'shared/loop.ts changed since the build' });
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
