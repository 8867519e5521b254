// [FP-5.6] A device that has filled its window of unacknowledged frames waits for an ACK: ingest
// flushes then instead of waiting out its flush interval.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLocalLiveBus } from '../live/live-bus.ts';
import { createMetrics } from '../metrics.ts';
import { createLocalPresence } from '../presence/local-presence.ts';
import { ReadingsColumns, type Frame } from '../protocol/index.ts';
import { createSqliteRegistry } from '../registry/sqlite-registry.ts';
import type { Reading, ReadingStore } from '../store/store.ts';
import type { DeviceLink } from './device-link.ts';
import { Ingest } from './ingest.ts';
import { asReadings, type Readings } from '../store/reading-batch.ts';

class MemoryStore implements ReadingStore {
  readings: Reading[] = [];
  /** batch sizes, in the order their writes started */
  writes: number[] = [];
  /** while set, writes wait for it */
  gate: Promise<void> | null = null;
  async write(batch: Readings) {
    const readings = asReadings(batch);
    this.writes.push(readings.length);
    await this.gate;
    this.readings.push(...readings);
  }
  async query() { return []; }
  async ping() {}
  async close() {}
}

function link(): DeviceLink & { acks: number[] } {
  const acks: number[] = [];
  return { transport: 'ws', acks, send: (f: Frame) => void (f.type === 'ack' && acks.push(f.ackedSeq)), end: () => undefined };
}

const via = { transport: 'ws', strictSequence: false } as const;
const reading = (seq: number) => ReadingsColumns.from({ type: 'readings', seq, samples: [{ channel: 1, type: 'f32', offset: 0, value: seq }] });
/** lets pending promise callbacks and I/O callbacks run, far short of any flush interval */
const settle = async () => {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
};

describe('flush when a device window is full [FP-5.6]', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function setup(ackWindow?: number) {
    const dir = await mkdtemp(join(tmpdir(), 'ingest-window-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const registry = createSqliteRegistry({ path: join(dir, 'registry.db') });
    cleanups.push(() => registry.close());
    for (const id of ['a', 'b', 'c']) await registry.create({ id, name: id, tokenHash: null, transport: 'ws' });
    const live = createLocalLiveBus();
    const store = new MemoryStore();
    // a flush interval no test waits for: only a full batch or a full window flushes here
    const ingest = new Ingest({
      store, registry, presence: createLocalPresence({ live }), live, metrics: createMetrics(), log: pino({ level: 'silent' }),
      batchSize: 5000, flushIntervalMs: 3_600_000, maxFutureMs: 300_000, ackWindow,
    });
    cleanups.push(() => ingest.flush());
    const hello = async (id: string) => {
      const l = link();
      const device = await ingest.hello(l, { type: 'hello', session: 1, deviceId: id, firmware: 'fw', channels: [{ id: 1, type: 'f32', name: 't', unit: '' }] });
      l.acks.length = 0; // the resume ACK
      return { device, link: l };
    };
    return { ingest, store, hello };
  }

  it('the frame that fills a window of 32 flushes everything pending; 31 frames wait for the interval', async () => {
    const { ingest, store, hello } = await setup();
    const a = await hello('a');
    const b = await hello('b');
    for (let seq = 1; seq <= 31; seq++) ingest.readings(a.device, reading(seq), via);
    for (let seq = 1; seq <= 5; seq++) ingest.readings(b.device, reading(seq), via);
    await settle();
    expect(store.writes).toEqual([]);
    expect(a.link.acks).toEqual([]);

    ingest.readings(a.device, reading(32), via);
    await vi.waitFor(() => expect(a.link.acks).toEqual([32]));
    // the other device's frames went with the same batch
    expect(b.link.acks).toEqual([5]);
    expect(store.writes).toEqual([37]);
  });

  it('past the window, only the frame that fills it flushes: a device with a larger window does not make a batch of every frame', async () => {
    const { ingest, store, hello } = await setup(4);
    const a = await hello('a');
    for (let seq = 1; seq <= 4; seq++) ingest.readings(a.device, reading(seq), via);
    // frames 5 to 7 arrive before the ACK for 4: the device's window is larger than 4
    for (let seq = 5; seq <= 7; seq++) ingest.readings(a.device, reading(seq), via);
    await vi.waitFor(() => expect(a.link.acks).toEqual([4]));
    await settle();
    expect(store.writes).toEqual([4]);
    // 3 unacknowledged now: one more fills the window again
    ingest.readings(a.device, reading(8), via);
    await vi.waitFor(() => expect(a.link.acks).toEqual([4, 8]));
    expect(store.writes).toEqual([4, 4]);
  });

  it('a window filled while the store writes waits for that write, then everything that came meanwhile goes in one batch', async () => {
    const { ingest, store, hello } = await setup(4);
    const [a, b, c] = [await hello('a'), await hello('b'), await hello('c')];
    let open!: () => void;
    store.gate = new Promise((resolve) => (open = resolve));
    for (let seq = 1; seq <= 4; seq++) ingest.readings(a.device, reading(seq), via);
    await settle();
    expect(store.writes).toEqual([4]);
    for (let seq = 1; seq <= 4; seq++) ingest.readings(b.device, reading(seq), via);
    for (let seq = 1; seq <= 2; seq++) ingest.readings(c.device, reading(seq), via);
    await settle();
    expect(store.writes).toEqual([4]);
    store.gate = null;
    open();
    await vi.waitFor(() => expect(c.link.acks).toEqual([2]));
    expect(a.link.acks).toEqual([4]);
    expect(b.link.acks).toEqual([4]);
    expect(store.writes).toEqual([4, 6]);
  });
});
