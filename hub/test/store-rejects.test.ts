// A store that refuses part of a batch for good must cost only the readings it refuses: a real
// influxd with a small `max-values-per-tag` refuses every point that brings a new channel name,
// and the hub must keep acknowledging every other device.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChannelDescriptor } from '../src/protocol/index.ts';
import { startTestHub, TEST_CHANNELS, waitFor, type TestHub } from './support/hub-fixture.ts';
import { startInfluxd, type Influxd } from './support/influxd.ts';
import { hasRealPart } from './support/real-parts.ts';

describe.runIf(hasRealPart('influxd'))('InfluxDB refusing part of a batch', () => {
  let influx: Influxd;
  let hub: TestHub;
  beforeAll(async () => {
    // its own influxd: the limit is a server setting
    influx = await startInfluxd({ maxValuesPerTag: 8 });
    hub = await startTestHub({ influxUrl: `${influx.url}/rejects`, maxChannelNamesPerDevice: 64 });
  });
  afterAll(async () => {
    await hub?.stop();
    await influx?.stop();
  });

  it('drops only the refused series, tells that device, and keeps acknowledging the others', async () => {
    const good = hub.device('good-1', await hub.provision('good-1'), { channels: TEST_CHANNELS });
    // 16 channel names: with the good device's 4, InfluxDB takes 8 values of the tag and refuses the rest
    const churnChannels: ChannelDescriptor[] = Array.from({ length: 16 }, (_, i) => ({ id: i + 1, type: 'f32', name: `churn-${i}`, unit: '' }));
    const churn = hub.device('churn-1', await hub.provision('churn-1'), { channels: churnChannels });
    const errors: number[] = [];
    churn.on('hub-error', (code: number) => errors.push(code));
    await good.connect();
    await churn.connect();
    const t0 = Date.now() - 60_000;
    // InfluxDB checks the limit against what it already holds, so the churn device brings one new
    // name per batch, as a device inventing names over time would; the good device streams beside it
    for (let i = 0; i < 50; i++) {
      good.sendReadings([{ channel: 1, type: 'f32', offset: 0, value: i }], t0 + i * 10);
      const upTo = Math.min(churnChannels.length, Math.floor(i / 3) + 1);
      churn.sendReadings(churnChannels.slice(0, upTo).map((c) => ({ channel: c.id, type: 'f32' as const, offset: 0, value: i })), t0 + i * 10);
      await churn.waitAcked();
    }
    // both get every frame acknowledged: no 4029 loop, nothing held back
    await good.waitAcked();
    expect(good.connected).toBe(true);
    expect(churn.connected).toBe(true);
    expect(errors).toContain(34); // FP_ERR_STORE_REJECTED

    const stored = async (id: string) => ((await (await hub.api(`/api/devices/${id}/readings?from=${t0}&to=${t0 + 60_000}`)).json()).points as { channel: string }[]);
    expect(await stored('good-1')).toHaveLength(50);
    const churnStored = await stored('churn-1');
    const churnInfo = await (await hub.api('/api/devices/churn-1')).json();
    // every churn reading is either stored or counted refused, none both, none lost
    const sent = Array.from({ length: 50 }, (_, i) => Math.min(churnChannels.length, Math.floor(i / 3) + 1)).reduce((a, b) => a + b, 0);
    expect(churnStored.length + churnInfo.counters.rejected).toBe(sent);
    expect(churnInfo.counters.rejected).toBeGreaterThan(0);
    expect(churnInfo.counters.readings).toBe(churnStored.length);

    const health = await (await fetch(`${hub.url}/healthz`)).json();
    expect(health).toMatchObject({ status: 'degraded', rejected: { readings: churnInfo.counters.rejected } });
    expect(health.rejected.lastError).toMatch(/max-values-per-tag/);
    const metrics = await (await hub.api('/metrics')).text();
    expect(metrics).toMatch(new RegExp(`hub_rejected_total\\{code="FP_ERR_STORE_REJECTED"\\} ${churnInfo.counters.rejected}\\b`));
    // and the good device keeps streaming afterwards
    good.sendReadings([{ channel: 1, type: 'f32', offset: 0, value: 99 }], t0 + 10_000);
    await good.waitAcked();
    await waitFor(async () => (await stored('good-1')).length === 51, 'the later reading stored');
  });
});
