import { appendFile, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Reading, ReadingPoint, ReadingStore } from './store.ts';
import { WriteRejectedError } from './errors.ts';
import { createSpoolingStore, decodeBatch, encodeBatch, SpoolFullError, type SpoolEvent, type SpoolingStoreOptions } from './spool.ts';
import { createInfluxStore } from './influx-store.ts';
import { hasRealPart } from '../../test/support/real-parts.ts';
import { startInfluxd } from '../../test/support/influxd.ts';
import { asReadings, type Readings } from './reading-batch.ts';

const T0 = 1_700_000_000_000;

/** A primary that can be switched off, made to hang, or made to refuse readings, like a real backend. */
class FakePrimary implements ReadingStore {
  mode: 'up' | 'down' | 'hang' = 'up';
  /** readings with this value are refused for good, as InfluxDB refuses a field type conflict */
  refuseValue: number | undefined;
  /** every reading accepted, in the order it arrived, repeats included */
  received: Reading[] = [];
  writeSizes: number[] = [];
  closed = false;

  async write(batch: Readings): Promise<void> {
    const readings = asReadings(batch);
    if (this.mode === 'down') throw new Error('primary is down');
    if (this.mode === 'hang') return new Promise<void>(() => {});
    if (readings.some((r) => r.value === this.refuseValue)) throw new WriteRejectedError('refused');
    this.writeSizes.push(readings.length);
    this.received.push(...readings);
  }

  async query(): Promise<ReadingPoint[]> {
    return [];
  }

