/**
 * UTF-8 sizes and cuts of text, without Node's Buffer: limits are in bytes (what DynamoDB, S3, Step Functions
 * and a model's request count), while strings are UTF-16.
 */

/** UTF-8 byte length of a string without allocating an encoded copy. */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * Characters of a string as the character limits count them (MAX_DESCRIPTION_CHARS, MAX_APPROVAL_COMMENT_CHARS):
 * Unicode code points, as the schemas' string length checks do, so an emoji counts once, not as its two UTF-16
 * units. Messages that quote a length use this, so they agree with the limit they name.
 */
export function characterCount(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}

/** The longest prefix of `text` whose UTF-8 encoding takes at most `maxBytes` (never half a character). */
export function utf8Prefix(text: string, maxBytes: number): string {
  if (maxBytes <= 0) return '';
  let bytes = 0;
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    let width = 1;
    let units = 1;
    if (c >= 0x80 && c < 0x800) width = 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        width = 4;
        units = 2;
      } else width = 3;
    } else if (c >= 0x800) width = 3;
    if (bytes + width > maxBytes) break;
    bytes += width;
    i += units;
  }
  return text.slice(0, i);
}

/**
 * Decodes bytes that may end in the middle of a character (a range read of a larger text): the incomplete
 * trailing sequence is dropped instead of becoming a replacement character.
 */
export function decodeUtf8Prefix(bytes: Uint8Array): string {
  let end = bytes.length;
  // A UTF-8 sequence is at most 4 bytes: look back at most 3 continuation bytes for its lead byte.
  for (let back = 1; back <= Math.min(4, bytes.length); back++) {
    const byte = bytes[bytes.length - back] as number;
    if ((byte & 0xc0) === 0x80) continue; // continuation byte
    const width = byte < 0x80 ? 1 : byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    if (width > back) end = bytes.length - back;
    break;
  }
  return new TextDecoder('utf-8').decode(bytes.subarray(0, end));
}

/** UTF-8 encoding of `text`. */
export function utf8Encode(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** Decodes UTF-8 and throws on the first malformed sequence (no replacement characters); keeps a BOM. */
const STRICT_DECODER = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Where bytes stop being UTF-8: the first byte of the first malformed sequence, with its 1-based line. */
export interface InvalidUtf8 {
  readonly offset: number;
  readonly line: number;
}

/**
 * The first malformed UTF-8 sequence of `bytes` (RFC 3629: no overlong forms, no surrogates, nothing past
 * U+10FFFF, no truncated sequence), or undefined when they are all UTF-8.
 */
export function findInvalidUtf8(bytes: Uint8Array): InvalidUtf8 | undefined {
  let line = 1;
  let i = 0;
  while (i < bytes.length) {
    const lead = bytes[i] as number;
    if (lead < 0x80) {
      if (lead === 0x0a) line++;
      i++;
      continue;
    }
    // The continuation bytes a lead byte needs, and the range its first one must fall in.
    let needed: number;
    let low = 0x80;
    let high = 0xbf;
    if (lead >= 0xc2 && lead <= 0xdf) needed = 1;
    else if (lead >= 0xe0 && lead <= 0xef) {
      needed = 2;
      if (lead === 0xe0) low = 0xa0; // overlong
      if (lead === 0xed) high = 0x9f; // surrogates
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      needed = 3;
      if (lead === 0xf0) low = 0x90; // overlong
      if (lead === 0xf4) high = 0x8f; // past U+10FFFF
    } else return { offset: i, line };
    if (i + needed >= bytes.length) return { offset: i, line };
    const first = bytes[i + 1] as number;
    if (first < low || first > high) return { offset: i, line };
    for (let k = 2; k <= needed; k++) {
      if (((bytes[i + k] as number) & 0xc0) !== 0x80) return { offset: i, line };
    }
    i += needed + 1;
  }
  return undefined;
}

/**
 * Decodes UTF-8 text that must be exactly that: the text, or where it stops being UTF-8. A lenient decoder
 * would put U+FFFD in place of each bad byte and the damaged text would be kept as if it had been sent.
 */
export function decodeUtf8Strict(bytes: Uint8Array): { text: string } | { invalid: InvalidUtf8 } {
  try {
    return { text: STRICT_DECODER.decode(bytes) };
  } catch {
    // The fast decoder says only that it failed; the scan says where.
    return { invalid: findInvalidUtf8(bytes) ?? { offset: 0, line: 1 } };
  }
}

/** "`what` is not UTF-8 text: byte N (line L) starts a malformed sequence", for every place that refuses it. */
export function notUtf8Sentence(what: string, invalid: InvalidUtf8): string {
  return `${what} is not UTF-8 text: byte ${invalid.offset} (line ${invalid.line}) starts a malformed sequence`;
}

/**
 * The charsets a request body may name in its Content-Type: UTF-8 (as JSON is, RFC 8259) and US-ASCII, which
 * is UTF-8's first 128 characters. A body is always decoded as UTF-8: one in another charset (`latin1`) would be
 * refused as not UTF-8, or worse read as other characters than the sender wrote, so its type is refused first.
 */
export const ACCEPTED_BODY_CHARSETS: ReadonlySet<string> = new Set(['utf-8', 'utf8', 'us-ascii']);

/** Every `charset` parameter of a Content-Type value, unquoted and lower-cased, in order. */
export function contentTypeCharsets(contentType: string): string[] {
  const charsets: string[] = [];
  // Parameters follow the media type, `;`-separated; a quoted value (RFC 9110 quoted-string) may hold `;`.
  for (const match of contentType.matchAll(/;\s*([^=;\s]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)/g)) {
    const [, name = '', raw = ''] = match;
    if (name.toLowerCase() !== 'charset') continue;
    const value = raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw.trim();
    charsets.push(value.toLowerCase());
  }
  return charsets;
}

/**
 * Why a request body of this Content-Type is refused for its charset (a sentence naming it), or undefined when
 * it names none or only ACCEPTED_BODY_CHARSETS.
 */
export function unsupportedCharsetSentence(contentType: string | undefined): string | undefined {
  if (contentType === undefined) return undefined;
  const refused = contentTypeCharsets(contentType).find((charset) => !ACCEPTED_BODY_CHARSETS.has(charset));
  if (refused === undefined) return undefined;
  return `a request body must be UTF-8: Content-Type ${JSON.stringify(contentType)} names charset ${JSON.stringify(refused)}; send the body encoded as UTF-8, with charset=utf-8 or no charset`;
}
