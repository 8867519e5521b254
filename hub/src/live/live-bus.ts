// Live fan-out behind a small interface: today in-process, later a message engine shared by hubs.
import type { LiveEvent as WireLiveEvent, LiveReading } from '../http/wire.ts';

export type { LiveReading };

/**
 * The device events /ws/live sends (declared in wire.ts), as the bus carries them. The bus passes a
 * command through without looking at it (the command service publishes a CommandView).
 */
export type LiveEvent = Exclude<WireLiveEvent, { type: 'command' }> | { type: 'command'; deviceId: string; command: unknown };

/**
 * Which devices' readings a subscriber wants. Only readings are filtered: status, command and
 * console events of every device reach every subscriber, as /ws/live promises its clients. A bus
 * that crosses processes subscribes to no more readings than its local subscribers want.
 */
export interface LiveFilter {
  /** read when given: changing the set later changes nothing until `setFilter` */
  devices: ReadonlySet<string> | '*';
}

export const ALL_DEVICES: LiveFilter = { devices: '*' };

export interface LiveSubscription {
  /** Replaces the filter; readings published from then on follow the new one. */
  setFilter(filter: LiveFilter): void;
  /** No events after this; calling it again does nothing. */
  unsubscribe(): void;
}

export interface LiveBus {
  /** false while nobody listens, so publishers can skip building events */
  readonly active: boolean;
  /** Events from one publisher reach each subscriber in the order they were published. */
  publish(event: LiveEvent): void;
  /** Without a filter, the subscriber gets the readings of every device. */
  subscribe(listener: (event: LiveEvent) => void, filter?: LiveFilter): LiveSubscription;
}

function copyFilter(filter: LiveFilter): LiveFilter {
  return { devices: filter.devices === '*' ? '*' : new Set(filter.devices) };
}

export function createLocalLiveBus(): LiveBus {
  const subscribers = new Map<object, { listener: (event: LiveEvent) => void; filter: LiveFilter }>();
  return {
    get active() {
      return subscribers.size > 0;
    },
    publish(event) {
      for (const { listener, filter } of subscribers.values()) {
        if (event.type === 'readings' && filter.devices !== '*' && !filter.devices.has(event.deviceId)) continue;
        listener(event);
      }
    },
    subscribe(listener, filter = ALL_DEVICES) {
      const key = {};
      subscribers.set(key, { listener, filter: copyFilter(filter) });
      return {
        setFilter(next) {
          const entry = subscribers.get(key);
          if (entry) entry.filter = copyFilter(next);
        },
        unsubscribe() {
          subscribers.delete(key);
        },
      };
    },
  };
}
