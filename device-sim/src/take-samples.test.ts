import { describe, expect, it } from 'vitest';
import { encodeFrame, HEADER_SIZE, CHECKSUM_SIZE } from '../../hub/src/protocol/index.ts';
import { createSensors, SENSOR_KINDS, SENSOR_CHANNELS } from './sensors/index.ts';
import { firstInstant, readingsPayloadBytes, takeSamples } from './take-samples.ts';

describe('takeSamples', () => {
  const sensors = createSensors(['temperature', 'door'], { seed: 1 });
  const end = 1_700_000_001_000;

  it('samples every sensor at evenly spread instants ending at the frame time, offsets from the base', () => {
    const base = firstInstant(end, 1000, 4);
    const samples = takeSamples(sensors, end, 1000, 4, base);
    expect(base).toBe(end - 750);
    expect(samples.map((s) => [s.channel, s.type, s.offset])).toEqual([
      [1, 'f32', 0], [6, 'bool', 0], [1, 'f32', 250], [6, 'bool', 250], [1, 'f32', 500], [6, 'bool', 500], [1, 'f32', 750], [6, 'bool', 750],
    ]);
  });

  it('without a clock, offsets count back from the frame [FP-4.2.2]', () => {
    const samples = takeSamples(sensors, end, 500, 2, end);
    expect(samples.map((s) => s.offset)).toEqual([-250, -250, 0, 0]);
  });

  it('predicts the payload size the codec produces', () => {
    const all = createSensors(SENSOR_KINDS, { seed: 2 });
    const types = SENSOR_KINDS.map((k) => SENSOR_CHANNELS[k].type);
    for (const [batch, absolute] of [[1, true], [7, false], [20, true]] as const) {
      const samples = takeSamples(all, end, 1000, batch, end);
      const bytes = encodeFrame(absolute ? { type: 'readings', seq: 1, baseTime: end, samples } : { type: 'readings', seq: 1, samples });
      expect(readingsPayloadBytes(types, batch, absolute)).toBe(bytes.length - HEADER_SIZE - CHECKSUM_SIZE);
    }
  });
});
