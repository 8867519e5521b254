// 100,000 seeded random and mutated frames into the live device endpoint: the hub never crashes,
// answers only documented close codes, keeps its memory, and a good device beside the noise
// loses nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { closeCodeFor, crc16, encodeFrame, ErrorCode, type ErrorName, type Frame } from '../src/protocol/index.ts';
import { startTestHub, waitFor, type TestHub } from './support/hub-fixture.ts';
import { randomInt, seededRandom } from './support/random.ts';

const TOTAL_FRAMES = 100_000;
const WORKERS = 8;

const seeds: Frame[] = [
  { type: 'readings', seq: 1, samples: [{ channel: 1, type: 'f32', offset: 0, value: 21.5 }, { channel: 4, type: 'bool', offset: -5, value: true }] },
  { type: 'readings', seq: 2, baseTime: Date.now() - 1000, samples: [{ channel: 3, type: 'i32', offset: 0, value: -4 }, { channel: 2, type: 'f64', offset: 9, value: NaN }] },
  { type: 'command_result', id: 1, status: 'succeeded', payload: '{}' },
  { type: 'heartbeat' },
  { type: 'error', code: 1, text: 'x' },
  { type: 'readings', seq: 3, samples: Array.from({ length: 40 }, (_, i) => ({ channel: i % 6, type: 'f32' as const, offset: i, value: i })) },
];

const TYPES = ['f32', 'f64', 'i32', 'bool'] as const;
const WILD_VALUES = [NaN, Infinity, -Infinity, 0, -0, 1e308, -1e-308, 2 ** 31 - 1, -(2 ** 31)];

/** A frame that decodes but carries nonsense ingest must sort out: wrong channels and types, NaN, odd times, seq jumps. */
function wildReadings(rand: () => number): Frame {
  const samples = Array.from({ length: randomInt(rand, 1, 60) }, () => {
    const type = TYPES[randomInt(rand, 0, 3)];
    const value = type === 'bool' ? rand() < 0.5 : type === 'i32' ? randomInt(rand, -(2 ** 31), 2 ** 31 - 1) : WILD_VALUES[randomInt(rand, 0, WILD_VALUES.length - 1)];
    return { channel: randomInt(rand, 0, 8), type, offset: randomInt(rand, -(2 ** 31), 2 ** 31 - 1), value };
  });
  const seq = randomInt(rand, 0, 2 ** 32 - 1);
  return rand() < 0.5 ? { type: 'readings', seq, samples } : { type: 'readings', seq, baseTime: randomInt(rand, 0, 2 ** 45), samples };
}

function mutate(rand: () => number): Uint8Array {
  // Nine in ten decode and go through ingest's checks; one in ten breaks the framing and ends the
  // connection [FP-7.3], so the fuzzer reconnects.
  if (rand() < 0.9) return encodeFrame(rand() < 0.8 ? wildReadings(rand) : seeds[randomInt(rand, 0, seeds.length - 1)]);
  const kind = randomInt(rand, 0, 5);
  if (kind === 0) return new Uint8Array(randomInt(rand, 0, 200)).map(() => randomInt(rand, 0, 255)); // garbage
  const bytes = encodeFrame(seeds[randomInt(rand, 0, seeds.length - 1)]).slice();
  const view = new DataView(bytes.buffer);
  switch (kind) {
    case 1: for (let f = randomInt(rand, 1, 4); f > 0; f--) bytes[randomInt(rand, 0, bytes.length - 1)] ^= 1 << randomInt(rand, 0, 7); break;
    case 2: return bytes.subarray(0, randomInt(rand, 0, bytes.length - 1)); // truncation
    case 3: view.setUint16(8, randomInt(rand, 0, 0xffff), true); break; // length lie
    case 4: bytes[0] = randomInt(rand, 0, 3); bytes[1] = randomInt(rand, 0, 9); break; // version/type
    case 5: if (bytes[1] === 2) view.setUint16(10, randomInt(rand, 0, 0xffff), true); break; // sample count lie
  }
  if (rand() < 0.5) view.setUint16(bytes.length - 2, crc16(bytes, 0, bytes.length - 2), true); // reach the payload parser
  return bytes;
}

const documented = new Set<number>([1000, 1001, 1006, 1009, ...Object.keys(ErrorCode).map((name) => closeCodeFor(name as ErrorName))]);

