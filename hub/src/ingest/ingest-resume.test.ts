// [FP-5.2] The resume point a HELLO gets when two hub processes share one registry and a device
// moves between them; with one process it is what that process holds, as before.
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

class MemoryStore implements ReadingStore {
  readings: Reading[] = [];
  async write(readings: readonly Reading[]) { this.readings.push(...readings); }
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
      ingest,
      /** a connection saying HELLO and sending READINGS `seqs`, flushed: durable and watermarked */
      async session(session: number, seqs: number[]) {
        const l = link();
        const device = await ingest.hello(l, hello(session));
        const helloAck = l.lastAck();
        for (const seq of seqs) ingest.readings(device, l, { type: 'readings', seq, samples: [{ channel: 1, type: 'f32', offset: seq, value: seq }] });
        await ingest.flush();
        ingest.disconnected(device, l);
        return { helloAck, lastAck: l.lastAck() };
      },
    };
  }

  it('one process: a reconnect in the same session resumes where it was, a new session starts at 0', async () => {
    const p = hubProcess(await registryPath());
    expect(await p.session(7, [1, 2, 3])).toEqual({ helloAck: 0, lastAck: 3 });
    expect(await p.session(7, [4])).toEqual({ helloAck: 3, lastAck: 4 });
    expect(await p.session(8, [1])).toEqual({ helloAck: 0, lastAck: 1 });
    expect(await p.session(8, [])).toMatchObject({ helloAck: 1 });
  });

  it('a device back at a process it left gets the resume point another process reached meanwhile', async () => {
    const path = await registryPath();
    const a = hubProcess(path);
    const b = hubProcess(path);
    expect(await a.session(7, [1, 2, 3])).toEqual({ helloAck: 0, lastAck: 3 });
    expect(await b.session(7, [4, 5])).toEqual({ helloAck: 3, lastAck: 5 });
    // a still holds 3 for this session; the registry says 5
    expect(await a.session(7, [6])).toEqual({ helloAck: 5, lastAck: 6 });
    // b's HELLO started a new session: a must not resume the old one
    expect(await b.session(9, [1, 2])).toEqual({ helloAck: 0, lastAck: 2 });
    expect(await a.session(9, [3])).toEqual({ helloAck: 2, lastAck: 3 });
  });
});
