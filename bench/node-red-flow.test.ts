// The Node-RED function's code, run here as Node-RED runs it (msg, context, global), on frames made
// by the bench's template: it must count exactly what the hub would accept and refuse the rest.
import { describe, expect, it } from 'vitest';
import { decodeFrame } from '../hub/src/protocol/index.ts';
import { BENCH_CHANNELS } from './bench-devices.ts';
import { ReadingsTemplate } from './frame-template.ts';
import { DECODE_FUNCTION, DECODE_SETUP, type NodeRedStats } from './node-red-flow.ts';

function decoder() {
  const store = new Map<string, unknown>();
  const context = { get: (k: string) => store.get(k), set: (k: string, v: unknown) => void store.set(k, v) };
  const stats: NodeRedStats = { messages: 0, readings: 0, refused: 0, sum: 0 };
  const global = { get: (k: string) => (k === 'benchStats' ? stats : undefined) };
  new Function('context', DECODE_SETUP)(context);
  const run = new Function('msg', 'context', 'global', DECODE_FUNCTION);
  return { stats, decode: (payload: Uint8Array) => run({ payload: Buffer.from(payload) }, context, global) };
}

describe('the Node-RED peer decoder', () => {
  it('counts every reading of valid frames of any size, and sums the values the hub decodes', () => {
    const { stats, decode } = decoder();
    let expectedSum = 0;
    for (const n of [1, 10, 40]) {
      const frame = new ReadingsTemplate(BENCH_CHANNELS, n).make(3, 1_700_000_000_000);
      const decoded = decodeFrame(frame);
      if (decoded.type !== 'readings') throw new Error('not a READINGS frame');
      for (const s of decoded.samples) expectedSum += Number(s.value);
      decode(frame);
    }
    expect({ ...stats, sum: undefined }).toEqual({ messages: 3, readings: 51, refused: 0, sum: undefined });
    expect(stats.sum).toBeCloseTo(expectedSum, 6);
  });

  it('refuses a frame with a flipped bit, a short frame and a frame of another type', () => {
    const { stats, decode } = decoder();
    const frame = new ReadingsTemplate(BENCH_CHANNELS, 10).make(3, 1_700_000_000_000);
    const flipped = frame.slice();
    flipped[20] ^= 0x01;
    decode(flipped);
    decode(frame.subarray(0, frame.length - 1));
    const other = frame.slice();
    other[1] = 0x03;
    decode(other);
    expect([stats.messages, stats.refused]).toEqual([0, 3]);
  });
});
