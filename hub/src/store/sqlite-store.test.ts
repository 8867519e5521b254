import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { createSqliteStore } from './sqlite-store.ts';
import { describeStoreContract } from './store-contract.ts';

describeStoreContract('SQLite', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sqlite-store-'));
  const store = createSqliteStore({ path: join(dir, 'readings.db') });
  return {
    store,
    async cleanup() {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  // in-thread: every call runs to its end before it returns; the threaded store is the isolated one
}, { isolatedReads: false, boundedScan: true });

describe('SQLite store', () => {
  it('keeps readings across close and reopen, in WAL mode with full sync', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sqlite-store-'));
    try {
      const path = join(dir, 'nested', 'readings.db');
      const first = createSqliteStore({ path });
      await first.write([{ deviceId: 'd', channel: 'c', time: 1000, value: 1.5 }]);
      await first.close();
      await expect(first.write([])).rejects.toThrow(/closed/);

      const again = createSqliteStore({ path });
      expect(await again.query({ deviceId: 'd', from: 0, to: 2000, limit: 10 })).toEqual([{ channel: 'c', time: 1000, value: 1.5 }]);
      await again.close();

      const db = new Database(path, { readonly: true });
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.pragma('user_version', { simple: true })).toBe(2);
      db.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('aligns windows to the epoch for times before 1970 as well', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sqlite-store-'));
    const store = createSqliteStore({ path: join(dir, 'readings.db') });
    try {
      await store.write([
        { deviceId: 'd', channel: 'c', time: -1500, value: 1 },
        { deviceId: 'd', channel: 'c', time: -1000, value: 2 },
        { deviceId: 'd', channel: 'c', time: -1, value: 3 },
        { deviceId: 'd', channel: 'c', time: 0, value: 4 },
      ]);
      expect(await store.query({ deviceId: 'd', from: -10_000, to: 10_000, every: 1000, agg: 'count', limit: 10 })).toEqual([
        { channel: 'c', time: -2000, value: 1 },
        { channel: 'c', time: -1000, value: 2 },
        { channel: 'c', time: 0, value: 1 },
      ]);
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('SQLite store: the bound on rows a query reads', () => {
  it('is the store option, and a query\'s own `maxScan` replaces it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sqlite-store-'));
    const store = createSqliteStore({ path: join(dir, 'readings.db'), maxScan: 1000 });
    try {
      // near 1970, before any tier's retention: the readings answer
      await store.write(Array.from({ length: 1001 }, (_, i) => ({ deviceId: 'd', channel: 'c', time: i, value: 1 })));
      const count = { deviceId: 'd', from: 0, to: 10_000, agg: 'count', limit: 10 } as const;
      await expect(store.query(count)).rejects.toMatchObject({ name: 'QueryTooLargeError', code: 'STORE_QUERY_TOO_LARGE', maxScan: 1000 });
      expect(await store.query({ ...count, maxScan: 1001 })).toEqual([{ channel: 'c', time: 0, value: 1001 }]);
      expect(await store.query({ ...count, to: 1000 })).toEqual([{ channel: 'c', time: 0, value: 1000 }]);
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('SQLite history tiers', () => {
  const DAY = 86_400_000;
  const HOUR = 3_600_000;
  const base = Math.floor(Date.now() / DAY) * DAY - 3 * DAY;

  async function withStore(run: (path: string) => Promise<void>): Promise<void> {
    const dir = await mkdtemp(join(tmpdir(), 'sqlite-tiers-'));
    try {
      await run(join(dir, 'readings.db'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  // a reading every 30 s for a day: 120 per hour
  const day = (deviceId: string, from = base) => Array.from({ length: 2880 }, (_, i) => ({ deviceId, channel: 'c', time: from + i * 30_000, value: i % 7 }));

  it('answers whole buckets from the tiers and only the ragged edges from the readings', async () => {
    await withStore(async (path) => {
      const store = createSqliteStore({ path });
      await store.write(day('d'));
      // take the readings away behind the store's back: what is still counted came from a tier
      const side = new Database(path);
      side.exec('DELETE FROM readings');
      side.close();
      expect(await store.query({ deviceId: 'd', from: base, to: base + DAY, limit: 10 })).toEqual([]);
      const hourly = await store.query({ deviceId: 'd', from: base, to: base + DAY, every: HOUR, agg: 'count', limit: 100 });
      expect(hourly).toEqual(Array.from({ length: 24 }, (_, h) => ({ channel: 'c', time: base + h * HOUR, value: 120 })));
      expect(await store.query({ deviceId: 'd', from: base, to: base + DAY, every: HOUR, agg: 'count', limit: 100, rawOnly: true })).toEqual([]);
      const daily = await store.query({ deviceId: 'd', from: base, to: base + DAY, every: DAY, agg: 'max', limit: 100 });
      expect(daily).toEqual([{ channel: 'c', time: base, value: 6 }]);
      // 90 s past the hour: the minute tier from the next minute, the readings (gone) for the rest
      const ragged = await store.query({ deviceId: 'd', from: base + HOUR + 90_000, to: base + 2 * HOUR, every: HOUR, agg: 'count', limit: 10 });
      expect(ragged).toEqual([{ channel: 'c', time: base + HOUR, value: 120 - 2 * 2 }]);
      // 90 s is no whole number of minutes: only the readings can answer
      expect(await store.query({ deviceId: 'd', from: base, to: base + DAY, every: 90_000, agg: 'count', limit: 10 })).toEqual([]);
      await store.close();
    });
  });

  it('sweeps buckets past each tier retention, and answers those ranges from the readings', async () => {
    await withStore(async (path) => {
      let now = base + DAY;
      const options = { path, tierRetention: { minute: '2d', hour: '10d' }, now: () => now };
      const first = createSqliteStore(options);
      await first.write(day('d'));
      await first.close();
      now += 3 * DAY;
      const again = createSqliteStore(options); // sweeps at open
      const side = new Database(path, { readonly: true });
      expect(side.prepare('SELECT COUNT(*) AS n FROM rollup_1m').get()).toEqual({ n: 0 });
      expect(side.prepare('SELECT COUNT(*) AS n FROM rollup_1h').get()).toEqual({ n: 24 });
      side.close();
      const minutes = await again.query({ deviceId: 'd', from: base, to: base + DAY, every: 60_000, agg: 'count', limit: 10_000 });
      expect(minutes.length).toBe(1440);
      expect(minutes.every((p) => p.value === 2)).toBe(true);
      // a reading written again in an hour whose minutes are swept: the hour is computed from the readings
      await again.write([{ deviceId: 'd', channel: 'c', time: base + 30_000, value: -5 }]);
      const hours = await again.query({ deviceId: 'd', from: base, to: base + 2 * HOUR, every: HOUR, agg: 'min', limit: 10 });
      expect(hours).toEqual([{ channel: 'c', time: base, value: -5 }, { channel: 'c', time: base + HOUR, value: 0 }]);
      const side2 = new Database(path, { readonly: true });
      expect(side2.prepare('SELECT n, lo FROM rollup_1h WHERE bucket = ?').get(base)).toEqual({ n: 120, lo: -5 });
      side2.close();
      await again.close();
    });
  });

  it('fills the tiers once from the readings of a database from before them', async () => {
    await withStore(async (path) => {
      const old = new Database(path);
      old.exec(`CREATE TABLE series (id INTEGER PRIMARY KEY, device TEXT NOT NULL, channel TEXT NOT NULL, UNIQUE (device, channel));
        CREATE TABLE readings (series_id INTEGER NOT NULL, time INTEGER NOT NULL, value REAL NOT NULL, PRIMARY KEY (series_id, time)) WITHOUT ROWID;
        INSERT INTO series (id, device, channel) VALUES (1, 'd', 'c');
        PRAGMA user_version = 1;`);
      const insert = old.prepare('INSERT INTO readings VALUES (1, ?, ?)');
      old.transaction(() => {
        for (const r of day('d')) insert.run(r.time, r.value);
      })();
      old.close();
      const store = createSqliteStore({ path });
      const expected = await store.query({ deviceId: 'd', from: base, to: base + DAY, every: HOUR, agg: 'mean', limit: 100 });
      const side = new Database(path);
      side.exec('DELETE FROM readings');
      expect(side.pragma('user_version', { simple: true })).toBe(2);
      side.close();
      expect(expected.length).toBe(24);
      expect(await store.query({ deviceId: 'd', from: base, to: base + DAY, every: HOUR, agg: 'mean', limit: 100 })).toEqual(expected);
      expect(await store.query({ deviceId: 'd', from: base, to: base + DAY, every: HOUR, agg: 'last', limit: 1 })).toEqual([{ channel: 'c', time: base, value: 119 % 7 }]);
      await store.close();
    });
  });
});
