// What /ws/live asks of the bus: the readings its clients want (all devices once one wants '*'),
// and nothing once the last client is gone; every client still gets every status event.
import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { startLiveEndpoint } from '../../test/support/live-endpoint-server.ts';
import { createLocalLiveBus, type LiveBus, type LiveFilter } from './live-bus.ts';

/** The local bus, recording the filter it was last given and whether anyone is subscribed. */
function recordingBus(): LiveBus & { filter: () => string | null } {
  const bus = createLocalLiveBus();
  let current: LiveFilter | null = null;
  const show = (f: LiveFilter) => (f.devices === '*' ? '*' : [...f.devices].sort().join(','));
  return {
    get active() {
      return bus.active;
    },
    publish: (event) => bus.publish(event),
    subscribe(listener, filter) {
      current = filter ?? { devices: '*' };
      const inner = bus.subscribe(listener, filter);
      return {
        setFilter(next) {
          current = next;
          inner.setFilter(next);
        },
        unsubscribe() {
          current = null;
          inner.unsubscribe();
        },
      };
    },
    filter: () => (current ? show(current) : null),
  };
}

describe('live endpoint subscriptions on the bus', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function start() {
    const bus = recordingBus();
    const { url, token, close } = await startLiveEndpoint(bus);
    cleanups.push(close);
    async function client() {
      const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
      const messages: { type: string; deviceId?: string }[] = [];
      ws.on('message', (data) => messages.push(JSON.parse(data.toString())));
      await new Promise((r) => ws.on('open', r));
      cleanups.push(() => ws.terminate());
      return {
        ws, messages,
        async subscribe(devices: string[] | '*') {
          const echoes = messages.filter((m) => m.type === 'subscribed').length;
          ws.send(JSON.stringify({ type: 'subscribe', devices }));
          await vi.waitFor(() => expect(messages.filter((m) => m.type === 'subscribed')).toHaveLength(echoes + 1));
        },
      };
    }
    return { bus, client };
  }

  it('asks the bus for the union of what its clients want, all devices while one wants \'*\', nothing once they are gone', async () => {
    const { bus, client } = await start();
    expect(bus.filter()).toBeNull();
    const a = await client();
    await vi.waitFor(() => expect(bus.filter()).toBe(''));
    await a.subscribe(['dev-1', 'dev-2']);
    expect(bus.filter()).toBe('dev-1,dev-2');
    const b = await client();
    await b.subscribe(['dev-2', 'dev-3']);
    expect(bus.filter()).toBe('dev-1,dev-2,dev-3');
    const c = await client();
    await c.subscribe('*');
    expect(bus.filter()).toBe('*');

    // status events reach every client, whatever it subscribed to
    bus.publish({ type: 'status', deviceId: 'dev-9', online: true, at: 1 });
    for (const x of [a, b, c]) await vi.waitFor(() => expect(x.messages.some((m) => m.type === 'status' && m.deviceId === 'dev-9')).toBe(true));

    c.ws.close();
    await vi.waitFor(() => expect(bus.filter()).toBe('dev-1,dev-2,dev-3'));
    await a.subscribe(['dev-4']);
    expect(bus.filter()).toBe('dev-2,dev-3,dev-4');
    a.ws.close();
    await vi.waitFor(() => expect(bus.filter()).toBe('dev-2,dev-3'));
    b.ws.close();
    await vi.waitFor(() => expect(bus.filter()).toBeNull());
    expect(bus.active).toBe(false);
  });
});
