// What every sensor model offers the simulator: a channel descriptor and a value at a time.
import type { ChannelDescriptor } from '../../../hub/src/protocol/index.ts';
import { gaussian, type Random } from '../random.ts';

export interface SensorModel {
  readonly channel: ChannelDescriptor;
  /** The reading at `t` (ms since the epoch). Times must not go backwards; an earlier time repeats the state. */
  read(t: number): number | boolean;
}

export function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

/**
 * An Ornstein–Uhlenbeck process: wanders like a random walk but is pulled back to 0, so drift
 * looks natural over minutes yet never runs away over a long simulation. Uses the exact update
 * for any step, so the spread does not depend on the sampling rate.
 */
export function meanReverting(rand: Random, options: { sigma: number; tauMs: number; start?: number }): (t: number) => number {
  let x = options.start ?? gaussian(rand) * options.sigma;
  let last: number | undefined;
  return (t) => {
    if (last === undefined) last = t;
    const dt = t - last;
    if (dt > 0) {
      const decay = Math.exp(-dt / options.tauMs);
      x = x * decay + options.sigma * Math.sqrt(1 - decay * decay) * gaussian(rand);
      last = t;
    }
    return x;
  };
}

/** Memoizes the last time's value, so coupled models (humidity follows temperature) see one state. */
export function atTime<T>(compute: (t: number) => T): (t: number) => T {
  let lastT = NaN;
  let lastValue: T;
  return (t) => {
    if (t !== lastT) {
      lastValue = compute(t);
      lastT = t;
    }
    return lastValue;
  };
}
