import { describe, expect, it } from 'vitest';
import { LocalRuntimeConfigError } from '../../../shared/local/runtime/execution-runner';
import { assertRuntimeNode, MIN_RUNTIME_NODE_MAJOR } from '../../../shared/local/runtime/local-runtime';
import { EmbeddedSystem } from '../../../shared/local/system';

describe('the Node.js the embedded runtime runs on', () => {
  it('refuses Node 20 with an error that names the version found and what to run instead', () => {
    expect(() => assertRuntimeNode('20.20.2')).toThrow(LocalRuntimeConfigError);
    expect(() => assertRuntimeNode('20.20.2')).toThrow(
      /needs Node\.js >= 22 \(found 20\.20\.2\): run it through an npm script or npx/,
    );
  });

  it('accepts Node 22 and later', () => {
    expect(MIN_RUNTIME_NODE_MAJOR).toBe(22);
    for (const version of ['22.0.0', '22.23.3', '24.1.0'])
      expect(() => assertRuntimeNode(version)).not.toThrow();
  });

  it('refuses a version it cannot read rather than guessing', () => {
    expect(() => assertRuntimeNode('')).toThrow(LocalRuntimeConfigError);
    expect(() => assertRuntimeNode('v22')).toThrow(LocalRuntimeConfigError);
  });

  it('checks the Node that runs the tests when given none (the project pins 22)', () => {
    expect(() => assertRuntimeNode()).not.toThrow();
  });

  it('EmbeddedSystem.start refuses it too, before the definition is synthesized or anything starts', async () => {
    const real = process.versions.node;
    Object.defineProperty(process.versions, 'node', { value: '20.20.2', configurable: true });
    try {
      // A bad role configuration is refused first of everything else: the Node is checked before it.
      const start = EmbeddedSystem.start({ roles: [{ name: 'Bad Name!' } as never] });
      await expect(start).rejects.toThrow(LocalRuntimeConfigError);
    } finally {
      Object.defineProperty(process.versions, 'node', { value: real, configurable: true });
    }
    expect(process.versions.node).toBe(real);
  });
});
