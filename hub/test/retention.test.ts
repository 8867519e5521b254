// [FP-4.2.4] With a finite INFLUX_RETENTION, InfluxDB drops points older than its retention
// policy. The hub must refuse such readings (FP_ERR_BAD_TIME) rather than acknowledge readings
// that are then silently dropped.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, waitFor, type TestHub } from './support/hub-fixture.ts';
import { startInfluxd } from './support/influxd.ts';
import { hasRealPart } from './support/real-parts.ts';

describe.runIf(hasRealPart('influxd'))('readings older than the InfluxDB retention', () => {
  let hub: TestHub;
  let stopInflux: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    let base = process.env.TEST_INFLUX_URL;
    if (!base) {
      const server = await startInfluxd();
      base = server.url;
      stopInflux = server.stop;
    }
    hub = await startTestHub({ influxUrl: `${base}/retention_${process.pid}_${Date.now()}`, influxRetention: '1h' });
  });
  afterAll(async () => {
    await hub?.stop();
    await stopInflux?.();
  });

  it('are refused with FP_ERR_BAD_TIME and never acknowledged as stored; recent ones are kept', async () => {
    const device = hub.device('old-1', await hub.provision('old-1'));
    const errors: number[] = [];
    device.on('hub-error', (code: number) => errors.push(code));
    await device.connect();
    const now = Date.now();
    device.sendReadings([{ channel: 3, type: 'i32', offset: 0, value: 1 }], now - 2 * 3_600_000); // past the retention
    device.sendReadings([{ channel: 3, type: 'i32', offset: 0, value: 2 }], now - 30 * 60_000);
    await device.waitAcked();
    expect(errors).toEqual([25]);
    await waitFor(async () => {
      const res = await hub.api(`/api/devices/old-1/readings?channel=count&from=${now - 3 * 3_600_000}&to=${now}`);
      return ((await res.json()).points as { value: number }[]).length === 1;
    }, 'the recent reading stored');
    const res = await hub.api(`/api/devices/old-1/readings?channel=count&from=${now - 3 * 3_600_000}&to=${now}`);
    expect(((await res.json()).points as { value: number }[]).map((p) => p.value)).toEqual([2]);
    const info = await (await hub.api('/api/devices/old-1')).json();
    expect(info.counters).toMatchObject({ readings: 1, rejected: 1 });
  });
});
