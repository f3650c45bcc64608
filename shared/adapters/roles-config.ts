/**
 * Reads a role configuration file: JSON `{ "roles": [ <role or override>, ... ] }`, merged over the
 * built-in catalog by resolveRoles (override a field of a built-in role, or add a complete new role).
 */
import { readFileSync } from 'node:fs';
import { type RoleCatalog, RoleConfigError, resolveRoles } from '../domain/roles';

/**
 * The role catalog from a config file. Throws RoleConfigError naming the file and the JSON path of each
 * problem: unreadable file (`$`), invalid JSON (`$`), missing or non-array `roles` (`$.roles`), invalid
 * roles (`$.roles[i].field`).
 */
export function loadRolesConfigFile(path: string): RoleCatalog {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new RoleConfigError(
      [{ path: '$', message: `cannot read the file: ${(error as Error).message}` }],
      path,
    );
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new RoleConfigError([{ path: '$', message: `not valid JSON: ${(error as Error).message}` }], path);
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new RoleConfigError([{ path: '$', message: 'expected an object like { "roles": [...] }' }], path);
  }
  const roles = (document as Record<string, unknown>).roles;
  if (!Array.isArray(roles)) {
    throw new RoleConfigError([{ path: '$.roles', message: 'expected an array of roles' }], path);
  }
  try {
    return resolveRoles(roles);
  } catch (error) {
    if (error instanceof RoleConfigError) throw new RoleConfigError(error.issues, path);
    throw error;
  }
}