  async ping(): Promise<void> {
    if (this.mode !== 'up') throw new Error('primary is down');
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

let nextTime = T0;
function batch(size: number, deviceId = 'dev-1', value?: number): Reading[] {
  return Array.from({ length: size }, (_, i) => ({ deviceId, channel: i % 2 ? 'temp °C' : 'hum', time: nextTime++, value: value ?? i / 4 }));
}

async function segmentFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((name) => name.endsWith('.jsonl'));
}

describe('spool line format', () => {
  it('round-trips a batch, names and numbers unchanged', () => {
    const readings = [...batch(3, 'a'), ...batch(2, 'dev:1.a_b-c'), { deviceId: 'a', channel: 'x"\n,=😀', time: -5, value: -1e-300 }];
    const line = encodeBatch(readings);
    expect(line).not.toContain('\n');
    expect(decodeBatch(line)).toEqual(readings);
  });

  it('refuses torn or foreign lines', () => {
    const line = encodeBatch(batch(3));
    for (const bad of [line.slice(0, -1), '', 'null', '{"s":[],"r":[0,1,2]}', '{"s":[["d","c"]],"r":[0,1]}', '{"s":[["d","c"]],"r":[0,1.5,2]}']) {
      expect(decodeBatch(bad), bad).toBeUndefined();
    }
  });
});

describe('spooling store over a fake primary', () => {
  let dir: string;
  let primary: FakePrimary;
  let events: SpoolEvent[];
  const open: ReadingStore[] = [];

  function spooling(overrides: Partial<SpoolingStoreOptions> = {}) {
    const store = createSpoolingStore({ primary, dir, maxBytes: 10 * 1024 * 1024, retryMs: 10, writeTimeoutMs: 5000, onEvent: (e) => events.push(e), ...overrides });
    open.push(store);
    return store;
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'spool-test-'));
    primary = new FakePrimary();
    events = [];
  });

  afterEach(async () => {
    for (const store of open.splice(0)) await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('writes straight to the primary while it is up', async () => {
    const store = spooling();
    const a = batch(10);
    const b = batch(10);
    await store.write(a);
    await store.write(b);
    expect(primary.received).toEqual([...a, ...b]);
    expect(store.spoolBytes).toBe(0);
    expect(store.spooledReadings).toBe(0);
    expect(await segmentFiles(dir)).toEqual([]);
    await expect(store.drained()).resolves.toBeUndefined();
  });

  it('resolves writes while the primary is down and replays them in order once it is back', async () => {
    const store = spooling();
    primary.mode = 'down';
    const batches = Array.from({ length: 5 }, () => batch(100));
    for (const b of batches) await store.write(b);
    expect(store.spooledReadings).toBe(500);
    expect(store.spoolBytes).toBeGreaterThan(0);
    expect(await segmentFiles(dir)).not.toEqual([]);
    expect(primary.received).toEqual([]);
    expect(events.filter((e) => e.type === 'spooling')).toHaveLength(1);

    primary.mode = 'up';
    // written while the backlog may still be replaying: it must land behind it
    const late = batch(100);
    batches.push(late);
    await store.write(late);
    await store.drained();

    expect(primary.received).toEqual(batches.flat());
    expect(store.spooledReadings).toBe(0);
    expect(store.spoolBytes).toBe(0);
    expect(await segmentFiles(dir)).toEqual([]);
    expect(events).toContainEqual({ type: 'drained', replayed: 600 });

    // and with the spool empty, writes go straight through again
    const after = batch(5);
    await store.write(after);
    expect(primary.received.slice(-5)).toEqual(after);
    expect(store.spoolBytes).toBe(0);
  });

  it('treats a write that takes longer than writeTimeoutMs as failed', async () => {
    const store = spooling({ writeTimeoutMs: 50 });
    primary.mode = 'hang';
    const b = batch(100);
    await store.write(b);
    expect(store.spooledReadings).toBe(100);
    primary.mode = 'up';
    await store.drained();
    expect(primary.received).toEqual(b);
  });

  it('keeps new writes behind spooled ones even when the primary is already back, across a restart', async () => {
    // a replay pause far longer than the test, so only the restart replays
    const first = spooling({ retryMs: 3_600_000, segmentBytes: 2048 });
    primary.mode = 'down';
    const before = [batch(50), batch(50), batch(50)];
    for (const b of before) await first.write(b);
    primary.mode = 'up';
    const behind = batch(50);
    await first.write(behind);
    expect(primary.received).toEqual([]);
    expect(first.spooledReadings).toBe(200);
    expect((await segmentFiles(dir)).length).toBeGreaterThan(1);
    await first.close();
    expect(primary.closed).toBe(true);

    const again = spooling();
    expect(again.spooledReadings).toBe(200);
    await again.drained();
    expect(primary.received).toEqual([...before, behind].flat());
    expect(await segmentFiles(dir)).toEqual([]);
  });

  it('ignores a line torn by a crash when it starts again, and reports it', async () => {
    const first = spooling({ retryMs: 3_600_000 });
    primary.mode = 'down';
    const kept = [batch(30), batch(30)];
    for (const b of kept) await first.write(b);
    await first.close();
    const [last] = (await segmentFiles(dir)).sort().slice(-1);
    const torn = encodeBatch(batch(30)).slice(0, 40);
    await appendFile(join(dir, last), torn);

    primary.mode = 'up';
    const again = spooling();
    expect(again.spooledReadings).toBe(60);
    expect(events).toContainEqual({ type: 'corrupt', file: join(dir, last), bytes: Buffer.byteLength(torn) });
    await again.drained();
    expect(primary.received).toEqual(kept.flat());
  });

  it('refuses writes past maxBytes, counting and reporting them, and keeps every write it resolved', async () => {
    const drops: [number, string][] = [];
    const store = spooling({ maxBytes: 4096, segmentBytes: 1024, onDrop: (n, reason) => drops.push([n, reason]) });
    primary.mode = 'down';
    const accepted: Reading[][] = [];
    let refused = 0;
    for (let i = 0; i < 60; i++) {
      const b = batch(20);
      try {
        await store.write(b);
        accepted.push(b);
      } catch (err) {
        expect(err).toBeInstanceOf(SpoolFullError);
        refused++;
      }
      expect(store.spoolBytes).toBeLessThanOrEqual(4096);
    }
    expect(accepted.length).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);
    expect(store.droppedReadings).toBe(refused * 20);
    expect(drops).toEqual(Array.from({ length: refused }, () => [20, 'full']));
    expect(events.filter((e) => e.type === 'dropped')).toHaveLength(refused);

    primary.mode = 'up';
    await store.drained();
    expect(primary.received).toEqual(accepted.flat());
  });

  it('replays a batch larger than a replay chunk and a read window, in chunks', async () => {
    const store = spooling({ replayChunk: 5000 });
    primary.mode = 'down';
    const big = batch(30_000);
    await store.write(big);
    const small = batch(3);
    await store.write(small);
    primary.mode = 'up';
    await store.drained();
    expect(primary.received).toEqual([...big, ...small]);
    expect(Math.max(...primary.writeSizes)).toBe(5000);
  });

  it('rejects the write when even the spool cannot be written', async () => {
    const store = spooling();
    primary.mode = 'down';
    // the spool directory is replaced by a plain file: every append fails, as on a read-only disk
    await rm(dir, { recursive: true });
    await writeFile(dir, 'not a directory');
    await expect(store.write(batch(10))).rejects.toThrow();
    expect(store.spooledReadings).toBe(0);
    expect(store.droppedReadings).toBe(0);
  });

  it('passes a refusal by the primary back to the caller instead of spooling it', async () => {
    const store = spooling();
    primary.refuseValue = 13;
    await expect(store.write(batch(5, 'dev-1', 13))).rejects.toBeInstanceOf(WriteRejectedError);
    expect(store.spooledReadings).toBe(0);
    expect(await segmentFiles(dir)).toEqual([]);
  });

  it('refuses invalid readings without bothering the primary or the spool', async () => {
    const store = spooling();
    primary.mode = 'down';
    await expect(store.write([{ deviceId: 'd', channel: 'c', time: T0, value: Number.NaN }])).rejects.toBeInstanceOf(WriteRejectedError);
    expect(store.spooledReadings).toBe(0);
    expect(events).toEqual([]);
  });

  it('drops only the spooled readings the primary refuses for good, and replays the rest', async () => {
    const store = spooling({ replayChunk: 16 });
    primary.mode = 'down';
    const readings = batch(40);
    readings[5] = { ...readings[5], value: 13 };
    readings[22] = { ...readings[22], value: 13 };
    await store.write(readings.slice(0, 20));
    await store.write(readings.slice(20));
    primary.refuseValue = 13;
    primary.mode = 'up';
    await store.drained();
    expect(primary.received).toEqual(readings.filter((r) => r.value !== 13));
    expect(store.droppedReadings).toBe(2);
    expect(events.filter((e) => e.type === 'dropped')).toEqual([
      expect.objectContaining({ readings: 1, reason: 'rejected' }),
      expect.objectContaining({ readings: 1, reason: 'rejected' }),
    ]);
  });

  it('stops replaying and closes the primary on close', async () => {
    const store = spooling();
    primary.mode = 'down';
    await store.write(batch(10));
    const waiting = store.drained();
    await store.close();
    await expect(waiting).rejects.toThrow(/closed/);
    expect(primary.closed).toBe(true);
    await expect(store.write(batch(1))).rejects.toThrow(/closed/);
    // still on disk for the next start
    expect(await segmentFiles(dir)).not.toEqual([]);
  });
});

