// The cluster schema in PostgreSQL, as numbered migrations that `migrate` (postgres.ts) applies in
// order at start, each once, recorded in `schema_version`.
//
// To add a table or index: append an entry with the next version number at the end of the list.
// Never edit, renumber or remove an entry once it has been committed: a database that applied it
// will not apply it again, so a changed entry would leave clusters with different schemas. Each
// entry runs in the one transaction `migrate` holds, so a failing statement applies nothing.
// Statements use IF NOT EXISTS so that a table created by hand before the entry existed is kept.
//
// Times are milliseconds since the epoch (bigint), as everywhere else in the hub.

export interface Migration {
  version: number;
  /** what it adds, for the `schema_version` table and the log */
  name: string;
  statements: readonly string[];
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'device registry',
    statements: [
      // the same fields as the embedded registry; [FP-5.2] session and acked_seq are the resume point
      `CREATE TABLE IF NOT EXISTS devices (
        id text PRIMARY KEY,
        name text NOT NULL,
        token_hash text UNIQUE,
        transport text NOT NULL CHECK (transport IN ('ws', 'serial')),
        created_at bigint NOT NULL,
        firmware text,
        channels jsonb NOT NULL DEFAULT '[]',
        last_seen bigint,
        session bigint,
        acked_seq bigint NOT NULL DEFAULT 0
      )`,
      // [FP-4.1.4] every channel name a device has declared over its lifetime
      `CREATE TABLE IF NOT EXISTS channel_names (
        device_id text NOT NULL,
        name text NOT NULL,
        PRIMARY KEY (device_id, name)
      )`,
    ],
  },
  {
    version: 2,
    name: 'command log',
    statements: [
      // bigserial: a command id is never reused [FP-4.4], and every hub draws from one sequence
      `CREATE TABLE IF NOT EXISTS commands (
        id bigserial PRIMARY KEY,
        device_id text NOT NULL,
        name text NOT NULL,
        args text NOT NULL,
        timeout_ms bigint NOT NULL,
        status text NOT NULL CHECK (status IN ('queued', 'sent', 'acked', 'succeeded', 'failed', 'timed-out')),
        result text,
        created_at bigint NOT NULL,
        updated_at bigint NOT NULL,
        expires_at bigint NOT NULL,
        deadline bigint
      )`,
      // open commands are few next to finished ones: partial indexes keep open(), failOpen() and
      // due() reading only them
      `CREATE INDEX IF NOT EXISTS commands_open ON commands (device_id, id) WHERE status IN ('queued', 'sent', 'acked')`,
      `CREATE INDEX IF NOT EXISTS commands_device ON commands (device_id, id)`,
      `CREATE INDEX IF NOT EXISTS commands_expiry ON commands (expires_at) WHERE status = 'queued'`,
      `CREATE INDEX IF NOT EXISTS commands_deadline ON commands (deadline) WHERE status IN ('sent', 'acked')`,
    ],
  },
  {
    version: 3,
    name: 'dashboard sessions',
    statements: [
      `CREATE TABLE IF NOT EXISTS sessions (
        id_hash text PRIMARY KEY,
        expires_at bigint NOT NULL
      )`,
      `CREATE INDEX IF NOT EXISTS sessions_expiry ON sessions (expires_at)`,
    ],
  },
  {
    version: 4,
    name: 'presence',
    statements: [
      // one number for every ownership change, so a hub can tell the newer of two reports of it
      `CREATE SEQUENCE IF NOT EXISTS presence_version`,
      // one row per device: the hub and connection that own it (the last ones while offline)
      `CREATE TABLE IF NOT EXISTS presence (
        device_id text PRIMARY KEY,
        hub_id text,
        conn_id text,
        transport text,
        online boolean NOT NULL DEFAULT false,
        last_seen bigint,
        firmware text,
        channels jsonb NOT NULL DEFAULT '[]',
        version bigint NOT NULL DEFAULT nextval('presence_version')
      )`,
      // the dead-hub sweep reads online devices by hub
      `CREATE INDEX IF NOT EXISTS presence_online ON presence (hub_id) WHERE online`,
      // last_beat is PostgreSQL's clock, so hubs with different clocks agree on who is silent
      `CREATE TABLE IF NOT EXISTS hubs (
        hub_id text PRIMARY KEY,
        last_beat bigint NOT NULL
      )`,
    ],
  },
];
