// A Li-ion cell under a varying load: state of charge falls, the voltage follows the cell's
// discharge curve (flat in the middle, steep at both ends), and an empty cell gets swapped.
import type { ChannelDescriptor } from '../../../hub/src/protocol/index.ts';
import { between, gaussian, type Random } from '../random.ts';
import { atTime, clamp, type SensorModel } from './sensor.ts';

export interface BatteryOptions {
  rand: Random;
  /** value type i32 or f32, unit mV */
  channel: ChannelDescriptor;
  /** time from full to empty at average load */
  dischargeMs?: number;
  /** state of charge at start, 0..1; default: somewhere from 0.3 to 1 */
  startCharge?: number;
}

// Open-circuit voltage of a typical Li-ion cell by state of charge.
const CURVE: [charge: number, millivolts: number][] = [
  [0, 3000], [0.05, 3300], [0.1, 3450], [0.2, 3600], [0.4, 3700], [0.6, 3800], [0.8, 3950], [1, 4200],
];
export const BATTERY_MIN_MV = 2900;
export const BATTERY_MAX_MV = 4250;
// below this the device would brown out; the simulated operator swaps the cell first
const SWAP_AT = 0.02;

export function openCircuitMillivolts(charge: number): number {
  const c = clamp(charge, 0, 1);
  for (let i = 1; i < CURVE.length; i++) {
    const [c1, v1] = CURVE[i];
    if (c <= c1) {
      const [c0, v0] = CURVE[i - 1];
      return v0 + ((c - c0) / (c1 - c0)) * (v1 - v0);
    }
  }
  return CURVE[CURVE.length - 1][1];
}

export function createBattery(options: BatteryOptions): SensorModel & { charge(): number } {
  const { rand, channel } = options;
  const dischargeMs = options.dischargeMs ?? 2 * 86_400_000;
  let charge = options.startCharge ?? between(rand, 0.3, 1);
  let last: number | undefined;
  const read = atTime((t: number) => {
    last ??= t;
    if (t > last) {
      const load = between(rand, 0.5, 1.5); // radio bursts, sleep periods
      charge -= ((t - last) / dischargeMs) * load;
      if (charge <= SWAP_AT) charge = 1;
      last = t;
    }
    // a few mV of sag and ADC noise
    const mv = clamp(openCircuitMillivolts(charge) - 15 + gaussian(rand) * 5, BATTERY_MIN_MV, BATTERY_MAX_MV);
    return channel.type === 'i32' ? Math.round(mv) : mv;
  });
  return { channel, read, charge: () => charge };
}
