// Relative humidity: falls when the air warms (same water, warmer air), plus its own drift.
import type { ChannelDescriptor } from '../../../hub/src/protocol/index.ts';
import { between, gaussian, type Random } from '../random.ts';
import { atTime, clamp, meanReverting, type SensorModel } from './sensor.ts';

export interface HumidityOptions {
  rand: Random;
  channel: ChannelDescriptor;
  /** the air temperature it reacts to */
  temperature: { deviation(t: number): number };
  /** mean relative humidity in %; default: somewhere from 40 to 60 */
  base?: number;
  dayLengthMs?: number;
}

// Roughly 3 % RH less per °C warmer at constant absolute humidity around room temperature.
const PERCENT_PER_DEGREE = 3;

export function createHumidity(options: HumidityOptions): SensorModel {
  const { rand, channel, temperature } = options;
  const base = options.base ?? between(rand, 40, 60);
  const drift = meanReverting(rand, { sigma: 4, tauMs: (options.dayLengthMs ?? 86_400_000) / 8 });
  return {
    channel,
    read: atTime((t: number) => clamp(base - PERCENT_PER_DEGREE * temperature.deviation(t) + drift(t) + gaussian(rand) * 0.3, 0, 100)),
  };
}
