// History queries beside ingest, against real hubs: heavy aggregates never hold up a streaming
// device's acknowledgements, a query past its bound is answered 504 HUB_ERR_QUERY_TIMEOUT, bad
// parameters are 400 on both stores, and JSON and CSV give the same points.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChannelDescriptor } from '../src/protocol/index.ts';
import { createSqliteStore } from '../src/store/sqlite-store.ts';
import { startInfluxd } from './support/influxd.ts';
import { startTestHub, waitFor, type TestHub } from './support/hub-fixture.ts';
import { streamPacedByAcks, storedPerChannel } from './support/paced-stream.ts';
import { hasRealPart } from './support/real-parts.ts';

interface Point { channel: string; time: number; value: number }

const T0 = Date.UTC(2025, 0, 1);
const HEAVY_POINTS = 300_000; // one a second: 5,000 one-minute windows
const WINDOW = 60_000;
const heavyValue = (i: number) => (i % 997) / 8;

/** A data dir whose readings.db already holds the heavy device's readings. */
async function seededDataDir(): Promise<string> {
  const dataDir = mkdtempSync(join(tmpdir(), 'hub-history-'));
  const store = createSqliteStore({ path: join(dataDir, 'readings.db') });
  for (let start = 0; start < HEAVY_POINTS; start += 50_000) {
    const batch = [];
    for (let i = start; i < start + 50_000; i++) batch.push({ deviceId: 'heavy', channel: 'temperature', time: T0 + i * 1000, value: heavyValue(i) });
    await store.write(batch);
  }
  await store.close();
  return dataDir;
}

function expectedHeavyMeans(): Point[] {
  const windows: Point[] = [];
  for (let w = 0; w < HEAVY_POINTS / 60; w++) {
    let sum = 0;
    for (let i = w * 60; i < w * 60 + 60; i++) sum += heavyValue(i);
    windows.push({ channel: 'temperature', time: T0 + w * WINDOW, value: sum / 60 });
  }
  return windows;
}

const heavyPath = `/api/devices/heavy/readings?from=${T0}&to=${T0 + HEAVY_POINTS * 1000}&every=1m&agg=mean`;

describe('history queries beside ingest on the embedded store', () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startTestHub({ dataDir: await seededDataDir() });
    await hub.provision('heavy');
  }, 60_000);
  afterAll(async () => {
    await hub?.stop();
  });

  it('acknowledges and stores every reading of a streaming device while heavy aggregates run; each query answers or times out', async () => {
    const device = hub.device('streamer', await hub.provision('streamer'));
    await device.connect();
    const expected = expectedHeavyMeans();
    const outcomes: { status: number; code?: string }[] = [];
    let stop = false;
    const queries = Promise.all(
      Array.from({ length: 4 }, async () => {
        while (!stop) {
          const res = await hub.api(heavyPath);
          const body = (await res.json()) as { points?: Point[]; error?: { code: string } };
          outcomes.push({ status: res.status, code: body.error?.code });
          if (res.status === 200) expect(body.points).toEqual(expected);
          else expect({ status: res.status, code: body.error?.code }).toEqual({ status: 504, code: 'HUB_ERR_QUERY_TIMEOUT' });
        }
      }),
    );
    const frames = 200;
    const base = Date.now() - 120_000;
    try {
      // streamed while the queries run
      await streamPacedByAcks(device, frames, base, 60_000);
      // at least one full round of the heavy queries overlapped the stream
      await waitFor(() => outcomes.length >= 4, 'four heavy queries answered', 120_000);
    } finally {
      stop = true;
      await queries;
    }
    expect(device.stats.acked).toBe(frames);
    expect(await storedPerChannel(hub, 'streamer', base, base + frames * 10)).toEqual([['count', frames], ['temperature', frames]]);
    expect(outcomes.every((o) => o.status === 200 || o.code === 'HUB_ERR_QUERY_TIMEOUT')).toBe(true);
  }, 180_000);
});

describe('a history query past its bound', () => {
  let hub: TestHub;
  beforeAll(async () => {
    const dataDir = await seededDataDir();
    // a bound (HUB_QUERY_TIMEOUT_MS) no store can aggregate 300,000 readings within
    hub = await startTestHub({ dataDir, queryTimeoutMs: 5 });
    await hub.provision('heavy');
  }, 60_000);
  afterAll(async () => {
    await hub?.stop();
  });

  it('is answered 504 HUB_ERR_QUERY_TIMEOUT, and the store stays healthy', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await hub.api(heavyPath);
      expect(res.status).toBe(504);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('HUB_ERR_QUERY_TIMEOUT');
    }
    const health = await hub.api('/healthz');
    expect(health.status).toBe(200);
  });
});

// Channel names a spreadsheet would run as formulas, and values whose sum overflows.
const CHANNELS: ChannelDescriptor[] = [
  { id: 1, type: 'f64', name: '=HYPERLINK("http://x")', unit: '' },
  { id: 2, type: 'f64', name: '-neg', unit: '' },
  { id: 3, type: 'f64', name: '+plus', unit: '' },
  { id: 4, type: 'f64', name: '@at', unit: '' },
  { id: 5, type: 'f64', name: 'plain, "quoted"', unit: '' },
];

