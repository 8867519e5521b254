import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { seededRandom, randomInt } from '../../test/support/random.ts';
import { randomFrame } from '../../test/support/random-frames.ts';
import {
  crc16, decodeFrame, decodeLine, encodeFrame, encodeLine, ErrorCode, MAX_FRAME, ProtocolError,
  type Frame, type Sample, type ValueTypeName,
} from './index.ts';
import vectors from './test-vectors.json' with { type: 'json' };

const fromHex = (hex: string) => new Uint8Array(Buffer.from(hex.replace(/\s+/g, ''), 'hex'));
const toHex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof ProtocolError) return err.code;
    throw err;
  }
  return 'no error';
}

describe('spec test vectors [FP-10]', () => {
  it.each(vectors.frames)('$clause encodes to the spec bytes', ({ hex, frame }) => {
    expect(toHex(encodeFrame(frame as Frame))).toBe(hex);
  });
  it.each(vectors.frames)('$clause decodes to the spec meaning', ({ hex, frame }) => {
    expect(decodeFrame(fromHex(hex))).toEqual(frame);
  });
  it.each(vectors.lines)('$clause serial line both ways', ({ line, frame }) => {
    expect(encodeLine(frame as Frame)).toBe(line + '\n');
    expect(decodeLine(line)).toEqual({ kind: 'frame', frame });
  });
  it.each(vectors.malformed)('rejects $hex with $code', ({ hex, code }) => {
    expect(codeOf(() => decodeFrame(fromHex(hex)))).toBe(code);
  });

  it('firmware-protocol.md shows exactly the vectors in test-vectors.json', () => {
    const spec = readFileSync(new URL('../../../firmware-protocol.md', import.meta.url), 'utf8');
    for (const { clause, hex } of vectors.frames) {
      const section = spec.slice(spec.indexOf(`### ${clause} `));
      const block = section.slice(section.indexOf('```\n') + 4, section.indexOf('```', section.indexOf('```\n') + 4));
      expect(block.replace(/\s+/g, ''), clause).toBe(hex);
    }
    for (const { line } of vectors.lines) expect(spec).toContain('`' + line + '`');
    for (const { hex, code } of vectors.malformed) {
      const spaced = hex.replace(/(..)(?!$)/g, '$1 ');
      expect(spec).toContain(`| \`${spaced}\` | \`${code}\` |`);
    }
  });

  it('CRC-16/CCITT-FALSE check value [FP-3.3]', () => {
    expect(crc16(new TextEncoder().encode('123456789'))).toBe(0x29b1);
  });

  it('the table CRC equals the spec\'s bitwise one for every length and start [FP-3.3]', () => {
    const bitwise = (b: Uint8Array) => {
      let crc = 0xffff;
      for (const x of b) {
        crc ^= x << 8;
        for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
      }
      return crc;
    };
    const rand = seededRandom(3);
    const bytes = new Uint8Array(70).map(() => randomInt(rand, 0, 255));
    for (let start = 0; start < 5; start++) {
      for (let end = start; end <= bytes.length; end++) expect(crc16(bytes, start, end)).toBe(bitwise(bytes.subarray(start, end)));
    }
  });
});

describe('round trip', () => {
  it('3000 seeded random frames survive encode → decode, and lines too', () => {
    const rand = seededRandom(20261125);
    for (let i = 0; i < 3000; i++) {
      const frame = randomFrame(rand);
      const bytes = encodeFrame(frame);
      expect(bytes.length).toBeLessThanOrEqual(MAX_FRAME);
      expect(decodeFrame(bytes)).toEqual(frame);
      if (i % 10 === 0) {
        const line = encodeLine(frame);
        expect(decodeLine(line.slice(0, -1))).toEqual({ kind: 'frame', frame });
      }
    }
  });

  it('NaN and infinities survive the codec (ingest, not the codec, rejects them)', () => {
    const frame: Frame = { type: 'readings', seq: 3, samples: [
      { channel: 1, type: 'f32', offset: 0, value: NaN },
      { channel: 1, type: 'f64', offset: 0, value: -Infinity },
    ] };
    expect(decodeFrame(encodeFrame(frame))).toEqual(frame);
  });
});

