import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeFrame, ProtocolError } from '../../hub/src/protocol/index.ts';
import { collectFaults, FaultError, firstOccurrence, flipRandomBit, malformer, parseFault, wrongToken } from './faults.ts';
import { seededRandom } from './random.ts';

describe('--fault specs', () => {
  it('parses every fault with its defaults', () => {
    expect(parseFault('drop:30')).toEqual({ kind: 'drop', everyMs: 30_000 });
    expect(parseFault('stall:8')).toEqual({ kind: 'stall', forMs: 8000, everyMs: 32_000 });
    expect(parseFault('stall:2')).toEqual({ kind: 'stall', forMs: 2000, everyMs: 30_000 });
    expect(parseFault('stall:2/10')).toEqual({ kind: 'stall', forMs: 2000, everyMs: 10_000 });
    expect(parseFault('burst:5')).toEqual({ kind: 'burst', factor: 5, everyMs: 30_000, forMs: 3000 });
    expect(parseFault('burst:2.5/20/4')).toEqual({ kind: 'burst', factor: 2.5, everyMs: 20_000, forMs: 4000 });
    expect(parseFault('skew:-1500')).toEqual({ kind: 'skew', ms: -1500 });
    expect(parseFault('malformed:0.2')).toEqual({ kind: 'malformed', probability: 0.2 });
    expect(parseFault('bad-token')).toEqual({ kind: 'bad-token' });
  });

  it.each([
    ['flood:3', /unknown fault "flood"; known: drop, stall, burst, skew, malformed, bad-token/],
    ['drop', /expected drop:<every s>/],
    ['drop:0', /positive number of seconds/],
    ['drop:soon', /positive number of seconds \(expected drop:<every s>\)/],
    ['stall:10/5', /period must be longer than the stall/],
    ['burst:1', /above 1/],
    ['burst:3/2/5', /period must be longer than the burst/],
    ['skew:1.5', /whole number of milliseconds/],
    ['malformed:1.5', /from 0 to 1/],
    ['malformed:', /from 0 to 1/],
    ['bad-token:1', /expected bad-token/],
  ])('refuses %s with a clear message', (spec, message) => {
    expect(() => parseFault(spec)).toThrow(FaultError);
    expect(() => parseFault(spec)).toThrow(message);
  });

  it('collects several faults and refuses the same kind twice', () => {
    expect(collectFaults(['drop:10', 'skew:500', 'bad-token', 'malformed:0.1'])).toEqual({
      drop: { everyMs: 10_000 }, skewMs: 500, badToken: true, malformed: 0.1,
    });
    expect(() => collectFaults(['drop:10', 'drop:20'])).toThrow(/drop given twice/);
  });
});

describe('fault primitives', () => {
  const frame = encodeFrame({ type: 'readings', seq: 7, baseTime: 1_700_000_000_000, samples: [
    { channel: 1, type: 'f32', offset: 0, value: 21.5 },
    { channel: 6, type: 'bool', offset: 10, value: true },
  ] });

  it('flips exactly one bit of a copy, and the hub\'s decoder always notices [FP-3.3]', () => {
    const rand = seededRandom(1);
    const codes = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const bad = flipRandomBit(frame, rand);
      let differing = 0;
      for (let j = 0; j < frame.length; j++) {
        let x = frame[j] ^ bad[j];
        for (; x; x &= x - 1) differing++;
      }
      expect(differing).toBe(1);
      try {
        decodeFrame(bad);
        throw new Error('a damaged frame decoded');
      } catch (err) {
        expect(err).toBeInstanceOf(ProtocolError);
        codes.add((err as ProtocolError).code);
      }
    }
    expect(decodeFrame(frame)).toMatchObject({ type: 'readings', seq: 7 });
    // flips in version and length fail before the checksum is even looked at [FP-3.5]
    expect([...codes].sort()).toEqual(['FP_ERR_BAD_CHECKSUM', 'FP_ERR_BAD_LENGTH', 'FP_ERR_BAD_VERSION', 'FP_ERR_TOO_LARGE', 'FP_ERR_TRUNCATED']);
  });

  it('damages frames at the given probability and passes the rest through untouched', () => {
    const never = malformer(0, seededRandom(1));
    const always = malformer(1, seededRandom(1));
    expect(never(frame)).toBe(frame);
    expect(always(frame)).not.toEqual(frame);
    const sometimes = malformer(0.2, seededRandom(2));
    let damaged = 0;
    for (let i = 0; i < 10_000; i++) if (sometimes(frame) !== frame) damaged++;
    expect(damaged / 10_000).toBeCloseTo(0.2, 1);
  });

  it('makes a wrong token of the same shape', () => {
    for (const token of ['b6b2d507331940a0c25e03fbeb3cb490', 'b6b2d507331940a0c25e03fbeb3cb49a', 'x']) {
      const wrong = wrongToken(token);
      expect(wrong).not.toBe(token);
      expect(wrong).toHaveLength(token.length);
    }
  });

  it('spreads the first occurrence of a periodic fault over its period', () => {
    const rand = seededRandom(3);
    const firsts = Array.from({ length: 1000 }, () => firstOccurrence(1000, 10_000, rand));
    expect(Math.min(...firsts)).toBeGreaterThanOrEqual(1000);
    expect(Math.max(...firsts)).toBeLessThan(11_000);
    expect(firsts.filter((t) => t < 6000).length).toBeGreaterThan(400);
    expect(firsts.filter((t) => t < 6000).length).toBeLessThan(600);
  });
});
