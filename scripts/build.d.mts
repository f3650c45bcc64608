/** Types of build.mjs (plain JavaScript: npm runs it at install, before anything is compiled). */
import type { Metafile } from 'esbuild';

/** Packages the CLI build loads from node_modules at run time rather than bundling. */
export declare const BUILD_EXTERNALS: readonly string[];
export declare function buildCli(options?: {
  outdir?: string;
  log?: (line: string) => void;
}): Promise<{ outdir: string; metafile: Metafile }>;
export declare const STEPS: Readonly<
  Record<string, (options?: { log?: (line: string) => void }) => Promise<unknown>>
>;
/** The esbuild plugin that has the bundle evaluate some packages at their first call instead of at load. */
export declare const deferredImports: import('esbuild').Plugin;
