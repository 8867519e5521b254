// The command log in PostgreSQL, shared by every hub of a cluster. The schema is created by
// migrate() (cluster/migrations.ts, version 2).
import type { Sql } from 'postgres';
import type { CommandLog, CommandRecord, CommandStatus } from './command-log.ts';

interface Row {
  // bigint columns arrive as strings: postgres.js does not guess whether they fit a number
  id: string;
  device_id: string;
  name: string;
  args: string;
  timeout_ms: string;
  status: CommandStatus;
  result: string | null;
  created_at: string;
  updated_at: string;
  expires_at: string;
  deadline: string | null;
}

const toRecord = (r: Row): CommandRecord => ({
  id: Number(r.id), deviceId: r.device_id, name: r.name, args: r.args, timeoutMs: Number(r.timeout_ms), status: r.status, result: r.result,
  createdAt: Number(r.created_at), updatedAt: Number(r.updated_at), expiresAt: Number(r.expires_at), deadline: r.deadline === null ? null : Number(r.deadline),
});

const byId = (a: CommandRecord, b: CommandRecord) => a.id - b.id;

/** `sql` is shared with the other cluster parts: close() leaves it open for its owner to end. */
export function createPgCommandLog(sql: Sql): CommandLog {
  return {
    async create(command) {
      const [row] = await sql<Row[]>`
        INSERT INTO commands (device_id, name, args, timeout_ms, status, created_at, updated_at, expires_at)
        VALUES (${command.deviceId}, ${command.name}, ${command.args}, ${command.timeoutMs}, 'queued', ${command.createdAt}, ${command.createdAt}, ${command.expiresAt})
        RETURNING *`;
      return toRecord(row);
    },
    async get(id) {
      const [row] = await sql<Row[]>`SELECT * FROM commands WHERE id = ${id}`;
      return row && toRecord(row);
    },
    async transition(id, from, change) {
      // The status check and the write are one UPDATE. Under READ COMMITTED a second UPDATE of the
      // same row waits for the first to commit and then checks its WHERE again on the new row, so of
      // two racing changes the second finds the status moved on and changes nothing. Final commands
      // are excluded here too, whatever the caller expects.
      const [row] = await sql<Row[]>`
        UPDATE commands SET status = ${change.status},
          result = CASE WHEN ${change.result !== undefined}::boolean THEN ${change.result ?? null}::text ELSE result END,
          deadline = CASE WHEN ${change.deadline !== undefined}::boolean THEN ${change.deadline ?? null}::bigint ELSE deadline END,
          updated_at = ${Date.now()}
        WHERE id = ${id} AND status IN ('queued', 'sent', 'acked') AND status = ANY(${[...from]}::text[])
        RETURNING *`;
      return row && toRecord(row);
    },
    async due(now, limit = 1000) {
      // each arm reads its partial index (commands_expiry, commands_deadline): a sweep reads the
      // commands that are due, not every open one
      const rows = await sql<Row[]>`
        SELECT * FROM (
          SELECT * FROM commands WHERE status = 'queued' AND expires_at <= ${now}
          UNION ALL
          SELECT * FROM commands WHERE status IN ('sent', 'acked') AND deadline <= ${now}
        ) AS due ORDER BY id LIMIT ${limit}`;
      return rows.map(toRecord);
    },
    async open(deviceId) {
      const rows = deviceId === undefined
        ? await sql<Row[]>`SELECT * FROM commands WHERE status IN ('queued', 'sent', 'acked') ORDER BY id`
        : await sql<Row[]>`SELECT * FROM commands WHERE status IN ('queued', 'sent', 'acked') AND device_id = ${deviceId} ORDER BY id`;
      return rows.map(toRecord);
    },
    async failOpen(deviceId, result) {
      // one UPDATE: a transition racing it in another hub either commits first (and the command is
      // no longer open here) or waits and then finds it failed
      const rows = await sql<Row[]>`
        UPDATE commands SET status = 'failed', result = ${result}, updated_at = ${Date.now()}
        WHERE status IN ('queued', 'sent', 'acked') AND device_id = ${deviceId}
        RETURNING *`;
      // RETURNING gives rows in no promised order; callers get them oldest first
      return rows.map(toRecord).sort(byId);
    },
    async recent(deviceId, limit) {
      return (await sql<Row[]>`SELECT * FROM commands WHERE device_id = ${deviceId} ORDER BY id DESC LIMIT ${limit}`).map(toRecord);
    },
    async close() {
      // the pool belongs to whoever connected it
    },
  };
}
