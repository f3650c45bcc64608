/**
 * The node_modules of bench:ab's temporary worktree (benchmarks/ab.ts): links to this checkout's installed
 * packages, so the base commit runs on the same dependencies without an install, except the project's own
 * workspace links (`cli`, whose bin is `meta-agent`), which point into the worktree. A single link to the
 * whole node_modules would make `npx meta-agent` in the worktree run this checkout's command.
 */
import { lstatSync, mkdirSync, readdirSync, readlinkSync, symlinkSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';

/** Whether a link in `modules` whose text is `target` points into the project beside it (a workspace). */
function isWorkspaceLink(modules: string, target: string): boolean {
  const to = resolve(modules, target);
  return (
    relative(modules, to).startsWith(`..${sep}`) && !relative(resolve(modules, '..'), to).startsWith('..')
  );
}

/**
 * Fills `worktree`/node_modules from `checkout`/node_modules: each package a link to the installed one, each
 * workspace link and each bin of a workspace as relative as it is there (so into the worktree), every other
 * bin a link to its installed target.
 */
export function linkNodeModules(checkout: string, worktree: string): void {
  const modules = join(checkout, 'node_modules');
  const into = join(worktree, 'node_modules');
  mkdirSync(join(into, '.bin'), { recursive: true });
  const workspaces = new Set<string>();
  for (const entry of readdirSync(modules)) {
    if (entry === '.bin') continue;
    const path = join(modules, entry);
    const stat = lstatSync(path);
    const target = stat.isSymbolicLink() ? readlinkSync(path) : undefined;
    if (target !== undefined && isWorkspaceLink(modules, target)) {
      workspaces.add(entry);
      symlinkSync(target, join(into, entry), 'dir');
    } else {
      symlinkSync(path, join(into, entry), stat.isDirectory() ? 'dir' : 'file');
    }
  }
  const bins = join(modules, '.bin');
  for (const bin of readdirSync(bins)) {
    const path = join(bins, bin);
    if (!lstatSync(path).isSymbolicLink()) {
      symlinkSync(path, join(into, '.bin', bin));
      continue;
    }
    const target = readlinkSync(path);
    // `../<package>/<file>`: kept relative when the package is a workspace, so it resolves in the worktree.
    const viaWorkspace = workspaces.has(target.split(/[\\/]/)[1] ?? '');
    symlinkSync(viaWorkspace ? target : resolve(bins, target), join(into, '.bin', bin));
  }
}
