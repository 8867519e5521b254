// A device with store-and-forward for the soak [FP-5]: one session for its whole life, every
// READINGS frame kept, byte for byte, until an ACK covers it, and after every reconnect a HELLO
// with the same session and a resend of whatever the resume ACK does not cover. Unlike the lean
// BenchDevice it never forgets a frame, so every reading it made must end up stored exactly once.
import { randomInt } from 'node:crypto';
import WebSocket from 'ws';
import { decodeFrame, encodeFrame, type Sample } from '../hub/src/protocol/index.ts';
import { SOAK_CHANNELS } from './bench-devices.ts';
import { closeWebSocket, openDeviceSocket, socketOf } from './bench-device.ts';

export interface SoakDeviceOptions {
  hubUrl: string;
  id: string;
  token: string;
  samplesPerFrame: number;
  localAddress?: string;
}

export interface SoakDeviceCounters {
  /** resume ACKs received: the first connection and every reconnect */
  connects: number;
  /** connections this device dropped on purpose */
  drops: number;
  /** connections the hub (or the network) ended */
  unexpectedCloses: number;
  failedConnects: number;
  /** frames made while offline, sent after the reconnect */
  heldFrames: number;
  /** frames written again after a reconnect because no ACK had covered them */
  resentFrames: number;
  errorFrames: number;
}

const MAX_BACKOFF_MS = 2000;

export class SoakDevice {
  // [FP-5.1] picked once: the device never reboots during a soak, so its sequence space never restarts
  readonly session = randomInt(1, 0x1_0000_0000);
  /** seq of the newest frame made, of the newest acknowledged, of the newest ever written */
  generated = 0;
  acked = 0;
  sentUpTo = 0;
  online = false;
  readonly counters: SoakDeviceCounters = { connects: 0, drops: 0, unexpectedCloses: 0, failedConnects: 0, heldFrames: 0, resentFrames: 0, errorFrames: 0 };
  /**
   * Failover timing: `recoveredAt` is when an ACK first covered a frame made after `watchFrom`
   * (the newest frame when watching began), i.e. when the device was streaming again.
   */
  watchFrom = Infinity;
  recoveredAt: number | null = null;
  /** when a connection made after watching began was resumed (its HELLO answered) */
  resumedAt: number | null = null;
  /** what a correct hub never does (an ACK beyond the frames sent, a resume point behind an earlier ACK) */
  readonly anomalies: string[] = [];

  /** unacknowledged frames, oldest first: kept[i] has seq acked + 1 + i */
  private kept: Uint8Array[] = [];
  private ws: WebSocket | null = null;
  private stopped = false;
  private lastBaseTime = 0;
  private failures = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private generateTimer: NodeJS.Timeout | null = null;
  private dropTimer: NodeJS.Timeout | null = null;
  /** a drop is due right after the next frame is written */
  private dropAfterWrite = false;
  private waiters: (() => void)[] = [];
  private readonly hello: Uint8Array;

  constructor(readonly options: SoakDeviceOptions) {
    this.hello = encodeFrame({ type: 'hello', session: this.session, deviceId: options.id, firmware: 'bench-soak', channels: [...SOAK_CHANNELS] });
  }

  get drained(): boolean {
    return this.online && this.acked === this.generated;
  }

  /** Connects (retrying until `stop`) and resolves once the hub has answered the first HELLO. */
  start(): Promise<void> {
    const online = this.whenOnline();
    this.connect();
    return online;
  }

