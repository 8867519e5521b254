// Indoor/outdoor air temperature: a daily cycle, slow weather-like drift and sensor noise.
import type { ChannelDescriptor } from '../../../hub/src/protocol/index.ts';
import { between, gaussian, type Random } from '../random.ts';
import { atTime, clamp, meanReverting, type SensorModel } from './sensor.ts';

export interface TemperatureOptions {
  rand: Random;
  channel: ChannelDescriptor;
  /** mean temperature in °C; default: somewhere from 18 to 24 */
  base?: number;
  /** half the day/night swing in °C */
  dailyAmplitude?: number;
  dayLengthMs?: number;
}

// A DS18B20's range: a real sensor cannot report beyond it.
const MIN_C = -55;
const MAX_C = 125;

export interface TemperatureModel extends SensorModel {
  /** how far from its mean the air is at `t`, before sensor noise (what humidity reacts to) */
  deviation(t: number): number;
}

export function createTemperature(options: TemperatureOptions): TemperatureModel {
  const { rand, channel } = options;
  const base = options.base ?? between(rand, 18, 24);
  const amplitude = options.dailyAmplitude ?? between(rand, 1.5, 4);
  const day = options.dayLengthMs ?? 86_400_000;
  const drift = meanReverting(rand, { sigma: 1, tauMs: day / 12 });
  // coldest around 05:00 of the simulated day, warmest around 17:00
  const deviation = atTime((t: number) => -amplitude * Math.cos(2 * Math.PI * (t / day - 5 / 24)) + drift(t));
  return {
    channel,
    deviation,
    read: atTime((t: number) => clamp(base + deviation(t) + gaussian(rand) * 0.05, MIN_C, MAX_C)),
  };
}
