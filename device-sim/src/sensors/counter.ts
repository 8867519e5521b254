// A pulse counter (items on a belt, litres through a meter): i32, only ever goes up.
import type { ChannelDescriptor } from '../../../hub/src/protocol/index.ts';
import { between, gaussian, type Random } from '../random.ts';
import { atTime, type SensorModel } from './sensor.ts';

export interface CounterOptions {
  rand: Random;
  channel: ChannelDescriptor;
  /** mean events per second; default: somewhere from 0.5 to 5 */
  perSecond?: number;
  /** count at start (a device that has been counting for a while) */
  start?: number;
}

export const COUNTER_MAX = 0x7fffffff;

/** Events in a window with the given mean: Knuth for small means, normal approximation for large. */
export function poisson(rand: () => number, mean: number): number {
  if (mean <= 0) return 0;
  if (mean > 30) return Math.max(0, Math.round(mean + Math.sqrt(mean) * gaussian(rand)));
  const limit = Math.exp(-mean);
  let k = 0;
  for (let p = rand(); p > limit; p *= rand()) k++;
  return k;
}

export function createCounter(options: CounterOptions): SensorModel {
  const { rand, channel } = options;
  const perSecond = options.perSecond ?? between(rand, 0.5, 5);
  let count = options.start ?? Math.floor(rand() * 10_000);
  let last: number | undefined;
  return {
    channel,
    read: atTime((t: number) => {
      last ??= t;
      if (t > last) {
        // [FP-4.2.1] i32 on the wire: saturate rather than wrap, so the series stays monotonic
        count = Math.min(COUNTER_MAX, count + poisson(rand, (perSecond * (t - last)) / 1000));
        last = t;
      }
      return count;
    }),
  };
}
