/** Types of dynalite-expressions.mjs (plain JavaScript, loaded by the dynalite worker thread). */

/** A dynalite PEG parser module: `parse(expression, { context })`. */
export interface ExpressionParser {
  parse(expression: string, options: { context: Record<string, unknown> }): unknown;
}
export declare const MAX_TEMPLATES: number;
export declare function cacheParses<P extends ExpressionParser>(parser: P): P;
