import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  contentTypeCharsets,
  decodeUtf8Strict,
  findInvalidUtf8,
  unsupportedCharsetSentence,
  utf8Encode,
} from '../../../shared/domain/utf8';

const bytes = (...values: number[]) => Uint8Array.from(values);

describe('decodeUtf8Strict', () => {
  it('decodes every character, a byte order mark kept', () => {
    const text = '\uFEFFa é € 𝄞 \u{10FFFF}\n';

    expect(decodeUtf8Strict(utf8Encode(text))).toEqual({ text });
  });

  it.each([
    ['a byte that never starts a character', [0x61, 0xff], 1],
    ['a continuation byte alone', [0x61, 0x62, 0x80], 2],
    ['an overlong "/"', [0xc0, 0xaf], 0],
    ['an overlong three-byte form', [0xe0, 0x80, 0xaf], 0],
    ['an overlong four-byte form', [0xf0, 0x80, 0x80, 0xaf], 0],
    ['a surrogate', [0x61, 0xed, 0xa0, 0x80], 1],
    ['a code point past U+10FFFF', [0xf4, 0x90, 0x80, 0x80], 0],
    ['a sequence cut at the end', [0x61, 0xe2, 0x82], 1],
    ['a sequence cut by another character', [0xe2, 0x82, 0x61], 0],
  ])('finds %s at its first byte', (_name, values, offset) => {
    expect(decodeUtf8Strict(bytes(...values))).toEqual({ invalid: { offset, line: 1 } });
  });

  it('counts the lines before the malformed byte', () => {
    expect(findInvalidUtf8(bytes(0x7b, 0x0a, 0x20, 0x0a, 0x22, 0xfe))).toEqual({ offset: 5, line: 3 });
  });

  it('agrees with a fatal TextDecoder on any bytes', () => {
    const fatal = new TextDecoder('utf-8', { fatal: true });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 12 }), (values) => {
        let valid = true;
        try {
          fatal.decode(values);
        } catch {
          valid = false;
        }
        expect(findInvalidUtf8(values) === undefined).toBe(valid);
      }),
      { numRuns: 5_000 },
    );
  });

  it('gives back any text it is given as UTF-8', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (text) => {
        expect(decodeUtf8Strict(utf8Encode(text))).toEqual({ text });
      }),
    );
  });
});

describe('unsupportedCharsetSentence', () => {
  it('accepts no charset, UTF-8 and US-ASCII in any case, quoted or not', () => {
    for (const type of [
      'application/json',
      'application/json; charset=utf-8',
      'application/json;charset=UTF-8',
      'application/json; charset="utf8"',
      'application/json; Charset=US-ASCII',
    ]) {
      expect(unsupportedCharsetSentence(type), type).toBeUndefined();
    }
    expect(unsupportedCharsetSentence(undefined)).toBeUndefined();
  });

  it('refuses any other charset, naming it and the Content-Type', () => {
    expect(unsupportedCharsetSentence('application/json; charset=latin1')).toBe(
      'a request body must be UTF-8: Content-Type "application/json; charset=latin1" names charset "latin1"; send the body encoded as UTF-8, with charset=utf-8 or no charset',
    );
    expect(unsupportedCharsetSentence('application/json; charset="UTF-16"')).toContain('charset "utf-16"');
    expect(unsupportedCharsetSentence('application/json; charset=')).toContain('charset ""');
  });

  it('reads every charset parameter, and a quoted value with a semicolon in it', () => {
    expect(contentTypeCharsets('application/json; charset=utf-8; charset=iso-8859-1')).toEqual([
      'utf-8',
      'iso-8859-1',
    ]);
    expect(unsupportedCharsetSentence('application/json; charset=utf-8; charset=iso-8859-1')).toContain(
      'charset "iso-8859-1"',
    );
    expect(contentTypeCharsets('application/json; x="a;charset=latin1"; charset=utf-8')).toEqual(['utf-8']);
  });
});
