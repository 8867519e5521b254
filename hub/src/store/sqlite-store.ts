// The embedded default store: one SQLite file.
//
// Schema (user_version 2):
//   series(id INTEGER PRIMARY KEY, device, channel, UNIQUE(device, channel))
//   readings(series_id, time, value, PRIMARY KEY(series_id, time)) WITHOUT ROWID
//   rollup_1m, rollup_1h: the history tiers (sqlite-rollups.ts); version 2 added them
// Readings are clustered by (series, time), so a range query for one channel is one contiguous
// b-tree scan, and a batch insert touches one small integer key per row instead of two strings.
// The series ids are cached in memory; a device has a handful of channels, so the cache stays small.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { DEFAULT_QUERY_MAX_SCAN, QueryTooLargeError, type Reading, type ReadingPoint, type ReadingQuery, type ReadingStore } from './store.ts';
import { WriteRejectedError } from './errors.ts';
import { asBatch, type ReadingBatch } from './reading-batch.ts';
import { normalizeQuery, validateReadings, type NormalizedQuery } from './validate.ts';
import { planRange, usesTier, type Tier } from './pick-tier.ts';
import { combineParts, finish, type WindowState } from './rollup-state.ts';
import { backfillRollups, createRollupWriter, ROLLUP_SCHEMA, sqliteTierSpans, stateSql } from './sqlite-rollups.ts';
import { DEFAULT_TIER_RETENTION, type TierRetention } from './tier-retention.ts';

