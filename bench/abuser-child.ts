// One misbehaving client for the isolation scenario, in a process of its own so that it takes no
// CPU from the good devices' load generator. One kind per process:
//   fat-frames     a device writing 1,600-sample READINGS frames as fast as its socket takes them,
//                  never waiting for an ACK, and reconnecting at once when the hub closes it
//   channel-churn  a device reconnecting `churnPerSecond` times a second, each time with a HELLO
//                  of MAX_CHANNELS channel names it never declared before
//   history        `concurrency` clients each repeating one aggregate history query over a long
//                  series, the next as soon as the last is answered
//   stuck-live     a /ws/live client subscribed to every device that stops reading its socket after
//                  the subscription is confirmed; replaced by a fresh one every `liveReopenMs`
// `start` returns once the abuse is under way, `stop` ends it and returns what it did.
import { randomInt } from 'node:crypto';
import WebSocket from 'ws';
import { decodeFrame, encodeFrame, MAX_CHANNELS, type ChannelDescriptor } from '../hub/src/protocol/index.ts';
import { BenchDevice, openDeviceSocket } from './bench-device.ts';
import { deviceToken } from './bench-devices.ts';
import { announce, serveRpc } from './child-rpc.ts';
import { ReadingsTemplate } from './frame-template.ts';
import { distribution, sleep, type Distribution } from './stats.ts';

export type AbuserKind = 'fat-frames' | 'channel-churn' | 'history' | 'stuck-live';

export interface AbuserConfig {
  kind: AbuserKind;
  hubUrl: string;
  adminToken: string;
  /** fat-frames, channel-churn: the device it connects as; history: the device it queries */
  deviceId: string;
  localAddress?: string;
  /** fat-frames: samples per frame */
  fatSamples?: number;
  /** channel-churn: connection attempts per second */
  churnPerSecond?: number;
  /** history: the query string after `?` (without `to`, set to the time of each request) */
  historyQuery?: string;
  /** history: queries in flight */
  concurrency?: number;
  /** stuck-live: how long one non-reading client is kept before a fresh one replaces it */
  liveReopenMs?: number;
}

export interface AbuserStats {
  kind: AbuserKind;
  /** what the abuser counted, by name (frames written, connections, queries, …) */
  counts: Record<string, number>;
  /** close codes the hub ended the abuser's connections with, as seen by the client */
  closeCodes: Record<string, number>;
  /** history: query times, ms (request to full body) */
  queryMs?: Distribution;
  /** history: HTTP statuses of the answers */
  statuses?: Record<string, number>;
}

const config = JSON.parse(process.argv[2]) as AbuserConfig;
const counts: Record<string, number> = {};
const closeCodes: Record<string, number> = {};
const count = (name: string, by = 1) => {
  counts[name] = (counts[name] ?? 0) + by;
};
let running = true;
let done: Promise<unknown> = Promise.resolve();
const wsBase = config.hubUrl.replace(/^http/, 'ws');

// — fat frames —

const FAT_CHANNEL: ChannelDescriptor[] = [{ id: 1, type: 'f32', name: 'temperature', unit: '°C' }];
/** bytes the abuser lets pile up in its own socket buffer before it waits for the hub to read */
const FAT_BUFFER = 256 * 1024;

async function fatFrames(firstConnection: () => void): Promise<void> {
  const template = new ReadingsTemplate(FAT_CHANNEL, config.fatSamples ?? 1600);
  counts.frameBytes = template.bytes;
  while (running) {
    const device = new BenchDevice({ hubUrl: config.hubUrl, id: config.deviceId, token: deviceToken(config.deviceId), channels: FAT_CHANNEL, localAddress: config.localAddress });
    try {
      await device.connect();
    } catch (err) {
      count('connectFailures');
      process.stderr.write(`fat-frames: ${(err as Error).message}\n`);
      await sleep(100);
      continue;
    }
    count('connections');
    firstConnection();
    let acked = device.acked;
    device.onAck = (_d, seq) => {
      count('framesAcked', seq - acked);
      count('readingsAcked', (seq - acked) * template.samples);
      acked = seq;
    };
    const ws = device.ws!;
    await new Promise<void>((resolve) => {
      ws.once('close', (code) => {
        // only the hub's closes count, not the abuser's own when it is stopped
        if (running) closeCodes[code] = (closeCodes[code] ?? 0) + 1;
        resolve();
      });
      const pump = () => {
        if (ws.readyState !== WebSocket.OPEN) return;
        if (!running) return void ws.terminate();
        while (ws.bufferedAmount < FAT_BUFFER) {
          device.sent++;
          ws.send(template.make(device.sent, Date.now()));
          count('framesWritten');
        }
        setTimeout(pump, 2);
      };
      pump();
    });
  }
}

// — channel churn —

