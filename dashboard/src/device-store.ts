// What the dashboard knows about devices. The registry comes from the API once, at page load and
// after the live connection was lost; from then on the hub pushes what changes over /ws/live:
// status events (within a second) and `counters` messages (every 2 s, only the devices whose
// status, last seen, counters or readings/s changed; readings/s counted by the hub, so every
// device has one whether or not this page receives its readings). Nothing is polled.
import type { DeviceView, LiveCounters, LiveCountersRow } from '../../hub/src/http/wire.ts';
import { ApiError, type Api } from './api.ts';
import type { LiveClient } from './live-client.ts';

/** Fetches of single devices at once; past FETCH_QUEUE_MAX waiting, one full reload instead. */
const FETCH_CONCURRENCY = 4;
const FETCH_QUEUE_MAX = 100;

/** Readings per second as the hub last counted them (over about 10 s); null until it has said. */
export class HubRate {
  value: number | null = null;
  rate(_now?: number): number | null {
    return this.value;
  }
}

export interface DeviceEntry {
  device: DeviceView;
  online: boolean;
  lastSeen: number | null;
  rate: HubRate;
  /** when (this page's clock) a live message last set `online`; an API answer requested before it is older news */
  statusAt: number;
}

export class DeviceStore {
  readonly entries = new Map<string, DeviceEntry>();
  loaded = false;
  /** bumped on every change, so views can tell whether to sort again */
  version = 0;
  private readonly listeners = new Set<() => void>();
  private readonly stopLive: () => void;
  private loading: Promise<void> | null = null;
  /** devices to fetch one by one (new firmware or channels after a HELLO, ids this page does not know) */
  private readonly pending = new Set<string>();
  private fetching = 0;
  private disposed = false;
  /** deleted from this page: the events that follow a deletion (offline, no status) are no news */
  private readonly removed = new Set<string>();

  /** the API, for views that change devices (add, rename, delete) */
  constructor(readonly api: Api, private readonly live: LiveClient) {
    this.stopLive = live.on((message) => {
      if (message.type === 'status') {
        const entry = this.entries.get(message.deviceId);
        if (!entry) return this.fetchSoon(message.deviceId);
        entry.online = message.online;
        entry.statusAt = Date.now();
        entry.lastSeen = Math.max(entry.lastSeen ?? 0, message.at);
        if (!message.online) entry.rate.value = 0;
        this.changed();
        // A device that just connected may bring new firmware or channels, which only the API has.
        if (message.online) this.fetchSoon(message.deviceId);
      } else if (message.type === 'counters') {
        this.applyCounters(message);
      }
    });
  }

  on(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    this.version++;
    for (const listener of this.listeners) listener();
  }

  private applyCounters(message: LiveCounters): void {
    const now = Date.now();
    let any = false;
    for (const [id, row] of Object.entries(message.devices)) {
      const entry = this.entries.get(id);
      // null: the device was deleted (by another page, a script or another hub)
      if (!row) {
        if (entry) this.remove(id);
        continue;
      }
      // a device this page has not loaded yet: provisioned elsewhere and now heard
      if (!entry) {
        if (this.loaded) this.fetchSoon(id);
        continue;
      }
      apply(entry, row, now);
      any = true;
    }
    // added or renamed elsewhere (another operator, a script, another hub)
    for (const id of message.changed ?? []) if (this.loaded) this.fetchSoon(id);
    if (any) this.changed();
  }

  /**
   * Loads the registry unless the store has it already: once loaded, live pushes keep it current,
   * so views can call this freely.
   */
  refresh(): Promise<void> {
    return this.loaded ? Promise.resolve() : this.reload();
  }

  /** The whole registry again: at page load and after the live connection came back. One request at a time. */
  reload(): Promise<void> {
    const requestedAt = Date.now();
    this.loading ??= this.api.devices().then((devices) => {
      const seen = new Set<string>();
      for (const device of devices) {
        seen.add(device.id);
        this.put(device, requestedAt);
      }
      for (const id of [...this.entries.keys()]) if (!seen.has(id)) this.entries.delete(id);
      this.loaded = true;
      this.changed();
    }).finally(() => {
      this.loading = null;
    });
    return this.loading;
  }

  private put(device: DeviceView, requestedAt: number): DeviceEntry {
    const lastSeen = device.lastSeen ? Date.parse(device.lastSeen) : null;
    const entry = this.entries.get(device.id);
    if (!entry) {
      const created: DeviceEntry = { device, online: device.online, lastSeen, rate: new HubRate(), statusAt: 0 };
      this.entries.set(device.id, created);
      return created;
    }
    entry.device = device;
    if (entry.statusAt < requestedAt) entry.online = device.online;
    entry.lastSeen = Math.max(entry.lastSeen ?? 0, lastSeen ?? 0) || null;
    return entry;
  }

  /** A device this page created or renamed: the hub's answer is the news. */
  upsert(device: DeviceView): void {
    this.removed.delete(device.id);
    this.put(device, Date.now());
    this.changed();
  }

  /** A device this page deleted. */
  remove(id: string): void {
    this.removed.add(id);
    this.pending.delete(id);
    if (this.entries.delete(id)) this.changed();
  }

  /** Queues one device for GET /api/devices/:id; a burst too large for that reloads the list once. */
  private fetchSoon(id: string): void {
    if (this.disposed || this.removed.has(id)) return;
    if (!this.loaded) return void this.reload().catch(() => undefined);
    this.pending.add(id);
    if (this.pending.size > FETCH_QUEUE_MAX) {
      this.pending.clear();
      return void this.reload().catch(() => undefined);
    }
    this.pump();
  }

  private pump(): void {
    while (this.fetching < FETCH_CONCURRENCY && this.pending.size > 0 && !this.disposed) {
      const id = this.pending.values().next().value as string;
      this.pending.delete(id);
      this.fetching++;
      const requestedAt = Date.now();
      this.api.device(id).then(
        (device) => {
          if (this.disposed || this.removed.has(id)) return;
          this.put(device, requestedAt);
          this.changed();
        },
        (err: unknown) => {
          if (err instanceof ApiError && err.status === 404) this.remove(id);
        },
      ).finally(() => {
        this.fetching--;
        this.pump();
      });
    }
  }

  /** Lost updates for one device: gaps and rejects the hub counted, and live updates it dropped for us. */
  loss(entry: DeviceEntry): { gaps: number; rejected: number; liveDropped: number; total: number } {
    const gaps = entry.device.counters.sequenceGaps;
    const rejected = entry.device.counters.rejected;
    const liveDropped = this.live.droppedFor(entry.device.id);
    return { gaps, rejected, liveDropped, total: gaps + rejected + liveDropped };
  }

  dispose(): void {
    this.disposed = true;
    this.pending.clear();
    this.stopLive();
    this.listeners.clear();
  }
}

function apply(entry: DeviceEntry, row: LiveCountersRow, now: number): void {
  const [online, lastSeen, frames, readings, rejected, duplicates, sequenceGaps, perSecond] = row;
  entry.online = online === 1;
  entry.statusAt = now;
  if (lastSeen !== null) entry.lastSeen = Math.max(entry.lastSeen ?? 0, lastSeen);
  entry.device = { ...entry.device, counters: { frames, readings, rejected, duplicates, sequenceGaps } };
  entry.rate.value = perSecond;
}
