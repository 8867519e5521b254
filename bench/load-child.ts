// A load generator process: connects a range of bench devices to a hub and drives them closed-loop
// (as fast as ACKs allow, with a window of unacknowledged frames per device), open-loop (a fixed
// total frame rate, send times stamped into the frames), idle (connected, silent), or as one
// device uploading a long 1 Hz series. It also plays the client side of the raw `ws` ceiling.
import WebSocket from 'ws';
import { encodeFrame, type Sample } from '../hub/src/protocol/index.ts';
import { BENCH_CHANNELS, deviceId, deviceToken, SERIES_CHANNEL, type DeviceRange } from './bench-devices.ts';
import { BenchDevice, socketOf, withConcurrency, zeroMask } from './bench-device.ts';
import { announce, serveRpc } from './child-rpc.ts';
import { ReadingsTemplate } from './frame-template.ts';
import { preciseNow, sleep } from './stats.ts';

export interface LoadChildConfig {
  hubUrl: string;
  range: DeviceRange;
  channels: 'bench' | 'series';
  /** readings in each READINGS frame, dealt over the channels (see ReadingsTemplate) */
  samples: number;
  /** source addresses, round robin over the devices */
  sourceAddresses: string[];
}

export interface LoadSnapshot {
  at: number;
  framesSent: number;
  framesAcked: number;
  /** ACK frames that moved a device's acknowledged seq */
  acks: number;
  readingsAcked: number;
  errors: number;
  closed: number;
  /** frames sent and not yet acknowledged on connections still open */
  pending: number;
}

export interface LoadStopResult extends LoadSnapshot {
  drained: boolean;
  /** device → ACK times (ms) recorded while `record` was on, raw, so several generators can be merged */
  ackLatencies: number[];
  /** device-stamped time range of closed-loop readings, for counting them back */
  timeFrom: number;
  timeTo: number;
  /** sample-time range [from, to) of the open-loop readings sent since the last openLoop */
  openTimeFrom: number;
  openTimeTo: number;
}

const config = JSON.parse(process.argv[2]) as LoadChildConfig;
const channels = config.channels === 'series' ? SERIES_CHANNEL : BENCH_CHANNELS;
const template = new ReadingsTemplate(channels, config.samples);
const devices: BenchDevice[] = [];
for (let i = 0; i < config.range.count; i++) {
  const id = deviceId(config.range.prefix, config.range.from + i);
  const addresses = config.sourceAddresses;
  devices.push(new BenchDevice({
    hubUrl: config.hubUrl, id, token: deviceToken(id), channels,
    localAddress: addresses.length > 0 ? addresses[i % addresses.length] : undefined,
  }));
}

let framesSent = 0;
let framesAcked = 0;
let acks = 0;
let recording = false;
/** frames timed while recording keep being timed until they are acknowledged, after recording stops too */
let timeUntilAcked = false;
let latencies: number[] = [];
// send times of unacknowledged frames, per device, by seq
const sendTimes = new Map<BenchDevice, Map<number, number>>();
let stopSending: (() => void) | null = null;
// Closed-loop readings are stamped on a synthetic per-device timeline, by default starting a day
// back: times stay unique per series (so counting back is exact) and never run ahead of the hub's
// clock. `closedLoop` can start it closer to now, as live devices stamp their readings.
let timelineStart = Date.now() - 24 * 3_600_000;
let maxSeq = 0;
let connectedUpTo = 0;
let openTimeFrom = Infinity;
let openTimeTo = -Infinity;

function onAck(device: BenchDevice, previous: number, seq: number): void {
  const now = preciseNow();
  const times = sendTimes.get(device)!;
  for (let s = previous + 1; s <= seq; s++) {
    const sent = times.get(s);
    if (sent === undefined) continue;
    times.delete(s);
    if (recording || timeUntilAcked) latencies.push(now - sent);
  }
  framesAcked += seq - previous;
  acks++;
}

function sendNext(device: BenchDevice, baseTime: number): void {
  const seq = ++device.sent;
  // only the measured window's frames are timed: the bookkeeping would cost the closed loop rate
  if (recording) sendTimes.get(device)!.set(seq, preciseNow());
  device.send(template.make(seq, baseTime));
  framesSent++;
  if (seq > maxSeq) maxSeq = seq;
}

function connected(): BenchDevice[] {
  return devices.filter((d) => sendTimes.has(d));
}

function snapshot(): LoadSnapshot {
  return {
    at: Date.now(), framesSent, framesAcked, acks, readingsAcked: framesAcked * template.samples,
    errors: devices.reduce((n, d) => n + d.errors, 0),
    closed: devices.reduce((n, d) => n + (d.closedUnexpectedly ? 1 : 0), 0),
    pending: devices.reduce((n, d) => n + (d.closedUnexpectedly ? 0 : d.unacked), 0),
  };
}

