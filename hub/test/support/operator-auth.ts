// Operator auth for in-process tests: the real session store in a temp dir and a real guard.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OperatorAuth, type OperatorAuthOptions } from '../../src/auth/operator-auth.ts';
import { createSqliteSessionStore } from '../../src/auth/session-store.ts';
import { hashToken } from '../../src/auth/tokens.ts';
import { ConnectionGuard } from '../../src/transports/connection-guard.ts';

export function testOperatorAuth(token: string, extra: Partial<OperatorAuthOptions> = {}): { auth: OperatorAuth; guard: ConnectionGuard; close(): Promise<void> } {
  const dir = mkdtempSync(join(tmpdir(), 'hub-auth-'));
  const sessions = createSqliteSessionStore({ path: join(dir, 'sessions.db'), maxSessions: 100 });
  const guard = new ConnectionGuard({ maxConnectionsPerIp: 100, maxAuthFailures: 5, failureWindowMs: 10_000, backoffMs: 1000, maxBackoffMs: 60_000 });
  const auth = new OperatorAuth({ adminTokenHash: hashToken(token), sessions, guard, sessionTtlMs: 3_600_000, secureCookies: false, ...extra });
  return {
    auth,
    guard,
    async close() {
      await sessions.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
