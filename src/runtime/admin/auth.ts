/**
 * Who may use the admin API. It listens on loopback by default; when
 * TIDELINE_ADMIN_TOKEN is set every request must carry it as a bearer token,
 * and listening on any other address requires one (checked at start).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { AdminError } from './errors.js';

export const ADMIN_TOKEN_ENV = 'TIDELINE_ADMIN_TOKEN';

/** Addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (bare === 'localhost' || bare === '::1') return true;
  const v4 = bare.startsWith('::ffff:') ? bare.slice('::ffff:'.length) : bare;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

/** Why the admin API must not listen on `host` with `token`, or undefined when it may. */
export function bindingProblem(host: string, token: string | undefined): string | undefined {
  if (isLoopback(host) || token) return undefined;
  return (
    `refusing to serve the admin API on ${host}: it can pause and restart connectors, so an address other than loopback needs a token. ` +
    `Set ${ADMIN_TOKEN_ENV} (clients send "Authorization: Bearer <token>"), or listen on 127.0.0.1 (--admin-host / TIDELINE_ADMIN_HOST)`
  );
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/**
 * Checks a request's Authorization header against the token (none configured:
 * every request passes). Compared in constant time over digests, so neither
 * the content nor the length of the token leaks through timing.
 */
export function authorize(header: string | undefined, token: string | undefined): void {
  if (!token) return;
  const challenge = { 'www-authenticate': 'Bearer realm="tideline"' };
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (!match) throw new AdminError(401, 'this admin API needs a bearer token: send "Authorization: Bearer <token>" (the daemon\'s TIDELINE_ADMIN_TOKEN)', challenge);
  if (!timingSafeEqual(digest(match[1]!), digest(token))) throw new AdminError(401, 'the bearer token is not the admin token', challenge);
}
