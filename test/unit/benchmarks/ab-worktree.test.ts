import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { linkNodeModules } from '../../../benchmarks/ab-worktree';

describe("bench:ab's worktree node_modules", () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  /** A checkout with a package `pkg` (bin `tool`) and a workspace `cli` (bin `cmd`), and a worktree beside it. */
  function layout() {
    dir = mkdtempSync(join(tmpdir(), 'ab-worktree-'));
    const checkout = join(dir, 'checkout');
    const worktree = join(dir, 'worktree');
    for (const root of [checkout, worktree]) {
      mkdirSync(join(root, 'cli'), { recursive: true });
      writeFileSync(join(root, 'cli', 'cmd.js'), `// ${root}\n`);
    }
    const modules = join(checkout, 'node_modules');
    mkdirSync(join(modules, 'pkg'), { recursive: true });
    mkdirSync(join(modules, '.bin'));
    writeFileSync(join(modules, 'pkg', 'tool.js'), '');
    writeFileSync(join(modules, '.package-lock.json'), '{}');
    symlinkSync('../cli', join(modules, 'cli-workspace'));
    symlinkSync('../pkg/tool.js', join(modules, '.bin', 'tool'));
    symlinkSync('../cli-workspace/cmd.js', join(modules, '.bin', 'cmd'));
    return { checkout, worktree };
  }

  it("links the installed packages and their bins, and the workspace's command to the worktree's own", () => {
    const { checkout, worktree } = layout();
    linkNodeModules(checkout, worktree);
    const real = (path: string) => realpathSync(join(worktree, 'node_modules', path));
    expect(real('pkg')).toBe(realpathSync(join(checkout, 'node_modules', 'pkg')));
    expect(real('.package-lock.json')).toBe(
      realpathSync(join(checkout, 'node_modules', '.package-lock.json')),
    );
    expect(real('.bin/tool')).toBe(realpathSync(join(checkout, 'node_modules', 'pkg', 'tool.js')));
    expect(real('cli-workspace')).toBe(realpathSync(join(worktree, 'cli')));
    expect(real('.bin/cmd')).toBe(realpathSync(join(worktree, 'cli', 'cmd.js')));
  });
});
