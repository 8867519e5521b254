import { describe, expect, it } from 'vitest';
import { decodeFrame } from '../hub/src/protocol/index.ts';
import { BENCH_CHANNELS } from './bench-devices.ts';
import { ReadingsTemplate } from './frame-template.ts';

function decoded(samples: number, seq = 9, baseTime = 1_700_000_000_000) {
  const frame = decodeFrame(new ReadingsTemplate(BENCH_CHANNELS, samples).make(seq, baseTime));
  if (frame.type !== 'readings') throw new Error(`decoded a ${frame.type} frame`);
  return frame;
}

describe('ReadingsTemplate', () => {
  it('deals the readings over the channels in turn, one round per ms, the last round at the base time', () => {
    const perChannel = (samples: number) => BENCH_CHANNELS.map((c) => decoded(samples).samples.filter((s) => s.channel === c.id).length);
    expect(perChannel(1)).toEqual([1, 0, 0, 0]);
    expect(perChannel(10)).toEqual([3, 3, 2, 2]);
    expect(perChannel(40)).toEqual([10, 10, 10, 10]);
    const ten = decoded(10).samples;
    expect(ten.map((s) => s.offset)).toEqual([-2, -2, -2, -2, -1, -1, -1, -1, 0, 0]);
    expect(new Set(ten.map((s) => `${s.channel}@${s.offset}`)).size).toBe(10);
  });

  it('re-stamps seq and base time into a frame that still checks', () => {
    const frame = decoded(7, 123_456, 1_800_000_000_001);
    expect([frame.seq, frame.baseTime, frame.samples.length]).toEqual([123_456, 1_800_000_000_001, 7]);
  });

  it('refuses a frame the protocol would refuse', () => {
    expect(() => new ReadingsTemplate(BENCH_CHANNELS, 0)).toThrow();
    expect(() => new ReadingsTemplate(BENCH_CHANNELS, 5000)).toThrow(/payload/);
  });
});