describe('malformed input [FP-3.5]', () => {
  const hello = encodeFrame(vectors.frames[0].frame as Frame);

  it('every truncation is FP_ERR_TRUNCATED', () => {
    for (let n = 0; n < hello.length; n++) expect(codeOf(() => decodeFrame(hello.subarray(0, n)))).toBe('FP_ERR_TRUNCATED');
  });

  it('a length lie is FP_ERR_TRUNCATED or FP_ERR_BAD_LENGTH', () => {
    const longer = hello.slice();
    longer[8] += 1;
    expect(codeOf(() => decodeFrame(longer))).toBe('FP_ERR_TRUNCATED');
    const shorter = hello.slice();
    shorter[8] -= 1;
    expect(codeOf(() => decodeFrame(shorter))).toBe('FP_ERR_BAD_LENGTH');
  });

  it('a payload whose fields overrun its length is FP_ERR_BAD_PAYLOAD', () => {
    const frame = { type: 'error', code: 1, text: 'abc' } as const;
    const bytes = encodeFrame(frame).slice();
    bytes[12] = 200; // text length far past the payload
    const c = crc16(bytes, 0, bytes.length - 2);
    bytes[bytes.length - 2] = c & 0xff;
    bytes[bytes.length - 1] = c >> 8;
    expect(codeOf(() => decodeFrame(bytes))).toBe('FP_ERR_BAD_PAYLOAD');
  });

  it('oversized frames are FP_ERR_TOO_LARGE, in decode and encode', () => {
    const bytes = new Uint8Array(MAX_FRAME + 1);
    bytes[0] = 1; bytes[1] = 7; bytes[8] = 0x01; bytes[9] = 0x40;
    expect(codeOf(() => decodeFrame(bytes))).toBe('FP_ERR_TOO_LARGE');
    const samples: Sample[] = Array.from({ length: 2000 }, () => ({ channel: 1, type: 'f64', offset: 0, value: 1 }));
    expect(codeOf(() => encodeFrame({ type: 'readings', seq: 1, samples }))).toBe('FP_ERR_TOO_LARGE');
  });

  it('invalid fields are refused by the encoder with FP_ERR_BAD_PAYLOAD', () => {
    const bad: Frame[] = [
      { type: 'hello', session: 1, deviceId: 'has space', firmware: '', channels: [] },
      { type: 'hello', session: 1, deviceId: 'd', firmware: '', channels: [{ id: 1, type: 'f32', name: 'a', unit: '' }, { id: 1, type: 'f32', name: 'b', unit: '' }] },
      { type: 'readings', seq: 1, samples: [] },
      { type: 'readings', seq: -1, samples: [{ channel: 1, type: 'f32', offset: 0, value: 1 }] },
      { type: 'readings', seq: 1, samples: [{ channel: 1, type: 'i32', offset: 0, value: 1.5 }] },
      { type: 'readings', seq: 1, samples: [{ channel: 1, type: 'bool', offset: 0, value: 1 }] },
      { type: 'command', id: 1, timeoutMs: 1, name: '', args: '' },
    ];
    for (const frame of bad) expect(codeOf(() => encodeFrame(frame)), JSON.stringify(frame)).toBe('FP_ERR_BAD_PAYLOAD');
  });

  it('keeps a leading UTF-8 BOM as part of a string, so it cannot sneak into a device id', () => {
    const hello = encodeFrame({ type: 'hello', session: 1, deviceId: 'xxxdev', firmware: '', channels: [] }).slice();
    hello.set([0xef, 0xbb, 0xbf], 15); // overwrite "xxx" with a BOM
    const c = crc16(hello, 0, hello.length - 2);
    hello[hello.length - 2] = c & 0xff;
    hello[hello.length - 1] = c >> 8;
    expect(codeOf(() => decodeFrame(hello))).toBe('FP_ERR_BAD_PAYLOAD');
  });

  it('100,000 garbage and mutated frames only ever give documented codes', () => {
    const rand = seededRandom(7);
    const known = new Set(Object.keys(ErrorCode));
    const seen = new Set<string>();
    const seeds = vectors.frames.map((v) => fromHex(v.hex));
    for (let i = 0; i < 100_000; i++) {
      let bytes: Uint8Array;
      if (i % 4 === 0) {
        bytes = new Uint8Array(randomInt(rand, 0, 64)).map(() => randomInt(rand, 0, 255));
      } else {
        bytes = seeds[randomInt(rand, 0, seeds.length - 1)].slice();
        const flips = randomInt(rand, 1, 3);
        for (let f = 0; f < flips; f++) bytes[randomInt(rand, 0, bytes.length - 1)] ^= 1 << randomInt(rand, 0, 7);
        if (i % 3 === 0) {
          // keep the checksum valid so the mutation reaches the payload parser
          const c = crc16(bytes, 0, bytes.length - 2);
          bytes[bytes.length - 2] = c & 0xff;
          bytes[bytes.length - 1] = c >> 8;
        }
      }
      const code = codeOf(() => decodeFrame(bytes));
      if (code !== 'no error') {
        expect(known.has(code)).toBe(true);
        seen.add(code);
      }
    }
    expect([...seen].sort()).toEqual(expect.arrayContaining(['FP_ERR_BAD_CHECKSUM', 'FP_ERR_BAD_PAYLOAD', 'FP_ERR_BAD_VERSION', 'FP_ERR_TRUNCATED']));
  });
});

