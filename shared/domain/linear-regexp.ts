/**
 * Patterns of an outputSchema matched by RE2 (re2js: pure JavaScript, time linear in the text), not by
 * JavaScript's backtracking RegExp. The schema comes from whoever submits the batch and the text from an agent:
 * with RegExp, `^(a+)+$` against 40 `a`s and a `b` runs for minutes, which froze a worker (and all of
 * `meta-agent serve`, whose workers share one thread) on a single answer. A module of its own, so the CLI's
 * build loads re2js only when a schema is compiled (scripts/build.mjs, DEFERRED_DEFAULT_IMPORTS).
 */
import { RE2JS } from 're2js';

/** A `pattern` of an outputSchema that the linear-time matcher cannot take (lookahead, a backreference). */
export class UnsupportedPatternError extends Error {
  constructor(pattern: string, reason: string) {
    super(
      `the pattern ${JSON.stringify(pattern)} cannot be matched in linear time (${reason}); ` +
        'lookahead and backreferences are not supported in an outputSchema',
    );
    this.name = 'UnsupportedPatternError';
  }
}

/** `pattern` (ECMAScript syntax, as JSON Schema writes it) compiled for RE2; `test` searches like RegExp's. */
export default function linearPattern(pattern: string): { test(text: string): boolean; toString(): string } {
  let re: RE2JS;
  try {
    re = RE2JS.compile(RE2JS.translateRegExp(pattern));
  } catch (error) {
    throw new UnsupportedPatternError(pattern, (error as Error).message);
  }
  // Ajv keys the patterns of one schema by their text.
  return { test: (text: string) => re.test(text), toString: () => pattern };
}