export interface SqliteStoreOptions {
  /** the database file; its directory is created when missing */
  path: string;
  /** how long each history tier keeps its buckets; default DEFAULT_TIER_RETENTION */
  tierRetention?: TierRetention;
  /** the clock tier retention is measured by; tests move it */
  now?: () => number;
  /** most stored rows one query may read (a query's own `maxScan` overrides it); default DEFAULT_QUERY_MAX_SCAN */
  maxScan?: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS series (
  id INTEGER PRIMARY KEY,
  device TEXT NOT NULL,
  channel TEXT NOT NULL,
  UNIQUE (device, channel)
);
CREATE TABLE IF NOT EXISTS readings (
  series_id INTEGER NOT NULL,
  time INTEGER NOT NULL,
  value REAL NOT NULL,
  PRIMARY KEY (series_id, time)
) WITHOUT ROWID;
${ROLLUP_SCHEMA}
`;
const SCHEMA_VERSION = 2;

// SQLite's % truncates toward zero; this floors, so windows stay aligned to the epoch before 1970 too.
const WINDOW_START = '(r.time - ((r.time % @every) + @every) % @every)';

// AVG() sums first, and the sum of finite values can overflow to Infinity (two of 1.79e308). Then
// the mean is taken of the values scaled by 2^-64, which no count below 2^64 can overflow, and scaled
// back: scaling by a power of two is exact for normal numbers, so the answer is the same mean.
const MEAN_SQL = `CASE WHEN abs(SUM(r.value)) <= 1.7976931348623157e308 THEN AVG(r.value)
  ELSE AVG(r.value * 5.421010862427522e-20) * 18446744073709551616.0 END`;

const AGG_SQL = {
  mean: MEAN_SQL,
  min: 'MIN(r.value)',
  max: 'MAX(r.value)',
  count: 'COUNT(*)',
  // SQLite documents that with a lone max() the bare columns come from the row holding the maximum.
  last: 'r.value, MAX(r.time)',
} as const;

// Called for every row a query reads. better-sqlite3 cannot interrupt a statement, and a thread
// running a statement does not stop when it is terminated until it runs JavaScript again: this
// call is where a query thread that is taken down (past its time bound) stops, within a row. It
// also counts the rows, readings and tier buckets alike, and throws past the query's bound on them
// (better-sqlite3 passes the error out of the statement, which SQLite abandons there).
const SCAN_CHECK = 'hub_scanned';

// Errors that mean the data itself is unacceptable; anything else (full disk, I/O, busy) may pass.
const REFUSED = /^SQLITE_(CONSTRAINT|MISMATCH|TOOBIG)/;

export function createSqliteStore(options: SqliteStoreOptions): ReadingStore {
  mkdirSync(dirname(options.path), { recursive: true });
  const db = new Database(options.path);
  try {
    db.pragma('journal_mode = WAL');
    // FULL fsyncs the WAL at every commit: NORMAL would survive a crash of this process but could
    // lose the last commits on power loss, and the hub acknowledges readings once write() resolves.
    db.pragma('synchronous = FULL');
    db.pragma('busy_timeout = 5000');
    db.transaction(() => {
      const version = db.pragma('user_version', { simple: true }) as number;
      db.exec(SCHEMA);
      // a database from before the tiers: fill them once from what is stored
      if (version > 0 && version < SCHEMA_VERSION) backfillRollups(db, options.tierRetention ?? DEFAULT_TIER_RETENTION, (options.now ?? Date.now)());
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
    })();
  } catch (err) {
    db.close();
    throw err;
  }

  const findSeries = db.prepare<[string, string], { id: number }>('SELECT id FROM series WHERE device = ? AND channel = ?');
  const addSeries = db.prepare<[string, string], { id: number }>('INSERT INTO series (device, channel) VALUES (?, ?) RETURNING id');
  // Insert, and only when that finds the reading stored, replace: the tiers must know which it was.
  const insert = db.prepare<[number, number, number]>('INSERT INTO readings (series_id, time, value) VALUES (?, ?, ?) ON CONFLICT (series_id, time) DO NOTHING');
  const replace = db.prepare<[number, number, number]>('UPDATE readings SET value = ? WHERE series_id = ? AND time = ?');
  const tierRetention = options.tierRetention ?? DEFAULT_TIER_RETENTION;
  const now = options.now ?? Date.now;
  const rollups = createRollupWriter(db, tierRetention, now);
  rollups.sweep();
  const seriesCache = new Map<string, Map<string, number>>();

  function seriesId(deviceId: string, channel: string): number {
    let channels = seriesCache.get(deviceId);
    if (!channels) seriesCache.set(deviceId, (channels = new Map()));
    let id = channels.get(channel);
    if (id === undefined) {
      id = (findSeries.get(deviceId, channel) ?? addSeries.get(deviceId, channel)!).id;
      channels.set(channel, id);
    }
    return id;
  }

  const insertAll = db.transaction((batch: ReadingBatch) => {
    const { deviceId, channel, time, value } = batch;
    for (let i = 0; i < batch.length; i++) {
      const sid = seriesId(deviceId[i], channel[i]);
      const t = time[i];
      const v = value[i];
      const replaced = insert.run(sid, t, v).changes === 0;
      if (replaced) replace.run(v, sid, t);
      rollups.add(sid, t, v, replaced);
    }
    rollups.commit();
  });

  const read = createQueryRunner(db, { maxScan: options.maxScan }, { retention: tierRetention, now });

  let closed = false;
  function assertOpen(): void {
    if (closed) throw new Error('the SQLite store is closed');
  }

  return {
    async write(readings) {
      assertOpen();
      validateReadings(readings);
      if (readings.length === 0) return;
      try {
        insertAll(asBatch(readings));
      } catch (err) {
        rollups.discard();
        // A rolled-back transaction may have taken series ids with it.
        seriesCache.clear();
        const code = (err as { code?: unknown }).code;
        if (typeof code === 'string' && REFUSED.test(code)) {
          throw new WriteRejectedError(`SQLite refused the readings: ${(err as Error).message}`, { cause: err });
        }
        throw err;
      }
    },

    async query(query: ReadingQuery) {
      assertOpen();
      return read(query);
    },

    async ping() {
      assertOpen();
      db.prepare('SELECT 1').get();
    },

    async close() {
      if (closed) return;
      closed = true;
      rollups.close();
      db.close();
    },
  };
}

interface TierOptions {
  retention: TierRetention;
  now: () => number;
}

/** Builds and caches the history statements on a connection; answers a query synchronously. */
function createQueryRunner(db: Database.Database, scanning: ScanOptions, tiers?: TierOptions): (query: ReadingQuery) => ReadingPoint[] {
  const scan = scanCounter(scanning);
  db.function(SCAN_CHECK, { deterministic: false, directOnly: true }, scan.row);
  const statements = new Map<string, Database.Statement<Record<string, unknown>, ReadingPoint>>();
  function statementFor(q: NormalizedQuery): Database.Statement<Record<string, unknown>, ReadingPoint> {
    const key = `${q.agg?.fn ?? 'raw'}/${q.agg?.every !== undefined}/${q.channel !== undefined}`;
    let stmt = statements.get(key);
    if (stmt) return stmt;
    const where = `s.device = @device ${q.channel !== undefined ? 'AND s.channel = @channel' : ''} AND r.time >= @from AND r.time < @to AND ${SCAN_CHECK}(r.time)`;
    let sql: string;
    if (!q.agg) {
      // LIMIT bounds the whole answer, all channels together; rows come in index order, so no more
      // than `limit` are read.
      sql = `SELECT s.channel AS channel, r.time AS time, r.value AS value
        FROM series s JOIN readings r ON r.series_id = s.id WHERE ${where}
        ORDER BY s.channel, r.time LIMIT @limit`;
    } else {
      const window = q.agg.every !== undefined ? WINDOW_START : '@from';
      const value = q.agg.fn === 'last' ? AGG_SQL.last : `${AGG_SQL[q.agg.fn]} AS value`;
      sql = `SELECT s.channel AS channel, ${window} AS time, ${value}
        FROM series s JOIN readings r ON r.series_id = s.id WHERE ${where}
        GROUP BY s.channel, 2 ORDER BY s.channel, 2 LIMIT @limit`;
    }
    stmt = db.prepare<Record<string, unknown>, ReadingPoint>(sql);
    statements.set(key, stmt);
    return stmt;
  }

  const states = new Map<string, Database.Statement<Record<string, unknown>, WindowState>>();
  function statesOf(q: NormalizedQuery, tier: Tier | null, from: number, to: number): WindowState[] {
    const key = `${tier?.name ?? 'raw'}/${q.agg!.every !== undefined}/${q.channel !== undefined}`;
    let stmt = states.get(key);
    if (!stmt) states.set(key, (stmt = db.prepare<Record<string, unknown>, WindowState>(stateSql(tier, q.agg!.every !== undefined, q.channel !== undefined, SCAN_CHECK))));
    const params: Record<string, unknown> = { device: q.deviceId, from, to, start: q.from, limit: q.limit };
    if (q.channel !== undefined) params.channel = q.channel;
    if (q.agg!.every !== undefined) params.every = q.agg!.every;
    return stmt.all(params);
  }

  /** The answer from the tiers where they can give it exactly; null when raw readings alone answer. */
  function fromTiers(q: NormalizedQuery, query: ReadingQuery): ReadingPoint[] | null {
    if (!tiers || !q.agg || query.rawOnly) return null;
    const parts = planRange(q.from, q.to, q.agg.every, sqliteTierSpans(tiers.retention, tiers.now()));
    if (!usesTier(parts)) return null;
    // Every part is limited like the whole: a window among the first `limit` of the answer is among
    // the first `limit` of each part it has pieces in.
    return finish(combineParts(parts.map((p) => statesOf(q, p.tier, p.from, p.to))), q.agg.fn, q.limit);
  }

  return (query) => {
    const q = normalizeQuery(query);
    if (q.empty) return [];
    // one bound over every statement of the query: each tier part and the readings
    scan.start(query.maxScan ?? scanning.maxScan ?? DEFAULT_QUERY_MAX_SCAN);
    const tiered = fromTiers(q, query);
    if (tiered) return tiered;
    const params: Record<string, unknown> = { device: q.deviceId, from: q.from, to: q.to, limit: q.limit };
    if (q.channel !== undefined) params.channel = q.channel;
    if (q.agg?.every !== undefined) params.every = q.agg.every;
    const rows = statementFor(q).all(params);
    return q.agg?.fn === 'last' ? rows.map(({ channel, time, value }) => ({ channel, time, value })) : rows;
  };
}

/**
 * A duty cycle for a query: after `busyMs` of reading it sleeps `restMs`, so a query never takes
 * more than busyMs / (busyMs + restMs) of a core, however long it runs.
 */
export interface ReaderPace {
  busyMs: number;
  restMs: number;
}

interface ScanOptions {
  pace?: ReaderPace;
  /** the store's bound on the rows one query reads; a query's `maxScan` overrides it */
  maxScan?: number;
}

// how often the per-row function looks at the clock
const PACE_EVERY_ROWS = 1024;

/** The per-row function of a connection's queries: counts rows against the running query's bound, and paces. */
function scanCounter({ pace }: ScanOptions): { start(maxScan: number): void; row(time: unknown): number } {
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  let rows = 0;
  let bound = DEFAULT_QUERY_MAX_SCAN;
  let since = performance.now();
  return {
    start(maxScan) {
      rows = 0;
      bound = maxScan;
      since = performance.now();
    },
    // one argument: better-sqlite3 takes the SQL function's arity from the function's length
    row(_time: unknown) {
      if (++rows > bound) throw new QueryTooLargeError(bound);
      if (pace && rows % PACE_EVERY_ROWS === 0 && performance.now() - since >= pace.busyMs) {
        Atomics.wait(sleeper, 0, 0, pace.restMs);
        since = performance.now();
      }
      return 1;
    },
  };
}

export interface SqliteReader {
  query(query: ReadingQuery): ReadingPoint[];
  close(): void;
}

export interface SqliteReaderOptions {
  pace?: ReaderPace;
  /**
   * After each query, copy the WAL into the database (a passive checkpoint, on a second
   * connection of this reader's). A reader inside a query holds a snapshot in the WAL, which the
   * writer cannot copy past: with queries back to back the writer's own checkpoints fall behind
   * and then catch up in one commit, tens of MB at once, that every acknowledgement waits for.
   * Done here, the copying is on the reader's time, not the writer's.
   */
  checkpoint?: boolean;
  /** as the writer's: queries use a tier only within its retention */
  tierRetention?: TierRetention;
  /** most stored rows one query may read (a query's own `maxScan` overrides it); default DEFAULT_QUERY_MAX_SCAN */
  maxScan?: number;
}

/**
 * A read-only connection to a store's database, for history queries beside the writer: in WAL mode
 * readers and the writer do not wait for each other, each reader seeing the last commit before its
 * query began. The database must exist (the writer creates it).
 */
export function openSqliteReader(path: string, options: SqliteReaderOptions = {}): SqliteReader {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  let checkpointer: Database.Database | null = null;
  try {
    db.pragma('busy_timeout = 5000');
    const run = createQueryRunner(db, { pace: options.pace, maxScan: options.maxScan }, { retention: options.tierRetention ?? DEFAULT_TIER_RETENTION, now: Date.now });
    if (options.checkpoint) {
      checkpointer = new Database(path, { fileMustExist: true });
      checkpointer.pragma('wal_autocheckpoint = 0');
    }
    const copier = checkpointer;
    return {
      query(query) {
        try {
          return run(query);
        } finally {
          copier?.pragma('wal_checkpoint(PASSIVE)');
        }
      },
      close() {
        db.close();
        copier?.close();
      },
    };
  } catch (err) {
    db.close();
    checkpointer?.close();
    throw err;
  }
}