describe('HELLO max receive frame [FP-4.1.5]', () => {
  const hello = vectors.frames[0].frame as Frame & { type: 'hello' };
  const withField = vectors.frames.find((v) => v.clause === 'FP-10.11')!;

  it('a HELLO decodes with or without the field, to the same identity and channels', () => {
    const old = decodeFrame(fromHex(vectors.frames[0].hex));
    const newer = decodeFrame(fromHex(withField.hex));
    expect('maxFrame' in old).toBe(false);
    expect(newer).toEqual({ ...old, maxFrame: 256 });
    expect(fromHex(withField.hex).subarray(10, -4)).toEqual(fromHex(vectors.frames[0].hex).subarray(10, -2));
  });

  it('0, 64 and 65535 go both ways; 1 to 63 and values past a u16 are refused by the encoder', () => {
    for (const maxFrame of [0, 64, 65, 16396, 65535]) {
      expect(decodeFrame(encodeFrame({ ...hello, maxFrame }))).toEqual({ ...hello, maxFrame });
    }
    for (const maxFrame of [1, 63, -1, 65536, 100.5]) {
      expect(codeOf(() => encodeFrame({ ...hello, maxFrame })), String(maxFrame)).toBe('FP_ERR_BAD_PAYLOAD');
    }
  });

  it('a stated limit below 64, or any other number of trailing bytes, is FP_ERR_BAD_PAYLOAD', () => {
    const withTrailing = (extra: number[]) => {
      const base = encodeFrame(hello);
      const bytes = new Uint8Array(base.length + extra.length);
      bytes.set(base.subarray(0, -2));
      bytes.set(extra, base.length - 2);
      bytes[8] += extra.length;
      const c = crc16(bytes, 0, bytes.length - 2);
      bytes[bytes.length - 2] = c & 0xff;
      bytes[bytes.length - 1] = c >> 8;
      return bytes;
    };
    expect(decodeFrame(withTrailing([0x40, 0x00]))).toEqual({ ...hello, maxFrame: 64 });
    expect(decodeFrame(withTrailing([0x00, 0x00]))).toEqual({ ...hello, maxFrame: 0 });
    for (const extra of [[0x3f, 0x00], [0x01, 0x00], [0x00], [0x00, 0x01, 0x00], [0x00, 0x01, 0x00, 0x01]]) {
      expect(codeOf(() => decodeFrame(withTrailing(extra))), JSON.stringify(extra)).toBe('FP_ERR_BAD_PAYLOAD');
    }
  });
});

describe('serial lines [FP-8]', () => {
  it('lines without @ are console output, CR tolerated', () => {
    expect(decodeLine('boot: wifi ok\r')).toEqual({ kind: 'console', text: 'boot: wifi ok' });
    expect(decodeLine('')).toEqual({ kind: 'console', text: '' });
  });
  it('@ with non-base64 is FP_ERR_BAD_LINE', () => {
    expect(codeOf(() => decodeLine('@not base64!'))).toBe('FP_ERR_BAD_LINE');
    expect(codeOf(() => decodeLine('@AQc'))).toBe('FP_ERR_BAD_LINE');
  });
  it('@ with base64 of a bad frame gives the frame error', () => {
    expect(codeOf(() => decodeLine('@' + Buffer.from(fromHex('01070000000000000000d73e')).toString('base64')))).toBe('FP_ERR_BAD_CHECKSUM');
  });
  it('an over-long line is FP_ERR_TOO_LARGE', () => {
    expect(codeOf(() => decodeLine('@' + 'A'.repeat(30000)))).toBe('FP_ERR_TOO_LARGE');
  });
});
