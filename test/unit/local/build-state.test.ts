import { mkdirSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
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

describe('build state: sizes and modification times', () => {
  const source = () => join(root, 'shared', 'a.ts');
  /** Rewrites a.ts with other content of the same size, and gives it back its modification time. */
  function editKeepingStat(): void {
    const { mtime } = statSync(source());
    writeFileSync(source(), 'export const a = 9;\n');
    utimesSync(source(), mtime, mtime);
  }
  const anHourAgo = () => new Date(Date.now() - 3_600_000);

  it('takes a file as unchanged, without reading it, while its size and time are those hashed long before', () => {
    for (const file of [source(), join(root, 'package-lock.json')])
      utimesSync(file, anHourAgo(), anHourAgo());
    writeBuild(manifestOf(root, ['shared/a.ts']));
    // Content changed behind a kept size and time is not seen: that is what the saved reads rest on.
    editKeepingStat();
    expect(buildState(root)).toEqual({ fresh: true });
    // Any other time and the file is read: here it changed.
    utimesSync(source(), new Date(), new Date());
    expect(buildState(root)).toEqual({ fresh: false, reason: 'shared/a.ts changed since the build' });
  });

  it(`reads a file modified within ${RACY_MS} ms of the manifest, whose time a coarse clock may repeat`, () => {
    const justBefore = new Date(Date.now() - RACY_MS / 2);
    utimesSync(source(), justBefore, justBefore);
    writeBuild(manifestOf(root, ['shared/a.ts']));
    editKeepingStat();
    expect(buildState(root)).toEqual({ fresh: false, reason: 'shared/a.ts changed since the build' });
  });

  it('keeps the build when a file is touched but its content is the same', () => {
    utimesSync(source(), anHourAgo(), anHourAgo());
    writeBuild(manifestOf(root, ['shared/a.ts']));
    utimesSync(source(), new Date(), new Date());
    expect(buildState(root)).toEqual({ fresh: true });
  });

  it('hashes every file of a manifest that recorded no sizes and times', () => {
    utimesSync(source(), anHourAgo(), anHourAgo());
    const { stats: _stats, madeAt: _madeAt, ...older } = manifestOf(root, ['shared/a.ts']);
    writeBuild(older);
    expect(buildState(root)).toEqual({ fresh: true });
    editKeepingStat();
    expect(buildState(root)).toEqual({ fresh: false, reason: 'shared/a.ts changed since the build' });
  });
});
