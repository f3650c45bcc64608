import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  checkModel,
  DEFAULT_MODELS,
  dayOf,
  KNOWN_MODELS,
  MODEL_LIFECYCLES,
} from '../../../shared/domain/models';

const require = createRequire(import.meta.url);
/** A file of an installed package (read past its exports map: these are its internals). */
const installed = (path: string) => fileURLToPath(new URL(`../../../node_modules/${path}`, import.meta.url));
/** The model ids of a string-literal union type in an installed SDK's type declarations. */
function unionIn(file: string, typeName: string): string[] {
  const text = readFileSync(installed(file), 'utf8');
  const declaration = new RegExp(`export type ${typeName} = ([^;]+);`).exec(text)?.[1] ?? '';
  return [...declaration.matchAll(/'([^']+)'/g)].map((m) => m[1] as string);
}
const TODAY = '2026-12-03';

describe('model defaults and lifecycles', () => {
  it('defaults to models that are current: known, not deprecated', () => {
    for (const [provider, model] of Object.entries(DEFAULT_MODELS)) {
      expect(checkModel({ name: provider as 'anthropic', model }, TODAY), provider).toBeUndefined();
      expect(checkModel({ name: provider as 'anthropic' }, TODAY), provider).toBeUndefined();
    }
  });

  it("knows every deprecation the installed Anthropic SDK warns about, with the SDK's end-of-life date", () => {
    const { DEPRECATED_MODELS } = require(
      installed('@anthropic-ai/sdk/internal/data/deprecated-models.js'),
    ) as {
      DEPRECATED_MODELS: Record<string, string>;
    };
    for (const [model, date] of Object.entries(DEPRECATED_MODELS)) {
      const lifecycle = MODEL_LIFECYCLES.anthropic.get(model);
      expect(lifecycle, model).toBeDefined();
      expect(new Date(`${date.replace(/(\d+)(st|nd|rd|th)/, '$1')} UTC`).toISOString().slice(0, 10)).toBe(
        lifecycle?.retiresOn,
      );
    }
  });

  it("lists only model ids the installed SDKs know (Anthropic's Model, OpenAI's ChatModel)", () => {
    const anthropic = unionIn('@anthropic-ai/sdk/resources/messages/messages.d.ts', 'Model');
    const openai = unionIn('openai/resources/shared.d.ts', 'ChatModel');
    for (const model of [...KNOWN_MODELS.anthropic, ...MODEL_LIFECYCLES.anthropic.keys()])
      expect(anthropic, model).toContain(model);
    for (const model of KNOWN_MODELS.openai) expect(openai, model).toContain(model);
    expect(anthropic).toContain(DEFAULT_MODELS.anthropic);
    expect(openai).toContain(DEFAULT_MODELS.openai);
  });

  it('makes a retired model an error, a deprecated one a warning with its date, an unknown one a warning', () => {
    expect(checkModel({ name: 'anthropic', model: 'claude-sonnet-4-5' }, TODAY)).toMatchObject({
      level: 'error',
      message:
        'anthropic model "claude-sonnet-4-5" reached its end of life on 2026-11-30: calls fail; use "claude-sonnet-5-5" (executor.model)',
    });
    expect(checkModel({ name: 'openai', model: 'gpt-4.1-mini' }, TODAY)).toMatchObject({
      level: 'warning',
      message: expect.stringContaining('reaches its end of life on 2027-01-14; move to "gpt-6-luna"'),
    });
    expect(checkModel({ name: 'openai', model: 'gpt-4.1-mini' }, '2027-01-14')?.level).toBe('error');
    expect(
      checkModel({ name: 'bedrock', model: 'us.anthropic.claude-3-7-sonnet-20250219-v1:0' }, TODAY)?.level,
    ).toBe('warning');
    expect(checkModel({ name: 'anthropic', model: 'claude-nonexistent' }, TODAY)).toMatchObject({
      level: 'warning',
      message: expect.stringContaining('is not one this version knows'),
    });
  });

  it('says nothing of a model behind its own url, of the simulated executor and of http', () => {
    expect(
      checkModel({ name: 'openai', model: 'llama-local', url: 'http://127.0.0.1:8000/v1' }, TODAY),
    ).toBeUndefined();
    expect(checkModel({ name: 'simulated' }, TODAY)).toBeUndefined();
    expect(checkModel({ name: 'http', url: 'http://127.0.0.1:1/' }, TODAY)).toBeUndefined();
    expect(dayOf(Date.UTC(2026, 11, 3, 23, 59))).toBe('2026-12-03');
  });
});
