/**
 * The dashboard's static files (dist/web, built at install by scripts/build.mjs), served by
 * `meta-agent serve` at `/` with the security headers the deployed CloudFront distribution adds.
 */
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package's root: the nearest folder above this module with a package.json (from source or a bundle). */
function packageRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return from;
  }
}

/** Where the build puts the dashboard. */
export const WEB_ROOT = join(packageRoot(dirname(fileURLToPath(import.meta.url))), 'dist', 'web');

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

/**
 * The page's Content-Security-Policy: its own scripts and styles only, API calls to `connect` (the page's
 * origin and the WebSocket), no framing. The deployed distribution sends the same policy
 * (infra/constructs/dashboard.ts), with the deployed API's origins in `connect`.
 */
export function dashboardCsp(connect: readonly string[]): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src 'self' ${connect.join(' ')}`.trim(),
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
}

/** The file under `root` that `pathname` names (`/` is index.html), or undefined when it escapes root. */
export function staticPath(root: string, pathname: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0')) return undefined;
  const relative = normalize(decoded === '/' ? '/index.html' : decoded);
  const file = join(root, relative);
  return file.startsWith(root + sep) ? file : undefined;
}

/**
 * Answers a GET for a dashboard file: true when it did (the file, or a 404 naming the build step when the
 * dashboard was never built and `/` was asked), false when `pathname` names no file (the caller goes on).
 */
export async function serveStatic(
  response: ServerResponse,
  pathname: string,
  headers: Record<string, string>,
  root = WEB_ROOT,
): Promise<boolean> {
  const file = staticPath(root, pathname);
  if (!file) return false;
  try {
    if (!(await stat(file)).isFile()) return false;
  } catch {
    if (pathname !== '/') return false;
    response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', ...headers });
    response.end('The dashboard is not built: run `npm run build` (npm install runs it too).\n');
    return true;
  }
  const body = await readFile(file);
  const type = CONTENT_TYPES[extname(file)] ?? 'application/octet-stream';
  // Hashed asset names never change content; the page itself is read again each time.
  const cache = pathname.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache';
  response.writeHead(200, { 'content-type': type, 'cache-control': cache, ...headers });
  response.end(body);
  return true;
}
