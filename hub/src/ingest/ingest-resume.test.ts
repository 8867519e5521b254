// [FP-5.2] The resume point a HELLO gets when hub processes share one registry and a device moves
// between them. (With one process it is what that process holds: the device tests cover that.)
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createLocalLiveBus } from '../live/live-bus.ts';
import { createMetrics } from '../metrics.ts';
import { createLocalPresence } from '../presence/local-presence.ts';
import type { Frame, HelloFrame } from '../protocol/index.ts';
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

function link(): DeviceLink & { frames: Frame[]; lastAck(): number | undefined } {
  const frames: Frame[] = [];
  return {
    transport: 'ws', frames, send: (f) => void frames.push(f), end: () => undefined,
    lastAck: () => frames.filter((f) => f.type === 'ack').map((f) => (f as { ackedSeq: number }).ackedSeq).at(-1),
  };
}

const hello = (session: number): HelloFrame => ({ type: 'hello', session, deviceId: 'dev-1', firmware: 'fw', channels: [{ id: 1, type: 'f32', name: 'temp', unit: '' }] });

describe('resume point at HELLO', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function registryPath(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'ingest-resume-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, 'registry.db');
    const registry = createSqliteRegistry({ path });
    await registry.create({ id: 'dev-1', name: 'dev-1', tokenHash: 'h', transport: 'ws' });
    await registry.close();
    return path;
  }

  /** One hub process: its own registry connection, store, presence and ingest. */
  function hubProcess(path: string) {
    const registry = createSqliteRegistry({ path });
    const live = createLocalLiveBus();
    const ingest = new Ingest({
      store: new MemoryStore(), registry, presence: createLocalPresence({ live }), live, metrics: createMetrics(), log: pino({ level: 'silent' }),
      batchSize: 1000, flushIntervalMs: 1, maxFutureMs: 300_000,
    });
    cleanups.push(() => registry.close());
    return {
      registry,
      /** the resume point a HELLO in `session` is answered with [FP-4.1.2] */
      async helloAck(session: number): Promise<number | undefined> {
        const l = link();
        const device = await ingest.hello(l, hello(session));
        ingest.disconnected(device, l);
        return l.lastAck();
      },
    };
  }

  it('a device back at a process it left gets the resume point another process reached meanwhile', async () => {
    const path = await registryPath();
    const a = hubProcess(path);
    // what another process does for the device: its HELLO, then its ACKs' watermarks
    const other = hubProcess(path).registry;
    const served = async (session: number, ackedSeq: number) => {
      await other.updateHello('dev-1', { firmware: 'fw', channels: hello(session).channels, session });
      await other.saveWatermarks([{ deviceId: 'dev-1', session, ackedSeq, lastSeen: Date.now() }]);
    };

    await served(7, 3);
    expect(await a.helloAck(7)).toBe(3);
    // the other process acknowledged more of the same session
    await served(7, 5);
    expect(await a.helloAck(7)).toBe(5);
    // the other process's HELLO started a new session: a must not resume the old one
    await served(9, 2);
    expect(await a.helloAck(9)).toBe(2);
    // a registry behind what this process holds (a watermark saved late) does not take it back
    await other.saveWatermarks([{ deviceId: 'dev-1', session: 9, ackedSeq: 1, lastSeen: Date.now() }]);
    expect(await a.helloAck(9)).toBe(2);
    // a new session of the device's own is a new sequence space, as with one process [FP-5.1]
    expect(await a.helloAck(10)).toBe(0);
  });
});