describe('fuzzing the device endpoint', () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startTestHub({ maxFramesPerSecond: 1_000_000, maxReadingsPerSecond: 1_000_000_000, maxBytesPerSecond: 1_000_000_000 });
  });
  afterAll(() => hub?.stop());

  it(`handles ${TOTAL_FRAMES} random and mutated frames with documented close codes; a good device loses nothing`, async () => {
    const wsUrl = hub.url.replace('http', 'ws') + '/ws/device';
    const good = hub.device('good-fuzz', await hub.provision('good-fuzz'));
    await good.connect();
    const t0 = Date.now() - 120_000;
    let goodSent = 0;
    const stream = setInterval(() => good.sendReadings([{ channel: 3, type: 'i32', offset: 0, value: goodSent }], t0 + goodSent++), 5);
    const unhandled: unknown[] = [];
    const onUnhandled = (err: unknown) => unhandled.push(err);
    process.on('unhandledRejection', onUnhandled);

    const closeCodes = new Map<number, number>();
    let sent = 0;
    let heapAtFifth = 0;
    const tokens = await Promise.all(Array.from({ length: WORKERS }, (_, w) => hub.provision(`fuzz-${w}`)));
    const handledByHub = async () => {
      const metrics = await (await fetch(hub.url + '/metrics')).text();
      const sum = (re: RegExp) => [...metrics.matchAll(re)].reduce((n, m) => n + Number(m[1]), 0);
      // decoded frames other than HELLO, plus frames refused for their bytes [FP-3.5]
      return sum(/^hub_frames_in_total\{type="(?!hello)[^"]*"\} (\d+)$/gm) + sum(/^hub_rejected_total\{code="FP_ERR_(?:TRUNCATED|BAD_VERSION|BAD_TYPE|BAD_LENGTH|TOO_LARGE|BAD_CHECKSUM|BAD_PAYLOAD)"\} (\d+)$/gm) - goodFrames();
    };
    const goodFrames = () => good.stats.sent + good.stats.resent;
    let handled = 0;
    async function worker(w: number): Promise<void> {
      const rand = seededRandom(1000 + w);
      for (let round = 0; handled < TOTAL_FRAMES; round++) {
        if (w === 0 && round % 50 === 0) handled = await handledByHub();
        const ws = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${tokens[w]}` }, localAddress: `127.0.1.${w + 1}` });
        ws.on('error', () => undefined);
        const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
        await new Promise((r) => { ws.on('open', r); ws.on('close', r); });
        if (ws.readyState === WebSocket.OPEN) {
          ws.send(encodeFrame({ type: 'hello', session: w, deviceId: `fuzz-${w}`, firmware: '', channels: [{ id: 1, type: 'f32', name: 't', unit: '' }, { id: 3, type: 'i32', name: 'n', unit: '' }] }));
          // a burst per connection; the hub closes it at the first undecodable frame
          for (let i = 0; i < 50 && ws.readyState === WebSocket.OPEN; i++, sent++) ws.send(mutate(rand));
          if (ws.readyState === WebSocket.OPEN) ws.close(1000);
        }
        const code = await closed;
        closeCodes.set(code, (closeCodes.get(code) ?? 0) + 1);
        if (!heapAtFifth && handled > TOTAL_FRAMES / 5) heapAtFifth = process.memoryUsage().heapUsed;
      }
    }
    try {
      await Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
    } finally {
      clearInterval(stream);
      process.off('unhandledRejection', onUnhandled);
    }

    handled = await handledByHub();
    expect(handled).toBeGreaterThanOrEqual(TOTAL_FRAMES);
    expect(unhandled).toEqual([]);
    for (const code of closeCodes.keys()) expect(documented.has(code), `close code ${code}`).toBe(true);
    expect([...closeCodes.keys()]).toEqual(expect.arrayContaining([4001, 4006, 4007]));
    // memory stays flat: no per-bad-frame residue (generous bound for GC timing)
    expect(process.memoryUsage().heapUsed - heapAtFifth).toBeLessThan(64 * 1024 * 1024);

    await good.waitAcked(undefined, 20_000);
    expect(good.connected).toBe(true);
    const res = await hub.api(`/api/devices/good-fuzz/readings?channel=count&from=${t0}&to=${t0 + 600_000}`);
    const values = ((await res.json()).points as { value: number }[]).map((p) => p.value);
    expect(values).toEqual(Array.from({ length: goodSent }, (_, i) => i));
    expect((await fetch(hub.url + '/healthz')).status).toBe(200);

    console.info(`fuzz: ${sent} frames sent on ${[...closeCodes.values()].reduce((a, b) => a + b, 0)} connections, ${handled} handled by the hub`);
    const metrics = await (await fetch(hub.url + '/metrics')).text();
    for (const code of ['FP_ERR_UNKNOWN_CHANNEL', 'FP_ERR_BAD_VALUE', 'FP_ERR_BAD_TIME', 'FP_ERR_BAD_CHECKSUM', 'FP_ERR_BAD_PAYLOAD', 'FP_ERR_TRUNCATED']) {
      expect(metrics, code).toMatch(new RegExp(`hub_rejected_total\\{code="${code}"\\} [1-9]`));
    }
  }, 120_000);
});
