// Dashboard sessions: the browser holds a random id, the hub keeps only its hash and expiry.
// An interface so cluster mode can keep sessions where every hub sees them.
import Database from 'better-sqlite3';

export interface SessionStore {
  create(idHash: string, expiresAt: number): Promise<void>;
  /** expiry of a live session, or undefined when unknown or expired */
  expiresAt(idHash: string, now: number): Promise<number | undefined>;
  extend(idHash: string, expiresAt: number): Promise<void>;
  delete(idHash: string): Promise<void>;
  close(): Promise<void>;
}

export interface SqliteSessionStoreOptions {
  path: string;
  /** most sessions kept; the oldest go first, so repeated logins cannot grow the file without bound */
  maxSessions: number;
}

export function createSqliteSessionStore(options: SqliteSessionStoreOptions): SessionStore {
  const db = new Database(options.path);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE IF NOT EXISTS sessions (id_hash TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)');
  db.prepare('DELETE FROM sessions WHERE expires_at <= ?').run(Date.now());
  const insert = db.prepare('INSERT OR REPLACE INTO sessions (id_hash, expires_at) VALUES (?, ?)');
  const trim = db.prepare('DELETE FROM sessions WHERE rowid IN (SELECT rowid FROM sessions ORDER BY expires_at DESC LIMIT -1 OFFSET ?)');
  const select = db.prepare<[string], { expires_at: number }>('SELECT expires_at FROM sessions WHERE id_hash = ?');
  const update = db.prepare('UPDATE sessions SET expires_at = ? WHERE id_hash = ?');
  const remove = db.prepare('DELETE FROM sessions WHERE id_hash = ?');
  return {
    async create(idHash, expiresAt) {
      insert.run(idHash, expiresAt);
      trim.run(options.maxSessions);
    },
    async expiresAt(idHash, now) {
      const row = select.get(idHash);
      if (!row) return undefined;
      if (row.expires_at > now) return row.expires_at;
      remove.run(idHash);
      return undefined;
    },
    async extend(idHash, expiresAt) {
      update.run(expiresAt, idHash);
    },
    async delete(idHash) {
      remove.run(idHash);
    },
    async close() {
      db.close();
    },
  };
}
