/**
 * Progress tokens: the credential of a WebSocket connect. A browser cannot put `x-api-key` on a WebSocket
 * handshake, so a client with the key mints a short-lived single-use token over REST
 * (POST /progress-tokens) and opens the socket with `?token=`; the $connect authorizer (AWS) or the local
 * server redeems it.
 */
import { PROGRESS_TOKEN_TTL_SECONDS } from '../domain/limits';
import type { Clock, ProgressTokenStore } from '../ports';

export interface ProgressTokenDeps {
  tokens: ProgressTokenStore;
  clock: Clock;
}

/** What POST /progress-tokens answers. */
export interface MintedProgressToken {
  token: string;
  /** Epoch ms after which the token no longer opens a socket. */
  expiresAt: number;
  /** Where to connect (`<websocketUrl>?token=<token>`), when the deployment knows its WebSocket URL. */
  websocketUrl?: string;
}

/** Mints a token good for one WebSocket connect within PROGRESS_TOKEN_TTL_SECONDS. */
export async function mintProgressToken(
  deps: ProgressTokenDeps,
  websocketUrl?: string,
): Promise<MintedProgressToken> {
  const expiresAt = deps.clock.now() + PROGRESS_TOKEN_TTL_SECONDS * 1000;
  const token = await deps.tokens.issue(expiresAt);
  return { token, expiresAt, ...(websocketUrl ? { websocketUrl } : {}) };
}

/** True when `token` opens a socket now (and spends it); false for a missing, unknown, used or stale one. */
export async function admitProgressToken(
  deps: ProgressTokenDeps,
  token: string | undefined,
): Promise<boolean> {
  if (token === undefined || token === '') return false;
  return deps.tokens.redeem(token, deps.clock.now());
}
