// Device ids, tokens and channels shared by the hub child (which provisions them) and the load
// generators (which connect as them), so neither has to pass thousands of tokens around.
import type { ChannelDescriptor } from '../hub/src/protocol/index.ts';

export const BENCH_ADMIN_TOKEN = 'bench-admin-token';

export function deviceId(prefix: string, index: number): string {
  return `${prefix}${index}`;
}

export function deviceToken(id: string): string {
  return `bench-token-${id}`;
}

// One channel of each value type, so every decode path of READINGS is exercised.
export const BENCH_CHANNELS: ChannelDescriptor[] = [
  { id: 1, type: 'f32', name: 'temperature', unit: '°C' },
  { id: 2, type: 'f64', name: 'humidity', unit: '%' },
  { id: 3, type: 'i32', name: 'count', unit: '' },
  { id: 4, type: 'bool', name: 'door', unit: '' },
];

export const SERIES_CHANNEL: ChannelDescriptor[] = [{ id: 1, type: 'f64', name: 'temperature', unit: '°C' }];

/** Ranges of devices: `count` devices named `${prefix}0` … */
export interface DeviceRange {
  prefix: string;
  from: number;
  count: number;
}

/**
 * Soak devices number their readings: a sample's value is 2 × the device's running count, plus 1
 * when the frame was made while the device was offline (held back for a resend). The count lets
 * the readings read back be checked one by one for loss and duplication; the low bit lets the live
 * subscriber keep frames that waited out an outage apart from the hub's own latency.
 */
export const SOAK_CHANNELS: ChannelDescriptor[] = [{ id: 1, type: 'i32', name: 'counter', unit: '' }];
