// The bound on the stored points a history query may read (HUB_QUERY_MAX_SCAN), against a real hub
// on the embedded store: a query past it is answered 422 HUB_ERR_QUERY_TOO_LARGE while a device
// streaming beside it has every reading acknowledged and stored; the same range in whole hours,
// which the hour tier answers, is within the bound.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSqliteStore } from '../src/store/sqlite-store.ts';
import { startTestHub, waitFor, type TestHub } from './support/hub-fixture.ts';
import { streamPacedByAcks, storedPerChannel } from './support/paced-stream.ts';

interface Point { channel: string; time: number; value: number }
type Answer = { points?: Point[]; error?: { code: string } };

const HOUR = 3_600_000;
const POINTS = 100_000; // one a second, about 28 hours
const MAX_SCAN = 50_000;
// two days back, on the hour: inside every tier's retention
const T0 = Math.floor(Date.now() / HOUR) * HOUR - 48 * HOUR;
const T_END = T0 + POINTS * 1000;

async function seededDataDir(): Promise<string> {
  const dataDir = mkdtempSync(join(tmpdir(), 'hub-scan-bound-'));
  const store = createSqliteStore({ path: join(dataDir, 'readings.db') });
  for (let start = 0; start < POINTS; start += 50_000) {
    const batch = [];
    for (let i = start; i < start + 50_000; i++) batch.push({ deviceId: 'heavy', channel: 'temperature', time: T0 + i * 1000, value: i % 7 });
    await store.write(batch);
  }
  await store.close();
  return dataDir;
}

// 90 s is no whole number of minutes: no tier can answer it, so the query reads all 100,000 readings
const tooLargePath = `/api/devices/heavy/readings?from=${T0}&to=${T_END}&every=90s&agg=mean`;

describe('a history query past HUB_QUERY_MAX_SCAN on the embedded store', () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startTestHub({ dataDir: await seededDataDir(), queryMaxScan: MAX_SCAN });
    await hub.provision('heavy');
  }, 60_000);
  afterAll(async () => {
    await hub?.stop();
  });

  it('is answered 422 HUB_ERR_QUERY_TOO_LARGE while a streaming device has every reading acknowledged and stored', async () => {
    const device = hub.device('streamer', await hub.provision('streamer'));
    await device.connect();
    const outcomes: { status: number; code?: string }[] = [];
    let stop = false;
    const queries = Promise.all(
      Array.from({ length: 2 }, async () => {
        while (!stop) {
          const res = await hub.api(tooLargePath);
          outcomes.push({ status: res.status, code: ((await res.json()) as Answer).error?.code });
        }
      }),
    );
    const frames = 200;
    const base = Date.now() - 120_000;
    try {
      await streamPacedByAcks(device, frames, base, 30_000);
      await waitFor(() => outcomes.length >= 4, 'four refused queries', 30_000);
    } finally {
      stop = true;
      await queries;
    }
    expect(device.stats.acked).toBe(frames);
    expect(outcomes.every((o) => o.status === 422 && o.code === 'HUB_ERR_QUERY_TOO_LARGE'), JSON.stringify(outcomes.slice(0, 5))).toBe(true);

    expect(await storedPerChannel(hub, 'streamer', base, base + frames * 10)).toEqual([['count', frames], ['temperature', frames]]);
    expect((await hub.api('/healthz')).status).toBe(200);
  }, 120_000);

  it('answers the same range in whole hours from the hour tier, within the bound', async () => {
    const res = await hub.api(`/api/devices/heavy/readings?from=${T0}&to=${T_END}&every=1h&agg=count`);
    expect(res.status).toBe(200);
    const points = ((await res.json()) as Answer).points!;
    expect(points.length).toBe(Math.ceil(POINTS / 3600));
    expect(points.reduce((sum, p) => sum + p.value, 0)).toBe(POINTS);
    // the readings themselves are past the bound even for a plain count
    const raw = await hub.api(`/api/devices/heavy/readings?from=${T0}&to=${T_END}&every=90s&agg=count`);
    expect(raw.status).toBe(422);
    expect(((await raw.json()) as Answer).error?.code).toBe('HUB_ERR_QUERY_TOO_LARGE');
  });
});
