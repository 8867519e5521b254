// The behaviour every ReadingStore must show, run against each backend by its own test file, so the
// embedded store and InfluxDB cannot drift apart. Tests may share one database: each writes only
// under device ids of its own.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Aggregate, Reading, ReadingPoint, ReadingQuery, ReadingStore } from './store.ts';
import { AGGREGATES, QueryTimeoutError, QueryTooLargeError } from './store.ts';
import { compareChannelThenTime } from './channel-order.ts';
import { WriteRejectedError } from './errors.ts';
import { ReadingBatch } from './reading-batch.ts';
import { seededRandom, randomInt } from '../../test/support/random.ts';

export interface StoreUnderTest {
  store: ReadingStore;
  cleanup(): Promise<void>;
}

export interface ContractOptions {
  /**
   * Queries run beside writes and have a time bound (every store the hub uses). Only the in-thread
   * SQLite store, which runs each call to its end before it returns, leaves this off.
   */
  isolatedReads?: boolean;
  /**
   * Queries honour `maxScan`, a bound on the stored rows they read. The embedded stores count every
   * row a statement reads; InfluxDB tells a client nothing of the points a query reads (its own
   * bound is influxd's `max-select-point`), so it leaves this off.
   */
  boundedScan?: boolean;
}

// 2023-11-14T22:13:20Z, a round number of seconds; offsets below keep windows easy to reason about.
const T0 = 1_700_000_000_000;
const ALL_TIME = { from: 0, to: 4_000_000_000_000 };
const NO_LIMIT = 1_000_000;

function points(readings: readonly Reading[]): ReadingPoint[] {
  // Last write wins for a repeated (channel, time), as the stores promise.
  const byKey = new Map<string, ReadingPoint>();
  for (const r of readings) byKey.set(`${r.channel}\u0000${r.time}`, { channel: r.channel, time: r.time, value: r.value });
  return [...byKey.values()].sort(compareChannelThenTime);
}

function windowStart(time: number, every: number): number {
  return time - (((time % every) + every) % every);
}

/** What a store must answer for an aggregate, computed here from the readings themselves. */
function expectedAggregate(readings: readonly Reading[], agg: Aggregate, every: number): ReadingPoint[] {
  const windows = new Map<string, { channel: string; time: number; rows: ReadingPoint[] }>();
  for (const r of points(readings)) {
    const time = windowStart(r.time, every);
    const key = `${r.channel}\u0000${time}`;
    const w = windows.get(key) ?? { channel: r.channel, time, rows: [] };
    w.rows.push(r);
    windows.set(key, w);
  }
  const result = [...windows.values()].map(({ channel, time, rows }) => {
    const values = rows.map((r) => r.value);
    let value: number;
    switch (agg) {
      case 'mean':
        value = values.reduce((a, b) => a + b, 0) / values.length;
        break;
      case 'min':
        value = Math.min(...values);
        break;
      case 'max':
        value = Math.max(...values);
        break;
      case 'count':
        value = values.length;
        break;
      case 'last':
        value = rows.reduce((a, b) => (b.time > a.time ? b : a)).value;
        break;
    }
    return { channel, time, value };
  });
  return result.sort(compareChannelThenTime);
}

