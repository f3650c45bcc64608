/**
 * Task outputs as they are kept (claim check, ARCHITECTURE.md "Work passed along the edges"): every output
 * is one JSON value, serialized once. Up to INLINE_OUTPUT_MAX_BYTES it lives in the task item; above it the
 * same bytes go to the artifacts bucket under a key per batch, task and attempt, and the task item holds
 * only a reference (location, bytes, sha256). Above MAX_OUTPUT_BYTES the task fails without a retry.
 */
import { MAX_OUTPUT_BYTES } from './limits';
import type { ArtifactRef } from './schemas';
import { decodeUtf8Prefix, utf8Length } from './utf8';

/**
 * `text`: an LLM answer `{ text, stopReason?, model? }` (what the anthropic, openai and bedrock executors
 * produce without an outputSchema): what a dependent reads of it is its text. `json`: any other value, read
 * as JSON.
 */
export type OutputFormat = 'text' | 'json';

const TEXT_OUTPUT_KEYS: ReadonlySet<string> = new Set(['text', 'stopReason', 'model']);

/** An LLM answer: a plain object with a string `text` and nothing but `stopReason` and `model` besides. */
export function isTextOutput(
  output: unknown,
): output is { text: string; stopReason?: unknown; model?: unknown } {
  if (typeof output !== 'object' || output === null || Array.isArray(output)) return false;
  const record = output as Record<string, unknown>;
  return typeof record.text === 'string' && Object.keys(record).every((k) => TEXT_OUTPUT_KEYS.has(k));
}

export interface SerializedOutput {
  /** The output's JSON: what the task item holds, the artifact stores and the output route returns. */
  readonly json: string;
  /** UTF-8 bytes of `json`. */
  readonly bytes: number;
  readonly format: OutputFormat;
  /** Top-level fields of an object output (what `{{deps.<id>.output.<field>}}` may address). */
  readonly fields?: string[];
}

/**
 * Serializes an output once. A text output is written with `text` first, so the first bytes of its artifact
 * are the first bytes of its text (a range read gives an excerpt without reading the whole).
 */
export function serializeOutput(output: unknown): SerializedOutput {
  if (isTextOutput(output)) {
    const { text, ...rest } = output;
    const json = JSON.stringify({ text, ...rest });
    return { json, bytes: utf8Length(json), format: 'text' };
  }
  const json = JSON.stringify(output) ?? 'null';
  const fields =
    typeof output === 'object' && output !== null && !Array.isArray(output) ? Object.keys(output) : undefined;
  return { json, bytes: utf8Length(json), format: 'json', ...(fields ? { fields } : {}) };
}

/**
 * The output is larger than MAX_OUTPUT_BYTES. Not retryable: another agent given the same task and context
 * would produce the same kind of answer, so the task fails once, with this reason.
 */
export class OutputTooLargeError extends Error {
  constructor(
    readonly bytes: number,
    readonly limit: number = MAX_OUTPUT_BYTES,
  ) {
    super(
      `the output is ${bytes} bytes as JSON; at most ${limit} bytes are kept (MAX_OUTPUT_BYTES): ask for a smaller ` +
        'deliverable or split the task',
    );
    this.name = 'OutputTooLargeError';
  }
}

/** `.` and `..` as key segments are normalized away by some HTTP paths: escape them like the rest. */
function keySegment(id: string): string {
  if (id === '.' || id === '..') return id.replaceAll('.', '%2E');
  return encodeURIComponent(id);
}

/**
 * The artifact key of one attempt's output: by batch, task and attempt, so a retried write of an attempt
 * rewrites the same bytes under the same key and never touches another attempt's (attempt numbers keep
 * counting across redrives).
 */
export function artifactKey(batchId: string, taskId: string, attempt: number): string {
  return `${batchArtifactPrefix(batchId)}${keySegment(taskId)}/attempt-${attempt}.json`;
}

/** The key prefix of every output of one batch (deleting a batch deletes what is under it). */
export function batchArtifactPrefix(batchId: string): string {
  return `outputs/${keySegment(batchId)}/`;
}

