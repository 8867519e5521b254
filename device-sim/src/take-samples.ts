// What a device puts in one READINGS frame: every sensor, `batch` times over the last period.
import type { Sample } from '../../hub/src/protocol/index.ts';
import type { DeviceCore } from './device-core.ts';
import type { SensorModel } from './sensors/index.ts';

/**
 * Samples every sensor at `batch` instants spread evenly over the period that ends at `end`
 * (the last instant is `end` itself). Offsets are relative to `base`: the first instant for a
 * frame with a base time, or `end` for one stamped on arrival, whose offsets are then ≤ 0 [FP-4.2.2].
 */
export function takeSamples(sensors: readonly SensorModel[], end: number, periodMs: number, batch: number, base: number): Sample[] {
  const samples: Sample[] = [];
  for (let k = 0; k < batch; k++) {
    const t = Math.round(end - periodMs + ((k + 1) * periodMs) / batch);
    for (const sensor of sensors) {
      samples.push({ channel: sensor.channel.id, type: sensor.channel.type, offset: t - base, value: sensor.read(t) });
    }
  }
  return samples;
}

/** The first sampling instant of a frame ending at `end`: the base time of an ABS_TIME frame. */
export function firstInstant(end: number, periodMs: number, batch: number): number {
  return Math.round(end - periodMs + periodMs / batch);
}

/**
 * Samples and queues one READINGS frame on `device`. Sensors see true time; the base time is the
 * device's own idea of it (hub-corrected, or skewed), as a real device would stamp it.
 */
export function sendSampledFrame(device: DeviceCore, sensors: readonly SensorModel[], end: number, periodMs: number, batch: number, absoluteTime: boolean): void {
  if (!absoluteTime) {
    device.sendReadings(takeSamples(sensors, end, periodMs, batch, end));
    return;
  }
  const base = firstInstant(end, periodMs, batch);
  device.sendReadings(takeSamples(sensors, end, periodMs, batch, base), base + (device.now() - Date.now()));
}

const VALUE_BYTES = { f32: 4, f64: 8, i32: 4, bool: 1 } as const;

/** [FP-3.4] [FP-4.2] payload bytes of a READINGS frame with `batch` rounds of these channels. */
export function readingsPayloadBytes(types: readonly (keyof typeof VALUE_BYTES)[], batch: number, absoluteTime: boolean): number {
  const perRound = types.reduce((sum, type) => sum + 6 + VALUE_BYTES[type], 0);
  return (absoluteTime ? 8 : 0) + 2 + perRound * batch;
}
