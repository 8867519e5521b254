// The PostgreSQL connection cluster mode shares between its parts (registry, command log,
// sessions, presence), and the schema every hub brings up to date at start.
import postgres, { type Sql } from 'postgres';
import { MIGRATIONS, type Migration } from './migrations.ts';

export type { Sql };

export interface PostgresOptions {
  /** connections in the pool; the default 10 leaves room for many hubs under PostgreSQL's default 100 */
  max?: number;
  /** seconds to wait for a connection before a query fails; default 10 */
  connectTimeoutSeconds?: number;
  /** seconds an unused connection stays open; default 60 */
  idleTimeoutSeconds?: number;
  /** shown in pg_stat_activity, e.g. the hub's id; default `telemetry-hub` */
  applicationName?: string;
}

export function connectPostgres(url: string, options: PostgresOptions = {}): Sql {
  return postgres(url, {
    max: options.max ?? 10,
    connect_timeout: options.connectTimeoutSeconds ?? 10,
    idle_timeout: options.idleTimeoutSeconds ?? 60,
    // IF NOT EXISTS on an existing table is a NOTICE; nothing a hub should print
    onnotice: () => {},
    connection: { application_name: options.applicationName ?? 'telemetry-hub' },
  });
}

/**
 * Advisory lock keys, all in one place so no two uses collide. PostgreSQL's two-int form:
 * (HUB_LOCK_CLASS, n) for the hub's fixed locks, (CHANNEL_NAMES_LOCK_CLASS, hashtext(device id))
 * per device. Locks are per database, so hubs of different clusters on one server do not meet.
 */
export const HUB_LOCK_CLASS = 0x6875_6200; // "hub\0"
export const CHANNEL_NAMES_LOCK_CLASS = HUB_LOCK_CLASS + 1;
export const LOCKS = {
  migrate: 1,
  /** taken by every device create: the duplicate check, the count and the insert are one step */
  deviceCreate: 2,
  /** taken by every session create: the insert and the trim to maxSessions are one step */
  sessionCreate: 3,
} as const;

export interface MigrateResult {
  /** versions this call applied, in order; empty when another hub had applied them all */
  applied: number[];
  /** the highest version now recorded (it may be above the list this hub knows, after a newer hub ran) */
  version: number;
}

/**
 * Brings the schema up to date. Safe when several hubs start at once: everything runs in one
 * transaction that first takes an advisory lock, so one hub migrates while the others wait and
 * then find the versions recorded. DDL is transactional in PostgreSQL, so a migration that fails
 * leaves nothing half applied, and the next start tries it again.
 */
export async function migrate(sql: Sql, migrations: readonly Migration[] = MIGRATIONS): Promise<MigrateResult> {
  const ordered = [...migrations].sort((a, b) => a.version - b.version);
  ordered.forEach((m, i) => {
    if (i > 0 && m.version === ordered[i - 1].version) throw new Error(`migration version ${m.version} appears twice`);
  });
  return sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${HUB_LOCK_CLASS}, ${LOCKS.migrate})`;
    await tx`CREATE TABLE IF NOT EXISTS schema_version (
      version integer PRIMARY KEY,
      name text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`;
    const done = new Set((await tx<{ version: number }[]>`SELECT version FROM schema_version`).map((r) => r.version));
    const applied: number[] = [];
    for (const m of ordered) {
      if (done.has(m.version)) continue;
      for (const statement of m.statements) await tx.unsafe(statement);
      await tx`INSERT INTO schema_version (version, name) VALUES (${m.version}, ${m.name})`;
      applied.push(m.version);
      done.add(m.version);
    }
    return { applied, version: Math.max(0, ...done) };
  });
}

/** serialization_failure and deadlock_detected: PostgreSQL rolled the transaction back; running it again is the cure */
const RETRYABLE = new Set(['40001', '40P01']);

/** Runs `work` again (a few times) when PostgreSQL aborted it for a conflict with a concurrent transaction. */
export async function retryOnConflict<T>(work: () => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (attempt >= attempts || typeof code !== 'string' || !RETRYABLE.has(code)) throw err;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * attempt));
    }
  }
}