async function channelChurn(firstAttempt: () => void): Promise<void> {
  const interval = 1000 / (config.churnPerSecond ?? 10);
  for (let attempt = 0; running; attempt++) {
    const started = performance.now();
    const channels: ChannelDescriptor[] = Array.from({ length: MAX_CHANNELS }, (_, i) => ({ id: i + 1, type: 'f32', name: `churn-${attempt}-${i}`, unit: '' }));
    const ws = openDeviceSocket(config.hubUrl, deviceToken(config.deviceId), config.localAddress);
    let admitted = false;
    const code = await new Promise<number>((resolve) => {
      ws.on('open', () => ws.send(encodeFrame({ type: 'hello', session: randomInt(0x1_0000_0000), deviceId: config.deviceId, firmware: 'bench', channels })));
      ws.on('message', (data: Buffer) => {
        const frame = decodeFrame(data);
        if (frame.type === 'ack') {
          // admitted (the bound is not reached yet): leave, to come back with new names
          count('helloAccepted');
          admitted = true;
          ws.close(1000);
        } else if (frame.type === 'error') count(`error${frame.code}`);
      });
      ws.on('error', () => undefined);
      ws.on('unexpected-response', (_req, res) => {
        ws.terminate();
        resolve(res.statusCode ?? 0);
      });
      ws.on('close', (closeCode) => resolve(closeCode));
    });
    count('attempts');
    // the hub's refusals, not the abuser's own closes after an admitted HELLO
    if (!admitted) closeCodes[code] = (closeCodes[code] ?? 0) + 1;
    firstAttempt();
    await sleep(Math.max(0, interval - (performance.now() - started)));
  }
}

// — heavy history queries —

const queryTimes: number[] = [];
const statuses: Record<string, number> = {};
const inFlight = new Set<AbortController>();

async function historyQueries(firstAnswer: (err?: Error) => void): Promise<void> {
  const path = `${config.hubUrl}/api/devices/${encodeURIComponent(config.deviceId)}/readings?${config.historyQuery}`;
  const worker = async () => {
    while (running) {
      const abort = new AbortController();
      inFlight.add(abort);
      const started = performance.now();
      try {
        const res = await fetch(`${path}&to=${Date.now()}`, { headers: { authorization: `Bearer ${config.adminToken}` }, signal: abort.signal });
        const body = await res.text();
        queryTimes.push(performance.now() - started);
        statuses[res.status] = (statuses[res.status] ?? 0) + 1;
        count('bodyBytes', body.length);
        if (res.status !== 200) {
          firstAnswer(new Error(`history query answered HTTP ${res.status}: ${body.slice(0, 300)}`));
          await sleep(100);
          continue;
        }
        if (counts.windows === undefined) counts.windows = (JSON.parse(body) as { points: unknown[] }).points.length;
        firstAnswer();
      } catch (err) {
        if (!running) return;
        count('failures');
        firstAnswer(err as Error);
        await sleep(100);
      } finally {
        inFlight.delete(abort);
      }
    }
  };
  await Promise.all(Array.from({ length: config.concurrency ?? 4 }, worker));
}

// — a live client that never reads —

let stuck: WebSocket | null = null;

function openStuckLive(): Promise<WebSocket> {
  const ws = new WebSocket(`${wsBase}/ws/live`, { headers: { authorization: `Bearer ${config.adminToken}` }, perMessageDeflate: false, localAddress: config.localAddress });
  return new Promise((resolve, reject) => {
    ws.once('error', reject);
    ws.once('open', () => ws.send(JSON.stringify({ type: 'subscribe', devices: '*' })));
    ws.on('message', (data: Buffer) => {
      if ((JSON.parse(data.toString()) as { type?: string }).type !== 'subscribed') return;
      // from here on nothing is read: what the hub sends piles up in the socket buffers, then in
      // the hub's own buffer for this client
      ws.pause();
      count('clients');
      ws.removeAllListeners('error');
      ws.on('error', () => undefined);
      resolve(ws);
    });
  });
}

async function stuckLive(subscribed: (err?: Error) => void): Promise<void> {
  const reopenMs = config.liveReopenMs ?? 15_000;
  while (running) {
    try {
      const next = await openStuckLive();
      stuck?.terminate();
      stuck = next;
      subscribed();
    } catch (err) {
      count('failures');
      subscribed(err as Error);
    }
    const until = Date.now() + reopenMs;
    while (running && Date.now() < until) await sleep(50);
  }
  stuck?.terminate();
}

serveRpc({
  async start() {
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const first = (err?: Error) => {
        if (settled) return;
        settled = true;
        if (err) reject(err);
        else resolve();
      };
      done = (config.kind === 'fat-frames' ? fatFrames(first)
        : config.kind === 'channel-churn' ? channelChurn(first)
          : config.kind === 'history' ? historyQueries(first)
            : stuckLive(first)).catch((err) => first(err));
    });
    return true;
  },

  cpu() {
    const usage = process.cpuUsage();
    return { at: performance.now(), ms: (usage.user + usage.system) / 1000 };
  },

  async stop(): Promise<AbuserStats> {
    running = false;
    const aborter = setTimeout(() => {
      for (const abort of inFlight) abort.abort();
    }, 2000);
    await Promise.race([done, sleep(10_000)]);
    clearTimeout(aborter);
    return {
      kind: config.kind, counts, closeCodes,
      ...(config.kind === 'history' ? { queryMs: distribution(queryTimes), statuses } : {}),
    };
  },
});
announce({ pid: process.pid });
