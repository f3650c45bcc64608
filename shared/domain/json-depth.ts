/**
 * Nesting depth of parsed JSON, measured without recursion: JSON.parse accepts a body nested a million
 * levels deep, and every recursive walk after it (JSON.stringify, a schema, a serializer) would overflow the
 * stack on it. The walk keeps one frame per level and stops at the first value past the limit, so it never
 * holds more than `maxDepth` frames whatever the input.
 */

/** A key of an object or an index of an array, from the root to a value. */
export type JsonPathSegment = string | number;

interface Frame {
  readonly container: object;
  /** Own keys of an object; undefined for an array. */
  readonly keys: readonly string[] | undefined;
  next: number;
  /** Where this container sits in its parent. */
  readonly key: JsonPathSegment | undefined;
}

function isContainer(value: unknown): value is object {
  return typeof value === 'object' && value !== null;
}

function frameOf(container: object, key: JsonPathSegment | undefined): Frame {
  return { container, keys: Array.isArray(container) ? undefined : Object.keys(container), next: 0, key };
}

/**
 * The path of the first object or array nested deeper than `maxDepth` levels (the root container is level
 * 1), or undefined when `value` is within the limit. Own keys only, so a key named `__proto__` is data.
 */
export function firstTooDeep(value: unknown, maxDepth: number): JsonPathSegment[] | undefined {
  if (!isContainer(value)) return undefined;
  if (maxDepth < 1) return [];
  const stack: Frame[] = [frameOf(value, undefined)];
  for (let top = stack[0]; top !== undefined; top = stack[stack.length - 1]) {
    const size = top.keys ? top.keys.length : (top.container as unknown[]).length;
    if (top.next >= size) {
      stack.pop();
      continue;
    }
    const key: JsonPathSegment = top.keys ? (top.keys[top.next] as string) : top.next;
    top.next++;
    const child = (top.container as Record<JsonPathSegment, unknown>)[key];
    if (!isContainer(child)) continue;
    if (stack.length >= maxDepth) return [...stack.slice(1).map((f) => f.key as JsonPathSegment), key];
    stack.push(frameOf(child, key));
  }
  return undefined;
}
