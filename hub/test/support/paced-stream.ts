// A device streaming beside something heavy (history queries), and what the store kept of it.
import type { DeviceClient } from '../../../device-sim/src/device-client.ts';
import type { Sample } from '../../src/protocol/index.ts';
import type { TestHub } from './hub-fixture.ts';

/**
 * Sends `frames` READINGS of channels 1 (f32, i) and 3 (i32, −i), 10 ms apart from `base`, a few in
 * flight at a time, paced by the ACKs; resolves once every frame is acknowledged.
 */
export async function streamPacedByAcks(device: DeviceClient, frames: number, base: number, ackTimeoutMs: number): Promise<void> {
  for (let i = 0; i < frames; i++) {
    const samples: Sample[] = [
      { channel: 1, type: 'f32', offset: 0, value: i },
      { channel: 3, type: 'i32', offset: 0, value: -i },
    ];
    device.sendReadings(samples, base + i * 10);
    if (i % 5 === 4) await device.waitAcked(undefined, ackTimeoutMs);
  }
  await device.waitAcked(undefined, ackTimeoutMs);
}

/** Readings stored per channel in [from, to), sorted by channel: hour windows added up, as a run may straddle the top of an hour. */
export async function storedPerChannel(hub: TestHub, deviceId: string, from: number, to: number): Promise<[string, number][]> {
  const res = await hub.api(`/api/devices/${deviceId}/readings?from=${from}&to=${to}&every=1h&agg=count`);
  if (res.status !== 200) throw new Error(`count-back: HTTP ${res.status}`);
  const counts = new Map<string, number>();
  for (const p of ((await res.json()) as { points: { channel: string; value: number }[] }).points) counts.set(p.channel, (counts.get(p.channel) ?? 0) + p.value);
  return [...counts].sort();
}
