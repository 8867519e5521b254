// The C reference codec (src/telemetry_frame.c) against the spec vectors and the hub's TypeScript
// codec. Compiles extras/test/vectors-check.c with the host C compiler (CC, default `cc`) and talks
// to it through a line-based case file; see the comment at the top of vectors-check.c.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  crc16, decodeFrame, decodeLine, encodeFrame, encodeLine, ErrorCode, errorName, ProtocolError,
  type ErrorName, type Frame, type Sample, type ValueTypeName,
} from '../../hub/src/protocol/index.ts';
import { randomInt, seededRandom } from '../../hub/test/support/random.ts';
import { randomFrame } from '../../hub/test/support/random-frames.ts';
import vectors from '../../hub/src/protocol/test-vectors.json' with { type: 'json' };

const here = fileURLToPath(new URL('.', import.meta.url));
const CC = process.env.CC ?? 'cc';
const CFLAGS = ['-std=c99', '-Wall', '-Wextra', '-Werror', '-pedantic', '-O2'];
const TF_ERR_NO_SPACE = 100; // library-only code of telemetry_frame.h

const fromHex = (hex: string) => new Uint8Array(Buffer.from(hex, 'hex'));
const toHex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

interface CResult {
  label: string;
  error: number;
  frame?: Frame;
  reencode?: 'same' | 'FAIL';
  reencoded?: string;
  hex?: string;
  line?: string;
  value?: number;
}

let dir = '';
let bin = '';
let softBin = '';

function compile(out: string, defines: string[]): void {
  try {
    execFileSync(CC, [...CFLAGS, ...defines, '-I', join(here, 'src'), '-o', out, join(here, 'extras/test/vectors-check.c'), join(here, 'src/telemetry_frame.c')], {
      stdio: 'pipe',
    });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? String(err);
    throw new Error(`compiling the C reference codec failed:\n${stderr}`);
  }
}

// Non-finite sample values travel as "NaN" / "Infinity" / "-Infinity" strings.
function parseOutput(stdout: string): CResult[] {
  return stdout
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l, (key, v) => (key === 'value' && typeof v === 'string' ? Number(v) : v)) as CResult);
}

function run(program: string, args: string[]): CResult[] {
  try {
    return parseOutput(execFileSync(program, args, { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 }));
  } catch (err) {
    // exit status 1 means "some case failed": keep its output so each case reports itself
    const e = err as { status?: number; stdout?: string; stderr?: string };
    if (e.status === 1 && typeof e.stdout === 'string') return parseOutput(e.stdout);
    throw new Error(`${program} failed: ${e.stderr ?? String(err)}`);
  }
}

let caseFiles = 0;
/** Runs cases `[kind, label, data]` through a vectors-check binary; results by label. */
function check(program: string, cases: [kind: 'F' | 'L' | 'M' | 'N', label: string, data: string][]): Map<string, CResult> {
  const file = join(dir, `cases-${caseFiles++}.txt`);
  writeFileSync(file, cases.map(([kind, label, data]) => `${kind} ${label} ${data}\n`).join(''));
  const results = new Map(run(program, [file]).map((r) => [r.label, r]));
  expect(results.size, 'one result per case').toBe(cases.length);
  return results;
}

function codeName(code: number): ErrorName | 'no error' | 'TF_ERR_NO_SPACE' {
  if (code === 0) return 'no error';
  if (code === TF_ERR_NO_SPACE) return 'TF_ERR_NO_SPACE';
  return errorName(code) ?? (`unknown code ${code}` as ErrorName);
}

/**
 * What the hub makes of a frame's bytes: its codec's verdict, plus the frame checks its session
 * makes right after decoding — READINGS seq 0 [FP-5.1] and a channel name declared twice in a
 * HELLO [FP-4.1.4], both FP_ERR_BAD_PAYLOAD. The C decoder makes all of them.
 */
function tsDecode(bytes: Uint8Array): { code: ErrorName | 'no error'; frame?: Frame; message?: string } {
  let frame: Frame;
  try {
    frame = decodeFrame(bytes);
  } catch (err) {
    if (err instanceof ProtocolError) return { code: err.code, message: err.message };
    throw err;
  }
  if (frame.type === 'readings' && frame.seq === 0) return { code: 'FP_ERR_BAD_PAYLOAD', message: 'READINGS seq 0' };
  if (frame.type === 'hello' && new Set(frame.channels.map((c) => c.name)).size !== frame.channels.length) {
    return { code: 'FP_ERR_BAD_PAYLOAD', message: 'channel name declared twice' };
  }
  return { code: 'no error', frame };
}

