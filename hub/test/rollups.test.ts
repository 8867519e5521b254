// The history API answers long-range aggregates from the history tiers where that is exact, within
// each tier's configured retention, and from the readings elsewhere.
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from './support/hub-fixture.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

describe('history tiers behind GET /api/devices/:id/readings (embedded store)', () => {
  let hub: TestHub;
  const base = Math.floor(Date.now() / DAY) * DAY - 3 * DAY;
  beforeAll(async () => {
    // the minute tier keeps a day: readings three days old are past it, the hour tier still holds them
    hub = await startTestHub({ tierRetention: { minute: '1d', hour: '52w' } });
    const device = hub.device('tiers-1', await hub.provision('tiers-1'));
    await device.connect();
    // six hours, four readings an hour (minutes 0, 1, 2, 3), uploaded late as a store-and-forward device would
    for (let h = 0; h < 6; h++) {
      for (let m = 0; m < 4; m++) device.sendReadings([{ channel: 3, type: 'i32', offset: 0, value: h * 10 + m }], base + h * HOUR + m * 60_000);
    }
    await device.waitAcked();
  });
  afterAll(async () => {
    await hub?.stop();
  });

  async function points(query: string): Promise<{ time: string; value: number }[]> {
    const res = await hub.api(`/api/devices/tiers-1/readings?channel=count&${query}`);
    expect(res.status).toBe(200);
    return ((await res.json()) as { points: { time: string; value: number }[] }).points;
  }

  it('keeps answering whole hours from the hour tier when the readings are gone, and nothing finer', async () => {
    const range = `from=${base}&to=${base + 6 * HOUR}`;
    const before = await points(`${range}&every=1h&agg=count`);
    expect(before.map((p) => p.value)).toEqual([4, 4, 4, 4, 4, 4]);
    const maxima = await points(`${range}&every=1h&agg=max`);
    // take the readings away behind the hub's back: what is still answered came from a tier
    const db = new Database(join(hub.dataDir, 'readings.db'));
    db.exec('DELETE FROM readings');
    db.close();
    expect(await points(range)).toEqual([]);
    expect((await points(`${range}&every=1h&agg=count`)).map((p) => p.value)).toEqual([4, 4, 4, 4, 4, 4]);
    expect(await points(`${range}&every=1h&agg=max`)).toEqual(maxima);
    expect((await points(`${range}&every=1d&agg=last`)).map((p) => p.value)).toEqual([53]);
    // minutes three days old are past the minute tier's retention: only the readings could answer
    expect(await points(`${range}&every=1m&agg=count`)).toEqual([]);
    // a range starting mid-hour: the whole hours from the tier, the first part from the (gone) readings
    expect((await points(`from=${base + 30 * 60_000}&to=${base + 6 * HOUR}&every=1h&agg=count`)).map((p) => p.value)).toEqual([4, 4, 4, 4, 4]);
  });
});