  whenOnline(): Promise<void> {
    if (this.online) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Makes a frame every `periodMs`, from a random phase so a fleet does not send in lockstep. */
  startGenerating(periodMs: number): void {
    this.generateTimer = setTimeout(() => {
      this.generate();
      this.generateTimer = setInterval(() => this.generate(), periodMs);
    }, Math.random() * periodMs);
  }

  /**
   * Drops the connection at exponentially distributed intervals of mean `meanMs` (a memoryless
   * fleet). Half of the drops stay offline for up to `outageMs` (uniform), so frames pile up to
   * resend. The other half wait for the next frame and come right after it is written, then
   * reconnect at once: the resume races the hub's store write of that frame, so it finds the frame
   * durable, held but not yet durable, or never received — the cases store-and-forward most
   * easily gets wrong (a lost frame, or one stored twice).
   */
  startDropping(meanMs: number, outageMs: number): void {
    const next = () => {
      this.dropTimer = setTimeout(() => {
        if (Math.random() < 0.5) this.dropAfterWrite = true;
        else if (this.online) this.drop(Math.random() * outageMs);
        next();
      }, -Math.log(1 - Math.random()) * meanMs);
    };
    next();
  }

  /** No more frames and no more random drops; reconnects after a hub-side close still happen. */
  quiesce(): void {
    if (this.generateTimer) clearTimeout(this.generateTimer);
    if (this.dropTimer) clearTimeout(this.dropTimer);
    this.generateTimer = this.dropTimer = null;
    this.dropAfterWrite = false;
  }

  /** The next READINGS frame: `samplesPerFrame` samples 1 ms apart, the newest stamped now. */
  generate(): void {
    const n = this.options.samplesPerFrame;
    const seq = ++this.generated;
    const held = this.online ? 0 : 1;
    this.counters.heldFrames += held;
    // Times stay unique per device even if timers bunch up: the store keeps one reading per time,
    // so a repeated stamp would look like a lost reading.
    const baseTime = Math.max(Date.now(), this.lastBaseTime + n);
    this.lastBaseTime = baseTime;
    const first = (seq - 1) * n + 1;
    const samples: Sample[] = new Array(n);
    for (let k = 0; k < n; k++) samples[k] = { channel: SOAK_CHANNELS[0].id, type: 'i32', offset: k - (n - 1), value: 2 * (first + k) + held };
    const frame = encodeFrame({ type: 'readings', seq, baseTime, samples });
    this.kept.push(frame);
    if (!this.online) return;
    this.write(frame, seq);
    if (this.dropAfterWrite) {
      this.dropAfterWrite = false;
      this.drop(0);
    }
  }

  /** Ends the connection abruptly, as a lost network would, and reconnects after `outageMs`. */
  drop(outageMs: number): void {
    const ws = this.ws;
    if (!ws) return;
    this.counters.drops++;
    this.ws = null;
    this.online = false;
    ws.terminate();
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect();
    }, outageMs);
  }

  stop(): void {
    this.stopped = true;
    this.quiesce();
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
  }

  /** Stops for good and closes cleanly. */
  close(): Promise<void> {
    this.stop();
    const ws = this.ws;
    this.ws = null;
    this.online = false;
    return closeWebSocket(ws);
  }

  private connect(): void {
    if (this.stopped) return;
    const { hubUrl, token, localAddress } = this.options;
    const ws = openDeviceSocket(hubUrl, token, localAddress);
    this.ws = ws;
    let resumed = false;
    ws.on('open', () => ws.send(this.hello));
    ws.on('message', (data: Buffer) => {
      if (this.ws !== ws) return;
      const frame = decodeFrame(data);
      if (frame.type === 'ack') {
        if (resumed) this.ack(frame.ackedSeq);
        else {
          resumed = true;
          this.resume(ws, frame.ackedSeq);
        }
      } else if (frame.type === 'error') {
        this.counters.errorFrames++;
      }
    });
    // 'close' follows every 'error' (a refused upgrade too); the reconnect is decided there
    ws.on('error', () => undefined);
    ws.on('close', () => {
      // a socket this device already dropped: its replacement is on its way
      if (this.ws !== ws) return;
      this.ws = null;
      this.online = false;
      if (this.stopped) return;
      if (resumed) this.counters.unexpectedCloses++;
      else this.counters.failedConnects++;
      this.failures = resumed ? 0 : this.failures + 1;
      // a hub that refuses or ends connections must not be hammered (FP-9: wait at least a second after 429)
      const backoff = Math.min(MAX_BACKOFF_MS, 250 * 2 ** this.failures) * (0.5 + Math.random());
      this.reconnectTimer = setTimeout(() => {
        this.reconnectTimer = null;
        this.connect();
      }, backoff);
    });
  }

  /** [FP-4.1.2, FP-5.3] Drops what the resume point covers and resends the rest, in order. */
  private resume(ws: WebSocket, ackedSeq: number): void {
    this.counters.connects++;
    if (this.watchFrom !== Infinity && this.resumedAt === null) this.resumedAt = Date.now();
    if (ackedSeq < this.acked) {
      // the frames in between are gone from this device; the check at the end will show whether the hub kept them
      this.anomalies.push(`resume ACK ${ackedSeq} below the earlier ACK ${this.acked}`);
    } else {
      this.ack(ackedSeq);
    }
    this.online = true;
    if (this.kept.length > 0) {
      const socket = socketOf(ws);
      socket.cork();
      for (let i = 0; i < this.kept.length; i++) this.write(this.kept[i], this.acked + 1 + i);
      socket.uncork();
    }
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  private ack(ackedSeq: number): void {
    if (ackedSeq <= this.acked) return;
    if (ackedSeq > this.generated) {
      this.anomalies.push(`ACK ${ackedSeq} beyond the newest frame ${this.generated}`);
      ackedSeq = this.generated;
    }
    this.kept.splice(0, ackedSeq - this.acked);
    this.acked = ackedSeq;
    if (this.recoveredAt === null && ackedSeq > this.watchFrom) this.recoveredAt = Date.now();
  }

  private write(frame: Uint8Array, seq: number): void {
    if (seq <= this.sentUpTo) this.counters.resentFrames++;
    else this.sentUpTo = seq;
    this.ws!.send(frame);
  }
}
