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
}, { isolatedReads: false });

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
      expect(db.pragma('user_version', { simple: true })).toBe(1);
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
