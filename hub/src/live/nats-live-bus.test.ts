// The NATS live bus on a real three-node nats-server cluster: the contract on one hub, then hubs
// sharing it, then a node killed while readings flow.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startNats, type NatsCluster, type NatsNode } from '../../test/support/nats.ts';
import { hasRealPart } from '../../test/support/real-parts.ts';
import { describeLiveBusContract } from './live-bus-contract.ts';
import type { LiveEvent } from './live-bus.ts';
import { createNatsLiveBus, deviceSubjectToken, type NatsLiveBus } from './nats-live-bus.ts';

const readings = (deviceId: string, value = 1): LiveEvent => ({ type: 'readings', deviceId, readings: [{ channel: 'temp', time: 1_700_000_000_000 + value, value }] });

describe('deviceSubjectToken', () => {
  it('keeps plain ids, escapes dots and underscores, and is one to one', () => {
    expect(deviceSubjectToken('dev-1:a')).toBe('dev-1:a');
    expect(deviceSubjectToken('a.b')).toBe('a_2eb');
    expect(deviceSubjectToken('a_2eb')).toBe('a_5f2eb');
    expect(deviceSubjectToken('*>')).toBe('_2a_3e');
    const ids = ['a.b', 'a_2eb', 'a:b', 'a-b', 'ab', 'a..b', 'a._2e'];
    expect(new Set(ids.map(deviceSubjectToken)).size).toBe(ids.length);
    for (const id of ids) expect(deviceSubjectToken(id)).toMatch(/^[A-Za-z0-9:_-]+$/);
  });
});

