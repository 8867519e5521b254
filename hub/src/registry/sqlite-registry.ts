import Database from 'better-sqlite3';
import type { ChannelDescriptor } from '../protocol/index.ts';
import { DeviceExistsError, DeviceLimitError, type DeviceRecord, type DeviceRegistry, type NewDevice, type Watermark } from './registry.ts';

interface Row {
  id: string;
  name: string;
  token_hash: string | null;
  transport: 'ws' | 'serial';
  created_at: number;
  firmware: string | null;
  channels: string;
  last_seen: number | null;
  session: number | null;
  acked_seq: number;
}

function toRecord(row: Row): DeviceRecord {
  return {
    id: row.id,
    name: row.name,
    tokenHash: row.token_hash,
    transport: row.transport,
    createdAt: row.created_at,
    firmware: row.firmware,
    channels: JSON.parse(row.channels) as ChannelDescriptor[],
    lastSeen: row.last_seen,
    session: row.session,
    ackedSeq: row.acked_seq,
  };
}

export function createSqliteRegistry(options: { path: string }): DeviceRegistry {
  const db = new Database(options.path);
  db.pragma('journal_mode = WAL');
  db.exec(`
    CREATE TABLE IF NOT EXISTS devices (
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL,
      token_hash TEXT UNIQUE,
      transport TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      firmware TEXT,
      channels TEXT NOT NULL DEFAULT '[]',
      last_seen INTEGER,
      session INTEGER,
      acked_seq INTEGER NOT NULL DEFAULT 0
    )`);
  db.exec(`CREATE TABLE IF NOT EXISTS channel_names (
      device_id TEXT NOT NULL,
      name TEXT NOT NULL,
      PRIMARY KEY (device_id, name)
    ) WITHOUT ROWID`);
  const insert = db.prepare(`INSERT INTO devices (id, name, token_hash, transport, created_at) VALUES (?, ?, ?, ?, ?)`);
  const byId = db.prepare<[string], Row>(`SELECT * FROM devices WHERE id = ?`);
  const byToken = db.prepare<[string], Row>(`SELECT * FROM devices WHERE token_hash = ?`);
  const all = db.prepare<[], Row>(`SELECT * FROM devices ORDER BY id`);
  const setName = db.prepare(`UPDATE devices SET name = ? WHERE id = ?`);
  const removeDevice = db.prepare(`DELETE FROM devices WHERE id = ?`);
  const removeNames = db.prepare(`DELETE FROM channel_names WHERE device_id = ?`);
  // one transaction: a re-provisioned id must not inherit the old device's channel names
  const remove = db.transaction((id: string) => {
    removeNames.run(id);
    return removeDevice.run(id).changes > 0;
  });
  const nameCount = db.prepare<[string], { n: number }>(`SELECT count(*) AS n FROM channel_names WHERE device_id = ?`);
  const hasName = db.prepare<[string, string], { one: number }>(`SELECT 1 AS one FROM channel_names WHERE device_id = ? AND name = ?`);
  const insertName = db.prepare(`INSERT OR IGNORE INTO channel_names (device_id, name) VALUES (?, ?)`);
  const addNames = db.transaction((id: string, names: readonly string[], max: number) => {
    const fresh = [...new Set(names)].filter((name) => !hasName.get(id, name));
    if (fresh.length === 0) return true;
    if (nameCount.get(id)!.n + fresh.length > max) return false;
    for (const name of fresh) insertName.run(id, name);
    return true;
  });
  const count = db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM devices`);
  // IMMEDIATE takes the write lock before the checks, so another connection to this file (another
  // hub process) cannot slip a device in between the checks and the insert.
  const insertChecked = db.transaction((device: NewDevice, maxDevices: number) => {
    if (byId.get(device.id)) throw new DeviceExistsError(device.id);
    if (count.get()!.n >= maxDevices) throw new DeviceLimitError(maxDevices);
    insert.run(device.id, device.name, device.tokenHash, device.transport, Date.now());
    return toRecord(byId.get(device.id)!);
  });
  const hello = db.prepare(`UPDATE devices SET firmware = ?, channels = ?,
      acked_seq = CASE WHEN session IS ? THEN acked_seq ELSE 0 END, session = ? WHERE id = ?`);
  const mark = db.prepare(`UPDATE devices SET session = ?, acked_seq = ?, last_seen = ? WHERE id = ?`);
  const saveMarks = db.transaction((marks: readonly Watermark[]) => {
    for (const m of marks) mark.run(m.session, m.ackedSeq, m.lastSeen, m.deviceId);
  });

  return {
    async create(device, options) {
      return insertChecked.immediate(device, options?.maxDevices ?? Infinity);
    },
    async get(id) {
      const row = byId.get(id);
      return row && toRecord(row);
    },
    async findByTokenHash(tokenHash) {
      const row = byToken.get(tokenHash);
      return row && toRecord(row);
    },
    async list() {
      return all.all().map(toRecord);
    },
    async count() {
      return count.get()!.n;
    },
    async rename(id, name) {
      return setName.run(name, id).changes > 0;
    },
    async delete(id) {
      return remove.immediate(id);
    },
    async addChannelNames(id, names, max) {
      return addNames.immediate(id, names, max);
    },
    async updateHello(id, { firmware, channels, session }) {
      hello.run(firmware, JSON.stringify(channels), session, session, id);
    },
    async saveWatermarks(marks) {
      saveMarks(marks);
    },
    async close() {
      db.close();
    },
  };
}
