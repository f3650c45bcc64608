/** Types of dynalite-parse-cache.mjs (plain JavaScript, loaded by dynalite's worker thread). */

/** Parses kept and reused, counted. */
export interface ParseCacheStats {
  hits: number;
  misses: number;
}

/** The `parse` function of a dynalite expression parser module (db/*Parser.js). */
export type DynaliteParse = (input: string, options: { context: object }) => unknown;

/** Templates kept per parser. */
export declare const PARSE_CACHE_ENTRIES: number;

/** `parse` with successful parses kept by the expression's shape, counted in `stats`. */
export declare function cachedParse(parse: DynaliteParse, stats?: ParseCacheStats): DynaliteParse;

/** Keeps the parses of the dynalite this module resolves (once per thread); returns the hit and miss counts. */
export declare function installParseCache(): ParseCacheStats;
