/** Types of dynalite-preload.mjs (plain JavaScript, loaded by the CLI's entry point before the CLI). */
import type { Worker } from 'node:worker_threads';

/** Whether the command line (after `meta-agent`) starts the embedded runtime: a local run or serve. */
export declare function startsLocalRuntime(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): boolean;

/** Starts dynalite's worker thread ahead of startDynalite, which adopts it; not keeping the process alive. */
export declare function preloadDynalite(url: URL | string): void;

/** The preloaded thread for `url`, taken once; undefined when none was started, it ended, or runs another file. */
export declare function takePreloadedDynalite(url: URL | string): Worker | undefined;
