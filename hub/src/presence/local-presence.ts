// Single-node presence: an in-memory map, status changes published on the live bus.
import type { DeviceLink } from '../ingest/device-link.ts';
import type { LiveBus } from '../live/live-bus.ts';
import type { ChannelDescriptor } from '../protocol/index.ts';
import { emptyCounters, type DeviceCounters, type DeviceStatus, type Presence } from './presence.ts';

interface Entry {
  link: DeviceLink | null;
  lastSeen: number | null;
  firmware: string | null;
  channels: ChannelDescriptor[];
  counters: DeviceCounters;
}

export interface LocalPresenceOptions {
  live: LiveBus;
  /** devices online on this hub (a gauge) */
  onlineGauge?: { inc(): void; dec(): void };
  now?: () => number;
}

export function createLocalPresence(options: LocalPresenceOptions): Presence {
  const now = options.now ?? Date.now;
  const entries = new Map<string, Entry>();
  // seen()'s last lookup, and the clock it reads once per turn of the event loop
  let lastId: string | null = null;
  let lastEntry: Entry | undefined;
  let clock: number | null = null;
  const tick = () => {
    clock = null;
  };
  const forgetLookup = () => {
    lastId = null;
    lastEntry = undefined;
  };
  const snapshot = (e: Entry): DeviceStatus => ({
    online: e.link !== null, lastSeen: e.lastSeen, firmware: e.firmware, channels: e.channels, counters: { ...e.counters },
  });

  return {
    async connect(deviceId, link, hello) {
      let entry = entries.get(deviceId);
      if (!entry) {
        entry = { link: null, lastSeen: null, firmware: null, channels: [], counters: emptyCounters() };
        entries.set(deviceId, entry);
        forgetLookup();
      }
      const replaced = entry.link !== link ? entry.link : null;
      const wasOnline = entry.link !== null;
      entry.link = link;
      entry.lastSeen = now();
      entry.firmware = hello.firmware;
      entry.channels = hello.channels;
      if (!wasOnline) {
        options.onlineGauge?.inc();
        options.live.publish({ type: 'status', deviceId, online: true, at: entry.lastSeen });
      }
      return { replaced, counters: entry.counters };
    },
    async disconnect(deviceId, link) {
      const entry = entries.get(deviceId);
      if (!entry || entry.link !== link) return;
      entry.link = null;
      options.onlineGauge?.dec();
      options.live.publish({ type: 'status', deviceId, online: false, at: now() });
    },
    seen(deviceId) {
      // called for every frame: frames of one socket read come from one device, and every frame
      // of a turn of the event loop arrived at the same moment as far as "last seen" goes
      let entry = lastEntry;
      if (lastId !== deviceId) {
        entry = entries.get(deviceId);
        lastId = deviceId;
        lastEntry = entry;
      }
      if (!entry) return;
      if (clock === null) {
        clock = now();
        setImmediate(tick);
      }
      entry.lastSeen = clock;
    },
    linkOf(deviceId) {
      return entries.get(deviceId)?.link ?? null;
    },
    async get(deviceId) {
      const entry = entries.get(deviceId);
      return entry && snapshot(entry);
    },
    async list() {
      return new Map([...entries].map(([id, e]) => [id, snapshot(e)]));
    },
    async forget(deviceId) {
      const entry = entries.get(deviceId);
      if (entry?.link) options.onlineGauge?.dec();
      entries.delete(deviceId);
      forgetLookup();
    },
    async close() {
      // nothing outlives the process: no timers, nothing shared
    },
  };
}