describe.runIf(hasRealPart('nats-server'))('NATS live bus', () => {
  let nats: NatsCluster;
  const open: { nc: NatsConnection; bus: NatsLiveBus }[] = [];

  beforeAll(async () => {
    nats = await startNats(3);
  });
  afterAll(async () => {
    for (const { bus, nc } of open.splice(0)) {
      await bus.close();
      await nc.close();
    }
    await nats?.stop();
  });

  /** A hub's connection and bus; `servers` picks its nodes in order (default: the first). */
  async function hub(hubId: string, servers = [nats.nodes[0].url]) {
    const nc = await connect({ servers, noRandomize: true, maxReconnectAttempts: -1, reconnectTimeWait: 50, pingInterval: 1000 });
    const bus = createNatsLiveBus(nc, { hubId, interestEveryMs: 200 });
    open.push({ nc, bus });
    return { nc, bus };
  }

  async function drop(h: { nc: NatsConnection; bus: NatsLiveBus }) {
    open.splice(open.indexOf(h), 1);
    await h.bus.close();
    await h.nc.close();
  }

  describeLiveBusContract('NATS', async () => {
    const h = await hub(`contract-${Math.random().toString(36).slice(2)}`);
    return { bus: h.bus, cleanup: () => drop(h) };
  });

  describe('across hubs', () => {
    it('a live client on hub B gets hub A\'s readings of the devices it wants and every event; B subscribes to those devices only', async () => {
      const a = await hub('hub-a', [nats.nodes[0].url]);
      const b = await hub('hub-b', [nats.nodes[1].url]);
      const got: LiveEvent[] = [];
      const sub = b.bus.subscribe((e) => got.push(e), { devices: new Set(['dev-2', 'dev.3']) });
      expect(b.bus.natsSubjects()).toEqual(['live.events', 'live.readings.dev-2', 'live.readings.dev_2e3']);
      expect(a.bus.natsSubjects()).toEqual([]);
      // A learns that B listens, and its ingest starts building live events
      await vi.waitFor(() => expect(a.bus.active).toBe(true), { timeout: 5000, interval: 5 });
      // routes carry B's interest to A's node a moment after B subscribed: probe until it arrives
      await vi.waitFor(() => {
        a.bus.publish({ type: 'console', deviceId: 'probe', at: 1, text: 'probe' });
        expect(got.some((e) => e.deviceId === 'probe')).toBe(true);
      }, { timeout: 5000, interval: 20 });
      got.length = 0;
      for (const id of ['dev-1', 'dev-2', 'dev.3', 'dev-3']) {
        a.bus.publish(readings(id));
        a.bus.publish({ type: 'status', deviceId: id, online: true, at: 1 });
      }
      a.bus.publish({ type: 'command', deviceId: 'dev-1', command: { id: 1 } });
      a.bus.publish({ type: 'console', deviceId: 'dev-1', at: 2, text: 'done' });
      await vi.waitFor(() => expect(got.at(-1)).toMatchObject({ type: 'console', text: 'done' }), { timeout: 5000, interval: 5 });
      expect(got.filter((e) => e.deviceId !== 'probe').map((e) => `${e.type}:${e.deviceId}`)).toEqual([
        'status:dev-1', 'readings:dev-2', 'status:dev-2', 'readings:dev.3', 'status:dev.3', 'status:dev-3', 'command:dev-1', 'console:dev-1',
      ]);
      // widening to '*' replaces the per-device subscriptions with one
      sub.setFilter({ devices: '*' });
      expect(b.bus.natsSubjects()).toEqual(['live.events', 'live.readings.>']);
      sub.setFilter({ devices: new Set(['dev-9']) });
      expect(b.bus.natsSubjects()).toEqual(['live.events', 'live.readings.dev-9']);
      // once B's last client goes, A stops building events at once
      sub.unsubscribe();
      expect(b.bus.natsSubjects()).toEqual([]);
      await vi.waitFor(() => expect(a.bus.active).toBe(false), { timeout: 5000, interval: 5 });
      await drop(a);
      await drop(b);
    });

    it('a hub that starts while others have live clients is active as soon as they answer', async () => {
      const b = await hub('hub-b2', [nats.nodes[1].url]);
      const sub = b.bus.subscribe(() => undefined, { devices: new Set() });
      const a = await hub('hub-a2', [nats.nodes[0].url]);
      await vi.waitFor(() => expect(a.bus.active).toBe(true), { timeout: 5000, interval: 5 });
      sub.unsubscribe();
      await drop(a);
      await drop(b);
    });

    it('another hub\'s interest lapses when it stops repeating it (a hub that died)', async () => {
      const a = await hub('hub-a3', [nats.nodes[0].url]);
      const b = await hub('hub-b3', [nats.nodes[1].url]);
      b.bus.subscribe(() => undefined);
      await vi.waitFor(() => expect(a.bus.active).toBe(true), { timeout: 5000, interval: 5 });
      // no goodbye: the connection just goes
      open.splice(open.indexOf(b), 1);
      await b.nc.close();
      await vi.waitFor(() => expect(a.bus.active).toBe(false), { timeout: 5000, interval: 20 });
      await b.bus.close();
      await drop(a);
    });
  });

  // Core NATS is at-most-once. When a node dies, what it had not yet passed on is gone, and so is
  // what is published to a subscriber while it is cut off; nats.js also drops what a publisher
  // queued while its connection was down (it resets its outbound buffer at every dial). These two
  // cases pin down exactly that: one contiguous gap around the outage, then every reading again.
  describe('a node dies while readings flow', () => {
    async function stream(publisher: NatsLiveBus, until: () => boolean) {
      let seq = 0;
      while (!until()) {
        publisher.publish(readings('flow', ++seq));
        if (seq % 10 === 0) await new Promise((r) => setImmediate(r));
        if (seq % 50 === 0) await new Promise((r) => setTimeout(r, 1));
      }
      return seq;
    }

    function valuesOf(events: LiveEvent[]): number[] {
      return events.flatMap((e) => (e.type === 'readings' ? e.readings.map((r) => r.value) : []));
    }

    /**
     * The node a connection is on now. Under load a client may already have left its first node
     * (a missed ping), so the node to kill is the one it is on, not the one it was given.
     */
    function nodeOf(nc: NatsConnection): NatsNode {
      const node = nats.nodes.find((n) => new URL(n.url).host === nc.getServer());
      if (!node) throw new Error(`connected to ${nc.getServer()}, none of the test's nodes`);
      return node;
    }

    /** Calls `then` at the connection's next reconnect from now on. */
    function onReconnect(nc: NatsConnection, then: () => void): void {
      void (async () => {
        for await (const s of nc.status()) if (s.type === 'reconnect') return then();
      })();
    }

    it('the subscriber\'s node: it misses one contiguous run, and gets every reading after it reconnects', async () => {
      const a = await hub('flow-a', [nats.nodes[0].url]);
      const b = await hub('flow-b', [nats.nodes[1].url, nats.nodes[2].url]);
      const events: LiveEvent[] = [];
      b.bus.subscribe((e) => events.push(e), { devices: new Set(['flow']) });
      await vi.waitFor(() => {
        a.bus.publish({ type: 'console', deviceId: 'probe', at: 1, text: 'probe' });
        expect(events.some((e) => e.deviceId === 'probe')).toBe(true);
      }, { timeout: 5000, interval: 20 });
      let reconnected = false;
      let killed = false;
      let stop = false;
      const flowing = stream(a.bus, () => stop);
      const victim = nodeOf(b.nc);
      expect(victim).not.toBe(nodeOf(a.nc));
      try {
        await vi.waitFor(() => expect(valuesOf(events).length).toBeGreaterThan(200), { timeout: 5000, interval: 5 });
        onReconnect(b.nc, () => (reconnected = true));
        killed = true;
        await victim.kill();
        await vi.waitFor(() => expect(reconnected).toBe(true), { timeout: 10_000, interval: 5 });
        const reconnectedAt = valuesOf(events).length;
        await vi.waitFor(() => expect(valuesOf(events).length).toBeGreaterThan(reconnectedAt + 500), { timeout: 10_000, interval: 5 });
      } finally {
        stop = true;
      }
      const last = await flowing;
      try {
        a.bus.publish({ type: 'console', deviceId: 'flow', at: 1, text: 'end' });
        await vi.waitFor(() => expect(events.at(-1)).toMatchObject({ type: 'console', text: 'end' }), { timeout: 5000, interval: 5 });
        const values = valuesOf(events);
        // in order, no repeats, ending with the last one published
        for (let i = 1; i < values.length; i++) expect(values[i]).toBeGreaterThan(values[i - 1]);
        expect(values.at(-1)).toBe(last);
        const gaps = values.slice(1).map((v, i) => v - values[i]).filter((d) => d > 1);
        expect(gaps.length).toBeLessThanOrEqual(1);
      } finally {
        if (killed) await victim.start();
        await drop(a);
        await drop(b);
      }
    });

    it('the publisher\'s node: what it publishes until its client is connected again is lost, every reading after that arrives', async () => {
      const a = await hub('flow-a2', [nats.nodes[0].url, nats.nodes[2].url]);
      const b = await hub('flow-b2', [nats.nodes[1].url]);
      const events: LiveEvent[] = [];
      b.bus.subscribe((e) => events.push(e), { devices: new Set(['flow']) });
      await vi.waitFor(() => {
        a.bus.publish({ type: 'console', deviceId: 'probe', at: 1, text: 'probe' });
        expect(events.some((e) => e.deviceId === 'probe')).toBe(true);
      }, { timeout: 5000, interval: 20 });
      let seq = 0;
      let reconnectedAt = -1;
      let killing: Promise<void> | null = null;
      const victim = nodeOf(a.nc);
      expect(victim).not.toBe(nodeOf(b.nc));
      try {
        const deadline = Date.now() + 15_000;
        while (reconnectedAt < 0 || seq < reconnectedAt + 300) {
          if (Date.now() > deadline) throw new Error(`the publisher did not reconnect within 15 s (published ${seq})`);
          a.bus.publish(readings('flow', ++seq));
          if (seq === 300) {
            onReconnect(a.nc, () => (reconnectedAt = seq));
            killing = victim.kill();
          }
          await new Promise((r) => setTimeout(r, seq % 20 === 0 ? 1 : 0));
        }
        a.bus.publish({ type: 'console', deviceId: 'flow', at: 1, text: 'end' });
        await vi.waitFor(() => expect(events.at(-1)).toMatchObject({ type: 'console', text: 'end' }), { timeout: 10_000, interval: 5 });
        const values = valuesOf(events);
        for (let i = 1; i < values.length; i++) expect(values[i]).toBeGreaterThan(values[i - 1]);
        const gaps = values.slice(1).map((v, i) => v - values[i]).filter((d) => d > 1);
        expect(gaps.length).toBeLessThanOrEqual(1);
        // everything published once the client was connected again arrived, in order
        expect(values.filter((v) => v > reconnectedAt)).toEqual(Array.from({ length: seq - reconnectedAt }, (_, i) => reconnectedAt + 1 + i));
      } finally {
        if (killing) {
          await killing;
          await victim.start();
        }
        await drop(a);
        await drop(b);
      }
    });
  });
});
