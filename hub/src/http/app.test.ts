// The HTTP API in-process (app.request), with the real registry on a temp dir and a store fake at the boundary.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { OperatorAuthOptions } from '../auth/operator-auth.ts';
import { hashToken } from '../auth/tokens.ts';
import { testOperatorAuth } from '../../test/support/operator-auth.ts';
import { Ingest } from '../ingest/ingest.ts';
import { createLocalLiveBus } from '../live/live-bus.ts';
import { createLocalPresence } from '../presence/local-presence.ts';
import { createMetrics } from '../metrics.ts';
import { createSqliteRegistry } from '../registry/sqlite-registry.ts';
import type { Reading, ReadingQuery, ReadingStore } from '../store/store.ts';
import { createApp } from './app.ts';
import { asReadings, type Readings } from '../store/reading-batch.ts';

class ListStore implements ReadingStore {
  readings: Reading[] = [];
  queries: ReadingQuery[] = [];
  down = false;
  async write(readings: Readings) { this.readings.push(...asReadings(readings)); }
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

  function build(authOptions: Partial<OperatorAuthOptions> = {}) {
    const registry = createSqliteRegistry({ path: join(dir, 'registry.db') });
    const metrics = createMetrics();
    const log = pino({ level: 'silent' });
    store = new ListStore();
    const live = createLocalLiveBus();
    const presence = createLocalPresence({ live });
    const ingest = new Ingest({ store, registry, presence, live, metrics, log, batchSize: 100, flushIntervalMs: 5, maxFutureMs: 300_000 });
    const operator = testOperatorAuth('operator', authOptions);
    app = createApp({
      registry, ingest, presence, store, metrics, log, auth: operator.auth, maxQueryPoints: 1000, maxDevices: 5,
      health: async () => ({ status: store.down ? 'down' : 'ok', store: { kind: 'embedded', reachable: !store.down } }),
    });
    close = async () => {
      await registry.close();
      await operator.close();
    };
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hub-app-'));
    build();
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

  it('refuses bodies over the route limit with 413 while reading, before the token is checked', async () => {
    const big = JSON.stringify({ token: 'x'.repeat(10_000) });
    const login = await app.request('/login', { method: 'POST', body: big, headers: { 'content-type': 'application/json' } });
    expect(login.status).toBe(413);
    expect((await login.json()).error.code).toBe('HUB_ERR_TOO_LARGE');
    expect(login.headers.get('connection')).toBe('close');
    // without a length up front the body is counted as it streams in, and the stream is never read to its end
    let pulled = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++;
        controller.enqueue(new Uint8Array(1024).fill(0x20));
      },
    });
    const streamed = await app.request('/api/devices', { method: 'POST', body: endless, headers: { 'content-type': 'application/json' }, duplex: 'half' } as RequestInit);
    expect(streamed.status).toBe(413);
    expect(pulled).toBeLessThan(64);
    const provision = await post({ id: 'big', name: 'n'.repeat(5000) });
    expect(provision.status).toBe(413);
    expect((await post({ id: 'small' })).status).toBe(201);
    // a command's args may be 4096 bytes: its body fits (this app has no command routes, so 404), a larger one does not
    const command = (args: unknown) => app.request('/api/devices/small/commands', { method: 'POST', body: JSON.stringify({ name: 'set', args }), headers: { ...auth, 'content-type': 'application/json' } });
    expect((await command({ blob: 'a'.repeat(4090) })).status).toBe(404);
    expect((await command({ blob: 'a'.repeat(9000) })).status).toBe(413);
    const metrics = await (await app.request('/metrics')).text();
    expect(metrics).toMatch(/hub_rejected_total\{code="HUB_ERR_TOO_LARGE"\} 4/);
  });

  it('gives the dashboard an opaque session cookie, not the token, and ends it on logout', async () => {
    build({ secureCookies: true });
    const login = await app.request('/login', { method: 'POST', body: JSON.stringify({ token: 'operator' }), headers: { 'content-type': 'application/json' } });
    expect(login.status).toBe(204);
    const setCookie = login.headers.get('set-cookie')!;
    expect(setCookie).toMatch(/^hub_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+; Secure$/);
    expect(setCookie).not.toContain('operator');
    const cookie = setCookie.split(';')[0];
    expect((await app.request('/api/devices', { headers: { cookie } })).status).toBe(200);
    const logout = await app.request('/logout', { method: 'POST', headers: { cookie } });
    expect(logout.status).toBe(204);
    expect(logout.headers.get('set-cookie')).toMatch(/^hub_session=; .*Max-Age=0/);
    expect((await app.request('/api/devices', { headers: { cookie } })).status).toBe(401);
    // the token itself is not a cookie credential, and a malformed cookie is a 401, not a 500
    for (const bad of ['hub_session=operator', 'hub_token=operator', 'hub_session=%', 'hub_token=%', 'hub_session=%E0%A4%A']) {
      const res = await app.request('/api/devices', { headers: { cookie: bad } });
      expect(res.status, bad).toBe(401);
      expect((await res.json()).error.code).toBe('HUB_ERR_UNAUTHORIZED');
    }
  });

  it('throttles failed logins and wrong Bearer tokens per address with 429, but a good token always gets in', async () => {
    const login = (token: string) => app.request('/login', { method: 'POST', body: JSON.stringify({ token }), headers: { 'content-type': 'application/json' } });
    const statuses = [];
    for (let i = 0; i < 8; i++) statuses.push((await login('wrong-token')).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
    const refused = await login('wrong-token');
    expect((await refused.json()).error.code).toBe('HUB_ERR_TOO_MANY_ATTEMPTS');
    expect((await app.request('/api/devices', { headers: { authorization: 'Bearer nope' } })).status).toBe(429);
    expect((await login('operator')).status).toBe(204);
    expect((await app.request('/api/devices', { headers: auth })).status).toBe(200);
    const metrics = await (await app.request('/metrics')).text();
    expect(metrics).toMatch(/hub_rejected_total\{code="HUB_ERR_TOO_MANY_ATTEMPTS"\} [4-9]/);
  });

  it('asks for a token on /metrics only when one is configured', async () => {
    build({ metricsTokenHash: hashToken('scrape-token-0123456789') });
    expect((await app.request('/metrics')).status).toBe(401);
    expect((await app.request('/metrics', { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    expect((await app.request('/metrics', { headers: { authorization: 'Bearer scrape-token-0123456789' } })).status).toBe(200);
    expect((await app.request('/metrics', { headers: auth })).status).toBe(200);
    // the metrics token opens nothing else
    expect((await app.request('/api/devices', { headers: { authorization: 'Bearer scrape-token-0123456789' } })).status).toBe(401);
  });
});
