/**
 * Duplicate keys in JSON text. JSON.parse keeps the last of an object's duplicate keys and drops the others
 * without a word: a batch file with two "tasks" lists (two documents merged by hand) ran only the second, and an
 * input with a key twice lost the first value. The scan reads text JSON.parse has accepted, without recursion
 * (the text may nest a million levels), one frame per open object or array.
 */
import type { JsonPathSegment } from './json-depth';
import { lineAndColumn } from './json-location';

interface Level {
  /** The keys seen so far in an object; undefined for an array. */
  readonly keys: Set<string> | undefined;
  /** The member being read: an object's current key, an array's current index. */
  member: JsonPathSegment | undefined;
  /** An object expects a key next (after `{` or `,`). */
  expectsKey: boolean;
}

/** Where a duplicate key is: the path of its second occurrence and the line it is on (1-based). */
export interface DuplicateKey {
  readonly path: JsonPathSegment[];
  readonly key: string;
  readonly line: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** The index of the quote closing the string that opens at `start`. */
function stringEnd(text: string, start: number): number {
  let end = text.indexOf('"', start + 1);
  for (;;) {
    let backslashes = 0;
    while (text.charCodeAt(end - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return end;
    end = text.indexOf('"', end + 1);
  }
}

/** The first duplicate key in `text` (valid JSON), or undefined. Keys compare decoded ("a" and "\u0061" are one). */
export function firstDuplicateKey(text: string): DuplicateKey | undefined {
  const stack: Level[] = [];
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const top = stack[stack.length - 1];
    if (code === QUOTE) {
      const end = stringEnd(text, i);
      if (top?.keys && top.expectsKey) {
        const raw = text.slice(i, end + 1);
        const key = raw.includes('\\') ? (JSON.parse(raw) as string) : raw.slice(1, -1);
        if (top.keys.has(key)) {
          const path = [...stack.slice(0, -1).map((level) => level.member as JsonPathSegment), key];
          return { path, key, line: lineAndColumn(text, i).line };
        }
        top.keys.add(key);
        top.member = key;
        top.expectsKey = false;
      }
      i = end;
    } else if (code === 0x7b /* { */) stack.push({ keys: new Set(), member: undefined, expectsKey: true });
    else if (code === 0x5b /* [ */) stack.push({ keys: undefined, member: 0, expectsKey: false });
    else if (code === 0x7d /* } */ || code === 0x5d /* ] */) stack.pop();
    else if (code === 0x2c /* , */ && top) {
      if (top.keys) top.expectsKey = true;
      else top.member = (top.member as number) + 1;
    }
  }
  return undefined;
}
