// Presence: which devices are online, through which link, when they were last heard, and their
// counters since this hub started. One owner for these, behind a small interface, so a shared
// implementation can replace the single-node one without ingest, HTTP or commands changing.
import type { DeviceLink } from '../ingest/device-link.ts';
import type { ChannelDescriptor } from '../protocol/index.ts';

export interface DeviceCounters {
  frames: number;
  readings: number;
  rejected: number;
  duplicates: number;
  sequenceGaps: number;
}

export interface DeviceStatus {
  online: boolean;
  lastSeen: number | null;
  firmware: string | null;
  channels: ChannelDescriptor[];
  counters: DeviceCounters;
}

export interface Presence {
  /**
   * [FP-6.5] Makes `link` the device's current link (HELLO). Returns the link it replaces, which
   * the caller ends, and the device's counters, which ingest updates in place on the hot path.
   */
  connect(deviceId: string, link: DeviceLink, hello: { firmware: string; channels: ChannelDescriptor[] }): Promise<{ replaced: DeviceLink | null; counters: DeviceCounters }>;
  /** The link went away; only the device's current link takes it offline. */
  disconnect(deviceId: string, link: DeviceLink): Promise<void>;
  /** A frame arrived: cheap, called for every frame. */
  seen(deviceId: string): void;
  /** The device's link on this hub, to send it frames (ACKs, commands), or null. */
  linkOf(deviceId: string): DeviceLink | null;
  get(deviceId: string): Promise<DeviceStatus | undefined>;
  /** Every device this hub knows a status of. */
  list(): Promise<Map<string, DeviceStatus>>;
  /** The device was deleted. */
  forget(deviceId: string): Promise<void>;
  /**
   * Stops timers and subscriptions at hub stop; a shared presence also marks this hub's devices
   * offline at once. Nothing is called after it.
   */
  close?(): Promise<void>;
}

export function emptyCounters(): DeviceCounters {
  return { frames: 0, readings: 0, rejected: 0, duplicates: 0, sequenceGaps: 0 };
}