export function describeStoreContract(name: string, factory: () => Promise<StoreUnderTest>, options: ContractOptions = { isolatedReads: true }): void {
  describe(`ReadingStore contract: ${name}`, () => {
    let subject: StoreUnderTest;
    let store: ReadingStore;
    const run = randomBytes(4).toString('hex');
    let devices = 0;
    const newDevice = (label = 'dev') => `${label}-${run}-${++devices}`;

    beforeAll(async () => {
      subject = await factory();
      store = subject.store;
    });
    afterAll(async () => {
      await subject?.cleanup();
    });

    it('answers ping', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });

    it('reads back what it wrote', async () => {
      const deviceId = newDevice();
      const readings: Reading[] = [
        { deviceId, channel: 'temp', time: T0, value: 21.5 },
        { deviceId, channel: 'temp', time: T0 + 1000, value: -3.25 },
        { deviceId, channel: 'door', time: T0 + 500, value: 1 },
        { deviceId, channel: 'count', time: T0 + 2000, value: 2_147_483_647 },
        { deviceId, channel: 'tiny', time: T0 + 3000, value: 1e-300 },
        { deviceId, channel: 'huge', time: T0 + 3000, value: -2.5e21 },
        { deviceId, channel: 'zero', time: T0 + 3000, value: 0 },
        { deviceId, channel: 'pi', time: T0 + 4000, value: Math.PI },
      ];
      await store.write(readings);
      expect(await store.query({ deviceId, ...ALL_TIME, limit: NO_LIMIT })).toEqual(points(readings));
    });

    it('returns points ordered by channel name, then time, whatever the write order', async () => {
      const deviceId = newDevice();
      const rand = seededRandom(7);
      const channels = ['b', 'a', 'c', 'B', 'a2', 'Z'];
      const readings: Reading[] = [];
      for (const channel of channels) for (let i = 0; i < 20; i++) readings.push({ deviceId, channel, time: T0 + i * 100, value: i });
      for (let i = readings.length - 1; i > 0; i--) {
        const j = randomInt(rand, 0, i);
        [readings[i], readings[j]] = [readings[j], readings[i]];
      }
      // in several batches, so the order of arrival differs from the order of time as well
      for (let i = 0; i < readings.length; i += 17) await store.write(readings.slice(i, i + 17));
      const got = await store.query({ deviceId, ...ALL_TIME, limit: NO_LIMIT });
      expect(got).toEqual(points(readings));
      expect([...new Set(got.map((p) => p.channel))]).toEqual(['B', 'Z', 'a', 'a2', 'b', 'c']);
    });

    describe('aggregates', () => {
      const deviceId = newDevice('agg');
      const every = 1000;
      const readings: Reading[] = [];
      beforeAll(async () => {
        const rand = seededRandom(42);
        for (const channel of ['hum', 'temp']) {
          for (let i = 0; i < 200; i++) {
            // quarters add up exactly in binary, so every backend's sum, and so its mean, is exact
            readings.push({ deviceId, channel, time: T0 + randomInt(rand, 0, 9_999), value: randomInt(rand, -400, 400) / 4 });
          }
        }
        await store.write(readings);
      });

      for (const agg of AGGREGATES) {
        it(`${agg} per ${every} ms window, aligned to the epoch`, async () => {
          const got = await store.query({ deviceId, ...ALL_TIME, every, agg, limit: NO_LIMIT });
          expect(got).toEqual(expectedAggregate(readings, agg, every));
        });
      }

      it('windows only what lies in [from, to) when the range cuts windows in half', async () => {
        const from = T0 + 2500;
        const to = T0 + 7250;
        const inRange = readings.filter((r) => r.time >= from && r.time < to);
        for (const agg of AGGREGATES) {
          const got = await store.query({ deviceId, channel: 'temp', from, to, every, agg, limit: NO_LIMIT });
          expect(got, agg).toEqual(expectedAggregate(inRange.filter((r) => r.channel === 'temp'), agg, every));
          expect(got[0].time, agg).toBe(T0 + 2000);
        }
      });

      it('aggregates the whole range as one window at `from` when no `every` is given', async () => {
        const from = T0 + 1000;
        const to = T0 + 9000;
        const got = await store.query({ deviceId, from, to, agg: 'count', limit: NO_LIMIT });
        const count = (channel: string) => points(readings).filter((p) => p.channel === channel && p.time >= from && p.time < to).length;
        expect(got).toEqual([
          { channel: 'hum', time: from, value: count('hum') },
          { channel: 'temp', time: from, value: count('temp') },
        ]);
      });

      it('leaves out empty windows', async () => {
        const lonely = newDevice('agg');
        await store.write([
          { deviceId: lonely, channel: 'x', time: T0 + 100, value: 1 },
          { deviceId: lonely, channel: 'x', time: T0 + 5100, value: 2 },
        ]);
        const got = await store.query({ deviceId: lonely, ...ALL_TIME, every: 1000, agg: 'max', limit: NO_LIMIT });
        expect(got).toEqual([
          { channel: 'x', time: T0, value: 1 },
          { channel: 'x', time: T0 + 5000, value: 2 },
        ]);
      });
    });

    it('includes `from` and excludes `to`, for raw points and aggregates', async () => {
      const deviceId = newDevice();
      const from = T0 + 10_000;
      const to = T0 + 20_000;
      const times = [from - 1, from, from + 1, to - 1, to, to + 1];
      await store.write(times.map((time, i) => ({ deviceId, channel: 'edge', time, value: i })));
      const raw = await store.query({ deviceId, from, to, limit: NO_LIMIT });
      expect(raw.map((p) => p.time)).toEqual([from, from + 1, to - 1]);
      const counted = await store.query({ deviceId, from, to, every: 10_000, agg: 'count', limit: NO_LIMIT });
      expect(counted).toEqual([{ channel: 'edge', time: from, value: 3 }]);
      expect(await store.query({ deviceId, from: to, to: to + 1, limit: NO_LIMIT })).toEqual([{ channel: 'edge', time: to, value: 4 }]);
      expect(await store.query({ deviceId, from, to: from, limit: NO_LIMIT })).toEqual([]);
      expect(await store.query({ deviceId, from: to, to: from, limit: NO_LIMIT })).toEqual([]);
    });

    it('filters by channel, or returns every channel when none is given', async () => {
      const deviceId = newDevice();
      const readings = ['a', 'b', 'c'].flatMap((channel, c) => [0, 1, 2].map((i) => ({ deviceId, channel, time: T0 + i, value: c * 10 + i })));
      await store.write(readings);
      expect(await store.query({ deviceId, channel: 'b', ...ALL_TIME, limit: NO_LIMIT })).toEqual(points(readings.filter((r) => r.channel === 'b')));
      expect(await store.query({ deviceId, ...ALL_TIME, limit: NO_LIMIT })).toEqual(points(readings));
      expect(await store.query({ deviceId, channel: 'nope', ...ALL_TIME, limit: NO_LIMIT })).toEqual([]);
    });

    it('keeps 200 devices × 3 channels apart', async () => {
      const ids = Array.from({ length: 200 }, () => newDevice('fleet'));
      const channels = ['temp', 'hum', 'volt'];
      const readings = ids.flatMap((deviceId, d) =>
        channels.flatMap((channel, c) => [0, 1].map((i) => ({ deviceId, channel, time: T0 + i * 1000, value: d * 100 + c * 10 + i }))),
      );
      await store.write(readings);
      for (const [d, deviceId] of ids.entries()) {
        const got = await store.query({ deviceId, ...ALL_TIME, limit: NO_LIMIT });
        expect(got, deviceId).toEqual(points(readings.filter((r) => r.deviceId === deviceId)));
        expect(got.every((p) => Math.floor(p.value / 100) === d)).toBe(true);
      }
      const volts = await store.query({ deviceId: ids[123], channel: 'volt', ...ALL_TIME, every: 60_000, agg: 'mean', limit: NO_LIMIT });
      expect(volts).toEqual([{ channel: 'volt', time: windowStart(T0, 60_000), value: 12320.5 }]);
    });

    it('stores awkward and non-ASCII device and channel names unchanged', async () => {
      const deviceId = `dev:1.a_b-c-${run}`;
      const channels = [
        'with space',
        'comma,separated',
        'key=value',
        'a, b=c d',
        'double"quote',
        "single'quote",
        'temperature °C',
        '🌡️ emoji',
        '温度',
        'mixed 温度 😀 °F',
        'back\\slash',
        'trailing\\',
        '\\',
        'tab\tand\nnewline',
        "sql'); DROP TABLE readings; --",
        "influx' OR '1'='1",
        '\uE000 private use',
        '\uFFFD',
      ];
      const readings = channels.map((channel, i) => ({ deviceId, channel, time: T0 + i, value: i }));
      await store.write(readings);
      expect(await store.query({ deviceId, ...ALL_TIME, limit: NO_LIMIT })).toEqual(points(readings));
      for (const r of readings) {
        expect(await store.query({ deviceId, channel: r.channel, ...ALL_TIME, limit: NO_LIMIT }), r.channel).toEqual([
          { channel: r.channel, time: r.time, value: r.value },
        ]);
        expect(await store.query({ deviceId, channel: r.channel, ...ALL_TIME, every: 1000, agg: 'last', limit: NO_LIMIT }), r.channel).toEqual([
          { channel: r.channel, time: windowStart(r.time, 1000), value: r.value },
        ]);
      }
    });

    it('replaces the value when the same device, channel and time are written again', async () => {
      const deviceId = newDevice();
      await store.write([{ deviceId, channel: 'c', time: T0, value: 1 }]);
      await store.write([{ deviceId, channel: 'c', time: T0, value: 2 }]);
      expect(await store.query({ deviceId, ...ALL_TIME, limit: NO_LIMIT })).toEqual([{ channel: 'c', time: T0, value: 2 }]);
      // within one batch the later reading wins too
      await store.write([
        { deviceId, channel: 'c', time: T0 + 1, value: 3 },
        { deviceId, channel: 'c', time: T0 + 1, value: 4 },
      ]);
      expect(await store.query({ deviceId, ...ALL_TIME, limit: NO_LIMIT })).toEqual([
        { channel: 'c', time: T0, value: 2 },
        { channel: 'c', time: T0 + 1, value: 4 },
      ]);
      expect(await store.query({ deviceId, ...ALL_TIME, every: 1000, agg: 'count', limit: NO_LIMIT })).toEqual([{ channel: 'c', time: T0, value: 2 }]);
    });

    it('returns at most `limit` points, the first ones in channel-then-time order', async () => {
      const deviceId = newDevice();
      const readings = ['a', 'b', 'c'].flatMap((channel) => Array.from({ length: 10 }, (_, i) => ({ deviceId, channel, time: T0 + i * 1000, value: i })));
      await store.write(readings);
      const all = points(readings);
      expect(await store.query({ deviceId, ...ALL_TIME, limit: 5 })).toEqual(all.slice(0, 5));
      expect(await store.query({ deviceId, ...ALL_TIME, limit: 12 })).toEqual(all.slice(0, 12));
      expect(await store.query({ deviceId, channel: 'c', ...ALL_TIME, limit: 3 })).toEqual(all.filter((p) => p.channel === 'c').slice(0, 3));
      expect(await store.query({ deviceId, ...ALL_TIME, every: 2000, agg: 'count', limit: 7 })).toEqual(
        expectedAggregate(readings, 'count', 2000).slice(0, 7),
      );
      expect(await store.query({ deviceId, ...ALL_TIME, limit: 0 })).toEqual([]);
    });

    it('returns nothing for a device it has never seen, or a name no reading can have', async () => {
      expect(await store.query({ deviceId: newDevice('ghost'), ...ALL_TIME, limit: NO_LIMIT })).toEqual([]);
      expect(await store.query({ deviceId: '', ...ALL_TIME, limit: NO_LIMIT })).toEqual([]);
      expect(await store.query({ deviceId: newDevice('ghost'), channel: '', ...ALL_TIME, limit: NO_LIMIT })).toEqual([]);
      expect(await store.query({ deviceId: 'x'.repeat(10_000), ...ALL_TIME, limit: NO_LIMIT })).toEqual([]);
      expect(await store.query({ deviceId: newDevice('ghost'), ...ALL_TIME, every: 1000, agg: 'mean', limit: NO_LIMIT })).toEqual([]);
    });

    it('accepts an empty batch', async () => {
      await expect(store.write([])).resolves.toBeUndefined();
      await expect(store.write(new ReadingBatch())).resolves.toBeUndefined();
    });

    it('takes readings in columns as it takes objects, the later of a repeated point winning, and leaves the batch as it was', async () => {
      const deviceId = newDevice();
      const other = newDevice();
      const readings = ['a', 'b'].flatMap((channel) => Array.from({ length: 300 }, (_, i) => ({ deviceId: i % 2 ? deviceId : other, channel, time: T0 + i * 1000, value: i / 4 })));
      // a batch used before, cleared and filled again with fewer readings: only `length` of it counts
      const batch = ReadingBatch.from([...readings, ...readings]);
      batch.clear();
      for (const r of readings) batch.push(r.deviceId, r.channel, r.time, r.value);
      batch.push(deviceId, 'a', T0 + 1000, 99);
      const before = batch.toReadings();
      await store.write(batch);
      expect(batch.toReadings()).toEqual(before);
      const expected = readings.filter((r) => r.deviceId === deviceId).map((r) => (r.channel === 'a' && r.time === T0 + 1000 ? { ...r, value: 99 } : r));
      expect(await store.query({ deviceId, ...ALL_TIME, limit: NO_LIMIT })).toEqual(points(expected));
      expect(await store.query({ deviceId: other, ...ALL_TIME, limit: NO_LIMIT })).toEqual(points(readings.filter((r) => r.deviceId === other)));
    });

    it('rejects a batch in columns with an invalid reading as a whole, with WriteRejectedError', async () => {
      const deviceId = newDevice();
      for (const [name, time, value] of [
        ['c', T0 + 1, Number.NaN],
        ['c', T0 + 1.5, 1],
        ['', T0 + 1, 1],
        ['lone \uD800 surrogate', T0 + 1, 1],
      ] as const) {
        const batch = new ReadingBatch();
        batch.push(deviceId, 'c', T0, 1);
        batch.push(deviceId, name, time, value);
        await expect(store.write(batch), JSON.stringify([name, time, value])).rejects.toBeInstanceOf(WriteRejectedError);
      }
      const badDevice = new ReadingBatch();
      badDevice.push(deviceId, 'c', T0, 1);
      badDevice.push('', 'c', T0, 1);
      await expect(store.write(badDevice)).rejects.toBeInstanceOf(WriteRejectedError);
      expect(await store.query({ deviceId, ...ALL_TIME, limit: NO_LIMIT })).toEqual([]);
    });

    it('rejects a batch with an invalid reading as a whole, with WriteRejectedError', async () => {
      const deviceId = newDevice();
      const good = { deviceId, channel: 'c', time: T0, value: 1 };
      for (const bad of [
        { ...good, time: T0 + 1, value: Number.NaN },
        { ...good, time: T0 + 1, value: Number.POSITIVE_INFINITY },
        { ...good, time: T0 + 1.5 },
        { ...good, channel: '' },
        { ...good, deviceId: '' },
        { ...good, channel: 'lone \uD800 surrogate' },
      ]) {
        await expect(store.write([good, bad]), JSON.stringify(bad)).rejects.toBeInstanceOf(WriteRejectedError);
      }
      expect(await store.query({ deviceId, ...ALL_TIME, limit: NO_LIMIT })).toEqual([]);
    });

    it('round-trips a 30,000-reading batch, more than 10,000 points per series', async () => {
      const deviceId = newDevice('bulk');
      const channels = ['a', 'b'];
      const readings = Array.from({ length: 30_000 }, (_, i) => ({ deviceId, channel: channels[i % 2], time: T0 + i, value: i / 8 }));
      await store.write(readings);
      const got = await store.query({ deviceId, ...ALL_TIME, limit: NO_LIMIT });
      expect(got.length).toBe(30_000);
      expect(got).toEqual(points(readings));
      const counts = await store.query({ deviceId, ...ALL_TIME, agg: 'count', limit: NO_LIMIT });
      expect(counts).toEqual(channels.map((channel) => ({ channel, time: ALL_TIME.from, value: 15_000 })));
    });

    it('bounds the whole answer by `limit`, not each of 64 channels', async () => {
      const deviceId = newDevice('wide');
      const channels = Array.from({ length: 64 }, (_, c) => `ch${String(c).padStart(2, '0')}`);
      const readings = channels.flatMap((channel, c) => Array.from({ length: 30 }, (_, i) => ({ deviceId, channel, time: T0 + i * 1000, value: c * 100 + i })));
      await store.write(readings);
      const all = points(readings);
      for (const limit of [1, 29, 30, 31, 100, 1919]) {
        expect(await store.query({ deviceId, ...ALL_TIME, limit }), `raw, limit ${limit}`).toEqual(all.slice(0, limit));
      }
      expect(await store.query({ deviceId, ...ALL_TIME, limit: all.length })).toEqual(all);
      const windows = expectedAggregate(readings, 'max', 2000);
      for (const limit of [1, 15, 16, 100]) {
        expect(await store.query({ deviceId, ...ALL_TIME, every: 2000, agg: 'max', limit }), `windows, limit ${limit}`).toEqual(windows.slice(0, limit));
      }
      const whole = await store.query({ deviceId, ...ALL_TIME, agg: 'count', limit: 10 });
      expect(whole).toEqual(channels.slice(0, 10).map((channel) => ({ channel, time: ALL_TIME.from, value: 30 })));
    });

    it('gives the finite mean of huge finite values, where their sum overflows', async () => {
      const deviceId = newDevice('huge');
      const big = 1.79e308;
      const max = Number.MAX_VALUE;
      await store.write([
        { deviceId, channel: 'big', time: T0, value: big },
        { deviceId, channel: 'big', time: T0 + 1, value: big },
        { deviceId, channel: 'big', time: T0 + 1000, value: big },
        { deviceId, channel: 'mixed', time: T0, value: max },
        { deviceId, channel: 'mixed', time: T0 + 1, value: max },
        { deviceId, channel: 'mixed', time: T0 + 2, value: -max },
        { deviceId, channel: 'mixed', time: T0 + 1000, value: 1.25 },
        { deviceId, channel: 'mixed', time: T0 + 1001, value: 2.5 },
        { deviceId, channel: 'neg', time: T0, value: -big },
        { deviceId, channel: 'neg', time: T0 + 1, value: -big },
      ]);
      expect(await store.query({ deviceId, ...ALL_TIME, every: 1000, agg: 'mean', limit: NO_LIMIT })).toEqual([
        { channel: 'big', time: T0, value: big },
        { channel: 'big', time: T0 + 1000, value: big },
        { channel: 'mixed', time: T0, value: max / 3 },
        { channel: 'mixed', time: T0 + 1000, value: 1.875 },
        { channel: 'neg', time: T0, value: -big },
      ]);
      expect(await store.query({ deviceId, ...ALL_TIME, agg: 'mean', limit: NO_LIMIT })).toEqual([
        { channel: 'big', time: ALL_TIME.from, value: big },
        { channel: 'mixed', time: ALL_TIME.from, value: max / 5 },
        { channel: 'neg', time: ALL_TIME.from, value: -big },
      ]);
      expect(await store.query({ deviceId, channel: 'big', ...ALL_TIME, every: 1000, agg: 'max', limit: NO_LIMIT })).toEqual([
        { channel: 'big', time: T0, value: big },
        { channel: 'big', time: T0 + 1000, value: big },
      ]);
    });

    describe('history tiers: aggregates over minutes, hours and days equal a scan of the readings', () => {
      // Days ago, inside every tier's default retention, and in the past of any tier's lag; a few
      // readings in the last minutes too, which no tier holds yet.
      const DAY = 86_400_000;
      const HOUR = 3_600_000;
      const MINUTE = 60_000;
      const deviceId = newDevice('tiers');
      const base = Math.floor(Date.now() / DAY) * DAY - 4 * DAY;
      const readings: Reading[] = [];
      beforeAll(async () => {
        const rand = seededRandom(1234);
        for (const channel of ['rh', 't']) {
          for (let time = base + randomInt(rand, 0, 5000); time < base + 3 * DAY + 7 * HOUR; time += randomInt(rand, 1, 240_000)) {
            readings.push({ deviceId, channel, time, value: randomInt(rand, -4000, 4000) / 4 });
          }
          // dense minutes: several readings per bucket, one on a bucket's last millisecond
          for (let i = 0; i < 300; i++) readings.push({ deviceId, channel, time: base + DAY + 5 * HOUR + i * 997, value: randomInt(rand, -400, 400) / 4 });
          readings.push({ deviceId, channel, time: base + 2 * DAY - 1, value: 1000.25 });
          for (let i = 1; i <= 5; i++) readings.push({ deviceId, channel, time: Date.now() - i * 20_000, value: i / 4 });
        }
        // in batches, out of time order
        const shuffled = [...readings];
        for (let i = shuffled.length - 1; i > 0; i--) {
          const j = randomInt(rand, 0, i);
          [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
        }
        for (let i = 0; i < shuffled.length; i += 1000) await store.write(shuffled.slice(i, i + 1000));
        // values written again: a replaced minimum must leave every tier's min, mean and last
        const again = readings.filter((_, i) => i % 97 === 0).map((r) => ({ ...r, value: r.value + 0.5 }));
        await store.write(again);
        for (const r of again) readings.push(r);
      }, 120_000);

      const ranges = () => {
        const now = Date.now();
        return [
          { label: 'aligned days', from: base, to: base + 3 * DAY },
          { label: 'ragged edges', from: base + 5 * HOUR + 17 * MINUTE + 12_345, to: base + 2 * DAY + 22 * HOUR + 3 * MINUTE + 999 },
          { label: 'up to now', from: base + HOUR, to: now + MINUTE },
        ];
      };

      for (const every of [MINUTE, HOUR, DAY, undefined]) {
        it(`every ${every === undefined ? 'whole range' : `${every / MINUTE} min`}: each aggregate over aligned and ragged ranges`, async () => {
          for (const { label, from, to } of ranges()) {
            const inRange = readings.filter((r) => r.time >= from && r.time < to);
            for (const agg of AGGREGATES) {
              const got = await store.query({ deviceId, from, to, every, agg, limit: NO_LIMIT });
              expect(await store.query({ deviceId, from, to, every, agg, limit: NO_LIMIT, rawOnly: true }), `${label} ${agg} raw only`).toEqual(got);
              // one window over the whole range: every reading here lies in [0, 2^50), one epoch-aligned window
              const expected = every === undefined
                ? expectedAggregate(inRange, agg, 2 ** 50).map((p) => ({ ...p, time: from }))
                : expectedAggregate(inRange, agg, every);
              expect(got.length, `${label} ${agg}`).toBe(expected.length);
              for (let i = 0; i < got.length; i++) {
                expect({ ...got[i], value: 0 }, `${label} ${agg} #${i}`).toEqual({ ...expected[i], value: 0 });
                // quarters sum exactly, so even means agree to the bit
                expect(got[i].value, `${label} ${agg} #${i}`).toBe(expected[i].value);
              }
            }
          }
        }, 60_000);
      }

      it('bounds tier answers by `limit` like any other', async () => {
        const from = base + 3 * HOUR + 30_000;
        const to = base + 2 * DAY;
        const all = expectedAggregate(readings.filter((r) => r.time >= from && r.time < to), 'max', HOUR);
        for (const limit of [1, 20, 46, 47, 48, 100]) {
          expect(await store.query({ deviceId, from, to, every: HOUR, agg: 'max', limit }), `limit ${limit}`).toEqual(all.slice(0, limit));
        }
      });
    });

    describe.runIf(options.boundedScan)('a bound on the stored rows a query reads', () => {
      const HOUR = 3_600_000;
      const deviceId = newDevice('scan');
      // two whole hours at 1 Hz on two channels, hours ago: inside every tier's retention
      const from = Math.floor(Date.now() / HOUR) * HOUR - 4 * HOUR;
      const to = from + 2 * HOUR;
      const perChannel = (to - from) / 1000;
      const readings: Reading[] = [];
      beforeAll(async () => {
        for (const channel of ['a', 'b']) for (let time = from; time < to; time += 1000) readings.push({ deviceId, channel, time, value: (time / 1000) % 5 });
        await store.write(readings);
      }, 60_000);

      it('refuses an aggregate of more readings than its bound with QueryTooLargeError, and answers one of exactly as many', async () => {
        const query: ReadingQuery = { deviceId, channel: 'a', from, to, every: 60_000, agg: 'count', limit: NO_LIMIT, rawOnly: true };
        const refused = await store.query({ ...query, maxScan: perChannel - 1 }).catch((err: unknown) => err);
        expect(refused).toBeInstanceOf(QueryTooLargeError);
        expect(refused).toMatchObject({ code: 'STORE_QUERY_TOO_LARGE', maxScan: perChannel - 1 });
        expect(await store.query({ ...query, maxScan: perChannel })).toEqual(expectedAggregate(readings.filter((r) => r.channel === 'a'), 'count', 60_000));
        // every channel of the device counts toward one bound
        await expect(store.query({ ...query, channel: undefined, maxScan: 2 * perChannel - 1 })).rejects.toBeInstanceOf(QueryTooLargeError);
        expect(await store.query({ ...query, channel: undefined, maxScan: 2 * perChannel })).toEqual(expectedAggregate(readings, 'count', 60_000));
      });

      it('counts the buckets a history tier answers from: hour means read 4 rows, not 14,400 readings', async () => {
        const query: ReadingQuery = { deviceId, from, to, every: HOUR, agg: 'mean', limit: NO_LIMIT };
        const expected = expectedAggregate(readings, 'mean', HOUR);
        expect(await store.query({ ...query, maxScan: 4 })).toEqual(expected);
        await expect(store.query({ ...query, maxScan: 3 })).rejects.toBeInstanceOf(QueryTooLargeError);
        await expect(store.query({ ...query, maxScan: 4, rawOnly: true })).rejects.toBeInstanceOf(QueryTooLargeError);
      });

      it('stays usable after refusing a query: writes commit and the next query answers', async () => {
        await expect(store.query({ deviceId, from, to, agg: 'max', limit: NO_LIMIT, rawOnly: true, maxScan: 10 })).rejects.toBeInstanceOf(QueryTooLargeError);
        const writer = newDevice('writer');
        await store.write([{ deviceId: writer, channel: 'c', time: T0, value: 1 }]);
        expect(await store.query({ deviceId: writer, ...ALL_TIME, limit: NO_LIMIT })).toEqual([{ channel: 'c', time: T0, value: 1 }]);
        expect(await store.query({ deviceId, from, to, agg: 'max', limit: NO_LIMIT, rawOnly: true })).toEqual([
          { channel: 'a', time: from, value: 4 },
          { channel: 'b', time: from, value: 4 },
        ]);
      });
    });

    describe.runIf(options.isolatedReads)('queries beside writes', () => {
      const heavy = newDevice('heavy');
      const heavyReadings: Reading[] = [];
      const every = 10_000;
      const heavyQuery: ReadingQuery = { deviceId: heavy, ...ALL_TIME, every, agg: 'mean', limit: NO_LIMIT };
      beforeAll(async () => {
        for (let i = 0; i < 400_000; i++) heavyReadings.push({ deviceId: heavy, channel: 'v', time: T0 + i, value: (i % 1000) / 4 });
        for (let i = 0; i < heavyReadings.length; i += 50_000) await store.write(heavyReadings.slice(i, i + 50_000));
        // whatever a store starts on its first query (threads, connections) is up before the tests
        await store.query({ ...heavyQuery, to: T0 + 1 });
      }, 120_000);

      it('keeps committing writes while long aggregate queries run, and answers them right', async () => {
        const writer = newDevice('writer');
        let settled = false;
        const queries = Promise.all(Array.from({ length: 4 }, () => store.query(heavyQuery))).finally(() => {
          settled = true;
        });
        let written = 0;
        let writtenMeanwhile = 0;
        while (!settled) {
          await store.write([{ deviceId: writer, channel: 'c', time: T0 + written, value: written }]);
          written++;
          if (!settled) writtenMeanwhile++;
        }
        const answers = await queries;
        // A store that ran queries before writes would finish all four before the first write.
        expect(writtenMeanwhile).toBeGreaterThan(0);
        const expected = expectedAggregate(heavyReadings, 'mean', every);
        for (const answer of answers) expect(answer).toEqual(expected);
        expect(await store.query({ deviceId: writer, ...ALL_TIME, agg: 'count', limit: NO_LIMIT })).toEqual([{ channel: 'c', time: ALL_TIME.from, value: written }]);
      }, 120_000);

      it('gives up on a query past its time bound with QueryTimeoutError, and answers the next', async () => {
        // no store aggregates 400,000 readings in 5 ms
        await expect(store.query({ ...heavyQuery, timeoutMs: 5 })).rejects.toBeInstanceOf(QueryTimeoutError);
        const writer = newDevice('writer');
        await store.write([{ deviceId: writer, channel: 'c', time: T0, value: 1 }]);
        expect(await store.query({ deviceId: writer, ...ALL_TIME, limit: NO_LIMIT })).toEqual([{ channel: 'c', time: T0, value: 1 }]);
      }, 120_000);
    });
  });
}
