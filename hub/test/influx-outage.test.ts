// InfluxDB killed for 60 s while devices stream 10,000 readings/s through the hub: readings are spooled and
// still acknowledged, /healthz says degraded, and once influxd is back every reading is there.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, waitFor, type TestHub } from './support/hub-fixture.ts';
import { startInfluxd, type Influxd } from './support/influxd.ts';
import { hasRealPart } from './support/real-parts.ts';

const OUTAGE_MS = 60_000;

describe.runIf(hasRealPart('influxd'))('InfluxDB outage during streaming', () => {
  let influxd: Influxd;
  let hub: TestHub;
  beforeAll(async () => {
    influxd = await startInfluxd();
    hub = await startTestHub({ influxUrl: `${influxd.url}/outage` });
  });
  afterAll(async () => {
    await hub?.stop();
    await influxd?.stop();
  });

  it('creates its database and retention policy at start, before any reading', async () => {
    const res = await fetch(`${influxd.url}/query?${new URLSearchParams({ q: 'SHOW RETENTION POLICIES ON "outage"' })}`);
    const body = await res.json();
    expect(JSON.stringify(body.results[0].series?.[0]?.values ?? [])).toContain('telemetry_rp');
  });

  it('loses nothing and duplicates nothing', async () => {
    const devices = await Promise.all(Array.from({ length: 10 }, (_, i) => `out-${i}`).map(async (id) => {
      const device = hub.device(id, await hub.provision(id));
      await device.connect();
      return device;
    }));
    const health = async () => (await (await fetch(hub.url + '/healthz')).json()) as { status: string; spool: { readings: number } };
    expect((await health()).status).toBe('ok');

    const t0 = Date.now() - 30 * 60_000;
    let frame = 0;
    const sent = new Map<string, number>();
    // 10 devices × 50 samples every 50 ms = 10,000 readings/s
    const streaming = setInterval(() => {
      for (const device of devices) {
        device.sendReadings(Array.from({ length: 50 }, (_, i) => ({ channel: 3, type: 'i32' as const, offset: i, value: frame * 50 + i })), t0 + frame * 50);
        sent.set(device.options.deviceId, (sent.get(device.options.deviceId) ?? 0) + 50);
      }
      frame++;
    }, 50);
    try {
      await new Promise((r) => setTimeout(r, 2000));
      await influxd.kill(); // SIGKILL: no goodbye to the hub
      const ackedAtKill = devices.map((d) => d.acked);
      await waitFor(async () => (await health()).status === 'degraded', 'degraded health');
      await new Promise((r) => setTimeout(r, OUTAGE_MS));
      // acknowledged meanwhile: the spool made them durable
      devices.forEach((d, i) => expect(d.acked).toBeGreaterThan(ackedAtKill[i] + 100));
      expect((await health()).spool.readings).toBeGreaterThan(0);
      const metrics = await (await fetch(hub.url + '/metrics')).text();
      expect(Number(/^hub_spool_bytes (\d+)/m.exec(metrics)?.[1])).toBeGreaterThan(0);
      await influxd.restart();
      await new Promise((r) => setTimeout(r, 2000));
    } finally {
      clearInterval(streaming);
    }
    await Promise.all(devices.map((d) => d.waitAcked(undefined, 20_000)));
    await waitFor(async () => (await health()).status === 'ok', 'spool drained, health ok', 30_000);

    for (const device of devices) {
      const id = device.options.deviceId;
      // hour windows: a run that straddles the top of an hour has two
      const res = await hub.api(`/api/devices/${id}/readings?channel=count&from=${t0}&to=${t0 + 3_600_000}&every=1h&agg=count`);
      const counted = ((await res.json()).points as { value: number }[]).reduce((sum, p) => sum + p.value, 0);
      expect(counted, id).toBe(sent.get(id));
      const raw = await hub.api(`/api/devices/${id}/readings?channel=count&from=${t0}&to=${t0 + 3_600_000}&limit=100000`);
      expect(sent.get(id)).toBeLessThan(100_000);
      const body = await raw.json();
      expect(raw.status, JSON.stringify(body).slice(0, 300)).toBe(200);
      const values = (body.points as { value: number }[]).map((p) => p.value);
      expect(new Set(values).size, `${id} distinct`).toBe(sent.get(id));
    }
  }, 150_000);
});
