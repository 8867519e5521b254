// History tiers of the embedded store: one table per tier of pick-tier.ts,
//   rollup_1m / rollup_1h (series_id, bucket, n, total, lo, hi, last, last_time) WITHOUT ROWID
// keyed like readings, so one channel's buckets over a range are one contiguous b-tree scan.
//
// The tiers are updated in the transaction that inserts the readings, so a committed reading is in
// every tier at once: no lag, no recovery after a crash. A batch is summed per (series, bucket) in
// memory first, one upsert per bucket touched rather than per reading. A reading that replaces a
// stored one cannot be taken out of a min or max: its buckets are computed again from the readings
// (a minute from at most a minute of readings, an hour from its 60 minute buckets, or from its
// readings once the minute tier no longer holds them).
//
// Cost, measured on the store ceiling (5,000-reading batches, 2 busy cores): about 4 % more CPU per
// reading when a batch holds runs of each device's readings, 8-12 % when it interleaves a fleet's
// frames one by one (a batch then touches ~500 series, so ~1,000 upserts beside 5,000 inserts).
//
// `total` is NULL or ±Infinity when the bucket's sum overflowed; a mean over it is then read from
// the readings, which scale the values first (see MEAN_SQL in sqlite-store.ts).
//
// Retention: buckets older than a tier's retention are deleted at open and every hour, series by
// series along the primary key, a few hundred series per transaction. Queries use a tier only from `now - retention` on, before which a
// sweep may have taken buckets (raw readings are kept, so older ranges are still answered exactly).
import type Database from 'better-sqlite3';
import { ceilTo, floorTo, TIERS, type Tier, type TierSpan } from './pick-tier.ts';
import { DEFAULT_TIER_RETENTION, retentionOf, tierRetentionMs, type TierRetention } from './tier-retention.ts';

export const ROLLUP_SCHEMA = TIERS.map(
  (t) => `CREATE TABLE IF NOT EXISTS rollup_${t.name} (
  series_id INTEGER NOT NULL,
  bucket INTEGER NOT NULL,
  n INTEGER NOT NULL,
  total REAL,
  lo REAL NOT NULL,
  hi REAL NOT NULL,
  last REAL NOT NULL,
  last_time INTEGER NOT NULL,
  PRIMARY KEY (series_id, bucket)
) WITHOUT ROWID;`,
).join('\n');

const SWEEP_EVERY_MS = 3_600_000;
const SWEEP_SERIES_PER_TRANSACTION = 500;
const [MINUTE, HOUR] = TIERS;

const bucketOf = (column: string, ms: number) => `(${column} - ((${column} % ${ms}) + ${ms}) % ${ms})`;

function retentionMs(retention: TierRetention, tier: Tier): number {
  return tierRetentionMs(retentionOf(retention, tier.name));
}

/**
 * Fills the tier tables from the readings already stored, for a database from before tiers (schema
 * version 1). One pass over the readings within each tier's retention, once.
 */
export function backfillRollups(db: Database.Database, retention: TierRetention, now: number): void {
  for (const tier of TIERS) {
    const since = now - retentionMs(retention, tier);
    const bucket = bucketOf('time', tier.bucketMs);
    db.prepare(
      `INSERT OR REPLACE INTO rollup_${tier.name} (series_id, bucket, n, total, lo, hi, last, last_time)
       SELECT series_id, ${bucket}, COUNT(*), SUM(value), MIN(value), MAX(value), 0, MAX(time)
       FROM readings WHERE time >= ? GROUP BY series_id, 2`,
    ).run(Number.isFinite(since) ? Math.floor(since) : -Number.MAX_SAFE_INTEGER);
    db.exec(`UPDATE rollup_${tier.name} SET last = (SELECT value FROM readings r WHERE r.series_id = rollup_${tier.name}.series_id AND r.time = rollup_${tier.name}.last_time)`);
  }
}

interface Bucket {
  sid: number;
  bucket: number;
  n: number;
  total: number;
  lo: number;
  hi: number;
  last: number;
  lastTime: number;
}

export interface RollupWriter {
  /** a reading inserted new (`replaced` false) or over a stored one, within the write's transaction */
  add(sid: number, time: number, value: number, replaced: boolean): void;
  /** writes the batch's buckets; call last in the write's transaction */
  commit(): void;
  /** forgets the batch, when its transaction failed */
  discard(): void;
  /** deletes buckets past their tier's retention */
  sweep(): void;
  close(): void;
}

