// The device registry in PostgreSQL, shared by every hub of a cluster. The schema is created by
// migrate() (cluster/migrations.ts, version 1).
import type { JSONValue, Sql, TransactionSql } from 'postgres';
import { CHANNEL_NAMES_LOCK_CLASS, HUB_LOCK_CLASS, LOCKS, retryOnConflict } from '../cluster/postgres.ts';
import type { ChannelDescriptor } from '../protocol/index.ts';
import { DeviceExistsError, DeviceLimitError, type DeviceRecord, type DeviceRegistry } from './registry.ts';

interface Row {
  id: string;
  name: string;
  token_hash: string | null;
  transport: 'ws' | 'serial';
  // bigint columns arrive as strings: postgres.js does not guess whether they fit a number
  created_at: string;
  firmware: string | null;
  channels: ChannelDescriptor[];
  last_seen: string | null;
  session: string | null;
  acked_seq: string;
}

const orNull = (v: string | null): number | null => (v === null ? null : Number(v));

function toRecord(row: Row): DeviceRecord {
  return {
    id: row.id,
    name: row.name,
    tokenHash: row.token_hash,
    transport: row.transport,
    createdAt: Number(row.created_at),
    firmware: row.firmware,
    channels: row.channels,
    lastSeen: orNull(row.last_seen),
    session: orNull(row.session),
    ackedSeq: Number(row.acked_seq),
  };
}

/** `sql` is shared with the other cluster parts: close() leaves it open for its owner to end. */
export function createPgRegistry(sql: Sql): DeviceRegistry {
  /** the per-device lock that makes adding channel names one step, and a deletion not interleave with it */
  const namesLock = (tx: TransactionSql, id: string) => tx`SELECT pg_advisory_xact_lock(${CHANNEL_NAMES_LOCK_CLASS}, hashtext(${id}))`;

  return {
    async create(device, options) {
      const maxDevices = options?.maxDevices ?? Infinity;
      // Creates are rare (provisioning, a new serial device), so all of them, in every hub, take one
      // lock: under it the id check, the count and the insert see every create committed before, and
      // none can commit in between. A SERIALIZABLE transaction would do the same with retries.
      return sql.begin(async (tx) => {
        await tx`SELECT pg_advisory_xact_lock(${HUB_LOCK_CLASS}, ${LOCKS.deviceCreate})`;
        const [exists] = await tx`SELECT 1 FROM devices WHERE id = ${device.id}`;
        if (exists) throw new DeviceExistsError(device.id);
        if (Number.isFinite(maxDevices)) {
          const [{ n }] = await tx<{ n: string }[]>`SELECT count(*) AS n FROM devices`;
          if (Number(n) >= maxDevices) throw new DeviceLimitError(maxDevices);
        }
        const [row] = await tx<Row[]>`
          INSERT INTO devices (id, name, token_hash, transport, created_at)
          VALUES (${device.id}, ${device.name}, ${device.tokenHash}, ${device.transport}, ${Date.now()})
          RETURNING *`;
        return toRecord(row);
      });
    },
    async get(id) {
      const [row] = await sql<Row[]>`SELECT * FROM devices WHERE id = ${id}`;
      return row && toRecord(row);
    },
    async findByTokenHash(tokenHash) {
      const [row] = await sql<Row[]>`SELECT * FROM devices WHERE token_hash = ${tokenHash}`;
      return row && toRecord(row);
    },
    async list() {
      // COLLATE "C": the byte order the embedded registry lists in, whatever the database's locale
      return (await sql<Row[]>`SELECT * FROM devices ORDER BY id COLLATE "C"`).map(toRecord);
    },
    async count() {
      const [{ n }] = await sql<{ n: string }[]>`SELECT count(*) AS n FROM devices`;
      return Number(n);
    },
    async rename(id, name) {
      return (await sql`UPDATE devices SET name = ${name} WHERE id = ${id}`).count > 0;
    },
    async delete(id) {
      // one transaction: a re-provisioned id must not inherit the old device's channel names
      return sql.begin(async (tx) => {
        await namesLock(tx, id);
        await tx`DELETE FROM channel_names WHERE device_id = ${id}`;
        return (await tx`DELETE FROM devices WHERE id = ${id}`).count > 0;
      });
    },
    async addChannelNames(id, names, max) {
      const unique = [...new Set(names)];
      // Under the device's lock the names recorded cannot change between the count and the insert,
      // so two hubs adding names for one device cannot together pass the bound.
      return sql.begin(async (tx) => {
        await namesLock(tx, id);
        const known = await tx<{ name: string }[]>`SELECT name FROM channel_names WHERE device_id = ${id}`;
        const recorded = new Set(known.map((r) => r.name));
        const fresh = unique.filter((name) => !recorded.has(name));
        if (fresh.length === 0) return true;
        if (recorded.size + fresh.length > max) return false;
        await tx`INSERT INTO channel_names (device_id, name) SELECT ${id}, unnest(${fresh}::text[]) ON CONFLICT DO NOTHING`;
        return true;
      });
    },
    async updateHello(id, { firmware, channels, session }) {
      await sql`
        UPDATE devices SET firmware = ${firmware}, channels = ${sql.json(channels as unknown as JSONValue)},
          acked_seq = CASE WHEN session IS NOT DISTINCT FROM ${session}::bigint THEN acked_seq ELSE 0 END,
          session = ${session}
        WHERE id = ${id}`;
    },
    async saveWatermarks(marks) {
      if (marks.length === 0) return;
      // the last mark of a device wins, as when saved one by one; sorted by id so that two hubs
      // saving overlapping sets lock rows in one order (a deadlock is still retried)
      const latest = [...new Map(marks.map((m) => [m.deviceId, m])).values()].sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0));
      await retryOnConflict(() => sql`
        UPDATE devices AS d SET session = m.session, acked_seq = m.acked_seq, last_seen = m.last_seen
        FROM unnest(
          ${latest.map((m) => m.deviceId)}::text[],
          ${latest.map((m) => String(m.session))}::bigint[],
          ${latest.map((m) => String(m.ackedSeq))}::bigint[],
          ${latest.map((m) => String(m.lastSeen))}::bigint[]
        ) AS m(id, session, acked_seq, last_seen)
        WHERE d.id = m.id`);
    },
    async close() {
      // the pool belongs to whoever connected it
    },
  };
}
