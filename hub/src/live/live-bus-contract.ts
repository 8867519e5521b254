// The behaviour every LiveBus must show, run against each implementation by its own test file. A
// bus may deliver later than `publish` returns (one that crosses processes does), so each case
// publishes a marker event last and waits for it: by then everything published before it has
// arrived, since one publisher's events arrive in order.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { LiveBus, LiveEvent } from './live-bus.ts';

export interface LiveBusUnderTest {
  bus: LiveBus;
  cleanup(): Promise<void>;
}

const readings = (deviceId: string, value = 1): LiveEvent => ({ type: 'readings', deviceId, readings: [{ channel: 'temp', time: 1_700_000_000_000 + value, value }] });
const status = (deviceId: string, online = true): LiveEvent => ({ type: 'status', deviceId, online, at: 1 });
const command = (deviceId: string, id = 1): LiveEvent => ({ type: 'command', deviceId, command: { id, status: 'queued' } });
const consoleLine = (deviceId: string, text = 'hello'): LiveEvent => ({ type: 'console', deviceId, at: 1, text });

/** numbers markers across recorders: each recorder must wait for its own, not another's */
let markers = 0;

/** Events a listener got, and a way to wait until the marker published after them arrived. */
function recorder() {
  const events: LiveEvent[] = [];
  return {
    events,
    listener: (event: LiveEvent) => void events.push(event),
    /** what arrived before the marker, readings and the rest by device */
    summary: () => events.filter((e) => e.deviceId !== 'marker').map((e) => `${e.type}:${e.deviceId}`),
    async settled(bus: LiveBus): Promise<void> {
      const text = `marker-${++markers}`;
      bus.publish(consoleLine('marker', text));
      await vi.waitFor(() => expect(events.some((e) => e.type === 'console' && e.text === text)).toBe(true), { timeout: 5000, interval: 5 });
    },
  };
}

