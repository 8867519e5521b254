import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeStoreContract } from './store-contract.ts';
import { QueryTooLargeError } from './store.ts';
import { createThreadedSqliteStore } from './threaded-sqlite-store.ts';

// The same contract as the in-thread store: the thread must change nothing but where the work runs.
describeStoreContract('SQLite on its own thread', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sqlite-thread-'));
  const store = createThreadedSqliteStore({ path: join(dir, 'readings.db') });
  return {
    store,
    async cleanup() {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}, { isolatedReads: true, boundedScan: true });

describe('SQLite on its own thread: the bound on rows a query reads', () => {
  it('reaches the reader threads from the store options; a refused query leaves the store answering', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sqlite-thread-'));
    const store = createThreadedSqliteStore({ path: join(dir, 'readings.db'), maxScan: 1000 });
    try {
      // near 1970, before any tier's retention: the readings answer
      await store.write(Array.from({ length: 1001 }, (_, i) => ({ deviceId: 'd', channel: 'c', time: i, value: 1 })));
      const count = { deviceId: 'd', from: 0, to: 10_000, agg: 'count', limit: 10 } as const;
      const refused = await store.query(count).catch((err: unknown) => err);
      expect(refused).toBeInstanceOf(QueryTooLargeError);
      expect(refused).toMatchObject({ code: 'STORE_QUERY_TOO_LARGE', maxScan: 1000 });
      await store.write([{ deviceId: 'd', channel: 'c', time: 1001, value: 1 }]);
      expect(await store.query({ ...count, maxScan: 1002 })).toEqual([{ channel: 'c', time: 0, value: 1002 }]);
      expect(await store.query({ ...count, to: 1000 })).toEqual([{ channel: 'c', time: 0, value: 1000 }]);
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('SQLite on its own thread: answers as JSON', () => {
  it('writes on the reader thread exactly the JSON of what query answers, under the same bounds', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sqlite-thread-'));
    const store = createThreadedSqliteStore({ path: join(dir, 'readings.db'), maxScan: 5000 });
    try {
      const readings = ['humidity', 'temp "inside"'].flatMap((channel, c) =>
        Array.from({ length: 1200 }, (_, i) => ({ deviceId: 'd', channel, time: i * 250, value: c * 100 + Math.sin(i) * 1e-7 })));
      await store.write(readings);
      const queries = [
        { deviceId: 'd', from: 0, to: 300_000, limit: 10_000 },
        { deviceId: 'd', from: 0, to: 300_000, limit: 100 },
        { deviceId: 'd', channel: 'humidity', from: 0, to: 300_000, every: 7000, agg: 'mean', limit: 1000 },
        { deviceId: 'd', from: 0, to: 300_000, every: 60_000, agg: 'last', limit: 1000 },
        { deviceId: 'nobody', from: 0, to: 300_000, limit: 10 },
      ] as const;
      for (const q of queries) {
        const points = await store.query(q);
        const encoded = await store.queryJson(q);
        expect(encoded.count).toBe(points.length);
        expect(new TextDecoder().decode(encoded.json)).toBe(JSON.stringify(points));
      }
      expect(await store.queryJson({ ...queries[0], maxScan: 100 }).catch((err: unknown) => err)).toBeInstanceOf(QueryTooLargeError);
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
