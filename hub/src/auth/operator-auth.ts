// The operator presents the admin token as `Authorization: Bearer …` (scripts), or a session the
// dashboard's login opened, as the `hub_session` cookie (browsers cannot put headers on a
// WebSocket). The cookie holds a random session id, never the token: the hub keeps only the id's
// hash, and POST /logout ends the session.
import { randomBytes } from 'node:crypto';
import type { AuthRefusal, ConnectionGuard } from '../transports/connection-guard.ts';
import type { SessionStore } from './session-store.ts';
import { hashToken, tokenMatches } from './tokens.ts';

export const SESSION_COOKIE = 'hub_session';

export interface Credentials {
  authorization?: string;
  cookie?: string;
}

export type AuthResult = { ok: true } | { ok: false; code: AuthRefusal };

export interface OperatorAuthOptions {
  adminTokenHash: string;
  sessions: SessionStore;
  guard: ConnectionGuard;
  /** how long a dashboard session lasts from login */
  sessionTtlMs: number;
  /** cookies get `Secure` when the hub serves TLS */
  secureCookies: boolean;
  /** when set, GET /metrics takes this token (or the operator's) */
  metricsTokenHash?: string;
  now?: () => number;
}

const OK: AuthResult = { ok: true };

/** Every value of cookie `name`: a page of another hub on the same host (cookies ignore ports) may have set one too. */
export function cookieValues(cookieHeader: string | undefined, name: string): string[] {
  const values: string[] = [];
  for (const part of cookieHeader?.split(';') ?? []) {
    const eq = part.indexOf('=');
    // Values are taken as they are, never percent-decoded: ours are base64url, and decoding a
    // stranger's malformed `%` must not be able to throw.
    if (eq > 0 && part.slice(0, eq).trim() === name) values.push(part.slice(eq + 1).trim());
  }
  return values;
}

export function bearerToken(authorization: string | undefined): string | undefined {
  return authorization?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
}

export class OperatorAuth {
  private readonly now: () => number;

  constructor(private readonly options: OperatorAuthOptions) {
    this.now = options.now ?? Date.now;
  }

  /**
   * Checks an operator request from `ip`. A good token or live session always passes, even from
   * an address that is backing off; a wrong Bearer token counts as a failure against the address.
   * A missing or stale cookie is a plain 401 and not counted: a browser keeps sending an expired
   * cookie on every request, and a 256-bit id is not something to guess.
   */
  async verify(headers: Credentials, ip: string): Promise<AuthResult> {
    const bearer = bearerToken(headers.authorization);
    if (bearer !== undefined) return this.tokenResult(bearer, ip, this.options.adminTokenHash);
    if (await this.hasSession(headers.cookie)) return OK;
    return { ok: false, code: 'HUB_ERR_UNAUTHORIZED' };
  }

  /** GET /metrics: open unless a metrics token is configured; then that token or the operator's. */
  async verifyMetrics(headers: Credentials, ip: string): Promise<AuthResult> {
    const metricsHash = this.options.metricsTokenHash;
    if (!metricsHash) return OK;
    const bearer = bearerToken(headers.authorization);
    if (bearer !== undefined && tokenMatches(bearer, metricsHash)) return OK;
    return this.verify(headers, ip);
  }

  /** POST /login: trades the operator token for a new session; returns its Set-Cookie value. */
  async login(token: string, ip: string): Promise<{ ok: true; cookie: string } | { ok: false; code: AuthRefusal }> {
    const result = this.tokenResult(token, ip, this.options.adminTokenHash);
    if (!result.ok) return result;
    const id = randomBytes(32).toString('base64url');
    const ttl = this.options.sessionTtlMs;
    await this.options.sessions.create(hashToken(id), this.now() + ttl);
    return { ok: true, cookie: this.cookie(id, Math.floor(ttl / 1000)) };
  }

  /** POST /logout: ends the sessions the request carries; returns the Set-Cookie value that clears the cookie. */
  async logout(cookieHeader: string | undefined): Promise<string> {
    for (const id of cookieValues(cookieHeader, SESSION_COOKIE)) await this.options.sessions.delete(hashToken(id));
    return this.cookie('', 0);
  }

  private async hasSession(cookieHeader: string | undefined): Promise<boolean> {
    for (const id of cookieValues(cookieHeader, SESSION_COOKIE)) {
      if (id && (await this.options.sessions.expiresAt(hashToken(id), this.now())) !== undefined) return true;
    }
    return false;
  }

  private tokenResult(token: string, ip: string, hash: string): AuthResult {
    if (tokenMatches(token, hash)) return OK;
    return { ok: false, code: this.options.guard.authFailed(ip) };
  }

  private cookie(value: string, maxAgeSeconds: number): string {
    return `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${this.options.secureCookies ? '; Secure' : ''}`;
  }
}