describe.runIf(hasRealPart('influxd'))('spooling store over a real InfluxDB outage', () => {
  const devices = Array.from({ length: 10 }, (_, i) => `spool-dev-${i}`);
  const channels = ['temp', 'hum', 'volt'];
  let time = T0;

  function streamBatch(): Reading[] {
    const readings: Reading[] = [];
    for (let step = 0; step < 20; step++, time += 10) {
      for (const deviceId of devices) for (const channel of channels) readings.push({ deviceId, channel, time, value: (time - T0) / 10 });
    }
    return readings;
  }

  async function expectAllStored(primary: ReadingStore, written: readonly Reading[]): Promise<void> {
    for (const deviceId of devices) {
      const got = await primary.query({ deviceId, from: T0, to: time, limit: 10_000_000 });
      const expected = written.filter((r) => r.deviceId === deviceId);
      // the same number of points as readings written (times are distinct): none lost, none doubled
      expect(got.length, deviceId).toBe(expected.length);
      const byKey = new Map(got.map((p) => [`${p.channel}/${p.time}`, p.value]));
      expect(byKey.size).toBe(expected.length);
      for (const r of expected) expect(byKey.get(`${r.channel}/${r.time}`)).toBe(r.value);
    }
  }

  it('loses and duplicates nothing when influxd is killed mid-stream and restarted', async () => {
    const influxd = await startInfluxd();
    const dir = await mkdtemp(join(tmpdir(), 'spool-influx-'));
    const events: SpoolEvent[] = [];
    try {
      const primary = createInfluxStore({ url: `${influxd.url}/spool_outage`, timeoutMs: 1000 });
      await primary.open();
      const store = createSpoolingStore({ primary, dir, maxBytes: 256 * 1024 * 1024, retryMs: 100, writeTimeoutMs: 2000, onEvent: (e) => events.push(e) });
      const written: Reading[] = [];
      const write = async () => {
        const b = streamBatch();
        await store.write(b);
        written.push(...b);
      };

      for (let i = 0; i < 20; i++) await write();
      await influxd.kill();
      const outageEnds = Date.now() + 3000;
      while (Date.now() < outageEnds) {
        await write();
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(store.spooledReadings).toBeGreaterThan(0);
      await influxd.restart();
      for (let i = 0; i < 20; i++) await write();
      await store.drained();

      expect(events.filter((e) => e.type === 'spooling')).toHaveLength(1);
      expect(events.some((e) => e.type === 'drained')).toBe(true);
      expect(store.droppedReadings).toBe(0);
      expect(await segmentFiles(dir)).toEqual([]);
      await expectAllStored(primary, written);
      await store.close();
    } finally {
      await influxd.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('spools while influxd is frozen and replays once it wakes up', async () => {
    const influxd = await startInfluxd();
    const dir = await mkdtemp(join(tmpdir(), 'spool-influx-'));
    const pid = influxd.pid;
    try {
      const primary = createInfluxStore({ url: `${influxd.url}/spool_frozen`, timeoutMs: 500 });
      await primary.open();
      const store = createSpoolingStore({ primary, dir, maxBytes: 64 * 1024 * 1024, retryMs: 100, writeTimeoutMs: 1000 });
      const written: Reading[] = [];
      for (let i = 0; i < 5; i++) written.push(...streamBatch());
      await store.write(written);
      process.kill(pid, 'SIGSTOP');
      for (let i = 0; i < 5; i++) {
        const b = streamBatch();
        await store.write(b);
        written.push(...b);
      }
      expect(store.spooledReadings).toBeGreaterThan(0);
      await expect(store.ping()).rejects.toThrow();
      process.kill(pid, 'SIGCONT');
      await store.drained();
      await expectAllStored(primary, written);
      await store.close();
    } finally {
      process.kill(pid, 'SIGCONT');
      await influxd.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
