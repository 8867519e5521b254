import { randomBytes } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasRealPart, freePort } from '../../test/support/real-parts.ts';
import { startInfluxd, type Influxd } from '../../test/support/influxd.ts';
import { createInfluxStore, decodeTagValue, encodeTagValue, INFLUX_RETENTION_POLICY } from './influx-store.ts';
import { describeStoreContract } from './store-contract.ts';
import { WriteRejectedError } from './errors.ts';

describe('InfluxDB tag value encoding', () => {
  it('keeps ordinary names as they are and round-trips the rest', () => {
    for (const name of ['temp', 'with space', 'a,b=c', '温度 😀', 'quote"\'']) expect(encodeTagValue(name)).toBe(name);
    for (const name of ['back\\slash', 'trailing\\', 'new\nline', 'nul\u0000', '\\~looks encoded']) {
      const stored = encodeTagValue(name);
      expect(stored).not.toBe(name);
      expect(decodeTagValue(stored)).toBe(name);
    }
  });
});

describe.runIf(hasRealPart('influxd'))('InfluxDB store', () => {
  // A private influxd for this file, even in CI: its heavy aggregate and query-bound cases must not
  // compete with (or be slowed by) every other test file on the shared one.
  let own: Influxd | undefined;
  let server: string | undefined;
  const databases: string[] = [];

  async function influxql(q: string, db?: string): Promise<unknown> {
    const body = new URLSearchParams({ q, ...(db ? { db } : {}) });
    const res = await fetch(`${server}/query`, { method: 'POST', body });
    return res.json();
  }

  async function policy(database: string): Promise<{ duration: string; isDefault: boolean } | undefined> {
    const answer = (await influxql(`SHOW RETENTION POLICIES ON "${database}"`)) as { results: [{ series: [{ values: [string, string, string, number, boolean][] }] }] };
    const row = answer.results[0].series[0].values.find(([name]) => name === INFLUX_RETENTION_POLICY);
    return row && { duration: row[1], isDefault: row[4] };
  }

  function newDatabase(): string {
    const name = `test_store_${randomBytes(4).toString('hex')}`;
    databases.push(name);
    return name;
  }

  beforeAll(async () => {
    if (!server) {
      own = await startInfluxd();
      server = own.url;
    }
  });

  afterAll(async () => {
    if (server) for (const db of databases) await influxql(`DROP DATABASE "${db}"`);
    await own?.stop();
  });

  describeStoreContract('InfluxDB', async () => {
    const store = createInfluxStore({ url: `${server}/${newDatabase()}` });
    await store.open();
    return { store, cleanup: () => store.close() };
  });

  it('creates the database with the telemetry_rp retention policy as its default', async () => {
    const database = newDatabase();
    const store = createInfluxStore({ url: `${server}/${database}`, retention: '30d' });
    const now = Date.now();
    await store.write([{ deviceId: 'd', channel: 'temp °C', time: now, value: 1 }]);
    // a point older than the retention period is as good as stored: it would be deleted at once
    await store.write([
      { deviceId: 'd', channel: 'temp °C', time: now - 40 * 86_400_000, value: 2 },
      { deviceId: 'd', channel: 'temp °C', time: now + 1, value: 3 },
    ]);
    expect(await store.query({ deviceId: 'd', from: 0, to: now + 2, limit: 10 })).toEqual([
      { channel: 'temp °C', time: now, value: 1 },
      { channel: 'temp °C', time: now + 1, value: 3 },
    ]);
    await store.close();
    expect(await policy(database)).toEqual({ duration: '720h0m0s', isDefault: true });
    const tags = JSON.stringify(await influxql('SHOW TAG KEYS FROM "readings"', database));
    expect(tags).toContain('["channel"],["device"]');
    const fields = JSON.stringify(await influxql('SHOW FIELD KEYS FROM "readings"', database));
    expect(fields).toContain('["value","float"]');

    // reopening with another retention brings the policy in line
    const again = createInfluxStore({ url: `${server}/${database}` });
    await again.open();
    await again.close();
    expect(await policy(database)).toEqual({ duration: '0s', isDefault: true });
  });

  describe('history tiers', () => {
    const DAY = 86_400_000;
    const HOUR = 3_600_000;
    const base = Math.floor(Date.now() / DAY) * DAY - 3 * DAY;
    // a reading every 30 s for a day: 120 per hour
    const day = (deviceId: string) => Array.from({ length: 2880 }, (_, i) => ({ deviceId, channel: 'c', time: base + i * 30_000, value: i % 7 }));
    const hourlyCounts = (n: number) => Array.from({ length: 24 }, (_, h) => ({ channel: 'c', time: base + h * HOUR, value: n }));

    it('keeps them in retention policies of their own, filled by continuous queries', async () => {
      const database = newDatabase();
      const store = createInfluxStore({ url: `${server}/${database}`, tierRetention: { minute: '30d', hour: '52w' } });
      await store.open();
      await store.close();
      const policies = JSON.stringify(await influxql(`SHOW RETENTION POLICIES ON "${database}"`));
      expect(policies).toContain('["rp_1m","720h0m0s"');
      expect(policies).toContain('["rp_1h","8736h0m0s"');
      const queries = JSON.stringify(await influxql('SHOW CONTINUOUS QUERIES'));
      expect(queries).toContain(`CREATE CONTINUOUS QUERY rollup_1m ON ${database} RESAMPLE EVERY 1m FOR 3m`);
      expect(queries).toContain(`CREATE CONTINUOUS QUERY rollup_1h ON ${database} RESAMPLE EVERY 1h FOR 2h`);
      // opening again changes the retentions, and creates nothing twice
      const again = createInfluxStore({ url: `${server}/${database}` });
      await again.open();
      await again.close();
      expect(JSON.stringify(await influxql(`SHOW RETENTION POLICIES ON "${database}"`))).toContain('["rp_1m","2160h0m0s"');
    });

    it('fills the tiers for late readings before the write resolves, and answers whole buckets from them', async () => {
      const database = newDatabase();
      const store = createInfluxStore({ url: `${server}/${database}` });
      await store.write(day('d'));
      // take the readings away behind the store's back: what is still counted came from a tier
      await influxql(`DELETE FROM "readings" WHERE "device" = 'd'`, database);
      expect(await store.query({ deviceId: 'd', from: base, to: base + DAY, limit: 10 })).toEqual([]);
      expect(await store.query({ deviceId: 'd', from: base, to: base + DAY, every: HOUR, agg: 'count', limit: 100 })).toEqual(hourlyCounts(120));
      expect(await store.query({ deviceId: 'd', from: base, to: base + DAY, every: DAY, agg: 'max', limit: 100 })).toEqual([{ channel: 'c', time: base, value: 6 }]);
      expect(await store.query({ deviceId: 'd', from: base, to: base + DAY, every: HOUR, agg: 'count', limit: 100, rawOnly: true })).toEqual([]);
      // 90 s past the hour: the minute tier from the next minute, the readings (gone) for the rest
      const ragged = await store.query({ deviceId: 'd', from: base + HOUR + 90_000, to: base + 2 * HOUR, every: HOUR, agg: 'count', limit: 10 });
      expect(ragged).toEqual([{ channel: 'c', time: base + HOUR, value: 120 - 2 * 2 }]);
      await store.close();
    });

    it('answers from the readings, not the tiers, what was stored before the tiers existed', async () => {
      const database = newDatabase();
      // readings written by a hub from before the tiers
      await influxql(`CREATE DATABASE "${database}"`);
      await influxql(`CREATE RETENTION POLICY ${INFLUX_RETENTION_POLICY} ON "${database}" DURATION INF REPLICATION 1 DEFAULT`);
      const lines = day('d').map((r) => `readings,channel=c,device=d value=${r.value} ${r.time}`).join('\n');
      await fetch(`${server}/write?db=${database}&rp=${INFLUX_RETENTION_POLICY}&precision=ms`, { method: 'POST', body: lines });
      const store = createInfluxStore({ url: `${server}/${database}` });
      await store.open();
      // empty tiers would count nothing
      expect(await store.query({ deviceId: 'd', from: base, to: base + DAY, every: HOUR, agg: 'count', limit: 100 })).toEqual(hourlyCounts(120));
      // reopened, it still knows from when the tiers are whole
      const again = createInfluxStore({ url: `${server}/${database}` });
      expect(await again.query({ deviceId: 'd', from: base, to: base + DAY, every: DAY, agg: 'count', limit: 100 })).toEqual([{ channel: 'c', time: base, value: 2880 }]);
      await store.close();
      await again.close();
    });
  });

  it('recreates a database dropped while it runs', async () => {
    const database = newDatabase();
    const store = createInfluxStore({ url: `${server}/${database}` });
    await store.write([{ deviceId: 'd', channel: 'c', time: 1000, value: 1 }]);
    await influxql(`DROP DATABASE "${database}"`);
    await store.write([{ deviceId: 'd', channel: 'c', time: 2000, value: 2 }]);
    expect(await store.query({ deviceId: 'd', from: 0, to: 10_000, limit: 10 })).toEqual([{ channel: 'c', time: 2000, value: 2 }]);
    await store.close();
  });

  it('reports a refused point as WriteRejectedError, so it is not retried', async () => {
    const database = newDatabase();
    const store = createInfluxStore({ url: `${server}/${database}` });
    await store.open();
    // another writer's string `value` turns every later float into a field type conflict
    await fetch(`${server}/write?db=${database}&rp=${INFLUX_RETENTION_POLICY}&precision=ms`, { method: 'POST', body: 'readings,channel=c,device=d value="text" 1000' });
    await expect(store.write([{ deviceId: 'd', channel: 'c', time: 2000, value: 1 }])).rejects.toBeInstanceOf(WriteRejectedError);
    await store.close();
  });

  it('ping and write reject when nothing listens', async () => {
    const store = createInfluxStore({ url: `http://127.0.0.1:${await freePort()}/telemetry`, timeoutMs: 1000 });
    await expect(store.ping()).rejects.toThrow(/unreachable/);
    await expect(store.write([{ deviceId: 'd', channel: 'c', time: 1, value: 1 }])).rejects.toThrow(/unreachable/);
    await store.close();
  });

  it('ping and write reject when the server accepts but never answers', async () => {
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as { port: number };
    try {
      const store = createInfluxStore({ url: `http://127.0.0.1:${port}/telemetry`, timeoutMs: 300 });
      await expect(store.ping()).rejects.toThrow(/did not answer/);
      await expect(store.write([{ deviceId: 'd', channel: 'c', time: 1, value: 1 }])).rejects.toThrow(/did not answer/);
      await store.close();
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});
