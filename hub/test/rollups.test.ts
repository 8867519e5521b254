// The history API answers long-range aggregates from the history tiers where that is exact, within
// each tier's configured retention, and from the readings elsewhere: on either store.
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from './support/hub-fixture.ts';
import { startInfluxd } from './support/influxd.ts';
import { hasRealPart } from './support/real-parts.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

interface Backend {
  start(): Promise<TestHub>;
  /** takes every stored reading away behind the hub's back */
  deleteReadings(hub: TestHub): Promise<void>;
  stop?(): Promise<void>;
}

const embedded: Backend = {
  // the minute tier keeps a day: readings three days old are past it, the hour tier still holds them
  start: () => startTestHub({ tierRetention: { minute: '1d', hour: '52w' } }),
  async deleteReadings(hub) {
    const db = new Database(join(hub.dataDir, 'readings.db'));
    db.exec('DELETE FROM readings');
    db.close();
  },
};

function influx(): Backend {
  let base: string | undefined = process.env.TEST_INFLUX_URL;
  let stopInflux: (() => Promise<void>) | undefined;
  const database = `rollups_${process.pid}_${Date.now()}`;
  return {
    async start() {
      if (!base) {
        const server = await startInfluxd();
        base = server.url;
        stopInflux = server.stop;
      }
      return startTestHub({ influxUrl: `${base}/${database}`, tierRetention: { minute: '1d', hour: '52w' } });
    },
    async deleteReadings() {
      const res = await fetch(`${base}/query`, { method: 'POST', body: new URLSearchParams({ q: `DELETE FROM "readings" WHERE "device" = 'tiers-1'`, db: database }) });
      expect(res.status).toBe(200);
    },
    async stop() {
      await fetch(`${base}/query`, { method: 'POST', body: new URLSearchParams({ q: `DROP DATABASE "${database}"` }) }).catch(() => undefined);
      await stopInflux?.();
    },
  };
}

function describeTiersBehindApi(name: string, backend: () => Backend): void {
  describe(`history tiers behind GET /api/devices/:id/readings (${name})`, () => {
    let hub: TestHub;
    let parts: Backend;
    const base = Math.floor(Date.now() / DAY) * DAY - 3 * DAY;
    beforeAll(async () => {
      parts = backend();
      hub = await parts.start();
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
      await parts?.stop?.();
    });

    async function points(query: string): Promise<{ time: string; value: number }[]> {
      const res = await hub.api(`/api/devices/tiers-1/readings?channel=count&${query}`);
      expect(res.status).toBe(200);
      return ((await res.json()) as { points: { time: string; value: number }[] }).points;
    }

    it('keeps answering whole hours from the hour tier when the readings are gone, and nothing finer', async () => {
      const range = `from=${base}&to=${base + 6 * HOUR}`;
      expect((await points(`${range}&every=1h&agg=count`)).map((p) => p.value)).toEqual([4, 4, 4, 4, 4, 4]);
      const maxima = await points(`${range}&every=1h&agg=max`);
      expect(maxima.map((p) => p.value)).toEqual([3, 13, 23, 33, 43, 53]);
      // what is still answered after this came from a tier
      await parts.deleteReadings(hub);
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
}

describeTiersBehindApi('embedded store', () => embedded);
describe.runIf(hasRealPart('influxd'))('with InfluxDB', () => {
  describeTiersBehindApi('InfluxDB', influx);
});
