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
  {
    version: 5,
    name: 'alerts',
    statements: [
      `CREATE TABLE IF NOT EXISTS alert_rules (
        id bigserial PRIMARY KEY,
        name text NOT NULL,
        description text NOT NULL,
        devices jsonb NOT NULL,
        channel text,
        above double precision,
        below double precision,
        clear double precision,
        for_ms bigint NOT NULL,
        no_data_ms bigint,
        offline_ms bigint,
        severity text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
        actions jsonb NOT NULL DEFAULT '[]',
        enabled boolean NOT NULL,
        created_at bigint NOT NULL,
        updated_at bigint NOT NULL
      )`,
      // no foreign key to alert_rules: an alert outlives its rule, with the name the rule had
      `CREATE TABLE IF NOT EXISTS alerts (
        id bigserial PRIMARY KEY,
        rule_id bigint NOT NULL,
        rule_name text NOT NULL,
        device_id text NOT NULL,
        channel text,
        severity text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
        state text NOT NULL CHECK (state IN ('pending', 'firing', 'resolved', 'cancelled')),
        value double precision,
        pending_at bigint,
        fired_at bigint,
        resolved_at bigint,
        acknowledged_at bigint,
        silenced_until bigint,
        updated_at bigint NOT NULL
      )`,
      // at most one open alert per (rule, device), whichever hub opens it
      `CREATE UNIQUE INDEX IF NOT EXISTS alerts_one_open ON alerts (rule_id, device_id) WHERE state IN ('pending', 'firing')`,
      `CREATE INDEX IF NOT EXISTS alerts_device ON alerts (device_id, id)`,
      `CREATE INDEX IF NOT EXISTS alerts_rule ON alerts (rule_id, id)`,
      `CREATE INDEX IF NOT EXISTS alerts_state ON alerts (state, id)`,
      `CREATE TABLE IF NOT EXISTS alert_events (
        id bigserial PRIMARY KEY,
        alert_id bigint NOT NULL REFERENCES alerts (id),
        rule_id bigint NOT NULL,
        device_id text NOT NULL,
        from_state text NOT NULL,
        to_state text NOT NULL,
        value double precision,
        at bigint NOT NULL,
        idempotency_key uuid NOT NULL UNIQUE
      )`,
      `CREATE INDEX IF NOT EXISTS alert_events_alert ON alert_events (alert_id, id)`,
      // lease_owner and lease_until: the hub that delivers the webhook's entries, and until when
      `CREATE TABLE IF NOT EXISTS webhooks (
        id bigserial PRIMARY KEY,
        url text NOT NULL,
        secret text NOT NULL,
        created_at bigint NOT NULL,
        lease_owner text,
        lease_until bigint NOT NULL DEFAULT 0
      )`,
      `CREATE TABLE IF NOT EXISTS webhook_outbox (
        id bigserial PRIMARY KEY,
        webhook_id bigint NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
        event_id bigint NOT NULL REFERENCES alert_events (id),
        body text NOT NULL,
        status text NOT NULL CHECK (status IN ('pending', 'delivered')),
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at bigint NOT NULL,
        last_error text,
        last_status integer,
        delivered_at bigint,
        created_at bigint NOT NULL
      )`,
      // a webhook's head of line is the lowest id among its pending entries
      `CREATE INDEX IF NOT EXISTS webhook_outbox_pending ON webhook_outbox (webhook_id, id) WHERE status = 'pending'`,
      `CREATE INDEX IF NOT EXISTS webhook_outbox_webhook ON webhook_outbox (webhook_id, id)`,
    ],
  },
];
