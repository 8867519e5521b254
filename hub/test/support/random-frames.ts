// Seeded random frames of every type, for round-trip and agreement tests of the codecs.
import { MIN_RECEIVE_FRAME, type Frame, type HelloFrame, type Sample, type ValueTypeName } from '../../src/protocol/index.ts';
import { randomInt } from './random.ts';

export const TYPES: ValueTypeName[] = ['f32', 'f64', 'i32', 'bool'];

function randomString(rand: () => number, maxBytes: number): string {
  const alphabet = [...'abcXYZ019 _-.°µ温度"\\\n🙂']; // code points, so the emoji stays whole
  const n = randomInt(rand, 0, maxBytes);
  let s = '';
  for (;;) {
    const next = s + alphabet[randomInt(rand, 0, alphabet.length - 1)];
    if (Buffer.byteLength(next) > n) return s;
    s = next;
  }
}

function randomValue(rand: () => number, type: ValueTypeName): number | boolean {
  switch (type) {
    case 'bool': return rand() < 0.5;
    case 'i32': return randomInt(rand, -(2 ** 31), 2 ** 31 - 1);
    case 'f32': return Math.fround((rand() - 0.5) * 10 ** randomInt(rand, -40, 38));
    case 'f64': return (rand() - 0.5) * 10 ** randomInt(rand, -300, 300);
  }
}

export function randomFrame(rand: () => number): Frame {
  switch (randomInt(rand, 0, 6)) {
    case 0: {
      const ids = [...new Set(Array.from({ length: randomInt(rand, 0, 64) }, () => randomInt(rand, 0, 255)))];
      const hello: HelloFrame = {
        type: 'hello', session: randomInt(rand, 0, 2 ** 32 - 1), deviceId: 'dev:' + randomInt(rand, 0, 1e9),
        firmware: randomString(rand, 64),
        channels: ids.map((id) => ({ id, type: TYPES[randomInt(rand, 0, 3)], name: 'c' + randomString(rand, 63), unit: randomString(rand, 16) })),
      };
      // [FP-4.1.5] both forms: without the max receive frame, and with 0, the smallest, or any larger limit
      const form = randomInt(rand, 0, 5);
      if (form >= 3) hello.maxFrame = form === 3 ? 0 : form === 4 ? MIN_RECEIVE_FRAME : randomInt(rand, MIN_RECEIVE_FRAME, 0xffff);
      return hello;
    }
    case 1: {
      const samples: Sample[] = Array.from({ length: randomInt(rand, 1, 120) }, () => {
        const type = TYPES[randomInt(rand, 0, 3)];
        return { channel: randomInt(rand, 0, 255), type, offset: randomInt(rand, -(2 ** 31), 2 ** 31 - 1), value: randomValue(rand, type) };
      });
      const seq = randomInt(rand, 0, 2 ** 32 - 1);
      return rand() < 0.5 ? { type: 'readings', seq, samples } : { type: 'readings', seq, baseTime: randomInt(rand, 0, 2 ** 45), samples };
    }
    case 2: return { type: 'ack', ackedSeq: randomInt(rand, 0, 2 ** 32 - 1), hubTime: randomInt(rand, 0, 2 ** 45) };
    case 3: return { type: 'command', id: randomInt(rand, 0, 2 ** 32 - 1), timeoutMs: randomInt(rand, 0, 2 ** 32 - 1), name: 'n' + randomString(rand, 40), args: randomString(rand, 600) };
    case 4: return { type: 'command_result', id: randomInt(rand, 0, 2 ** 32 - 1), status: (['accepted', 'succeeded', 'failed', 'unknown'] as const)[randomInt(rand, 0, 3)], payload: randomString(rand, 600) };
    case 5: return { type: 'error', code: randomInt(rand, 0, 65535), text: randomString(rand, 255) };
    default: return { type: 'heartbeat' };
  }
}

