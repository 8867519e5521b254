// [FP-4.1, FP-4.2] Channels declared at HELLO: devices declaring the same ones share one copy, and
// each device's samples are still checked against its own declaration.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createLocalLiveBus } from '../live/live-bus.ts';
import { createMetrics } from '../metrics.ts';
import { createLocalPresence } from '../presence/local-presence.ts';
import { ReadingsColumns, type ChannelDescriptor, type Frame, type ReadingsFrame } from '../protocol/index.ts';
import { createSqliteRegistry } from '../registry/sqlite-registry.ts';
import type { Reading, ReadingStore } from '../store/store.ts';
import type { DeviceLink } from './device-link.ts';
import { Ingest } from './ingest.ts';
import { asReadings, type Readings } from '../store/reading-batch.ts';

class MemoryStore implements ReadingStore {
  readings: Reading[] = [];
  async write(readings: Readings) { this.readings.push(...asReadings(readings)); }
  async query() { return []; }
  async ping() {}
  async close() {}
}

function link(): DeviceLink & { frames: Frame[] } {
  const frames: Frame[] = [];
  return { transport: 'ws', frames, send: (f) => void frames.push(f), end: () => undefined };
}

const sensor: ChannelDescriptor[] = [{ id: 1, type: 'f32', name: 'temp', unit: '°C' }, { id: 2, type: 'bool', name: 'door', unit: '' }];
const via = { transport: 'ws', strictSequence: false } as const;

describe('channels declared at HELLO', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function setup() {
    const dir = await mkdtemp(join(tmpdir(), 'ingest-channels-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const registry = createSqliteRegistry({ path: join(dir, 'registry.db') });
    cleanups.push(() => registry.close());
    for (const id of ['a', 'b', 'c']) await registry.create({ id, name: id, tokenHash: null, transport: 'ws' });
    const live = createLocalLiveBus();
    const presence = createLocalPresence({ live });
    const store = new MemoryStore();
    const ingest = new Ingest({
      store, registry, presence, live, metrics: createMetrics(), log: pino({ level: 'silent' }),
      batchSize: 1000, flushIntervalMs: 1, maxFutureMs: 300_000,
    });
    return { ingest, presence, store };
  }

  it('devices declaring the same channels share one list; another declaration gets its own', async () => {
    const { ingest, presence } = await setup();
    await ingest.hello(link(), { type: 'hello', session: 1, deviceId: 'a', firmware: 'fw', channels: sensor.map((c) => ({ ...c })) });
    await ingest.hello(link(), { type: 'hello', session: 1, deviceId: 'b', firmware: 'fw', channels: sensor.map((c) => ({ ...c })) });
    await ingest.hello(link(), { type: 'hello', session: 1, deviceId: 'c', firmware: 'fw', channels: [{ ...sensor[0], unit: 'K' }, sensor[1]] });
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((id) => presence.get(id)));
    expect(a!.channels).toEqual(sensor);
    expect(b!.channels).toBe(a!.channels);
    expect(c!.channels).not.toBe(a!.channels);
    expect(c!.channels[0].unit).toBe('K');
  });

  it("each device's samples are checked against its own channels", async () => {
    const { ingest, store } = await setup();
    const a = await ingest.hello(link(), { type: 'hello', session: 1, deviceId: 'a', firmware: 'fw', channels: sensor });
    // same ids, other types and names: a list of its own
    const b = await ingest.hello(link(), { type: 'hello', session: 1, deviceId: 'b', firmware: 'fw', channels: [{ id: 1, type: 'i32', name: 'count', unit: '' }] });
    const frame = (seq: number): ReadingsFrame => ({ type: 'readings', seq, baseTime: Date.now(), samples: [
      { channel: 1, type: 'f32', offset: 0, value: 21.5 },
      { channel: 2, type: 'bool', offset: 0, value: true },
    ] });
    expect(ingest.readings(a, ReadingsColumns.from(frame(1)), via)).toEqual({ kind: 'accepted', reply: null });
    const verdict = ingest.readings(b, ReadingsColumns.from(frame(1)), via);
    expect(verdict.kind).toBe('accepted');
    expect(verdict.kind === 'accepted' && verdict.reply).toMatchObject({ type: 'error', text: expect.stringContaining('2 of 2 samples dropped') });
    await ingest.flush();
    expect(store.readings.map((r) => [r.deviceId, r.channel, r.value])).toEqual([['a', 'temp', 21.5], ['a', 'door', 1]]);
  });
});
