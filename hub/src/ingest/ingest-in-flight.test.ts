// Several store writes in flight: writes may end in any order, but ACKs, abandons and watermarks
// follow the order batches were cut [FP-5.5: acknowledgements are cumulative].
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLocalLiveBus } from '../live/live-bus.ts';
import { createMetrics } from '../metrics.ts';
import { createLocalPresence } from '../presence/local-presence.ts';
import { ErrorCode, ReadingsColumns } from '../protocol/index.ts';
import { createSqliteRegistry } from '../registry/sqlite-registry.ts';
import { WriteRejectedError } from '../store/errors.ts';
import type { Reading, ReadingStore } from '../store/store.ts';
import type { DeviceLink } from './device-link.ts';
import { Ingest } from './ingest.ts';
import { asReadings, type Readings } from '../store/reading-batch.ts';

const ERROR_NAMES = new Map<number, string>(Object.entries(ErrorCode).map(([name, code]) => [code, name]));

interface Write {
  readings: Reading[];
  /** the store has the readings (or refuses them, when `refuses` says so) */
  finish(): void;
  /** the store is down */
  fail(): void;
}

/** A store whose writes end when the test says, in any order. */
class GatedStore implements ReadingStore {
  /** every write, in the order it started */
  writes: Write[] = [];
  stored: Reading[] = [];
  /** false: writes end at once */
  hold = true;
  refuses: (r: Reading) => boolean = () => false;
  write(batch: Readings): Promise<void> {
    const readings = asReadings(batch);
    const copy = [...readings];
    return new Promise<void>((resolve, reject) => {
      let ended = false;
      const write: Write = {
        readings: copy,
        finish: () => {
          if (ended) return;
          ended = true;
          // a store may read what it was handed until its write ends: ingest must not reuse it sooner
          expect(asReadings(batch), 'the batch changed while its write ran').toEqual(copy);
          if (copy.some(this.refuses)) return reject(new WriteRejectedError('refused for good'));
          this.stored.push(...copy);
          resolve();
        },
        fail: () => {
          ended = true;
          reject(new Error('store unreachable'));
        },
      };
      this.writes.push(write);
      if (!this.hold) write.finish();
    });
  }
  async query() { return []; }
  async ping() {}
  async close() {}
}

const via = { transport: 'ws', strictSequence: false } as const;
const T0 = Date.UTC(2026, 10, 30, 12);
/** one sample at T0 + seq ms (or `time`), so frames of a device never share a point unless asked to */
const frame = (seq: number, opts: { time?: number; value?: number; channel?: number } = {}) => ReadingsColumns.from({
  type: 'readings', seq, baseTime: opts.time ?? T0 + seq, samples: [{ channel: opts.channel ?? 1, type: 'f32', offset: 0, value: opts.value ?? seq }],
});
/** lets pending promise callbacks and I/O callbacks run */
const settle = async () => {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
};

