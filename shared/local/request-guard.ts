/**
 * What `meta-agent serve` checks before a request reaches a handler. The server listens on 127.0.0.1, but a
 * web page the user visits can still reach it: by a cross-site request (a form POST with a `text/plain` body
 * needs no CORS preflight) or by DNS rebinding (a hostile name that resolves to 127.0.0.1, whose pages then
 * read the answers as same-origin). So every request must name this server in `Host`, come from no other
 * origin, carry a JSON body as JSON, and (unless the user opted out) the API key.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { unsupportedCharsetSentence } from '../domain/utf8';

/** A request refused before any handler runs: the status and a sentence saying why. */
export interface Refusal {
  readonly status: number;
  readonly message: string;
}

/** The header the deployed API reads its key from (API Gateway API keys). */
export const API_KEY_HEADER = 'x-api-key';

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** The `Host` values that name a server on 127.0.0.1:`port` (lower case). */
export function localHosts(port: number): ReadonlySet<string> {
  return new Set([`127.0.0.1:${port}`, `localhost:${port}`]);
}

/** The origins of pages this server serves itself (the dashboard at `/`). */
export function localOrigins(port: number): ReadonlySet<string> {
  return new Set([`http://127.0.0.1:${port}`, `http://localhost:${port}`]);
}

/**
 * Refuses a request (HTTP or a WebSocket handshake) whose `Host` is not this server (DNS rebinding), whose
 * `Origin` is another one, or that a browser marks as cross-site.
 */
export function checkHostAndOrigin(headers: IncomingHttpHeaders, port: number): Refusal | undefined {
  const host = single(headers.host)?.toLowerCase();
  if (host === undefined || !localHosts(port).has(host)) {
    return {
      status: 403,
      message: `Host ${JSON.stringify(host ?? '')} is not this server: use http://127.0.0.1:${port} (other names are refused against DNS rebinding)`,
    };
  }
  const origin = single(headers.origin);
  if (origin !== undefined && !localOrigins(port).has(origin.toLowerCase())) {
    return { status: 403, message: `requests from origin ${JSON.stringify(origin)} are refused` };
  }
  if (single(headers['sec-fetch-site']) === 'cross-site') {
    return { status: 403, message: 'cross-site requests are refused' };
  }
  return undefined;
}

/** Whether the request has a body (a length above 0, or a chunked one). */
function hasBody(headers: IncomingHttpHeaders): boolean {
  const length = Number(single(headers['content-length']) ?? '0');
  return headers['transfer-encoding'] !== undefined || !(length === 0 || Number.isNaN(length));
}

/**
 * Refuses (415) a request that has a body or a content type other than `application/json`, a charset other than
 * UTF-8's (ACCEPTED_BODY_CHARSETS), or a compressed body: the content types a cross-site form may send without a CORS preflight (`text/plain`, form encodings)
 * never reach a handler.
 */
export function checkContentType(headers: IncomingHttpHeaders): Refusal | undefined {
  // A compressed body is not read as compressed: it would be refused as text that is not UTF-8, which sends the
  // user looking at the JSON instead of the header.
  const encoding = single(headers['content-encoding'])?.trim().toLowerCase();
  if (encoding !== undefined && encoding !== '' && encoding !== 'identity') {
    return {
      status: 415,
      message: `a request body must be sent uncompressed: Content-Encoding ${JSON.stringify(encoding)} is not supported`,
    };
  }
  const type = single(headers['content-type']);
  const media = type?.split(';')[0]?.trim().toLowerCase();
  if (media === 'application/json') {
    // The body is read as UTF-8 whatever the header says: one in another charset is refused, not misread.
    const charset = unsupportedCharsetSentence(type);
    return charset === undefined ? undefined : { status: 415, message: charset };
  }
  if (type === undefined && !hasBody(headers)) return undefined;
  return {
    status: 415,
    message: `a request body must be sent as application/json${type === undefined ? '' : `, not ${JSON.stringify(type)}`}`,
  };
}

const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/**
 * The one check of a REST request's credentials: the API key in `x-api-key`, compared in constant time
 * (digests of equal length, so neither the key's characters nor its length leak through timing).
 */
export function hasApiKey(headers: IncomingHttpHeaders, apiKey: string): boolean {
  const given = single(headers[API_KEY_HEADER]);
  return given !== undefined && timingSafeEqual(digest(given), digest(apiKey));
}
