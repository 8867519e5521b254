// Live fan-out behind a small interface: today in-process, later a message engine shared by hubs.
export interface LiveReading {
  channel: string;
  time: number;
  value: number;
}

export type LiveEvent =
  | { type: 'readings'; deviceId: string; readings: LiveReading[] }
  | { type: 'status'; deviceId: string; online: boolean; at: number }
  | { type: 'command'; deviceId: string; command: unknown }
  | { type: 'console'; deviceId: string; at: number; text: string };

export interface LiveBus {
  /** false while nobody listens, so publishers can skip building events */
  readonly active: boolean;
  publish(event: LiveEvent): void;
  /** Returns the unsubscribe function. */
  subscribe(listener: (event: LiveEvent) => void): () => void;
}

export function createLocalLiveBus(): LiveBus {
  const listeners = new Set<(event: LiveEvent) => void>();
  return {
    get active() {
      return listeners.size > 0;
    },
    publish(event) {
      for (const listener of listeners) listener(event);
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