describe('store writes in flight, ACKs in batch order', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function setup(options: { writesInFlight: number; batchSize?: number; ackWindow?: number }) {
    const dir = await mkdtemp(join(tmpdir(), 'ingest-in-flight-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const registry = createSqliteRegistry({ path: join(dir, 'registry.db') });
    cleanups.push(() => registry.close());
    for (const id of ['a', 'b', 'c']) await registry.create({ id, name: id, tokenHash: null, transport: 'ws' });
    const live = createLocalLiveBus();
    const store = new GatedStore();
    let clock = T0;
    /** what every device was sent, in order: `a ack 2`, `a error FP_ERR_STORE_UNAVAILABLE`, `a end` */
    const events: string[] = [];
    // a flush interval no test waits for: only a full batch or a full window flushes here
    const ingest = new Ingest({
      store, registry, presence: createLocalPresence({ live }), live, metrics: createMetrics(), log: pino({ level: 'silent' }),
      batchSize: options.batchSize ?? 5000, flushIntervalMs: 3_600_000, maxFutureMs: 300_000, ackWindow: options.ackWindow,
      writesInFlight: options.writesInFlight, now: () => clock,
    });
    cleanups.push(async () => {
      store.hold = false;
      for (const w of store.writes) w.finish();
      await ingest.flush();
    });
    const hello = async (id: string) => {
      const link: DeviceLink = {
        transport: 'ws',
        send: (f) => {
          if (f.type === 'ack') events.push(`${id} ack ${f.ackedSeq}`);
          if (f.type === 'error') events.push(`${id} error ${ERROR_NAMES.get(f.code)}`);
        },
        end: () => void events.push(`${id} end`),
      };
      const device = await ingest.hello(link, {
        type: 'hello', session: 1, deviceId: id, firmware: 'fw',
        channels: [{ id: 1, type: 'f32', name: 't', unit: '' }, { id: 2, type: 'f32', name: 'refused', unit: '' }],
      });
      events.length = 0; // the resume ACKs
      return device;
    };
    const send = (device: Awaited<ReturnType<typeof hello>>, ...frames: ReadingsColumns[]) => {
      for (const f of frames) expect(ingest.readings(device, f, via).kind).toBe('accepted');
    };
    /** With batchSize 2: a's frames 1–2 in the first batch, a's 3 and b's 1 in the second, both writing. */
    const twoBatches = async () => {
      const a = await hello('a');
      const b = await hello('b');
      send(a, frame(1), frame(2));
      send(a, frame(3));
      send(b, frame(1));
      await settle();
      return { a, b };
    };
    return { ingest, store, registry, events, hello, send, twoBatches, tick: (ms: number) => (clock += ms) };
  }

  it('a later batch written first is acknowledged only after the earlier one', async () => {
    const { store, events, twoBatches } = await setup({ writesInFlight: 2, batchSize: 2 });
    await twoBatches();
    expect(store.writes.map((w) => w.readings.length)).toEqual([2, 2]);

    store.writes[1].finish();
    await settle();
    expect(events).toEqual([]);

    store.writes[0].finish();
    await vi.waitFor(() => expect(events).toHaveLength(3));
    expect(events).toEqual(['a ack 2', 'a ack 3', 'b ack 1']);
  });

  it('no more writes start than allowed; a queued batch starts when one ends', async () => {
    const { store, events, hello, send } = await setup({ writesInFlight: 2, batchSize: 1 });
    const a = await hello('a');
    send(a, frame(1), frame(2), frame(3), frame(4));
    await settle();
    expect(store.writes).toHaveLength(2);
    store.writes[1].finish();
    await settle();
    expect(store.writes).toHaveLength(3);
    store.writes[0].finish();
    await vi.waitFor(() => expect(events).toEqual(['a ack 1', 'a ack 2']));
    expect(store.writes).toHaveLength(4);
    store.writes[2].finish();
    store.writes[3].finish();
    await vi.waitFor(() => expect(events).toEqual(['a ack 1', 'a ack 2', 'a ack 3', 'a ack 4']));
  });

  it('when an earlier batch fails, its devices get no ACK from a later batch already written and are told to resend', async () => {
    const { ingest, store, events, twoBatches } = await setup({ writesInFlight: 2, batchSize: 2 });
    const { a, b } = await twoBatches();
    store.writes[1].finish();
    await settle();
    store.writes[0].fail();
    await vi.waitFor(() => expect(events).toContain('b ack 1'));
    await settle();
    // [FP-5.5] frame 3 is durable, but acknowledging it would cover frames 1 and 2, which are not
    expect(events).toEqual(['a error FP_ERR_STORE_UNAVAILABLE', 'a end', 'b ack 1']);
    // the device starts over from its last ACK: its resends are new to the hub, not duplicates
    expect(ingest.readings(a, frame(1), via).kind).toBe('accepted');
  });

  it('watermarks are saved in batch order: a later batch written first saves nothing', async () => {
    const { ingest, registry, store, hello, send, tick } = await setup({ writesInFlight: 2, batchSize: 1 });
    const a = await hello('a');
    send(a, frame(1), frame(2));
    await settle();
    tick(5000); // past the watermark save interval: the next release saves
    store.writes[1].finish();
    await settle();
    expect((await registry.get('a'))!.ackedSeq).toBe(0);
    store.writes[0].finish();
    // batch 1's release saved its mark; batch 2's, right after, waits for the next save
    await vi.waitFor(async () => expect((await registry.get('a'))!.ackedSeq).toBe(1));
    await ingest.flush();
    expect((await registry.get('a'))!.ackedSeq).toBe(2);
  });

  it('a batch rewriting a point that a batch in flight holds waits for it, so the later value wins', async () => {
    const { store, events, hello, send } = await setup({ writesInFlight: 3, batchSize: 1 });
    const a = await hello('a');
    const b = await hello('b');
    send(a, frame(1, { time: T0, value: 1 }));
    send(a, frame(2, { time: T0, value: 2 }));
    await settle();
    expect(store.writes).toHaveLength(1);
    // a device with points of its own is not held back
    send(b, frame(1));
    await settle();
    expect(store.writes.map((w) => w.readings[0].deviceId)).toEqual(['a', 'b']);
    store.writes[0].finish();
    await settle();
    expect(store.writes.map((w) => w.readings[0].deviceId)).toEqual(['a', 'b', 'a']);
    store.writes[1].finish();
    store.writes[2].finish();
    await vi.waitFor(() => expect(events).toEqual(['a ack 1', 'a ack 2', 'b ack 1']));
    expect(store.stored.filter((r) => r.deviceId === 'a').map((r) => r.value)).toEqual([1, 2]);
  });

  it('a point the device had in a batch already written does not hold the next one back', async () => {
    const { store, events, hello, send } = await setup({ writesInFlight: 2, batchSize: 1 });
    const a = await hello('a');
    const b = await hello('b');
    send(a, frame(1, { time: T0 + 5 }));
    await settle();
    store.writes[0].finish();
    await vi.waitFor(() => expect(events).toEqual(['a ack 1']));
    send(b, frame(1)); // in flight while a's next frame comes
    send(a, frame(2, { time: T0 }));
    await settle();
    // before the time of a's batch 1, but that one is written: nothing to wait for
    expect(store.writes.map((w) => w.readings[0].deviceId)).toEqual(['a', 'b', 'a']);
  });

  it('readings the store refuses for good are reported before the ACK, in batch order', async () => {
    const { store, events, hello, send } = await setup({ writesInFlight: 2, batchSize: 2 });
    const a = await hello('a');
    const b = await hello('b');
    store.refuses = (r) => r.channel === 'refused';
    send(a, frame(1), frame(2)); // batch 1
    send(b, frame(1, { channel: 2 }), frame(2)); // batch 2: one reading refused
    await settle();
    store.writes[1].finish();
    await settle();
    // the halves the salvage writes end at once
    store.hold = false;
    for (const w of store.writes.slice(2)) w.finish();
    await settle();
    expect(events).toEqual([]);
    store.writes[0].finish();
    await vi.waitFor(() => expect(events).toHaveLength(3));
    expect(events).toEqual(['a ack 2', 'b error FP_ERR_STORE_REJECTED', 'b ack 2']);
    expect(store.stored.filter((r) => r.deviceId === 'b').map((r) => r.channel)).toEqual(['t']);
  });

  it('flush() resolves only when every batch in flight is acknowledged', async () => {
    const { ingest, store, events, hello, send } = await setup({ writesInFlight: 2, batchSize: 1 });
    const a = await hello('a');
    send(a, frame(1), frame(2));
    send(a, frame(3)); // still pending: flush() cuts it
    let flushed = false;
    const flushing = ingest.flush().then(() => (flushed = true));
    await settle();
    store.writes[1].finish();
    await settle();
    expect(flushed).toBe(false);
    store.writes[0].finish();
    await settle();
    expect(flushed).toBe(false);
    store.writes[2].finish();
    await flushing;
    expect(events).toEqual(['a ack 1', 'a ack 2', 'a ack 3']);
  });

  it('a window filled while every slot is busy waits for a free slot, then everything that came meanwhile goes in one batch', async () => {
    const { store, events, hello, send } = await setup({ writesInFlight: 2, ackWindow: 2 });
    const [a, b, c] = [await hello('a'), await hello('b'), await hello('c')];
    send(a, frame(1), frame(2)); // window full: batch 1
    send(b, frame(1), frame(2)); // window full: batch 2
    await settle();
    expect(store.writes.map((w) => w.readings.length)).toEqual([2, 2]);
    send(c, frame(1), frame(2)); // window full, no slot: waits
    send(a, frame(3));
    await settle();
    expect(store.writes).toHaveLength(2);
    store.writes[1].finish();
    await settle();
    // a slot is free: everything pending goes at once, though the batch before is still writing
    expect(store.writes.map((w) => w.readings.length)).toEqual([2, 2, 3]);
    store.writes[0].finish();
    store.writes[2].finish();
    // one ACK per device per batch, devices in the order their frames came
    await vi.waitFor(() => expect(events).toEqual(['a ack 2', 'b ack 2', 'c ack 2', 'a ack 3']));
  });
});
