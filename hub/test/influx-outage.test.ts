// A 20-second InfluxDB outage while devices stream through the hub: readings are spooled and
// still acknowledged, /healthz says degraded, and once influxd is back every reading is there.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, waitFor, type TestHub } from '../src/test-support/hub-fixture.ts';
import { startInfluxd, type Influxd } from '../src/test-support/influxd.ts';
import { hasRealPart } from '../src/test-support/real-parts.ts';

const OUTAGE_MS = 20_000;

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

  it('loses nothing and duplicates nothing', async () => {
    const devices = await Promise.all(['out-1', 'out-2', 'out-3'].map(async (id) => {
      const device = hub.device(id, await hub.provision(id));
      await device.connect();
      return device;
    }));
    const health = async () => (await (await fetch(hub.url + '/healthz')).json()) as { status: string; spool: { readings: number } };
    expect((await health()).status).toBe('ok');

    const t0 = Date.now() - 10 * 60_000;
    let frame = 0;
    const sent = new Map<string, number>();
    // 3 devices × 10 samples every 20 ms ≈ 1500 readings/s
    const streaming = setInterval(() => {
      for (const device of devices) {
        device.sendReadings(Array.from({ length: 10 }, (_, i) => ({ channel: 3, type: 'i32' as const, offset: i, value: frame * 10 + i })), t0 + frame * 10);
        sent.set(device.options.deviceId, (sent.get(device.options.deviceId) ?? 0) + 10);
      }
      frame++;
    }, 20);
    try {
      await new Promise((r) => setTimeout(r, 2000));
      await influxd.kill(); // SIGKILL: no goodbye to the hub
      const ackedAtKill = devices.map((d) => d.acked);
      await waitFor(async () => (await health()).status === 'degraded', 'degraded health');
      await new Promise((r) => setTimeout(r, OUTAGE_MS));
      // acknowledged meanwhile: the spool made them durable
      devices.forEach((d, i) => expect(d.acked).toBeGreaterThan(ackedAtKill[i] + 500));
      expect((await health()).spool.readings).toBeGreaterThan(0);
      await influxd.restart();
      await new Promise((r) => setTimeout(r, 2000));
    } finally {
      clearInterval(streaming);
    }
    await Promise.all(devices.map((d) => d.waitAcked(undefined, 20_000)));
    await waitFor(async () => (await health()).status === 'ok', 'spool drained, health ok', 30_000);

    for (const device of devices) {
      const id = device.options.deviceId;
      const res = await hub.api(`/api/devices/${id}/readings?channel=count&from=${t0}&to=${t0 + 3_600_000}&every=1h&agg=count`);
      const [point] = (await res.json()).points;
      expect(point.value, id).toBe(sent.get(id));
      const raw = await hub.api(`/api/devices/${id}/readings?channel=count&from=${t0}&to=${t0 + 3_600_000}&limit=100000`);
      const body = await raw.json();
      expect(raw.status, JSON.stringify(body).slice(0, 300)).toBe(200);
      const values = (body.points as { value: number }[]).map((p) => p.value);
      expect(new Set(values).size, `${id} distinct`).toBe(sent.get(id));
    }
  }, 90_000);
});