export function createRollupWriter(db: Database.Database, retention: TierRetention = DEFAULT_TIER_RETENTION, now: () => number = Date.now): RollupWriter {
  const statements = TIERS.map((tier) => {
    const table = `rollup_${tier.name}`;
    return {
      tier,
      upsert: db.prepare<[number, number, number, number | null, number, number, number, number]>(
        `INSERT INTO ${table} (series_id, bucket, n, total, lo, hi, last, last_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (series_id, bucket) DO UPDATE SET n = n + excluded.n, total = total + excluded.total,
           lo = min(lo, excluded.lo), hi = max(hi, excluded.hi),
           last = CASE WHEN excluded.last_time > last_time THEN excluded.last ELSE last END,
           last_time = max(last_time, excluded.last_time)`,
      ),
      fromReadings: db.prepare<{ sid: number; from: number; to: number }>(
        `INSERT OR REPLACE INTO ${table} (series_id, bucket, n, total, lo, hi, last, last_time)
         SELECT @sid, @from, COUNT(*), SUM(value), MIN(value), MAX(value),
           (SELECT value FROM readings WHERE series_id = @sid AND time >= @from AND time < @to ORDER BY time DESC LIMIT 1), MAX(time)
         FROM readings WHERE series_id = @sid AND time >= @from AND time < @to HAVING COUNT(*) > 0`,
      ),
      sweep: db.prepare<[number, number]>(`DELETE FROM ${table} WHERE series_id = ? AND bucket < ?`),
    };
  });
  // an hour from its minutes: SUM() skips NULL, so a NULL minute total makes the hour's NULL too
  const hourFromMinutes = db.prepare<{ sid: number; from: number; to: number }>(
    `INSERT OR REPLACE INTO rollup_${HOUR.name} (series_id, bucket, n, total, lo, hi, last, last_time)
     SELECT @sid, @from, SUM(n), CASE WHEN COUNT(total) = COUNT(*) THEN SUM(total) END, MIN(lo), MAX(hi),
       (SELECT last FROM rollup_${MINUTE.name} WHERE series_id = @sid AND bucket >= @from AND bucket < @to ORDER BY bucket DESC LIMIT 1), MAX(last_time)
     FROM rollup_${MINUTE.name} WHERE series_id = @sid AND bucket >= @from AND bucket < @to HAVING COUNT(*) > 0`,
  );
  const allSeries = db.prepare<[], { id: number }>('SELECT id FROM series');

  // A batch's minute buckets by series, then bucket; hours are folded from them at commit. A series'
  // readings in a batch are mostly in one minute, so its latest bucket is tried first, by series id
  // (small integers) in an array: with a string key per reading the tiers cost a third more CPU per
  // reading on the store ceiling.
  const minutes = new Map<number, Map<number, Bucket>>();
  let recent: (Bucket | undefined)[] = [];
  // replaced readings' buckets, computed again from the readings
  const dirty = new Map<string, { sid: number; bucket: number }>();

  function add(sid: number, time: number, value: number, replaced: boolean): void {
    const bucket = floorTo(time, MINUTE.bucketMs);
    if (replaced) {
      dirty.set(`${sid}:${bucket}`, { sid, bucket });
      return;
    }
    let b = recent[sid];
    if (!b || b.bucket !== bucket) {
      let ofSeries = minutes.get(sid);
      if (!ofSeries) minutes.set(sid, (ofSeries = new Map()));
      b = ofSeries.get(bucket);
      if (!b) {
        b = { sid, bucket, n: 1, total: value, lo: value, hi: value, last: value, lastTime: time };
        ofSeries.set(bucket, b);
        recent[sid] = b;
        return;
      }
      recent[sid] = b;
    }
    b.n++;
    b.total += value;
    if (value < b.lo) b.lo = value;
    if (value > b.hi) b.hi = value;
    if (time > b.lastTime) {
      b.last = value;
      b.lastTime = time;
    }
  }

  function upsert(tier: number, b: Bucket): void {
    statements[tier].upsert.run(b.sid, b.bucket, b.n, Number.isNaN(b.total) ? null : b.total, b.lo, b.hi, b.last, b.lastTime);
  }

  function commit(): void {
    const dirtyHours = new Map<string, { sid: number; bucket: number }>();
    for (const { sid, bucket } of dirty.values()) {
      const hour = floorTo(bucket, HOUR.bucketMs);
      dirtyHours.set(`${sid}:${hour}`, { sid, bucket: hour });
    }
    const hours = new Map<string, Bucket>();
    for (const ofSeries of minutes.values()) {
      for (const b of ofSeries.values()) {
        // a dirty bucket is computed again below, these readings included
        if (!dirty.has(`${b.sid}:${b.bucket}`)) upsert(0, b);
        const hour = floorTo(b.bucket, HOUR.bucketMs);
        const key = `${b.sid}:${hour}`;
        if (dirtyHours.has(key)) continue;
        const h = hours.get(key);
        if (!h) hours.set(key, { ...b, bucket: hour });
        else {
          h.n += b.n;
          h.total += b.total;
          if (b.lo < h.lo) h.lo = b.lo;
          if (b.hi > h.hi) h.hi = b.hi;
          if (b.lastTime > h.lastTime) {
            h.last = b.last;
            h.lastTime = b.lastTime;
          }
        }
      }
    }
    for (const h of hours.values()) upsert(1, h);
    for (const { sid, bucket } of dirty.values()) statements[0].fromReadings.run({ sid, from: bucket, to: bucket + MINUTE.bucketMs });
    // an hour from its minutes, once they are computed; near the minute tier's retention its
    // minutes may be swept already, and the readings answer
    const minutesFrom = ceilTo(now() - retentionMs(retention, MINUTE), HOUR.bucketMs) + HOUR.bucketMs;
    for (const { sid, bucket } of dirtyHours.values()) {
      const range = { sid, from: bucket, to: bucket + HOUR.bucketMs };
      if (bucket >= minutesFrom) hourFromMinutes.run(range);
      else statements[1].fromReadings.run(range);
    }
    discard();
  }

  function discard(): void {
    minutes.clear();
    dirty.clear();
    recent = [];
  }

  /** Deletes expired buckets, a few hundred series per transaction; `paced` yields between them. */
  function sweep(paced = false): void {
    const at = now();
    const ids = allSeries.all().map((row) => row.id);
    const chunk = db.transaction((from: number) => {
      for (const s of statements) {
        const keep = retentionMs(retention, s.tier);
        if (!Number.isFinite(keep)) continue;
        const before = floorTo(at - keep, s.tier.bucketMs);
        for (const id of ids.slice(from, from + SWEEP_SERIES_PER_TRANSACTION)) s.sweep.run(id, before);
      }
    });
    const step = (from: number): void => {
      if (closed || from >= ids.length) return;
      chunk(from);
      if (paced) setImmediate(step, from + SWEEP_SERIES_PER_TRANSACTION);
      else step(from + SWEEP_SERIES_PER_TRANSACTION);
    };
    step(0);
  }

  let closed = false;
  const timer = setInterval(() => sweep(true), SWEEP_EVERY_MS);
  timer.unref();
  return {
    add, commit, discard,
    sweep: () => sweep(false),
    close() {
      closed = true;
      clearInterval(timer);
    },
  };
}

