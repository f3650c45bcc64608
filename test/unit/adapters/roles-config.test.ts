import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadRolesConfigFile } from '../../../shared/adapters/roles-config';
import { RoleConfigError } from '../../../shared/domain/roles';

describe('loadRolesConfigFile', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'roles-config-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  function write(name: string, content: string): string {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  }

  function errorOf(act: () => unknown): RoleConfigError {
    try {
      act();
    } catch (error) {
      if (error instanceof RoleConfigError) return error;
      throw error;
    }
    throw new Error('expected a RoleConfigError');
  }

  it('loads overrides from the file over the built-in catalog', () => {
    const path = write(
      'roles.json',
      JSON.stringify({ roles: [{ name: 'test_generator', defaults: { capacity: 9 } }] }),
    );

    const catalog = loadRolesConfigFile(path);

    expect(catalog.size).toBe(22);
    expect(catalog.get('test_generator')?.defaults.capacity).toBe(9);
  });

  it('names the file and the JSON path of an invalid role', () => {
    const path = write('bad.json', JSON.stringify({ roles: [{ name: 'new_role' }] }));

    const error = errorOf(() => loadRolesConfigFile(path));

    expect(error.source).toBe(path);
    expect(error.message).toContain(path);
    expect(error.issues.map((i) => i.path)).toContain('$.roles[0].description');
  });

  it('names the file when it is not valid JSON', () => {
    const path = write('broken.json', '{ "roles": [');

    const error = errorOf(() => loadRolesConfigFile(path));

    expect(error.message).toContain(path);
    expect(error.issues[0]?.message).toMatch(/not valid JSON/);
  });

  it('asks for a roles array when the document has none', () => {
    const path = write('empty.json', '{}');

    const error = errorOf(() => loadRolesConfigFile(path));

    expect(error.issues).toEqual([{ path: '$.roles', message: 'expected an array of roles' }]);
  });

  it('names a file that cannot be read', () => {
    const path = join(dir, 'missing.json');

    const error = errorOf(() => loadRolesConfigFile(path));

    expect(error.message).toContain(path);
    expect(error.issues[0]?.message).toMatch(/cannot read the file/);
  });
});
