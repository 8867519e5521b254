// Dashboard sessions in PostgreSQL, so a browser logged in through one hub is logged in on every
// hub behind the load balancer. The schema is created by migrate() (cluster/migrations.ts, version 3).
import type { Sql } from 'postgres';
import { HUB_LOCK_CLASS, LOCKS } from '../cluster/postgres.ts';
import type { SessionStore } from './session-store.ts';

export interface PgSessionStoreOptions {
  /** most sessions kept, over all hubs; the oldest go first, so repeated logins cannot grow the table without bound */
  maxSessions: number;
}

/** `sql` is shared with the other cluster parts: close() leaves it open for its owner to end. */
export function createPgSessionStore(sql: Sql, options: PgSessionStoreOptions): SessionStore {
  return {
    async create(idHash, expiresAt) {
      // Logins are rare: one lock over all hubs makes the insert and the trim one step, so
      // concurrent logins leave exactly the newest maxSessions, never more.
      await sql.begin(async (tx) => {
        await tx`SELECT pg_advisory_xact_lock(${HUB_LOCK_CLASS}, ${LOCKS.sessionCreate})`;
        await tx`INSERT INTO sessions (id_hash, expires_at) VALUES (${idHash}, ${expiresAt})
          ON CONFLICT (id_hash) DO UPDATE SET expires_at = EXCLUDED.expires_at`;
        await tx`DELETE FROM sessions WHERE id_hash IN (
          SELECT id_hash FROM sessions ORDER BY expires_at DESC, id_hash OFFSET ${options.maxSessions})`;
      });
    },
    async expiresAt(idHash, now) {
      // every operator request asks this: a plain read unless the session has expired
      const [row] = await sql<{ expires_at: string }[]>`SELECT expires_at FROM sessions WHERE id_hash = ${idHash}`;
      if (!row) return undefined;
      const expiresAt = Number(row.expires_at);
      if (expiresAt > now) return expiresAt;
      // only if it is still expired: another hub may have extended it meanwhile
      await sql`DELETE FROM sessions WHERE id_hash = ${idHash} AND expires_at <= ${now}`;
      return undefined;
    },
    async extend(idHash, expiresAt) {
      await sql`UPDATE sessions SET expires_at = ${expiresAt} WHERE id_hash = ${idHash}`;
    },
    async delete(idHash) {
      await sql`DELETE FROM sessions WHERE id_hash = ${idHash}`;
    },
    async close() {
      // the pool belongs to whoever connected it
    },
  };
}
