// Commands and their results, kept in the data dir so they survive a restart. Behind an interface
// so a shared database can take its place.
import Database from 'better-sqlite3';

export const COMMAND_STATUSES = ['queued', 'sent', 'acked', 'succeeded', 'failed', 'timed-out'] as const;
export type CommandStatus = (typeof COMMAND_STATUSES)[number];
export const FINAL_STATUSES: ReadonlySet<CommandStatus> = new Set(['succeeded', 'failed', 'timed-out']);

export interface CommandRecord {
  id: number;
  deviceId: string;
  name: string;
  /** JSON text sent to the device */
  args: string;
  timeoutMs: number;
  status: CommandStatus;
  /** the device's result payload, or the hub's reason for a timeout */
  result: string | null;
  createdAt: number;
  updatedAt: number;
  /** a queued command not delivered by then times out */
  expiresAt: number;
  /** when the result is due, once sent */
  deadline: number | null;
}

export interface CommandLog {
  create(command: Omit<CommandRecord, 'id' | 'status' | 'result' | 'updatedAt' | 'deadline'>): Promise<CommandRecord>;
  get(id: number): Promise<CommandRecord | undefined>;
  /** Undefined when there is no such command, or it is final: a final command never changes again. */
  update(id: number, change: Partial<Pick<CommandRecord, 'status' | 'result' | 'deadline'>>): Promise<CommandRecord | undefined>;
  /** commands not final yet, oldest first (by device: an index range over its open commands only) */
  open(deviceId?: string): Promise<CommandRecord[]>;
  /** Marks every open command of a device failed with this result, at once; returns them. */
  failOpen(deviceId: string, result: string): Promise<CommandRecord[]>;
  recent(deviceId: string, limit: number): Promise<CommandRecord[]>;
  close(): Promise<void>;
}

interface Row {
  id: number;
  device_id: string;
  name: string;
  args: string;
  timeout_ms: number;
  status: CommandStatus;
  result: string | null;
  created_at: number;
  updated_at: number;
  expires_at: number;
  deadline: number | null;
}

const toRecord = (r: Row): CommandRecord => ({
  id: r.id, deviceId: r.device_id, name: r.name, args: r.args, timeoutMs: r.timeout_ms, status: r.status, result: r.result,
  createdAt: r.created_at, updatedAt: r.updated_at, expiresAt: r.expires_at, deadline: r.deadline,
});

export function createSqliteCommandLog(options: { path: string }): CommandLog {
  const db = new Database(options.path);
  db.pragma('journal_mode = WAL');
  // AUTOINCREMENT: a command id is never reused, even after deletes [FP-4.4]
  db.exec(`
    CREATE TABLE IF NOT EXISTS commands (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      device_id TEXT NOT NULL,
      name TEXT NOT NULL,
      args TEXT NOT NULL,
      timeout_ms INTEGER NOT NULL,
      status TEXT NOT NULL,
      result TEXT,
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL,
      expires_at INTEGER NOT NULL,
      deadline INTEGER
    );
    CREATE INDEX IF NOT EXISTS commands_open ON commands (status, device_id, id);
    CREATE INDEX IF NOT EXISTS commands_device ON commands (device_id, id);`);
  const insert = db.prepare(`INSERT INTO commands (device_id, name, args, timeout_ms, status, created_at, updated_at, expires_at)
    VALUES (@deviceId, @name, @args, @timeoutMs, 'queued', @createdAt, @createdAt, @expiresAt)`);
  const byId = db.prepare<[number], Row>(`SELECT * FROM commands WHERE id = ?`);
  const openAll = db.prepare<[], Row>(`SELECT * FROM commands WHERE status IN ('queued', 'sent', 'acked') ORDER BY id`);
  const openFor = db.prepare<[string], Row>(`SELECT * FROM commands WHERE status IN ('queued', 'sent', 'acked') AND device_id = ? ORDER BY id`);
  const update = db.prepare(`UPDATE commands SET status = @status, result = @result, deadline = @deadline, updated_at = @updatedAt WHERE id = @id`);
  const recent = db.prepare<[string, number], Row>(`SELECT * FROM commands WHERE device_id = ? ORDER BY id DESC LIMIT ?`);
  const failOpen = db.transaction((deviceId: string, result: string) => {
    const updatedAt = Date.now();
    return openFor.all(deviceId).map((row) => {
      const failed = { ...toRecord(row), status: 'failed' as const, result, updatedAt };
      update.run(failed);
      return failed;
    });
  });

  return {
    async create(command) {
      const id = Number(insert.run(command).lastInsertRowid);
      return toRecord(byId.get(id)!);
    },
    async get(id) {
      const row = byId.get(id);
      return row && toRecord(row);
    },
    async update(id, change) {
      const row = byId.get(id);
      if (!row) return undefined;
      if (FINAL_STATUSES.has(row.status)) return undefined;
      const next = { ...toRecord(row), ...change, updatedAt: Date.now() };
      update.run(next);
      return next;
    },
    async failOpen(deviceId, result) {
      return failOpen(deviceId, result);
    },
    async open(deviceId) {
      return (deviceId === undefined ? openAll.all() : openFor.all(deviceId)).map(toRecord);
    },
    async recent(deviceId, limit) {
      return recent.all(deviceId, limit).map(toRecord);
    },
    async close() {
      db.close();
    },
  };
}