// raw ws ceiling: plain sockets to a counting server
const rawSockets: WebSocket[] = [];
let rawRunning = false;

serveRpc({
  /** Connects the next `count` devices (default: all the rest). */
  async connect(params: { concurrency: number; count?: number }) {
    const started = performance.now();
    let failed = 0;
    let firstError: string | undefined;
    const batch = devices.slice(connectedUpTo, params.count === undefined ? devices.length : connectedUpTo + params.count);
    connectedUpTo += batch.length;
    await withConcurrency(batch, params.concurrency, async (device) => {
      try {
        await device.connect();
        let previous = device.acked;
        sendTimes.set(device, new Map());
        device.onAck = (d, seq) => {
          onAck(d, previous, seq);
          previous = seq;
        };
      } catch (err) {
        failed++;
        firstError ??= (err as Error).message;
      }
    });
    return { connected: batch.length - failed, failed, firstError, ms: performance.now() - started };
  },

  /**
   * Each ACK refills its device's window at once, in one corked write. A hub that is behind reads
   * a socket's backlog in one go anyway, so its batches hold runs of one device's frames whether
   * they were sent in bursts or not; bursts keep the generator's syscalls (and CPU) low, which
   * on 2 cores is CPU taken from the hub.
   * `startBackMs`: the timeline starts this long before now instead of a day back.
   */
  closedLoop(params: { window: number; startBackMs?: number }) {
    if (params.startBackMs !== undefined) timelineStart = Date.now() - params.startBackMs;
    let stopped = false;
    const refill = (device: BenchDevice) => {
      device.cork();
      while (!stopped && device.unacked < params.window) sendNext(device, timelineStart + (device.sent + 1) * template.rounds + template.rounds - 1);
      device.uncork();
    };
    for (const device of connected()) {
      const tracked = device.onAck!;
      device.onAck = (d, seq) => {
        tracked(d, seq);
        refill(d);
      };
      refill(device);
    }
    stopSending = () => {
      stopped = true;
    };
    return true;
  },

  /**
   * `distinctTimes`: a device's frame never reuses a sample time of its previous one (its base time
   * moves past the last frame's when a late timer sends a burst), so the readings counted back from
   * the store are exactly the ones sent.
   */
  openLoop(params: { framesPerSecond: number; distinctTimes?: boolean }) {
    const active = connected();
    const started = performance.now();
    const lastBase = new Map<BenchDevice, number>();
    openTimeFrom = Infinity;
    openTimeTo = -Infinity;
    let due = 0;
    let next = 0;
    const timer = setInterval(() => {
      const target = Math.floor(((performance.now() - started) / 1000) * params.framesPerSecond);
      for (; due < target; due++) {
        const device = active[next];
        next = (next + 1) % active.length;
        let base = Date.now();
        if (params.distinctTimes) {
          base = Math.max(base, (lastBase.get(device) ?? -Infinity) + template.rounds);
          lastBase.set(device, base);
        }
        if (base - template.rounds + 1 < openTimeFrom) openTimeFrom = base - template.rounds + 1;
        if (base + 1 > openTimeTo) openTimeTo = base + 1;
        sendNext(device, base);
      }
    }, 1);
    stopSending = () => clearInterval(timer);
    return true;
  },

  /**
   * `untilAcked`: the frames sent while recording are timed until their ACK even when it comes
   * after recording stops (in `stop`'s drain), so a slow tail at the end of the window is not cut
   * off; otherwise only ACKs that arrive while recording count.
   */
  record(params: { on: boolean; untilAcked?: boolean }) {
    recording = params.on;
    if (params.on) {
      latencies = [];
      timeUntilAcked = params.untilAcked ?? false;
    }
    return snapshot();
  },

  /** The latencies recorded so far, starting over (recording stays as it is). */
  takeLatencies() {
    const taken = latencies;
    latencies = [];
    return taken;
  },

  snapshot,

  cpu() {
    const usage = process.cpuUsage();
    return { at: performance.now(), ms: (usage.user + usage.system) / 1000 };
  },

  async stop(params: { drainMs: number }): Promise<LoadStopResult> {
    stopSending?.();
    stopSending = null;
    recording = false;
    const deadline = Date.now() + params.drainMs;
    while (devices.some((d) => d.unacked > 0 && !d.closedUnexpectedly) && Date.now() < deadline) await sleep(10);
    timeUntilAcked = false;
    return {
      ...snapshot(),
      drained: devices.every((d) => d.unacked === 0),
      ackLatencies: latencies,
      timeFrom: timelineStart,
      timeTo: timelineStart + (maxSeq + 1) * template.rounds,
      openTimeFrom,
      openTimeTo,
    };
  },

  /** One device uploads `points` samples at 1 Hz from `startTime`, `perFrame` to a frame. */
  async series(params: { points: number; perFrame: number; startTime: number; window: number }) {
    const device = devices[0];
    const started = performance.now();
    const frames: Uint8Array[] = [];
    for (let first = 0, seq = device.sent + 1; first < params.points; first += params.perFrame, seq++) {
      const samples: Sample[] = [];
      for (let i = first; i < Math.min(params.points, first + params.perFrame); i++) {
        samples.push({ channel: 1, type: 'f64', offset: (i - first) * 1000, value: 20 + 5 * Math.sin(i / 3600) });
      }
      frames.push(encodeFrame({ type: 'readings', seq, baseTime: params.startTime + first * 1000, samples }));
    }
    await new Promise<void>((resolve, reject) => {
      let next = 0;
      const pump = () => {
        while (next < frames.length && device.unacked < params.window) {
          device.sent++;
          device.send(frames[next++]);
        }
        if (device.acked >= device.sent && next === frames.length) resolve();
      };
      device.onAck = pump;
      const timer = setTimeout(() => reject(new Error(`series upload not acknowledged: ${device.acked}/${frames.length} frames`)), 120_000);
      timer.unref();
      pump();
    });
    return { frames: frames.length, ms: performance.now() - started };
  },

  async closeAll() {
    await withConcurrency(devices, 500, (d) => d.close());
    return true;
  },

  async rawConnect(params: { url: string; connections: number }) {
    const addresses = config.sourceAddresses;
    await withConcurrency(Array.from({ length: params.connections }, (_, i) => i), 100, (i) =>
      new Promise<void>((resolve, reject) => {
        const ws = new WebSocket(params.url, { perMessageDeflate: false, generateMask: zeroMask, localAddress: addresses.length ? addresses[i % addresses.length] : undefined });
        ws.once('open', () => {
          rawSockets.push(ws);
          resolve();
        });
        ws.once('error', reject);
      }));
    return rawSockets.length;
  },

  /**
   * Pipelined: every socket writes `window` messages at a time as one buffer, framed once up front
   * (client frames with an all-zero mask, so the payload goes as is), each burst closed by a PING.
   * The server's `ws` answers a PING once it has read everything before it, so `depth` bursts
   * without their PONG bound what waits in the kernel's buffers: without that, a slow server is
   * handed gigabytes on loopback and is still reading them long after the window. The generator
   * does no per-message work at all, so the server's CPU per message is what the ceiling shows.
   */
  rawStart(params: { bytes: number; window: number; depth?: number }) {
    rawRunning = true;
    const depth = params.depth ?? RAW_BURSTS_IN_FLIGHT;
    const messages = Array.from({ length: params.window }, (_, i) => maskedClientFrame(template.make(i + 1, Date.now())));
    if (template.bytes !== params.bytes) throw new Error(`raw message ${params.bytes} bytes, frame ${template.bytes}`);
    const burst = Buffer.concat([...messages, clientFrameHeader(0, 0x89)]);
    for (const ws of rawSockets) {
      const socket = socketOf(ws);
      let unanswered = 0;
      const refill = (): void => {
        if (!rawRunning || ws.readyState !== WebSocket.OPEN) return;
        socket.cork();
        for (; unanswered < depth; unanswered++) {
          framesSent += params.window;
          socket.write(burst);
        }
        socket.uncork();
      };
      ws.on('pong', () => {
        unanswered--;
        refill();
      });
      refill();
    }
    return true;
  },

  async rawStop() {
    rawRunning = false;
    await sleep(50);
    for (const ws of rawSockets) ws.terminate();
    return framesSent;
  },
});
/** Bursts of the raw ceiling a socket may have written before the server answered their PING. */
const RAW_BURSTS_IN_FLIGHT = 4;

/** RFC 6455 §5.2 header of a final client frame (binary unless `opcode` says) with a zero masking key. */
function clientFrameHeader(length: number, opcode = 0x82): Buffer {
  if (length < 126) return Buffer.from([opcode, 0x80 | length, 0, 0, 0, 0]);
  if (length < 0x1_0000) return Buffer.from([opcode, 0x80 | 126, length >> 8, length & 0xff, 0, 0, 0, 0]);
  throw new Error(`${length}-byte raw message: longer than the bench frames`);
}

/** A zero mask leaves the payload as it is (§5.3), so framing is a header in front of it. */
function maskedClientFrame(payload: Uint8Array): Buffer {
  return Buffer.concat([clientFrameHeader(payload.length), payload]);
}

announce({ pid: process.pid, devices: devices.length, frameBytes: template.bytes, samplesPerFrame: template.samples });