/** Where each tier may be trusted now: from its retention on, with no lag (written with the readings). */
export function sqliteTierSpans(retention: TierRetention, now: number): TierSpan[] {
  return TIERS.map((tier) => ({ tier, since: now - retentionMs(retention, tier), until: Infinity }));
}

/**
 * Statements giving the partial state of each window over a part of a query's range, from a tier
 * table or from the readings. Parameters: device, channel?, from, to (the part), start (the
 * query's from: the window of a whole-range aggregate), every?, limit.
 */
export function stateSql(tier: Tier | null, hasEvery: boolean, hasChannel: boolean, scanCheck: string): string {
  const channel = hasChannel ? 'AND s.channel = @channel' : '';
  if (!tier) {
    return `WITH w AS (
      SELECT s.channel AS channel, s.id AS sid, ${hasEvery ? '(r.time - ((r.time % @every) + @every) % @every)' : '@start'} AS time,
        COUNT(*) AS count, SUM(r.value) AS sum, MIN(r.value) AS min, MAX(r.value) AS max, MAX(r.time) AS last_time
      FROM series s JOIN readings r ON r.series_id = s.id
      WHERE s.device = @device ${channel} AND r.time >= @from AND r.time < @to AND ${scanCheck}(r.time)
      GROUP BY s.channel, 3 ORDER BY s.channel, 3 LIMIT @limit)
    SELECT channel, time, count, sum, min, max, (SELECT value FROM readings WHERE series_id = w.sid AND time = w.last_time) AS last FROM w`;
  }
  const table = `rollup_${tier.name}`;
  return `WITH w AS (
      SELECT s.channel AS channel, s.id AS sid, ${hasEvery ? '(t.bucket - ((t.bucket % @every) + @every) % @every)' : '@start'} AS time,
        SUM(t.n) AS count, CASE WHEN COUNT(t.total) = COUNT(*) THEN SUM(t.total) END AS sum, MIN(t.lo) AS min, MAX(t.hi) AS max,
        MAX(t.last_time) AS last_time
      FROM series s JOIN ${table} t ON t.series_id = s.id
      WHERE s.device = @device ${channel} AND t.bucket >= @from AND t.bucket < @to AND ${scanCheck}(t.bucket)
      GROUP BY s.channel, 3 ORDER BY s.channel, 3 LIMIT @limit)
    SELECT channel, time, count, sum, min, max,
      (SELECT last FROM ${table} WHERE series_id = w.sid AND bucket = ${bucketOf('w.last_time', tier.bucketMs)}) AS last FROM w`;
}
