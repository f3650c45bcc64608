import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  artifactKey,
  decodeJsonStringPrefix,
  excerptOf,
  isTextOutput,
  outputText,
  parseS3Location,
  serializeOutput,
  valueAtPath,
} from '../../../shared/domain/outputs';
import { decodeUtf8Prefix, utf8Encode, utf8Length, utf8Prefix } from '../../../shared/domain/utf8';

describe('serializeOutput', () => {
  it('writes an LLM answer with its text first, so the first bytes of the artifact are its text', () => {
    const serialized = serializeOutput({ model: 'm', stopReason: 'end_turn', text: 'héllo' });

    expect(serialized.json).toBe('{"text":"héllo","model":"m","stopReason":"end_turn"}');
    expect(serialized.bytes).toBe(Buffer.byteLength(serialized.json));
    expect(serialized.format).toBe('text');
    expect(serialized.fields).toBeUndefined();
  });

  it('treats any other value as JSON and lists the top-level fields of an object', () => {
    expect(serializeOutput({ tables: [], text: 'not an LLM answer', extra: 1 })).toMatchObject({
      format: 'json',
      fields: ['tables', 'text', 'extra'],
    });
    expect(serializeOutput([1, 2])).toMatchObject({ json: '[1,2]', format: 'json' });
    expect(serializeOutput([1, 2]).fields).toBeUndefined();
  });

  it('reads a text output as its text, a string as itself and anything else as JSON', () => {
    expect(isTextOutput({ text: 'a', stopReason: null })).toBe(true);
    expect(isTextOutput({ text: 1 })).toBe(false);
    expect(outputText({ text: 'the code' })).toBe('the code');
    expect(outputText('plain')).toBe('plain');
    expect(outputText({ a: 1 })).toBe('{"a":1}');
  });
});

describe('excerptOf a range read', () => {
  it('gives the start of the text of a text output, never longer than the bytes read', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 300 }), fc.nat(400), (text, cut) => {
        const { json, bytes } = serializeOutput({ text, stopReason: 'end_turn' });
        const head = utf8Encode(json).subarray(0, cut);

        const excerpt = excerptOf(head, 'text', bytes);

        expect(text.startsWith(excerpt.text)).toBe(true);
        expect(utf8Length(excerpt.text)).toBeLessThanOrEqual(cut);
        if (excerpt.complete) expect(excerpt.text).toBe(text);
      }),
    );
  });

  it('gives a JSON output as the bytes read, cut at a character boundary', () => {
    const { json, bytes } = serializeOutput({ name: 'ünïcode', n: [1, 2, 3] });
    const head = utf8Encode(json).subarray(0, 12);

    expect(excerptOf(head, 'json', bytes)).toEqual({ text: '{"name":"ün', complete: false });
    expect(excerptOf(utf8Encode(json), 'json', bytes)).toEqual({ text: json, complete: true });
  });

  it('decodes escapes and stops before an escape or a surrogate pair cut in half', () => {
    expect(decodeJsonStringPrefix('"a\\nb\\"c', 1)).toEqual({ text: 'a\nb"c', closed: false });
    expect(decodeJsonStringPrefix('"ab\\', 1)).toEqual({ text: 'ab', closed: false });
    expect(decodeJsonStringPrefix('"ab\\u00', 1)).toEqual({ text: 'ab', closed: false });
    expect(decodeJsonStringPrefix('"x\\ud83d', 1)).toEqual({ text: 'x', closed: false });
    expect(decodeJsonStringPrefix('"x\\u00e9" rest', 1)).toEqual({ text: 'xé', closed: true });
  });
});

describe('utf8 helpers', () => {
  it('cut text and bytes only at character boundaries', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 100 }), fc.nat(300), (text, max) => {
        const prefix = utf8Prefix(text, max);
        expect(text.startsWith(prefix)).toBe(true);
        expect(utf8Length(prefix)).toBeLessThanOrEqual(max);
        expect(utf8Length(prefix)).toBe(Buffer.byteLength(prefix));
        // A range read cut anywhere decodes to that same longest whole-character prefix.
        expect(decodeUtf8Prefix(utf8Encode(text).subarray(0, max))).toBe(prefix);
      }),
    );
  });
});

describe('artifact keys and locations', () => {
  it('keys an output by batch, task and attempt, escaping what a path would normalize', () => {
    expect(artifactKey('b-1', 'api:v2', 3)).toBe('outputs/b-1/api%3Av2/attempt-3.json');
    expect(artifactKey('b', '..', 1)).toBe('outputs/b/%2E%2E/attempt-1.json');
    expect(parseS3Location('s3://bucket/outputs/b/t/attempt-1.json')).toEqual({
      bucket: 'bucket',
      key: 'outputs/b/t/attempt-1.json',
    });
    expect(parseS3Location('https://example.com/x')).toBeUndefined();
  });
});

describe('valueAtPath', () => {
  it('follows fields and indexes, and answers undefined for a missing step', () => {
    const value = { tables: [{ name: 'users', columns: ['id'] }] };

    expect(valueAtPath(value, ['tables', 0, 'name'])).toBe('users');
    expect(valueAtPath(value, ['tables', 1, 'name'])).toBeUndefined();
    expect(valueAtPath(value, ['tables', 'name'])).toBeUndefined();
    expect(valueAtPath(value, ['toString'])).toBeUndefined();
  });
});