export function describeLiveBusContract(name: string, factory: () => Promise<LiveBusUnderTest>): void {
  describe(`LiveBus contract: ${name}`, () => {
    let subject: LiveBusUnderTest;
    let bus: LiveBus;

    beforeEach(async () => {
      subject = await factory();
      bus = subject.bus;
    });
    afterEach(async () => {
      await subject?.cleanup();
    });

    it('is active only while someone is subscribed', async () => {
      expect(bus.active).toBe(false);
      const a = bus.subscribe(() => undefined);
      const b = bus.subscribe(() => undefined, { devices: new Set(['dev-1']) });
      expect(bus.active).toBe(true);
      a.unsubscribe();
      expect(bus.active).toBe(true);
      b.unsubscribe();
      b.unsubscribe();
      expect(bus.active).toBe(false);
    });

    it('without a filter a subscriber gets every event, in the order published', async () => {
      const r = recorder();
      const sub = bus.subscribe(r.listener);
      const published = [readings('dev-1', 1), status('dev-2'), readings('dev-2', 2), command('dev-3', 7), consoleLine('dev-4'), readings('dev-1', 3)];
      for (const event of published) bus.publish(event);
      await r.settled(bus);
      expect(r.events.slice(0, published.length)).toEqual(published);
      sub.unsubscribe();
    });

    it('a device filter passes only those devices\' readings, and every status, command and console event', async () => {
      const r = recorder();
      const sub = bus.subscribe(r.listener, { devices: new Set(['dev-1', 'dev-3']) });
      for (const id of ['dev-1', 'dev-2', 'dev-3', 'dev-4']) {
        bus.publish(readings(id));
        bus.publish(status(id));
        bus.publish(command(id));
        bus.publish(consoleLine(id));
      }
      await r.settled(bus);
      expect(r.summary()).toEqual([
        'readings:dev-1', 'status:dev-1', 'command:dev-1', 'console:dev-1',
        'status:dev-2', 'command:dev-2', 'console:dev-2',
        'readings:dev-3', 'status:dev-3', 'command:dev-3', 'console:dev-3',
        'status:dev-4', 'command:dev-4', 'console:dev-4',
      ]);
      sub.unsubscribe();
    });

    it('an empty filter passes no readings but still every other event; \'*\' passes every device\'s readings', async () => {
      const none = recorder();
      const all = recorder();
      const a = bus.subscribe(none.listener, { devices: new Set() });
      const b = bus.subscribe(all.listener, { devices: '*' });
      bus.publish(readings('dev-1'));
      bus.publish(status('dev-1', false));
      bus.publish(readings('dev-2'));
      await none.settled(bus);
      await all.settled(bus);
      expect(none.summary()).toEqual(['status:dev-1']);
      expect(all.summary()).toEqual(['readings:dev-1', 'status:dev-1', 'readings:dev-2']);
      a.unsubscribe();
      b.unsubscribe();
    });

    it('subscribers with different filters each get their own readings', async () => {
      const one = recorder();
      const two = recorder();
      const a = bus.subscribe(one.listener, { devices: new Set(['dev-1']) });
      const b = bus.subscribe(two.listener, { devices: new Set(['dev-2']) });
      for (const id of ['dev-1', 'dev-2', 'dev-3']) bus.publish(readings(id));
      await one.settled(bus);
      await two.settled(bus);
      expect(one.summary()).toEqual(['readings:dev-1']);
      expect(two.summary()).toEqual(['readings:dev-2']);
      a.unsubscribe();
      b.unsubscribe();
    });

    it('a changed filter applies to what is published from then on', async () => {
      const r = recorder();
      const sub = bus.subscribe(r.listener, { devices: new Set(['dev-1']) });
      bus.publish(readings('dev-1', 1));
      bus.publish(readings('dev-2', 1));
      await r.settled(bus);
      sub.setFilter({ devices: new Set(['dev-2']) });
      await r.settled(bus);
      bus.publish(readings('dev-1', 2));
      bus.publish(readings('dev-2', 2));
      await r.settled(bus);
      sub.setFilter({ devices: '*' });
      await r.settled(bus);
      bus.publish(readings('dev-3', 3));
      await r.settled(bus);
      sub.setFilter({ devices: new Set() });
      await r.settled(bus);
      bus.publish(readings('dev-3', 4));
      bus.publish(status('dev-3'));
      await r.settled(bus);
      expect(r.summary()).toEqual(['readings:dev-1', 'readings:dev-2', 'readings:dev-3', 'status:dev-3']);
      sub.unsubscribe();
    });

    it('reads the filter when given: changing the set afterwards changes nothing', async () => {
      const r = recorder();
      const devices = new Set(['dev-1']);
      const sub = bus.subscribe(r.listener, { devices });
      devices.add('dev-2');
      devices.delete('dev-1');
      bus.publish(readings('dev-1'));
      bus.publish(readings('dev-2'));
      await r.settled(bus);
      expect(r.summary()).toEqual(['readings:dev-1']);
      sub.unsubscribe();
    });

    it('after unsubscribe a listener gets nothing; the others keep getting theirs', async () => {
      const gone = recorder();
      const stays = recorder();
      const a = bus.subscribe(gone.listener);
      const b = bus.subscribe(stays.listener);
      bus.publish(readings('dev-1', 1));
      await gone.settled(bus);
      a.unsubscribe();
      // a filter change after unsubscribing does not bring it back
      a.setFilter({ devices: '*' });
      bus.publish(readings('dev-1', 2));
      bus.publish(status('dev-1'));
      await stays.settled(bus);
      expect(gone.summary()).toEqual(['readings:dev-1']);
      expect(stays.summary()).toEqual(['readings:dev-1', 'readings:dev-1', 'status:dev-1']);
      b.unsubscribe();
    });

    it('a listener may unsubscribe while an event is being delivered', async () => {
      const r = recorder();
      const seen: LiveEvent[] = [];
      const first = bus.subscribe((event) => {
        seen.push(event);
        first.unsubscribe();
      });
      const second = bus.subscribe(r.listener);
      bus.publish(status('dev-1'));
      bus.publish(status('dev-2'));
      await r.settled(bus);
      expect(seen).toEqual([status('dev-1')]);
      expect(r.summary()).toEqual(['status:dev-1', 'status:dev-2']);
      second.unsubscribe();
    });
  });
}