/** `s3://bucket/key` */
export function s3Location(bucket: string, key: string): string {
  return `s3://${bucket}/${key}`;
}

/** `s3://bucket/key` -> bucket and key; undefined for anything else. */
export function parseS3Location(location: string): { bucket: string; key: string } | undefined {
  const match = /^s3:\/\/([^/]+)\/(.+)$/.exec(location);
  return match ? { bucket: match[1] as string, key: match[2] as string } : undefined;
}

/** The text a dependent reads of an output: a text output's text, a string as is, anything else as JSON. */
export function outputText(output: unknown): string {
  if (isTextOutput(output)) return output.text;
  if (typeof output === 'string') return output;
  return JSON.stringify(output) ?? 'null';
}

/**
 * The readable text of the first bytes of a stored output (a range read): for a text output, the decoded
 * start of its `text` (never longer, in UTF-8 bytes, than the bytes read); for JSON, the bytes as text.
 * `complete` is true when the text (or JSON) is whole.
 */
export function excerptOf(
  bytes: Uint8Array,
  format: OutputFormat,
  totalBytes: number,
): { text: string; complete: boolean } {
  const whole = bytes.length >= totalBytes;
  const raw = decodeUtf8Prefix(bytes);
  if (format === 'json') {
    if (whole) return { text: outputText(JSON.parse(raw)), complete: true };
    return { text: raw, complete: false };
  }
  const decoded = decodeJsonStringPrefix(raw, '{"text":"'.length);
  return { text: decoded.text, complete: decoded.closed };
}

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  '"': '"',
  '\\': '\\',
  '/': '/',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
};

/**
 * Decodes the JSON string literal that starts at `from` (just after its opening quote) in `json`, which may
 * be cut anywhere: stops at the closing quote or at the last complete escape.
 */
export function decodeJsonStringPrefix(json: string, from: number): { text: string; closed: boolean } {
  let out = '';
  let i = from;
  while (i < json.length) {
    const c = json[i] as string;
    if (c === '"') return { text: out, closed: true };
    if (c !== '\\') {
      out += c;
      i++;
      continue;
    }
    const kind = json[i + 1];
    if (kind === undefined) break;
    if (kind === 'u') {
      const hex = json.slice(i + 2, i + 6);
      if (hex.length < 4) break;
      out += String.fromCharCode(Number.parseInt(hex, 16));
      i += 6;
      continue;
    }
    out += SIMPLE_ESCAPES[kind] ?? kind;
    i += 2;
  }
  // A lone high surrogate at the cut is half a character.
  const last = out.charCodeAt(out.length - 1);
  if (last >= 0xd800 && last <= 0xdbff) out = out.slice(0, -1);
  return { text: out, closed: false };
}

/** A field path into a structured output: `tables[0].name` -> ['tables', 0, 'name']. */
export type FieldPath = readonly (string | number)[];

/** The value at `path` in `value`, or undefined when some step is missing. */
export function valueAtPath(value: unknown, path: FieldPath): unknown {
  let current = value;
  for (const step of path) {
    if (typeof step === 'number') {
      if (!Array.isArray(current)) return undefined;
      current = current[step];
    } else {
      if (typeof current !== 'object' || current === null || Array.isArray(current)) return undefined;
      if (!Object.hasOwn(current, step)) return undefined;
      current = (current as Record<string, unknown>)[step];
    }
  }
  return current;
}

/** `['tables', 0, 'name']` -> `tables[0].name` */
export function formatFieldPath(path: FieldPath): string {
  return path.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');
}

/** The reference a task item keeps for an output stored as an artifact. */
export function artifactRefOf(serialized: SerializedOutput, location: string, sha256: string): ArtifactRef {
  return {
    location,
    bytes: serialized.bytes,
    sha256,
    contentType: 'application/json',
    format: serialized.format,
    ...(serialized.fields ? { fields: serialized.fields } : {}),
  };
}
