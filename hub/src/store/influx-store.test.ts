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