const influxAvailable = hasRealPart('influxd');
const stores = [{ name: 'embedded store', influx: false }, ...(influxAvailable ? [{ name: 'InfluxDB', influx: true }] : [])];

describe.each(stores)('history API parameters and formats on the $name', ({ influx }) => {
  let hub: TestHub;
  let stopInflux: (() => Promise<void>) | undefined;
  const base = Math.floor((Date.now() - 600_000) / 10_000) * 10_000; // one 10 s window holds them all

  beforeAll(async () => {
    let influxUrl: string | undefined;
    if (influx) {
      let server = process.env.TEST_INFLUX_URL?.replace(/\/+$/, '');
      if (!server) {
        const own = await startInfluxd();
        server = own.url;
        stopInflux = own.stop;
      }
      influxUrl = `${server}/history_${process.pid}_${Date.now()}`;
    }
    hub = await startTestHub({ influxUrl });
    const device = hub.device('formats', await hub.provision('formats'), { channels: CHANNELS });
    await device.connect();
    for (let i = 0; i < 4; i++) {
      device.sendReadings(
        [
          { channel: 1, type: 'f64', offset: 0, value: 1.79e308 },
          { channel: 2, type: 'f64', offset: 0, value: -1.5 - i },
          { channel: 3, type: 'f64', offset: 0, value: -1.79e308 },
          { channel: 4, type: 'f64', offset: 0, value: i / 4 },
          { channel: 5, type: 'f64', offset: 0, value: -0.125 * i },
        ],
        base + i * 1000,
      );
    }
    await device.waitAcked(undefined, 60_000);
  }, 120_000);
  afterAll(async () => {
    await hub?.stop();
    await stopInflux?.();
  });

  it('answers out-of-range parameters with 400 HUB_ERR_BAD_REQUEST', async () => {
    for (const qs of [
      'to=99999999999999999999',
      'from=-1e30',
      'from=-99999999999999999999&to=0',
      'from=0&every=99999999999999999999d',
      'from=0&every=36501d',
      'limit=1e400',
      'limit=99999999999999999999',
      'to=8640000000000001',
      'from=-8640000000000001&to=0',
      'to=-8640000000000000',
      `from=${'9'.repeat(400)}`,
    ]) {
      const res = await hub.api(`/api/devices/formats/readings?${qs}`);
      expect({ qs, status: res.status, code: ((await res.json()) as { error?: { code: string } }).error?.code }).toEqual({ qs, status: 400, code: 'HUB_ERR_BAD_REQUEST' });
    }
    // the edges of the accepted range reach the store and answer
    for (const qs of ['from=-8640000000000000&to=8640000000000000', 'from=0&to=3153600000000&every=36500d&agg=count']) {
      const res = await hub.api(`/api/devices/formats/readings?${qs}`);
      expect(res.status, qs).toBe(200);
    }
  });

  for (const query of ['', '&every=1s&agg=mean', '&every=10s&agg=mean', '&every=10s&agg=min', '&limit=7']) {
    it(`gives the same points as JSON and CSV${query ? ` (${query.slice(1)})` : ''}, with text cells neutralised and numbers plain`, async () => {
      const path = `/api/devices/formats/readings?from=${base}&to=${base + 10_000}${query}`;
      const json = (await (await hub.api(path)).json()) as { points: Point[]; truncated: boolean };
      const res = await hub.api(`${path}&format=csv`);
      const text = await res.text();
      const rows = text.trimEnd().split('\n');
      expect(rows[0]).toBe('time,channel,value');
      expect(rows.length - 1).toBe(json.points.length);
      expect(res.headers.get('x-truncated') === 'true').toBe(json.truncated);
      for (const [i, point] of json.points.entries()) {
        const formula = /^[=+\-@\t\r]/.test(point.channel);
        let channel = formula ? `'${point.channel}` : point.channel;
        if (/[",\n\r]/.test(channel)) channel = `"${channel.replace(/"/g, '""')}"`;
        expect(rows[i + 1]).toBe(`${new Date(point.time).toISOString()},${channel},${String(point.value)}`);
        expect(Number.isFinite(point.value)).toBe(true);
      }
      if (query === '&every=10s&agg=mean') {
        expect(json.points.find((p) => p.channel.startsWith('=HYPERLINK'))?.value).toBe(1.79e308);
        expect(json.points.find((p) => p.channel === '+plus')?.value).toBe(-1.79e308);
        expect(text).toContain(`,"'=HYPERLINK(""http://x"")",1.79e+308\n`);
        expect(text).toContain(`,'+plus,-1.79e+308\n`);
        expect(text).toContain(`,'-neg,-3\n`);
      }
      if (query === '&limit=7') expect(json).toMatchObject({ truncated: true, points: { length: 7 } });
    });
  }
});
