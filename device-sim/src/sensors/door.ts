// A door contact: mostly closed, opened now and then for a short while.
import type { ChannelDescriptor } from '../../../hub/src/protocol/index.ts';
import { exponential, type Random } from '../random.ts';
import { atTime, type SensorModel } from './sensor.ts';

export interface DoorOptions {
  rand: Random;
  channel: ChannelDescriptor;
  meanClosedMs?: number;
  meanOpenMs?: number;
}

export function createDoor(options: DoorOptions): SensorModel {
  const { rand, channel } = options;
  const meanClosed = options.meanClosedMs ?? 120_000;
  const meanOpen = options.meanOpenMs ?? 15_000;
  let open = false;
  let nextToggle = NaN;
  return {
    channel,
    read: atTime((t: number) => {
      if (Number.isNaN(nextToggle)) nextToggle = t + exponential(rand, meanClosed);
      // a long gap between reads may span several openings; only the state at t matters
      while (t >= nextToggle) {
        open = !open;
        nextToggle += exponential(rand, open ? meanOpen : meanClosed);
      }
      return open;
    }),
  };
}
