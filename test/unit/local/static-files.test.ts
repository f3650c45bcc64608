import { sep } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dashboardCsp, staticPath } from '../../../shared/local/static-files';

const ROOT = `${sep}srv${sep}web`;

describe('dashboard static files', () => {
  it('maps / to index.html and asset paths under the root', () => {
    expect(staticPath(ROOT, '/')).toBe(`${ROOT}${sep}index.html`);
    expect(staticPath(ROOT, '/assets/index-1.js')).toBe(`${ROOT}${sep}assets${sep}index-1.js`);
  });

  it('never answers a path outside the root, however it is spelt', () => {
    for (const path of ['/../secret', '/assets/../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd']) {
      const file = staticPath(ROOT, path);
      expect(file === undefined || file.startsWith(`${ROOT}${sep}`), `${path} -> ${file}`).toBe(true);
    }
    expect(staticPath(ROOT, '/a%00.js')).toBeUndefined();
    expect(staticPath(ROOT, '/%zz')).toBeUndefined();
  });

  it("allows the page's own scripts and its API connections only, and no framing", () => {
    const csp = dashboardCsp(['ws://127.0.0.1:3000']);

    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self' ws://127.0.0.1:3000");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe');
  });
});
