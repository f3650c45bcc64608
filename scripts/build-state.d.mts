/** Types of build-state.mjs (plain JavaScript, read by bin/meta-agent.js before TypeScript can load). */
export declare const CLI_BUILD_DIR: string;
export declare const COMPILE_CACHE_DIR: string;
export declare const MANIFEST_FILE: string;
export declare const DEFINITION_FILE: string;
export declare const MANIFEST_VERSION: number;
export declare const HANDLER_SETS: { readonly local: string; readonly progress: string };
export declare const PROGRESS_HANDLERS: readonly ('websocket' | 'notifier')[];
export declare const BUILD_INPUTS: readonly string[];
export declare function hashInput(root: string, path: string): string;
export interface InputStat {
  readonly size: number;
  readonly ino: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
}
export declare const RACY_MS: number;
export declare function statInput(root: string, path: string): InputStat | undefined;
export declare function manifestOf(
  root: string,
  inputs: readonly string[],
  madeAt?: number,
): { version: number; madeAt: number; inputs: Record<string, { sha256: string; stat?: InputStat }> };
export declare function buildState(
  root: string,
  dir?: string,
): { fresh: true } | { fresh: false; reason: string };
