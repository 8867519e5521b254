// The HTTP API in-process (app.request), with the real registry on a temp dir and a store fake at the boundary.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hashToken } from '../auth/tokens.ts';
import { Ingest } from '../ingest/ingest.ts';
import { createLocalLiveBus } from '../live/live-bus.ts';
import { createMetrics } from '../metrics.ts';
import { createSqliteRegistry } from '../registry/sqlite-registry.ts';
import type { Reading, ReadingQuery, ReadingStore } from '../store/store.ts';
import { createApp } from './app.ts';

class ListStore implements ReadingStore {
  readings: Reading[] = [];
  queries: ReadingQuery[] = [];
  down = false;
  async write(readings: readonly Reading[]) { this.readings.push(...readings); }
  async query(q: ReadingQuery) {
    this.queries.push(q);
    if (this.down) throw new Error('unreachable');
    return this.readings.filter((r) => r.deviceId === q.deviceId && (!q.channel || r.channel === q.channel)).map(({ channel, time, value }) => ({ channel, time, value }));
  }
  async ping() { if (this.down) throw new Error('unreachable'); }
  async close() {}
}

describe('HTTP API', () => {
  let dir: string;
  let store: ListStore;
  let app: ReturnType<typeof createApp>;
  let close: () => Promise<void>;
  const auth = { authorization: 'Bearer operator' };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hub-app-'));
    const registry = createSqliteRegistry({ path: join(dir, 'registry.db') });
    const metrics = createMetrics();
    const log = pino({ level: 'silent' });
    store = new ListStore();
    const ingest = new Ingest({ store, registry, live: createLocalLiveBus(), metrics, log, batchSize: 100, flushIntervalMs: 5, maxFutureMs: 300_000 });
    app = createApp({
      registry, ingest, store, metrics, log, adminTokenHash: hashToken('operator'), maxQueryPoints: 1000, maxDevices: 5,
      health: async () => ({ status: store.down ? 'down' : 'ok', store: { kind: 'embedded', reachable: !store.down } }),
    });
    close = () => registry.close();
  });
  afterEach(async () => {
    await close();
    rmSync(dir, { recursive: true, force: true });
  });

  const post = (body: unknown, headers: Record<string, string> = auth) =>
    app.request('/api/devices', { method: 'POST', body: JSON.stringify(body), headers: { ...headers, 'content-type': 'application/json' } });

  it('refuses a missing or wrong operator token with 401 and the error shape', async () => {
    for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: 'Basic operator' }] as Record<string, string>[]) {
      const res = await app.request('/api/devices', { headers });
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ error: { code: 'HUB_ERR_UNAUTHORIZED', message: expect.any(String) } });
    }
  });

  it('provisions a device, shows its token once, and lists it', async () => {
    const res = await post({ id: 'sensor-7', name: 'Greenhouse' });
    expect(res.status).toBe(201);
    const created = await res.json();
    expect(created.token).toMatch(/^[0-9a-f]{32}$/);
    expect(created).toMatchObject({ id: 'sensor-7', name: 'Greenhouse', online: false, lastSeen: null, channels: [] });
    const listed = await (await app.request('/api/devices', { headers: auth })).json();
    expect(listed).toHaveLength(1);
    expect(listed[0].token).toBeUndefined();
    expect(JSON.stringify(listed)).not.toContain(created.token);
  });

  it('picks an id when provisioning by name alone', async () => {
    const res = await post({ name: 'Boiler room' });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ id: expect.stringMatching(/^dev-[0-9a-f]{8}$/), name: 'Boiler room', token: expect.any(String) });
  });

  it('answers bad provisioning with 400 and 409', async () => {
    expect((await post({ id: 'has space' })).status).toBe(400);
    expect((await post([])).status).toBe(400);
    expect((await post({ id: 5 })).status).toBe(400);
    expect((await post({ id: 'x', name: 5 })).status).toBe(400);
    const notJson = await app.request('/api/devices', { method: 'POST', body: '{', headers: auth });
    expect(notJson.status).toBe(400);
    expect((await post({ id: 'twice' })).status).toBe(201);
    const again = await post({ id: 'twice' });
    expect(again.status).toBe(409);
    expect((await again.json()).error.code).toBe('HUB_ERR_CONFLICT');
  });

  it('refuses provisioning past the device limit with HUB_ERR_LIMIT', async () => {
    for (let i = 0; i < 5; i++) expect((await post({ id: `d${i}` })).status).toBe(201);
    const res = await post({ id: 'one-too-many' });
    expect(res.status).toBe(403);
    expect((await res.json()).error.code).toBe('HUB_ERR_LIMIT');
  });

  it('404s unknown devices and routes in the error shape', async () => {
    for (const path of ['/api/devices/nope', '/api/devices/nope/readings', '/no/such/route']) {
      const res = await app.request(path, { headers: auth });
      expect(res.status, path).toBe(404);
      expect((await res.json()).error.code).toBe('HUB_ERR_NOT_FOUND');
    }
    expect((await app.request('/api/devices/nope', { method: 'DELETE', headers: auth })).status).toBe(404);
  });

  it('serves history as JSON and CSV, passing the parsed query to the store', async () => {
    await post({ id: 'h1' });
    store.readings.push(
      { deviceId: 'h1', channel: 'temp', time: Date.UTC(2026, 0, 1), value: 21.5 },
      { deviceId: 'h1', channel: 'name, "quoted"', time: Date.UTC(2026, 0, 1, 0, 0, 1), value: 1 },
    );
    const json = await (await app.request('/api/devices/h1/readings?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z&every=1h&agg=max&channel=temp', { headers: auth })).json();
    expect(store.queries.at(-1)).toEqual({ deviceId: 'h1', channel: 'temp', from: Date.UTC(2026, 0, 1), to: Date.UTC(2026, 0, 2), every: 3_600_000, agg: 'max', limit: 1000 });
    expect(json).toMatchObject({ deviceId: 'h1', every: 3_600_000, agg: 'max', truncated: false, points: [{ channel: 'temp', time: Date.UTC(2026, 0, 1), value: 21.5 }] });

    const res = await app.request('/api/devices/h1/readings?from=0&format=csv', { headers: auth });
    expect(res.headers.get('content-type')).toContain('text/csv');
    expect(res.headers.get('content-disposition')).toContain('h1-readings.csv');
    expect(await res.text()).toBe('time,channel,value\n2026-01-01T00:00:00.000Z,temp,21.5\n2026-01-01T00:00:01.000Z,"name, ""quoted""",1\n');
  });

  it('answers bad history parameters with 400 and a dead store with 503', async () => {
    await post({ id: 'h2' });
    const bad = await app.request('/api/devices/h2/readings?every=often', { headers: auth });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.code).toBe('HUB_ERR_BAD_REQUEST');
    store.down = true;
    const down = await app.request('/api/devices/h2/readings', { headers: auth });
    expect(down.status).toBe(503);
    expect((await down.json()).error.code).toBe('HUB_ERR_STORE_UNAVAILABLE');
    expect((await app.request('/healthz')).status).toBe(503);
  });

  it('serves health and Prometheus metrics without a token', async () => {
    expect(await (await app.request('/healthz')).json()).toEqual({ status: 'ok', store: { kind: 'embedded', reachable: true } });
    const metrics = await (await app.request('/metrics')).text();
    expect(metrics).toContain('# TYPE hub_devices_connected gauge');
    expect(metrics).toContain('hub_readings_stored_total');
  });
});
