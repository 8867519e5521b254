// What the dashboard knows about devices: the registry from the API, kept current by live status
// events (instant) and a slow poll (counters), plus per-device rates measured in this browser.
import type { DeviceView } from '../../hub/src/http/wire.ts';
import type { Api } from './api.ts';
import type { LiveClient } from './live-client.ts';
import { RateMeter } from './rate-meter.ts';

const POLL_MS = 5000;

export interface DeviceEntry {
  device: DeviceView;
  online: boolean;
  lastSeen: number | null;
  rate: RateMeter;
  /** when a live status event last set `online`; an API answer requested before it is older news */
  statusAt: number;
}

export class DeviceStore {
  readonly entries = new Map<string, DeviceEntry>();
  loaded = false;
  private readonly listeners = new Set<() => void>();
  private readonly stopLive: () => void;
  private poller: ReturnType<typeof setInterval>;
  private refreshing: Promise<void> | null = null;
  private soon: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly api: Api, private readonly live: LiveClient) {
    this.stopLive = live.on((message) => {
      if (message.type === 'status') {
        const entry = this.entries.get(message.deviceId);
        if (!entry) return void this.refresh().catch(() => undefined);
        entry.online = message.online;
        entry.statusAt = Date.now();
        entry.lastSeen = Math.max(entry.lastSeen ?? 0, message.at);
        this.changed();
        // A device that just connected may bring new firmware or channels, which only the API has.
        if (message.online) this.refreshSoon();
      } else if (message.type === 'readings') {
        const entry = this.entries.get(message.deviceId);
        if (!entry) return;
        const now = Date.now();
        entry.rate.add(message.readings.length, now);
        entry.lastSeen = now;
      }
    });
    this.poller = setInterval(() => {
      if (this.live.state === 'open') this.refresh().catch(() => undefined);
    }, POLL_MS);
  }

  on(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }

  /** Coalesces bursts (a fleet reconnecting at once) into one request. */
  private refreshSoon(): void {
    this.soon ??= setTimeout(() => {
      this.soon = null;
      this.refresh().catch(() => undefined);
    }, 250);
  }

  /** One request at a time; callers during a refresh share it. */
  refresh(): Promise<void> {
    const requestedAt = Date.now();
    this.refreshing ??= this.api.devices().then((devices) => {
      const seen = new Set<string>();
      for (const device of devices) {
        seen.add(device.id);
        const lastSeen = device.lastSeen ? Date.parse(device.lastSeen) : null;
        const entry = this.entries.get(device.id);
        if (entry) {
          entry.device = device;
          if (entry.statusAt < requestedAt) entry.online = device.online;
          entry.lastSeen = Math.max(entry.lastSeen ?? 0, lastSeen ?? 0) || null;
        } else {
          this.entries.set(device.id, { device, online: device.online, lastSeen, rate: new RateMeter(), statusAt: 0 });
        }
      }
      for (const id of [...this.entries.keys()]) if (!seen.has(id)) this.entries.delete(id);
      this.loaded = true;
      this.changed();
    }).finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  /** Lost updates for one device: gaps and rejects the hub counted, and live updates it dropped for us. */
  loss(entry: DeviceEntry): { gaps: number; rejected: number; liveDropped: number; total: number } {
    const gaps = entry.device.counters.sequenceGaps;
    const rejected = entry.device.counters.rejected;
    const liveDropped = this.live.droppedFor(entry.device.id);
    return { gaps, rejected, liveDropped, total: gaps + rejected + liveDropped };
  }

  dispose(): void {
    clearInterval(this.poller);
    if (this.soon) clearTimeout(this.soon);
    this.stopLive();
    this.listeners.clear();
  }
}
