import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeFrame, ProtocolError } from '../../hub/src/protocol/index.ts';
import { applyExcursion, collectFaults, excursionOffset, FaultError, firstOccurrence, flipRandomBit, malformer, parseFault, wrongToken, type Excursion } from './faults.ts';
import { seededRandom } from './random.ts';
import { createSensors } from './sensors/index.ts';

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
    expect(parseFault('excursion:temperature:+15/5/10')).toEqual({ kind: 'excursion', channel: 'temperature', offset: 15, afterMs: 5000, forMs: 10_000 });
    expect(parseFault('excursion:battery:-400/0/2.5')).toEqual({ kind: 'excursion', channel: 'battery', offset: -400, afterMs: 0, forMs: 2500 });
  });

  it.each([
    ['flood:3', /unknown fault "flood"; known: drop, stall, burst, skew, malformed, bad-token, excursion$/],
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
    ['excursion', /expected excursion:<channel>:<offset>\/<after s>\/<for s>/],
    ['excursion:temperature:+15/5', /expected excursion:<channel>:<offset>\/<after s>\/<for s>/],
    ['excursion:temperature:+15/5/10/2', /expected excursion:/],
    ['excursion:temperature:15:5/10', /expected excursion:/],
    ['excursion:lux:+15/5/10', /channel must be one of temperature, humidity, battery, accel, counter$/],
    ['excursion:door:+1/5/10', /channel must be one of/],
    ['excursion:temperature:0/5/10', /offset must be a number other than 0/],
    ['excursion:temperature:warm/5/10', /offset must be a number other than 0 \(expected excursion:/],
    ['excursion:temperature:+15/-1/10', /start must be 0 or more seconds/],
    ['excursion:temperature:+15/5/0', /excursion must last a positive number of seconds/],
  ])('refuses %s with a clear message', (spec, message) => {
    expect(() => parseFault(spec)).toThrow(FaultError);
    expect(() => parseFault(spec)).toThrow(message);
  });

  it('collects several faults and refuses the same kind twice', () => {
    expect(collectFaults(['drop:10', 'skew:500', 'bad-token', 'malformed:0.1'])).toEqual({
      drop: { everyMs: 10_000 }, skewMs: 500, badToken: true, malformed: 0.1,
    });
    expect(() => collectFaults(['drop:10', 'drop:20'])).toThrow(/drop given twice/);
    expect(collectFaults(['excursion:temperature:+15/5/10', 'drop:3'])).toEqual({
      drop: { everyMs: 3000 }, badToken: false, excursion: { channel: 'temperature', offset: 15, afterMs: 5000, forMs: 10_000 },
    });
    expect(() => collectFaults(['excursion:temperature:+15/5/10', 'excursion:humidity:-5/0/1'])).toThrow(/excursion given twice/);
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

describe('excursion', () => {
  const start = 1_700_000_000_123;
  const warm: Excursion = { channel: 'temperature', offset: 15, afterMs: 5000, forMs: 10_000 };

  it('shifts exactly the sample times in [start + after, start + after + for)', () => {
    expect(excursionOffset(warm, start, start)).toBe(0);
    expect(excursionOffset(warm, start, start + 4999)).toBe(0);
    expect(excursionOffset(warm, start, start + 5000)).toBe(15);
    expect(excursionOffset(warm, start, start + 14_999)).toBe(15);
    expect(excursionOffset(warm, start, start + 15_000)).toBe(0);
    expect(excursionOffset({ ...warm, afterMs: 0 }, start, start)).toBe(15);
  });

  it('adds the offset to the model\'s own value on its channel only, and leaves the others alone', () => {
    const kinds = ['temperature', 'humidity', 'battery'] as const;
    const plain = createSensors(kinds, { seed: 5 });
    const shifted = applyExcursion(createSensors(kinds, { seed: 5 }), warm, start);
    expect(shifted.map((s) => s.channel)).toEqual(plain.map((s) => s.channel));
    for (let t = start; t < start + 20_000; t += 250) {
      const inside = t >= start + 5000 && t < start + 15_000;
      // temperature first: humidity follows the air, not the reported value
      const [temperature, humidity, battery] = plain.map((s) => s.read(t) as number);
      const [temperature2, humidity2, battery2] = shifted.map((s) => s.read(t) as number);
      expect(temperature2 - temperature).toBeCloseTo(inside ? 15 : 0, 9);
      expect(humidity2).toBe(humidity);
      expect(battery2).toBe(battery);
    }
  });

  it('keeps whole numbers on an integer channel', () => {
    const counter = createSensors(['counter'], { seed: 6 });
    const [shifted] = applyExcursion(createSensors(['counter'], { seed: 6 }), { channel: 'counter', offset: 2.6, afterMs: 0, forMs: 1000 }, start);
    const plain = counter[0].read(start + 10) as number;
    expect(shifted.read(start + 10)).toBe(plain + 3);
    expect(Number.isInteger(shifted.read(start + 10))).toBe(true);
  });
});
