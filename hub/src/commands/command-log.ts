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

/** What a transition changes besides the status; a field left out keeps its value. */
export interface CommandChange {
  status: CommandStatus;
  result?: string | null;
  deadline?: number | null;
}

/**
 * Several hub processes may share one command log: every state change is a compare-and-set in
 * the log itself, and the times at which a command times out are stored with it, so any process
 * can act on them.
 */
export interface CommandLog {
  create(command: Omit<CommandRecord, 'id' | 'status' | 'result' | 'updatedAt' | 'deadline'>): Promise<CommandRecord>;
  get(id: number): Promise<CommandRecord | undefined>;
  /**
   * Compare-and-set: changes the command only if its status is one of `from`, checked and written
   * in one step, so of two racing changes (a result and a timeout, in this process or another)
   * exactly one happens. Returns the changed command, or undefined when there is no such command
   * or its status was not one of `from`. A final command never changes again, whatever `from` says.
   */
  transition(id: number, from: readonly CommandStatus[], change: CommandChange): Promise<CommandRecord | undefined>;
  /**
   * Open commands whose time is up at `now`, oldest first, at most `limit` (default 1000): queued
   * ones past `expiresAt`, sent and acked ones past `deadline`.
   */
  due(now: number, limit?: number): Promise<CommandRecord[]>;
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
    CREATE INDEX IF NOT EXISTS commands_device ON commands (device_id, id);
    CREATE INDEX IF NOT EXISTS commands_expiry ON commands (expires_at) WHERE status = 'queued';
    CREATE INDEX IF NOT EXISTS commands_deadline ON commands (deadline) WHERE status IN ('sent', 'acked');`);
  const insert = db.prepare(`INSERT INTO commands (device_id, name, args, timeout_ms, status, created_at, updated_at, expires_at)
    VALUES (@deviceId, @name, @args, @timeoutMs, 'queued', @createdAt, @createdAt, @expiresAt)`);
  const byId = db.prepare<[number], Row>(`SELECT * FROM commands WHERE id = ?`);
  const openAll = db.prepare<[], Row>(`SELECT * FROM commands WHERE status IN ('queued', 'sent', 'acked') ORDER BY id`);
  const openFor = db.prepare<[string], Row>(`SELECT * FROM commands WHERE status IN ('queued', 'sent', 'acked') AND device_id = ? ORDER BY id`);
  // The status check and the write are one statement: no other connection can change the command
  // between them. Final commands are excluded here too, whatever the caller expects.
  const transition = db.prepare<{ id: number; from: string; status: CommandStatus; setResult: number; result: string | null; setDeadline: number; deadline: number | null; updatedAt: number }, Row>(`
    UPDATE commands SET status = @status,
      result = CASE WHEN @setResult THEN @result ELSE result END,
      deadline = CASE WHEN @setDeadline THEN @deadline ELSE deadline END,
      updated_at = @updatedAt
    WHERE id = @id AND status IN ('queued', 'sent', 'acked') AND status IN (SELECT value FROM json_each(@from))
    RETURNING *`);
  // By the partial indexes: a sweep reads the commands that are due, not every open one.
  const due = db.prepare<[number, number, number], Row>(`
    SELECT * FROM (
      SELECT * FROM commands INDEXED BY commands_expiry WHERE status = 'queued' AND expires_at <= ?
      UNION ALL
      SELECT * FROM commands INDEXED BY commands_deadline WHERE status IN ('sent', 'acked') AND deadline <= ?
    ) ORDER BY id LIMIT ?`);
  const recent = db.prepare<[string, number], Row>(`SELECT * FROM commands WHERE device_id = ? ORDER BY id DESC LIMIT ?`);
  const failAllOpen = db.prepare<{ deviceId: string; result: string; updatedAt: number }, Row>(`
    UPDATE commands SET status = 'failed', result = @result, updated_at = @updatedAt
    WHERE status IN ('queued', 'sent', 'acked') AND device_id = @deviceId
    RETURNING *`);
  return {
    async create(command) {
      const id = Number(insert.run(command).lastInsertRowid);
      return toRecord(byId.get(id)!);
    },
    async get(id) {
      const row = byId.get(id);
      return row && toRecord(row);
    },
    async transition(id, from, change) {
      const row = transition.get({
        id, from: JSON.stringify(from), status: change.status,
        setResult: change.result === undefined ? 0 : 1, result: change.result ?? null,
        setDeadline: change.deadline === undefined ? 0 : 1, deadline: change.deadline ?? null,
        updatedAt: Date.now(),
      });
      return row && toRecord(row);
    },
    async due(now, limit = 1000) {
      return due.all(now, now, limit).map(toRecord);
    },
    async failOpen(deviceId, result) {
      // RETURNING gives rows in no promised order; callers get them oldest first
      return failAllOpen.all({ deviceId, result, updatedAt: Date.now() }).map(toRecord).sort((a, b) => a.id - b.id);
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
