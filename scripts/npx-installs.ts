/**
 * npx's installs of a checkout. npx installs a package that declares the command it is asked for under
 * `<npm cache>/_npx/<hash of its path>`, once per path. `npx meta-agent` no longer does (it runs the cli
 * workspace's link in node_modules/.bin), but if it ever did again, a test or benchmark run from a fresh clone
 * or a temporary worktree would leave one behind for a path that is gone next. Whoever runs npx takes
 * `npxInstalls()` before and calls `forgetNewNpxInstalls` after, which answers what it removed.
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** npm gives scripts its cache as npm_config_cache; ~/.npm otherwise. */
const NPX_DIR = join(process.env.npm_config_cache ?? join(homedir(), '.npm'), '_npx');

/** The installs there now. */
export function npxInstalls(): Set<string> {
  return new Set(existsSync(NPX_DIR) ? readdirSync(NPX_DIR) : []);
}

/** Removes the installs of `checkout` (an absolute path) that were not there `before`; answers them. */
export function forgetNewNpxInstalls(before: ReadonlySet<string>, checkout: string): string[] {
  const removed: string[] = [];
  for (const entry of npxInstalls()) {
    if (before.has(entry)) continue;
    const manifest = join(NPX_DIR, entry, 'package.json');
    try {
      const packages = (JSON.parse(readFileSync(manifest, 'utf8')) as { _npx?: { packages?: string[] } })._npx
        ?.packages;
      if (packages?.includes(checkout)) {
        rmSync(join(NPX_DIR, entry), { recursive: true, force: true });
        removed.push(entry);
      }
    } catch {
      // Not one of this run's installs (another npx, mid-write): left alone.
    }
  }
  return removed;
}
