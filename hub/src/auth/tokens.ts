import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** A 128-bit random token, hex: what a device or operator presents. */
export function generateToken(): string {
  return randomBytes(16).toString('hex');
}

// Tokens carry 128 random bits, so one SHA-256 pass is enough: there is nothing to brute-force
// that a slow hash would protect.
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Constant-time comparison of a presented token against a stored hash. */
export function tokenMatches(token: string, storedHash: string): boolean {
  const presented = Buffer.from(hashToken(token), 'hex');
  const stored = Buffer.from(storedHash, 'hex');
  return presented.length === stored.length && timingSafeEqual(presented, stored);
}

/** Token from `Authorization: Bearer …`, else from `?token=`. */
export function tokenFromRequest(authorization: string | undefined, url: URL): string | undefined {
  const match = authorization?.match(/^Bearer\s+(\S+)\s*$/i);
  return match?.[1] ?? url.searchParams.get('token') ?? undefined;
}
