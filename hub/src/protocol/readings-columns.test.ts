import { describe, expect, it } from 'vitest';
import { seededRandom, randomInt } from '../../test/support/random.ts';
import { randomFrame } from '../../test/support/random-frames.ts';
import {
  crc16, decodeFrame, decodeFrameInto, encodeFrame, MAX_FRAME, MAX_SAMPLES, ProtocolError, ReadingsColumns, ValueType,
  type Frame, type ReadingsFrame,
} from './index.ts';
import vectors from './test-vectors.json' with { type: 'json' };

const fromHex = (hex: string) => new Uint8Array(Buffer.from(hex.replace(/\s+/g, ''), 'hex'));

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof ProtocolError) return err.code;
    throw err;
  }
  return 'no error';
}

/** The columns' samples as objects, to compare with decodeFrame's. */
function asFrame(c: ReadingsColumns): ReadingsFrame {
  const names = Object.fromEntries(Object.entries(ValueType).map(([name, code]) => [code, name])) as Record<number, keyof typeof ValueType>;
  const samples = Array.from({ length: c.count }, (_, i) => {
    const type = names[c.valueType[i]];
    return { channel: c.channel[i], type, offset: c.offset[i], value: type === 'bool' ? c.value[i] === 1 : c.value[i] };
  });
  return c.baseTime === undefined ? { type: 'readings', seq: c.seq, samples } : { type: 'readings', seq: c.seq, baseTime: c.baseTime, samples };
}

describe('decodeFrameInto', () => {
  it.each(vectors.frames)('$clause decodes as decodeFrame does, READINGS into columns [FP-10]', ({ hex, frame }) => {
    const decoded = decodeFrameInto(fromHex(hex), new ReadingsColumns());
    expect(decoded instanceof ReadingsColumns ? asFrame(decoded) : decoded).toEqual(frame);
  });

  it.each(vectors.malformed)('refuses $hex with $code, as decodeFrame does', ({ hex, code }) => {
    expect(codeOf(() => decodeFrameInto(fromHex(hex), new ReadingsColumns()))).toBe(code);
  });

  it('3000 seeded random frames decode into one reused set of columns as decodeFrame decodes them', () => {
    const rand = seededRandom(20261130);
    const columns = new ReadingsColumns();
    let readings = 0;
    for (let i = 0; i < 3000; i++) {
      const frame = randomFrame(rand);
      const decoded = decodeFrameInto(encodeFrame(frame), columns);
      if (decoded instanceof ReadingsColumns) {
        readings++;
        expect(decoded).toBe(columns);
        expect(asFrame(decoded)).toEqual(frame);
      } else {
        expect(decoded).toEqual(frame);
      }
    }
    expect(readings).toBeGreaterThan(100);
  });

  it('the largest READINGS frame fits the default columns; one sample more does not fit a frame [FP-3.4]', () => {
    const bools = (n: number): Frame => ({ type: 'readings', seq: 1, samples: Array.from({ length: n }, (_, i) => ({ channel: 1, type: 'bool', offset: i, value: i % 2 === 0 })) });
    const bytes = encodeFrame(bools(MAX_SAMPLES));
    expect(bytes.length).toBeLessThanOrEqual(MAX_FRAME);
    expect(asFrame(decodeFrameInto(bytes, new ReadingsColumns()) as ReadingsColumns)).toEqual(bools(MAX_SAMPLES));
    expect(codeOf(() => encodeFrame(bools(MAX_SAMPLES + 1)))).toBe('FP_ERR_TOO_LARGE');
  });

  it('a sample count the payload cannot hold is refused, not read past the columns', () => {
    const bytes = encodeFrame({ type: 'readings', seq: 1, samples: [{ channel: 1, type: 'i32', offset: 0, value: 5 }] });
    const withCount = (count: number) => {
      const b = bytes.slice();
      b[10] = count & 0xff;
      b[11] = count >> 8;
      const c = crc16(b, 0, b.length - 2);
      b[b.length - 2] = c & 0xff;
      b[b.length - 1] = c >> 8;
      return b;
    };
    for (const count of [2, 4, 0xffff]) {
      expect(codeOf(() => decodeFrameInto(withCount(count), new ReadingsColumns(4)))).toBe('FP_ERR_BAD_PAYLOAD');
      expect(codeOf(() => decodeFrame(withCount(count)))).toBe('FP_ERR_BAD_PAYLOAD');
    }
  });

  it('mutated READINGS frames are refused with the same code by both decoders', () => {
    const rand = seededRandom(7);
    const columns = new ReadingsColumns();
    let refused = 0;
    for (let i = 0; i < 1500; i++) {
      let frame = randomFrame(rand);
      while (frame.type !== 'readings') frame = randomFrame(rand);
      const bytes = encodeFrame(frame);
      bytes[randomInt(rand, 10, bytes.length - 3)] ^= 1 << randomInt(rand, 0, 7);
      const c = crc16(bytes, 0, bytes.length - 2);
      bytes[bytes.length - 2] = c & 0xff;
      bytes[bytes.length - 1] = c >> 8;
      const code = codeOf(() => decodeFrame(bytes));
      expect(codeOf(() => decodeFrameInto(bytes, columns))).toBe(code);
      if (code !== 'no error') refused++;
      else expect(asFrame(decodeFrameInto(bytes, columns) as ReadingsColumns)).toEqual(decodeFrame(bytes));
    }
    expect(refused).toBeGreaterThan(50);
  });
});

describe('ReadingsColumns', () => {
  const frame: ReadingsFrame = { type: 'readings', seq: 9, baseTime: 1_700_000_000_000, samples: [
    { channel: 1, type: 'f64', offset: -5, value: 21.5 },
    { channel: 2, type: 'bool', offset: 0, value: true },
    { channel: 3, type: 'i32', offset: 7, value: -3 },
  ] };

  it('from() holds what decoding the frame gives', () => {
    expect(asFrame(ReadingsColumns.from(frame))).toEqual(frame);
    expect(asFrame(ReadingsColumns.from(frame))).toEqual(asFrame(decodeFrameInto(encodeFrame(frame), new ReadingsColumns()) as ReadingsColumns));
  });

  it('a copy keeps its samples when the columns it came from are decoded into again', () => {
    const columns = new ReadingsColumns();
    decodeFrameInto(encodeFrame(frame), columns);
    const copy = columns.copy();
    decodeFrameInto(encodeFrame({ type: 'readings', seq: 10, samples: [{ channel: 4, type: 'f32', offset: 1, value: 0.5 }] }), columns);
    expect(asFrame(copy)).toEqual(frame);
    expect(asFrame(columns)).toEqual({ type: 'readings', seq: 10, samples: [{ channel: 4, type: 'f32', offset: 1, value: 0.5 }] });
  });
});
