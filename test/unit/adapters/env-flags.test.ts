/**
 * Optional flags of the handlers' environment (ARTIFACTS_PATH_STYLE, SINGLE_THREADED_STORE): `true` or
 * `false`, unset meaning false; any other value fails with the variable's name.
 */
import { describe, expect, it } from 'vitest';
import { ConfigValueError, flagOf, s3ClientConfig } from '../../../shared/adapters/wiring';
import { EnvVar } from '../../../shared/config';

describe('flags of the environment', () => {
  it('reads true, false, unset and empty', () => {
    const name = EnvVar.SingleThreadedStore;
    expect([
      flagOf(name, { [name]: 'true' }),
      flagOf(name, { [name]: 'false' }),
      flagOf(name, {}),
      flagOf(name, { [name]: '' }),
    ]).toEqual([true, false, false, false]);
  });

  it('names the variable and the value it refuses', () => {
    const name = EnvVar.SingleThreadedStore;
    expect(() => flagOf(name, { [name]: 'yes' })).toThrow(ConfigValueError);
    expect(() => flagOf(name, { [name]: 'TRUE' })).toThrow(
      'Environment variable SINGLE_THREADED_STORE must be true or false (got "TRUE")',
    );
  });

  it('gives S3 clients path-style URLs only when ARTIFACTS_PATH_STYLE is true', () => {
    expect(s3ClientConfig({ [EnvVar.ArtifactsPathStyle]: 'true' })).toEqual({ forcePathStyle: true });
    expect(s3ClientConfig({})).toEqual({});
    expect(() => s3ClientConfig({ [EnvVar.ArtifactsPathStyle]: '1' })).toThrow('ARTIFACTS_PATH_STYLE');
  });
});
