/**
 * Finds where JSON text stops being valid, so a malformed batch can be refused with a line and column.
 * JSON.parse's own messages give a position only for some errors and differ between Node versions,
 * so this small scanner (RFC 8259 grammar) runs once JSON.parse has already failed.
 */

export interface JsonSyntaxLocation {
  /** 1-based line. */
  line: number;
  /** 1-based column, in UTF-16 code units like editors count them. */
  column: number;
  /** What the scanner expected, as a short phrase. */
  reason: string;
}

class ScanError extends Error {
  constructor(
    readonly offset: number,
    readonly reason: string,
  ) {
    super(reason);
  }
}

/** Nesting beyond this is refused as malformed; it stops the recursive scanner from overflowing. */
const MAX_JSON_DEPTH = 512;

function describeAt(text: string, offset: number): string {
  if (offset >= text.length) return 'the end of the text';
  return JSON.stringify(text.charAt(offset));
}

function scan(text: string): void {
  let pos = 0;
  const skipSpace = () => {
    while (pos < text.length && ' \t\n\r'.includes(text.charAt(pos))) pos++;
  };
  const fail = (expected: string): never => {
    throw new ScanError(pos, `expected ${expected}, found ${describeAt(text, pos)}`);
  };
  const literal = (word: string) => {
    if (text.startsWith(word, pos)) pos += word.length;
    else fail('a value');
  };
  const string = () => {
    pos++; // opening quote
    for (;;) {
      if (pos >= text.length) fail('a closing quote "');
      const c = text.charCodeAt(pos);
      if (c === 0x22) {
        pos++;
        return;
      }
      if (c < 0x20) throw new ScanError(pos, 'control characters must be escaped inside strings');
      if (c === 0x5c) {
        const e = text.charAt(pos + 1);
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(pos + 2, pos + 6))) {
            throw new ScanError(pos, 'a \\u escape needs four hex digits');
          }
          pos += 6;
        } else if ('"\\/bfnrt'.includes(e) && e !== '') pos += 2;
        else throw new ScanError(pos, `invalid escape \\${e}`);
        continue;
      }
      pos++;
    }
  };
  const number = () => {
    const match = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(pos, pos + 400));
    if (!match || match[0] === '' || match[0] === '-') fail('a value');
    pos += (match as RegExpExecArray)[0].length;
  };
  const value = (depth: number): void => {
    if (depth > MAX_JSON_DEPTH) throw new ScanError(pos, `nesting deeper than ${MAX_JSON_DEPTH} levels`);
    skipSpace();
    const c = text.charAt(pos);
    if (c === '{') {
      pos++;
      skipSpace();
      if (text.charAt(pos) === '}') {
        pos++;
        return;
      }
      for (;;) {
        skipSpace();
        if (text.charAt(pos) !== '"') fail('a double-quoted property name');
        string();
        skipSpace();
        if (text.charAt(pos) !== ':') fail("':' after the property name");
        pos++;
        value(depth + 1);
        skipSpace();
        const next = text.charAt(pos);
        if (next === ',') {
          pos++;
          continue;
        }
        if (next === '}') {
          pos++;
          return;
        }
        fail("',' or '}'");
      }
    }
    if (c === '[') {
      pos++;
      skipSpace();
      if (text.charAt(pos) === ']') {
        pos++;
        return;
      }
      for (;;) {
        value(depth + 1);
        skipSpace();
        const next = text.charAt(pos);
        if (next === ',') {
          pos++;
          continue;
        }
        if (next === ']') {
          pos++;
          return;
        }
        fail("',' or ']'");
      }
    }
    if (c === '"') string();
    else if (c === 't') literal('true');
    else if (c === 'f') literal('false');
    else if (c === 'n') literal('null');
    else if (c === '-' || (c >= '0' && c <= '9')) number();
    else fail('a value');
  };
  value(0);
  skipSpace();
  if (pos < text.length) fail('the end of the text after the JSON value');
}

/** Line and column of an offset in text (both 1-based). */
export function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 0x0a) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

/** Where the JSON text is malformed, or undefined when it is valid. */
export function locateJsonSyntaxError(text: string): JsonSyntaxLocation | undefined {
  try {
    scan(text);
    return undefined;
  } catch (error) {
    if (!(error instanceof ScanError)) throw error;
    return { ...lineAndColumn(text, error.offset), reason: error.reason };
  }
}
