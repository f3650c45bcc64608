/**
 * The CLI build the process runs from (dist/cli, see scripts/build.mjs), set by the built entry once
 * bin/meta-agent.js found it fresh. Unset (tests, tsx), everything is loaded from the sources. A module of
 * its own, free of imports: the entry sets it without loading the runtime.
 */
let buildDir: string | undefined;

/** Makes embedded systems load their handlers and the definition from the CLI build in `dir`. */
export function useCliBuild(dir: string): void {
  buildDir = dir;
}

/** The CLI build directory in use, if any. */
export function cliBuildDir(): string | undefined {
  return buildDir;
}
