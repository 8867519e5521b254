// What /ws/live puts on the wire: counters (every device's row, every few seconds) compressed for
// a client that offers permessage-deflate, as browsers do, and readings sent as they are.
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import type { DeviceStatus } from '../presence/presence.ts';
import { startLiveEndpoint } from '../../test/support/live-endpoint-server.ts';
import { createLocalLiveBus } from './live-bus.ts';

const DEVICES = 300;

function statuses(round: number): Map<string, DeviceStatus> {
  const map = new Map<string, DeviceStatus>();
  for (let i = 0; i < DEVICES; i++) {
    const readings = 1000 * i + 37 * round;
    map.set(`rack-${String(i).padStart(4, '0')}`, {
      online: true, lastSeen: 1_764_489_600_000 + round * 1000 + i, firmware: '1.0', channels: [],
      counters: { frames: readings / 4, readings, rejected: 0, duplicates: 0, sequenceGaps: 0 },
    });
  }
  return map;
}

describe('/ws/live on the wire', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function start() {
    const bus = createLocalLiveBus();
    let round = 0;
    const { url, token, sockets, close } = await startLiveEndpoint(bus, { counters: { list: async () => statuses(round++), intervalMs: 100 } });
    cleanups.push(close);
    async function client(perMessageDeflate: boolean, counters = true) {
      const ws = new WebSocket(counters ? `${url}?counters=1` : url, { headers: { authorization: `Bearer ${token}` }, perMessageDeflate });
      const messages: { type: string; text: string }[] = [];
      ws.on('message', (data) => {
        const text = data.toString();
        messages.push({ type: JSON.parse(text).type, text });
      });
      await new Promise((r) => ws.on('open', r));
      cleanups.push(() => ws.terminate());
      return { ws, messages, socket: sockets[sockets.length - 1] };
    }
    return { bus, client };
  }

  /** The bytes of the counters messages received so far, and what the hub wrote for the connection. */
  async function countersTraffic(c: { messages: { type: string; text: string }[]; socket: Socket }, count: number) {
    await vi.waitFor(() => expect(c.messages.filter((m) => m.type === 'counters').length).toBeGreaterThanOrEqual(count), { timeout: 5000 });
    const json = c.messages.filter((m) => m.type === 'counters').reduce((n, m) => n + Buffer.byteLength(m.text), 0);
    return { json, wire: c.socket.bytesWritten };
  }

  it('compresses counters for a client that offers permessage-deflate, and sends them plain to one that does not', async () => {
    const { client } = await start();
    const deflating = await client(true);
    const plain = await client(false);
    expect(deflating.ws.extensions).toContain('permessage-deflate');
    expect(plain.ws.extensions).toBe('');

    const squeezed = await countersTraffic(deflating, 4);
    const full = await countersTraffic(plain, 4);
    expect(squeezed.json).toBeGreaterThan(4 * DEVICES * 30);
    // rows repeat ids and most digits from one message to the next: several times smaller
    expect(squeezed.wire).toBeLessThan(squeezed.json / 3);
    expect(full.wire).toBeGreaterThanOrEqual(full.json);
  });

  it('sends readings uncompressed even to a client that offers permessage-deflate', async () => {
    const { bus, client } = await start();
    // no counters, so every byte the hub writes after the subscription is the readings message
    const c = await client(true, false);
    expect(c.ws.extensions).toContain('permessage-deflate');
    c.ws.send(JSON.stringify({ type: 'subscribe', devices: ['rack-0001'] }));
    await vi.waitFor(() => expect(c.messages.some((m) => m.type === 'subscribed')).toBe(true));
    const readings = Array.from({ length: 100 }, (_, i) => ({ channel: 'temperature', time: 1_764_489_600_000 + i, value: 21.5 }));
    const before = c.socket.bytesWritten;
    bus.publish({ type: 'readings', deviceId: 'rack-0001', readings });
    await vi.waitFor(() => expect(c.messages.some((m) => m.type === 'readings')).toBe(true));
    const readingsText = c.messages.find((m) => m.type === 'readings')!.text;
    // compressed, 100 near-identical readings would take a few hundred bytes
    expect(c.socket.bytesWritten - before).toBeGreaterThanOrEqual(Buffer.byteLength(readingsText));
  });
});