beforeAll(() => {
  try {
    execFileSync(CC, ['--version'], { stdio: 'pipe' });
  } catch {
    throw new Error(
      `The firmware tests need a C99 compiler: "${CC}" could not be run. Install one (e.g. apt-get install gcc) or set CC.`,
    );
  }
  dir = mkdtempSync(join(tmpdir(), 'telemetry-firmware-'));
  bin = join(dir, 'vectors-check');
  softBin = join(dir, 'vectors-check-soft-double');
  compile(bin, []);
  compile(softBin, ['-DTF_SOFT_DOUBLE=1']); // the AVR path: f64 converted through float by hand
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('C codec: spec test vectors [FP-10]', () => {
  let results: Map<string, CResult>;
  beforeAll(() => {
    results = check(bin, [
      ...vectors.frames.map(({ clause, hex }) => ['F', clause, hex] as ['F', string, string]),
      ...vectors.lines.map(({ clause, line }) => ['L', clause, line] as ['L', string, string]),
      ...vectors.malformed.map(({ hex }, i) => ['M', `malformed-${i}`, hex] as ['M', string, string]),
    ]);
  });

  it.each(vectors.frames)('$clause decodes to the spec meaning and re-encodes to the same bytes', ({ clause, frame }) => {
    const r = results.get(clause)!;
    expect(codeName(r.error)).toBe('no error');
    expect(r.frame).toEqual(frame);
    expect(r.reencode, r.reencoded).toBe('same');
  });

  it.each(vectors.lines)('$clause serial line decodes and re-encodes', ({ clause, frame }) => {
    const r = results.get(clause)!;
    expect(codeName(r.error)).toBe('no error');
    expect(r.frame).toEqual(frame);
    expect(r.reencode).toBe('same');
  });

  it.each(vectors.malformed.map((v, i) => ({ ...v, i })))('rejects $hex with $code', ({ code, i }) => {
    const r = results.get(`malformed-${i}`)!;
    expect(codeName(r.error)).toBe(code);
    expect(r.error).toBe(ErrorCode[code as ErrorName]);
  });

  it('the library uses no stdio and no heap', () => {
    for (const file of ['src/telemetry_frame.c', 'src/telemetry_frame.h', 'src/telemetry_session.c', 'src/telemetry_session.h']) {
      const src = readFileSync(join(here, file), 'utf8');
      expect(src, file).not.toMatch(/#include\s*<(stdio|stdlib)\.h>|\b(malloc|calloc|realloc|free|printf)\s*\(/);
    }
  });
});

describe('C encoders → TS codec', () => {
  let out: Map<string, CResult>;
  const frameOf = (label: string) => {
    const r = out.get(label);
    expect(r?.hex, label).toBeTypeOf('string');
    return decodeFrame(fromHex(r!.hex!));
  };

  const hello: Frame = {
    type: 'hello',
    session: 0xdeadbeef,
    deviceId: 'esp32-kitchen:01',
    firmware: '2.1.0-rc1',
    channels: [
      { id: 0, type: 'f32', name: 'temperature', unit: '°C' },
      { id: 1, type: 'f64', name: 'humidity', unit: '%' },
      { id: 7, type: 'i32', name: 'count', unit: '' },
      { id: 255, type: 'bool', name: 'door', unit: '' },
    ],
  };
  const readingsAbs: Frame = {
    type: 'readings',
    seq: 42,
    baseTime: 1732550400000,
    samples: [
      { channel: 0, type: 'f32', offset: -1500, value: 21.25 },
      { channel: 0, type: 'f32', offset: -500, value: Math.fround(0.1) },
      { channel: 1, type: 'f64', offset: -2147483648, value: 3.141592653589793 },
      { channel: 7, type: 'i32', offset: 2147483647, value: -2147483648 },
      { channel: 255, type: 'bool', offset: -1, value: false },
      { channel: 255, type: 'bool', offset: 0, value: true },
    ],
  };

  beforeAll(() => {
    out = new Map(run(bin, ['--encode']).map((r) => [r.label, r]));
  });

  it('CRC-16 check value [FP-3.3]', () => {
    expect(out.get('crc-check')?.value).toBe(0x29b1);
    expect(crc16(new TextEncoder().encode('123456789'))).toBe(0x29b1);
  });

  it('HELLO with a unicode unit and channel ids 0 and 255', () => {
    expect(frameOf('hello')).toEqual(hello);
  });

  it('HELLO ending in a max receive frame [FP-4.1.5]: 64, and 0 for the protocol maximum', () => {
    expect(frameOf('hello-max-frame')).toEqual({ ...hello, maxFrame: 64 });
    expect(out.get('hello-max-frame')!.hex).toBe(toHex(encodeFrame({ ...hello, maxFrame: 64 })));
    expect(frameOf('hello-max-frame-0')).toEqual({ type: 'hello', session: 1, deviceId: 'd', firmware: '', channels: [], maxFrame: 0 });
  });

  it('HELLO as a serial line [FP-8.1]', () => {
    const line = out.get('hello-line')!.line!;
    expect(decodeLine(line)).toEqual({ kind: 'frame', frame: hello });
    expect(encodeLine(hello)).toBe(line + '\n');
  });

  it('READINGS built sample by sample: absolute time, all four value types, extreme offsets', () => {
    expect(frameOf('readings-abs')).toEqual(readingsAbs);
    expect(fromHex(out.get('readings-abs')!.hex!)[2]).toBe(0x01); // ABS_TIME flag [FP-4.2]
  });

  it('READINGS stamped on arrival, seq 0xFFFFFFFF', () => {
    const frame = frameOf('readings-arrival');
    expect(frame).toEqual({
      type: 'readings',
      seq: 0xffffffff,
      samples: [
        { channel: 0, type: 'f32', offset: -1000, value: -0.5 },
        { channel: 7, type: 'i32', offset: 0, value: 123456 },
      ],
    });
    expect('baseTime' in frame).toBe(false);
    expect(fromHex(out.get('readings-arrival')!.hex!)[2]).toBe(0x00);
  });

  it('ACK, COMMAND, COMMAND_RESULT, ERROR, HEARTBEAT', () => {
    expect(frameOf('ack')).toEqual({ type: 'ack', ackedSeq: 7, hubTime: 1732550400123 });
    expect(frameOf('command')).toEqual({ type: 'command', id: 0xfffffffe, timeoutMs: 30000, name: 'set-rate', args: '{"hz":0.5}' });
    expect(frameOf('command-result')).toEqual({
      type: 'command_result', id: 9, status: 'failed', payload: '{"error":"température trop élevée"}',
    });
    expect(frameOf('heartbeat')).toEqual({ type: 'heartbeat' });
  });

  it('ERROR text over 255 bytes is cut at a character boundary, as the TS encoder does', () => {
    const text = 'x' + 'é'.repeat(150);
    expect(frameOf('error-long')).toEqual({ type: 'error', code: 24, text: 'x' + 'é'.repeat(125) + '…' });
    expect(out.get('error-long')!.hex).toBe(toHex(encodeFrame({ type: 'error', code: 24, text })));
  });

  it('C and TS encoders produce identical bytes for the same frames', () => {
    for (const label of ['hello', 'hello-max-frame', 'hello-max-frame-0', 'readings-abs', 'readings-arrival', 'ack', 'command', 'command-result', 'heartbeat']) {
      const hex = out.get(label)!.hex!;
      expect(toHex(encodeFrame(decodeFrame(fromHex(hex)))), label).toBe(hex);
    }
  });

  it('a builder that runs out of buffer still finishes a valid frame', () => {
    expect(frameOf('readings-full-buffer')).toEqual({
      type: 'readings',
      seq: 5,
      samples: [
        { channel: 3, type: 'f32', offset: 0, value: 0 },
        { channel: 3, type: 'f32', offset: 1, value: 1 },
      ],
    });
  });

  it('the builder stops at the 16384-byte payload limit with FP_ERR_TOO_LARGE [FP-3.4]', () => {
    expect(codeName(out.get('readings-limit-add')!.error)).toBe('FP_ERR_TOO_LARGE');
    expect(out.get('readings-limit-count')!.value).toBe(1170);
    const bytes = fromHex(out.get('readings-limit')!.hex!);
    expect(bytes.length).toBe(12 + 2 + 1170 * 14);
    const frame = decodeFrame(bytes);
    if (frame.type !== 'readings') throw new Error('not readings');
    expect(frame.samples).toHaveLength(1170);
    expect(frame.samples[1169]).toEqual({ channel: 1, type: 'f64', offset: 0, value: 1169 });
    const oneMore: Sample[] = [...frame.samples, { channel: 1, type: 'f64', offset: 0, value: 0 }];
    expect(() => encodeFrame({ ...frame, samples: oneMore })).toThrow(ProtocolError);
  });

  it('encoders refuse what the hub would refuse [FP-3.4]', () => {
    const expected: Record<string, ReturnType<typeof codeName>> = {
      'refuse-device-id': 'FP_ERR_BAD_PAYLOAD',
      'refuse-empty-device-id': 'FP_ERR_BAD_PAYLOAD',
      'refuse-duplicate-channel': 'FP_ERR_BAD_PAYLOAD',
      'refuse-empty-channel-name': 'FP_ERR_BAD_PAYLOAD',
      'refuse-long-unit': 'FP_ERR_BAD_PAYLOAD',
      'refuse-channel-type': 'FP_ERR_BAD_PAYLOAD',
      'refuse-bad-utf8': 'FP_ERR_BAD_PAYLOAD',
      'refuse-65-channels': 'FP_ERR_BAD_PAYLOAD',
      'accept-64-channels': 'no error',
      'refuse-sample-type': 'FP_ERR_BAD_PAYLOAD',
      'refuse-no-samples': 'FP_ERR_BAD_PAYLOAD',
      'refuse-empty-command-name': 'FP_ERR_BAD_PAYLOAD',
      'refuse-command-status': 'FP_ERR_BAD_PAYLOAD',
      'refuse-duplicate-name': 'FP_ERR_BAD_PAYLOAD',
      'refuse-seq-0': 'FP_ERR_BAD_PAYLOAD',
      'refuse-seq-0-builder': 'FP_ERR_BAD_PAYLOAD',
      'refuse-time-2^53': 'FP_ERR_BAD_PAYLOAD',
      'refuse-time-2^53-builder': 'FP_ERR_BAD_PAYLOAD',
      'refuse-ack-time-2^53': 'FP_ERR_BAD_PAYLOAD',
      'refuse-small-buffer': 'TF_ERR_NO_SPACE',
      'refuse-small-line-buffer': 'TF_ERR_NO_SPACE',
      'refuse-max-frame-63': 'FP_ERR_BAD_PAYLOAD',
    };
    for (const [label, name] of Object.entries(expected)) expect(codeName(out.get(label)!.error), label).toBe(name);
    // the largest time allowed still encodes, and the hub's codec reads it back exactly
    expect(frameOf('accept-time-2^53-1')).toMatchObject({ type: 'readings', seq: 1, baseTime: 2 ** 53 - 1 });
    expect(frameOf('accept-ack-time-2^53-1')).toEqual({ type: 'ack', ackedSeq: 1, hubTime: 2 ** 53 - 1 });
  });
});

// ---- randomized agreement between the two codecs ----

function withValidCrc(bytes: Uint8Array): Uint8Array {
  if (bytes.length >= 12) {
    const c = crc16(bytes, 0, bytes.length - 2);
    bytes[bytes.length - 2] = c & 0xff;
    bytes[bytes.length - 1] = c >> 8;
  }
  return bytes;
}

describe('C and TS codecs agree beyond the vectors', () => {
  it('600 random TS-encoded frames: C decodes the same values and re-encodes the same bytes, or refuses what the hub refuses', () => {
    const rand = seededRandom(20261126);
    const frames = Array.from({ length: 600 }, () => randomFrame(rand));
    const results = check(bin, frames.map((f, i) => ['F', `r${i}`, toHex(encodeFrame(f))]));
    let refused = 0;
    frames.forEach((frame, i) => {
      const r = results.get(`r${i}`)!;
      const hub = tsDecode(encodeFrame(frame));
      expect(codeName(r.error), `r${i}`).toBe(hub.code);
      if (hub.code !== 'no error') {
        refused++;
        return;
      }
      expect(r.frame, `r${i}`).toEqual(frame);
      expect(r.reencode, `r${i} ${r.reencoded}`).toBe('same');
    });
    expect(refused).toBeLessThan(60);
  });

  it('mutated and random bytes: C gives the same error code as TS, or the same frame', () => {
    const rand = seededRandom(99);
    const seeds = [...vectors.frames.map((v) => fromHex(v.hex)), ...Array.from({ length: 40 }, () => encodeFrame(randomFrame(rand)))];
    const inputs: Uint8Array[] = [];
    for (let i = 0; i < 4000; i++) {
      let bytes: Uint8Array;
      if (i % 8 === 0) {
        bytes = new Uint8Array(randomInt(rand, 0, 48)).map(() => randomInt(rand, 0, 255));
        if (bytes.length > 0 && rand() < 0.5) bytes[0] = 1;
      } else {
        bytes = seeds[randomInt(rand, 0, seeds.length - 1)].slice();
        if (i % 8 === 1) bytes = bytes.subarray(0, randomInt(rand, 0, bytes.length));
        const flips = randomInt(rand, 1, 3);
        for (let f = 0; f < flips && bytes.length > 0; f++) bytes[randomInt(rand, 0, bytes.length - 1)] ^= 1 << randomInt(rand, 0, 7);
        // with a valid checksum the mutation reaches the payload parser
        if (i % 2 === 0) withValidCrc(bytes);
      }
      inputs.push(bytes);
    }
    const results = check(bin, inputs.map((b, i) => ['M', `m${i}`, toHex(b)]));
    const seen = new Set<string>();
    inputs.forEach((bytes, i) => {
      const c = results.get(`m${i}`)!;
      const ts = tsDecode(bytes);
      const where = `m${i} ${toHex(bytes)}`;
      expect(codeName(c.error), where).toBe(ts.code);
      seen.add(ts.code);
      if (ts.frame) {
        expect(c.frame, where).toEqual(ts.frame);
        // whatever C accepts, its own re-encoding means the same to the TS codec
        expect(decodeFrame(fromHex(c.reencoded!)), where).toEqual(ts.frame);
      }
    });
    expect([...seen]).toEqual(expect.arrayContaining([
      'no error', 'FP_ERR_TRUNCATED', 'FP_ERR_BAD_VERSION', 'FP_ERR_BAD_TYPE', 'FP_ERR_BAD_LENGTH', 'FP_ERR_TOO_LARGE',
      'FP_ERR_BAD_CHECKSUM', 'FP_ERR_BAD_PAYLOAD',
    ]));
  });

  it('3000 frames built byte by byte at and past every hub limit: C refuses exactly what the hub refuses [FP-3.4]', () => {
    // Frames are assembled here without an encoder, so fields can be one past a limit.
    const rand = seededRandom(3453);
    const pick = <T,>(xs: T[]): T => xs[randomInt(rand, 0, xs.length - 1)];
    const u16 = (v: number) => [v & 0xff, (v >> 8) & 0xff];
    const u32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
    const u64 = (v: bigint) => Array.from({ length: 8 }, (_, i) => Number((v >> BigInt(8 * i)) & 0xffn));
    const text = (n: number, alphabet = 'abcXYZ09-._:') => Array.from({ length: n }, () => pick([...alphabet]).charCodeAt(0));
    const str8 = (b: number[]) => [b.length & 0xff, ...b];
    const str16 = (b: number[]) => [...u16(b.length), ...b];
    const around = (limit: number) => pick([0, 1, limit - 1, limit, limit + 1, randomInt(rand, 0, limit + 1)]);
    const time = (): bigint => pick([
      0n, 1700000000000n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n,
      BigInt(randomInt(rand, 0, 2 ** 32 - 1)) << BigInt(randomInt(rand, 0, 32)),
    ]);
    const frame = (type: number, flags: number, seq: number, payload: number[]): Uint8Array => {
      const bytes = new Uint8Array([1, type, flags, 0, ...u32(seq), ...u16(payload.length), ...payload, 0, 0]);
      return withValidCrc(bytes);
    };
    const hello = (): Uint8Array => {
      const count = pick([0, 1, 2, 5, 63, 64, 65]);
      const ids = Array.from({ length: count }, (_, i) => (rand() < 0.05 ? 0 : i));
      const names = ids.map((_, i) => (rand() < 0.05 ? [0x63] : rand() < 0.03 ? [] : text(around(64)).concat(u16(i))).slice(0, rand() < 0.9 ? 64 : 70));
      const channels = ids.flatMap((id, i) => [id, pick([1, 2, 3, 4, 4, 0, 5]), ...str8(names[i]), ...str8(text(around(16)))]);
      const deviceId = rand() < 0.1 ? text(randomInt(rand, 1, 8), 'ab c°/') : text(around(64));
      // [FP-4.1.5] nothing, the optional max receive frame around its limit, or a wrong number of bytes after the channels
      const tail = pick([[], [], [], u16(around(64)), u16(pick([0, 65535])), [0x40], [0, 1, 0]]);
      return frame(1, 0, 0, [...u32(randomInt(rand, 0, 2 ** 32 - 1)), ...str8(deviceId), ...str8(text(around(64))), count, ...channels, ...tail]);
    };
    const readings = (): Uint8Array => {
      const abs = rand() < 0.6;
      const count = pick([0, 1, 3]);
      const samples = Array.from({ length: count }, () => {
        const vt = pick([1, 2, 3, 4, 4, 0, 5]);
        const value = vt === 2 ? 8 : vt === 4 ? 1 : 4;
        return [randomInt(rand, 0, 255), vt, ...u32(randomInt(rand, 0, 2 ** 32 - 1)), ...Array.from({ length: value }, () => (vt === 4 ? pick([0, 1, 2]) : randomInt(rand, 0, 255)))];
      }).flat();
      const seq = pick([0, 1, 2, 0xffffffff, randomInt(rand, 0, 2 ** 32 - 1)]);
      return frame(2, abs ? 1 : pick([0, 0x80]), seq, [...(abs ? u64(time()) : []), ...u16(count), ...samples]);
    };
    const makers = [
      hello, hello, readings, readings,
      () => frame(3, 0, 0, [...u32(randomInt(rand, 0, 2 ** 32 - 1)), ...u64(time())]),
      () => frame(4, 0, 0, [...u32(1), ...u32(1000), ...str8(text(around(64))), ...str16(text(around(4096), '{}":1a'))]),
      () => frame(5, 0, 0, [...u32(1), pick([0, 1, 2, 3, 4, 255]), ...str16(text(around(4096), '{}":1a'))]),
      () => frame(6, 0, 0, [...u16(randomInt(rand, 0, 40)), ...str8(text(around(255)))]),
    ];
    const inputs = Array.from({ length: 3000 }, () => pick(makers)());
    const results = check(bin, inputs.map((b, i) => ['M', `lim${i}`, toHex(b)]));
    const verdicts = new Map<string, number>();
    inputs.forEach((bytes, i) => {
      const c = results.get(`lim${i}`)!;
      const hub = tsDecode(bytes);
      const where = `lim${i} ${hub.message ?? ''} ${toHex(bytes).slice(0, 120)}`;
      expect(codeName(c.error), where).toBe(hub.code);
      if (hub.frame) expect(c.frame, where).toEqual(hub.frame);
      const key = hub.code === 'no error' ? 'accepted' : (hub.message ?? '').replace(/[0-9]+/g, 'N').replace(/"[^"]*"/g, 'S');
      verdicts.set(key, (verdicts.get(key) ?? 0) + 1);
    });
    // every limit was hit from both sides
    const reasons = [...verdicts.keys()].join('\n');
    for (const reason of ['accepted', 'time does not fit', 'READINGS seq N', 'declared twice', 'channel name is N bytes', 'unit is N bytes',
      'firmware is N bytes', 'device id is N bytes', 'is not allowed', 'channels, limit', 'command name is N bytes', 'command args is N bytes',
      'result payload is N bytes', 'max receive frame N is below N', 'byte(s) left over', 'empty command name', 'has an empty name', 'no samples', 'bool value', 'unknown value type', 'unknown command status']) {
      expect(reasons, reason).toContain(reason);
    }
    expect(verdicts.get('accepted')).toBeGreaterThan(300);
  });

  it('serial lines [FP-8]: round trips, CRLF, bad base64, bad frames, over-long lines', () => {
    const rand = seededRandom(8);
    // frames the hub accepts (random HELLOs may repeat a channel name)
    const frames = Array.from({ length: 80 }, () => randomFrame(rand)).filter((f) => tsDecode(encodeFrame(f)).code === 'no error');
    const badChecksum = '@' + Buffer.from(fromHex('01070000000000000000d73e')).toString('base64');
    const odd: [string, string][] = [
      ['crlf', vectors.lines[0].line + '\r'],
      ['not-base64', '@not base64!'],
      ['short-quad', '@AQc'],
      ['bad-padding', '@AQ=c'],
      ['inner-padding', '@AQ==AAA'],
      ['bad-checksum', badChecksum],
      ['empty-frame', '@'],
      ['too-long', '@' + 'A'.repeat(30000)],
    ];
    const results = check(bin, [
      ...frames.map((f, i) => ['L', `l${i}`, encodeLine(f).slice(0, -1)] as ['L', string, string]),
      ...odd.map(([label, line]) => ['N', label, line] as ['N', string, string]),
    ]);
    frames.forEach((frame, i) => {
      const r = results.get(`l${i}`)!;
      expect(r.frame, `l${i}`).toEqual(frame);
      expect(r.reencode, `l${i}`).toBe('same');
    });
    for (const [label, line] of odd) {
      let ts: string;
      try {
        ts = decodeLine(line).kind === 'frame' ? 'no error' : 'console';
      } catch (err) {
        ts = (err as ProtocolError).code;
      }
      expect(codeName(results.get(label)!.error), label).toBe(ts);
    }
    expect(codeName(results.get('not-base64')!.error)).toBe('FP_ERR_BAD_LINE');
    expect(codeName(results.get('too-long')!.error)).toBe('FP_ERR_TOO_LARGE');
  });
});

describe('C codec with TF_SOFT_DOUBLE (targets whose double is 32 bits, such as AVR)', () => {
  it('still passes every spec frame vector', () => {
    const results = check(softBin, vectors.frames.map(({ clause, hex }) => ['F', clause, hex]));
    for (const { clause, frame } of vectors.frames) {
      expect(results.get(clause)!.frame, clause).toEqual(frame);
      expect(results.get(clause)!.reencode, clause).toBe('same');
    }
  });

  it('converts f64 to and from float exactly like Math.fround (round to nearest, ties to even)', () => {
    const edge = [
      3.25, Math.PI, 0.1, 0, -0, 1e300, -1e300, 5e-324, -1e-320, 2 ** -149, 2 ** -150, 3 * 2 ** -151, 2 ** -150 * 1.0000001,
      1.1754942106924411e-38, 1.1754943508222875e-38, 3.4028234663852886e38, 3.4028235677973366e38, 3.4028235677973362e38,
      1 + 2 ** -24, 1 + 3 * 2 ** -24, 1 + 2 ** -23 + 2 ** -52, NaN, Infinity, -Infinity,
    ];
    const rand = seededRandom(64);
    const view = new DataView(new ArrayBuffer(8));
    const randomBits = Array.from({ length: 400 }, () => {
      view.setUint32(0, randomInt(rand, 0, 2 ** 32 - 1));
      view.setUint32(4, randomInt(rand, 0, 2 ** 32 - 1));
      return view.getFloat64(0);
    });
    const values = [...edge, ...randomBits];
    const frames: Frame[] = [];
    for (let i = 0; i < values.length; i += 8) {
      frames.push({ type: 'readings', seq: i + 1, samples: values.slice(i, i + 8).map((value) => ({ channel: 1, type: 'f64', offset: 0, value })) });
    }
    const results = check(softBin, frames.map((f, i) => ['M', `d${i}`, toHex(encodeFrame(f))]));
    frames.forEach((frame, i) => {
      if (frame.type !== 'readings') return;
      const expected = { ...frame, samples: frame.samples.map((s) => ({ ...s, value: Math.fround(s.value as number) })) };
      const r = results.get(`d${i}`)!;
      expect(r.frame, `decode d${i}`).toEqual(expected);
      expect(decodeFrame(fromHex(r.reencoded!)), `encode d${i}`).toEqual(expected);
    });
  });

  it('encodes f64 samples through float', () => {
    const soft = new Map(run(softBin, ['--encode']).map((r) => [r.label, r]));
    const frame = decodeFrame(fromHex(soft.get('readings-abs')!.hex!));
    if (frame.type !== 'readings') throw new Error('not readings');
    expect(frame.samples[2]).toEqual({ channel: 1, type: 'f64', offset: -2147483648, value: Math.fround(Math.PI) });
  });
});
