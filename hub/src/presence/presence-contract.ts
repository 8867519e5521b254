// One contract for every Presence implementation (single-node today, shared in cluster mode):
// who is online through which link, replacement, status events, counters.
import { describe, expect, it } from 'vitest';
import type { DeviceLink } from '../ingest/device-link.ts';
import { createLocalLiveBus, type LiveBus, type LiveEvent } from '../live/live-bus.ts';
import type { Presence } from './presence.ts';

export function presenceContract(name: string, create: (live: LiveBus) => Promise<{ presence: Presence; close(): Promise<void> }>): void {
  function fakeLink(): DeviceLink & { ended: string[] } {
    const ended: string[] = [];
    return { transport: 'ws', ended, send() {}, end(reason) { ended.push(reason); } };
  }

  async function setup() {
    const live = createLocalLiveBus();
    const events: LiveEvent[] = [];
    live.subscribe((e) => events.push(e));
    const made = await create(live);
    return { ...made, events, statuses: () => events.filter((e) => e.type === 'status').map((e) => (e as { online: boolean }).online) };
  }

  describe(`presence contract: ${name}`, () => {
    it('shows a connected device online with its HELLO, and offline after its link goes', async () => {
      const { presence, statuses, close } = await setup();
      expect(await presence.get('p-1')).toBeUndefined();
      const link = fakeLink();
      const { replaced } = await presence.connect('p-1', link, { firmware: '1.2', channels: [{ id: 1, type: 'f32', name: 't', unit: 'C' }] });
      expect(replaced).toBeNull();
      expect(presence.linkOf('p-1')).toBe(link);
      expect(await presence.get('p-1')).toMatchObject({ online: true, firmware: '1.2', channels: [{ name: 't' }] });
      await presence.disconnect('p-1', link);
      expect(presence.linkOf('p-1')).toBeNull();
      expect(await presence.get('p-1')).toMatchObject({ online: false, firmware: '1.2' });
      expect(statuses()).toEqual([true, false]);
      await close();
    });

    it('a second link replaces the first without an offline blip; the old link going away changes nothing', async () => {
      const { presence, statuses, close } = await setup();
      const first = fakeLink();
      const second = fakeLink();
      await presence.connect('p-2', first, { firmware: '', channels: [] });
      const { replaced } = await presence.connect('p-2', second, { firmware: '', channels: [] });
      expect(replaced).toBe(first);
      await presence.disconnect('p-2', first);
      expect(presence.linkOf('p-2')).toBe(second);
      expect(statuses()).toEqual([true]);
      await close();
    });

    it('of links connecting at once, exactly one is current and each other is reported replaced once', async () => {
      const { presence, close } = await setup();
      const links = Array.from({ length: 10 }, fakeLink);
      const results = await Promise.all(links.map((l) => presence.connect('p-3', l, { firmware: '', channels: [] })));
      const current = presence.linkOf('p-3');
      expect(links).toContain(current);
      const replaced = results.map((r) => r.replaced).filter((r) => r !== null);
      expect(replaced).toHaveLength(9);
      expect(new Set(replaced).size).toBe(9);
      expect(replaced).not.toContain(current);
      await close();
    });

    it('keeps counters that ingest updates in place, and when the device was last seen', async () => {
      const { presence, close } = await setup();
      const link = fakeLink();
      const { counters } = await presence.connect('p-4', link, { firmware: '', channels: [] });
      counters.frames += 3;
      counters.readings += 30;
      const before = (await presence.get('p-4'))!.lastSeen!;
      await new Promise((r) => setTimeout(r, 5));
      presence.seen('p-4');
      const status = (await presence.get('p-4'))!;
      expect(status.counters).toMatchObject({ frames: 3, readings: 30 });
      expect(status.lastSeen).toBeGreaterThan(before);
      // a reconnect keeps the counters (they count since the hub started)
      await presence.disconnect('p-4', link);
      const again = await presence.connect('p-4', fakeLink(), { firmware: '', channels: [] });
      expect(again.counters.frames).toBe(3);
      await close();
    });

    it('lists what it knows and forgets a deleted device', async () => {
      const { presence, close } = await setup();
      await presence.connect('p-5', fakeLink(), { firmware: '', channels: [] });
      await presence.connect('p-6', fakeLink(), { firmware: '', channels: [] });
      expect([...(await presence.list()).keys()].sort()).toEqual(['p-5', 'p-6']);
      await presence.disconnect('p-5', presence.linkOf('p-5')!);
      await presence.forget('p-5');
      expect(await presence.get('p-5')).toBeUndefined();
      expect([...(await presence.list()).keys()]).toEqual(['p-6']);
      await close();
    });
  });
}
