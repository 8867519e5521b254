// Acceleration magnitude of a machine-mounted sensor: 1 g of gravity at rest, with bursts of
// vibration (a pump starting, a truck passing) at random times.
import type { ChannelDescriptor } from '../../../hub/src/protocol/index.ts';
import { between, exponential, gaussian, type Random } from '../random.ts';
import { atTime, clamp, type SensorModel } from './sensor.ts';

export interface AccelerometerOptions {
  rand: Random;
  channel: ChannelDescriptor;
  /** mean quiet time between vibration bursts */
  meanGapMs?: number;
}

// a ±16 g part, the common widest range
export const ACCEL_MAX_G = 16;

export function createAccelerometer(options: AccelerometerOptions): SensorModel {
  const { rand, channel } = options;
  const meanGap = options.meanGapMs ?? 60_000;
  let start = NaN;
  let end = -Infinity;
  let amplitude = 0;
  let frequency = 0;
  function planBurst(after: number): void {
    start = after + exponential(rand, meanGap);
    end = start + between(rand, 2000, 8000);
    amplitude = between(rand, 0.2, 2.5);
    frequency = between(rand, 10, 60);
  }
  return {
    channel,
    read: atTime((t: number) => {
      if (Number.isNaN(start)) planBurst(t);
      while (t >= end) planBurst(end);
      let g = 1 + gaussian(rand) * 0.01;
      if (t >= start) {
        // rises and fades over the burst instead of switching on and off
        const envelope = Math.sin((Math.PI * (t - start)) / (end - start));
        g += amplitude * envelope * Math.sin((2 * Math.PI * frequency * t) / 1000);
      }
      return clamp(Math.abs(g), 0, ACCEL_MAX_G);
    }),
  };
}
