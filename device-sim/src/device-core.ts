// The transport-independent half of a device [FP-5]: sequence numbers, frames kept until
// acknowledged, cumulative ACKs, the hub's clock, and answers to commands. DeviceClient
// (WebSocket) and SerialDevice (serial line) add only how frames reach the hub.
import { randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  decodeFrame, encodeFrame,
  type ChannelDescriptor, type CommandFrame, type Frame, type ReadingsFrame, type Sample,
} from '../../hub/src/protocol/index.ts';

export interface CommandAnswer {
  status: 'accepted' | 'succeeded' | 'failed' | 'unknown';
  payload: string;
}

export interface DeviceOptions {
  deviceId: string;
  firmware?: string;
  channels: ChannelDescriptor[];
  /** [FP-5.1] defaults to a random session per device */
  session?: number;
  /** send absolute times (default) or let the hub stamp on arrival [FP-4.2.2] */
  absoluteTime?: boolean;
  /** how many unacknowledged frames to keep before dropping the oldest */
  maxUnacked?: number;
  /** answers COMMAND frames (null: no answer); default: built-in ping / set-rate / reboot */
  onCommand?: (command: CommandFrame) => CommandAnswer | null;
  /**
   * A device with its own, wrong clock: `now()` is this many ms off and ACKs do not correct it
   * (a device that trusts its RTC). Unset: the device follows the hub's clock [FP-4.2.3].
   */
  clockSkewMs?: number;
  /**
   * [FP-4.1.5] the largest frame this device can receive, stated in its HELLO: the hub then sends
   * no COMMAND larger than that. Unset: the HELLO leaves the field out (the protocol maximum).
   */
  maxFrame?: number;
  /** Fault injection: the bytes put on the wire for a new READINGS frame. The kept copy stays intact. */
  tamper?: (bytes: Uint8Array) => Uint8Array;
}

export interface DeviceEvents {
  ack: [seq: number];
  'hub-error': [code: number, text: string];
  command: [command: CommandFrame];
  /** WebSocket: the close code; serial: 0 */
  close: [code: number, reason: string];
  open: [];
  /** serial only: a console line from the hub's side [FP-8.2] */
  console: [text: string];
}

export interface DeviceStats {
  /** READINGS frames made, and the samples in them */
  frames: number;
  readings: number;
  /** first transmissions, and transmissions of kept frames after a reconnect or an error */
  sent: number;
  resent: number;
  /** frames acknowledged, and frames dropped unacknowledged from a full buffer or by a reboot */
  acked: number;
  dropped: number;
  /** ERROR frames from the hub */
  errors: number;
  /** frames sent damaged by `tamper` */
  tampered: number;
  commands: number;
}

// [FP-5.4] the last seq a session may use
const MAX_SEQ = 0xffffffff;
// [FP-4.5.1] how many command results a device remembers
const REMEMBERED_ANSWERS = 32;

function newSession(): number {
  return randomInt(0x1_0000_0000);
}

export abstract class DeviceCore extends EventEmitter<DeviceEvents> {
  private currentSession: number;
  protected nextSeq = 1;
  private ackedSeq = 0;
  /** [FP-1.3] frames kept until acknowledged, by seq, in seq order */
  private readonly unacked = new Map<number, Uint8Array>();
  /** true between the resume ACK and the end of the link */
  protected ready = false;
  private hubClockOffset = 0;
  private readonly answers = new Map<number, CommandAnswer>();
  stats: DeviceStats = { frames: 0, readings: 0, sent: 0, resent: 0, acked: 0, dropped: 0, errors: 0, tampered: 0, commands: 0 };

  constructor(readonly options: DeviceOptions) {
    super();
    this.currentSession = options.session ?? newSession();
  }

  /** Puts one frame's bytes on the link; called only while `linkOpen`. */
  protected abstract transmit(bytes: Uint8Array): void;
  protected abstract get linkOpen(): boolean;
  /** [FP-5.4] the sequence space ran out: start over with HELLO (the new session is already set) */
  protected abstract restartLink(): void;

  get session(): number {
    return this.currentSession;
  }
  get acked(): number {
    return this.ackedSeq;
  }
  get pending(): number {
    return this.unacked.size;
  }
  get connected(): boolean {
    return this.ready;
  }

  /** whether the hub refuses READINGS that skip ahead on this transport (serial) [FP-8.3] */
  protected readonly strictResume: boolean = false;

  protected helloBytes(): Uint8Array {
    const { deviceId, firmware, channels, maxFrame } = this.options;
    const hello = { type: 'hello', session: this.currentSession, deviceId, firmware: firmware ?? 'sim-1.0', channels } as const;
    return encodeFrame(maxFrame === undefined ? hello : { ...hello, maxFrame });
  }

  /** Frames from the hub, whatever carried them. */
  protected handleFrame(frame: Frame): void {
    switch (frame.type) {
      case 'ack':
        this.onAck(frame.ackedSeq, frame.hubTime);
        if (!this.ready) {
          const oldestKept = this.unacked.keys().next().value;
          if (this.strictResume && oldestKept !== undefined && oldestKept > this.ackedSeq + 1) {
            // [FP-5.3] frames right after the ACK are gone from the buffer: a new session, or the
            // hub would refuse the jump forever
            this.renumberIntoNewSession();
            break;
          }
          // [FP-4.1.2] the resume ACK: send what the hub does not hold yet, then go on
          this.ready = true;
          this.resendUnacked();
          this.emit('open');
        }
        break;
      case 'error':
        this.stats.errors++;
        this.onHubError(frame.code);
        this.emit('hub-error', frame.code, frame.text);
        break;
      case 'command':
        this.onCommand(frame);
        break;
      default:
        // HELLO, READINGS, results and heartbeats only travel device → hub
        break;
    }
  }

  /** A transport may react to an ERROR (a serial device says HELLO again after FP_ERR_NO_HELLO). */
  protected onHubError(_code: number): void {}

  private onCommand(frame: CommandFrame): void {
    this.stats.commands++;
    this.emit('command', frame);
    // [FP-4.5.1] a repeated id is answered from memory, not run twice
    const result = this.answers.get(frame.id) ?? (this.options.onCommand ?? builtInCommand)(frame);
    if (!result) return;
    this.answers.set(frame.id, result);
    if (this.answers.size > REMEMBERED_ANSWERS) this.answers.delete(this.answers.keys().next().value!);
    this.sendFrame({ type: 'command_result', id: frame.id, ...result });
  }

  private onAck(seq: number, hubTime: number): void {
    this.hubClockOffset = hubTime - Date.now();
    for (const kept of this.unacked.keys()) {
      if (kept > seq) break;
      this.unacked.delete(kept);
      this.stats.acked++;
    }
    this.ackedSeq = Math.max(this.ackedSeq, seq);
    this.emit('ack', seq);
  }

  /** [FP-5.3] every kept frame above the last ACK, in order, byte for byte. */
  protected resendUnacked(): void {
    for (const [seq, bytes] of this.unacked) {
      if (seq <= this.ackedSeq) continue;
      if (!this.linkOpen) return;
      this.transmit(bytes);
      this.stats.resent++;
    }
  }

  /** The link is gone; kept frames wait for the next resume ACK. */
  protected linkLost(): void {
    this.ready = false;
  }

  /** The device's idea of "now": the hub's clock [FP-4.2.3], or its own skewed one. */
  now(): number {
    const skew = this.options.clockSkewMs;
    return Date.now() + (skew === undefined ? this.hubClockOffset : skew);
  }

  /** Queues a READINGS frame; sends it now if connected, else on the next connect. Returns its seq. */
  sendReadings(samples: Sample[], baseTime?: number): number {
    if (this.nextSeq > MAX_SEQ) this.renumberIntoNewSession();
    const seq = this.nextSeq++;
    const absolute = this.options.absoluteTime ?? true;
    const frame: ReadingsFrame = absolute ? { type: 'readings', seq, baseTime: baseTime ?? this.now(), samples } : { type: 'readings', seq, samples };
    const bytes = encodeFrame(frame);
    this.stats.frames++;
    this.stats.readings += samples.length;
    this.unacked.set(seq, bytes);
    if (this.unacked.size > (this.options.maxUnacked ?? 100_000)) {
      this.unacked.delete(this.unacked.keys().next().value!);
      this.stats.dropped++;
    }
    if (this.ready && this.linkOpen) {
      const wire = this.options.tamper ? this.options.tamper(bytes) : bytes;
      if (wire !== bytes) this.stats.tampered++;
      this.transmit(wire);
      this.stats.sent++;
    }
    return seq;
  }

  /** Sends any frame as is (or raw bytes), for fault injection and tests. */
  sendFrame(frame: Frame | Uint8Array): void {
    if (this.linkOpen) this.transmit(frame instanceof Uint8Array ? frame : encodeFrame(frame));
  }

  /** Resolves when everything sent so far is acknowledged. */
  async waitAcked(seq = this.nextSeq - 1, timeoutMs = 10_000): Promise<void> {
    if (this.ackedSeq >= seq) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('ack', onAck);
        reject(new Error(`seq ${seq} not acked within ${timeoutMs} ms (acked ${this.ackedSeq})`));
      }, timeoutMs);
      const onAck = () => {
        if (this.ackedSeq < seq) return;
        clearTimeout(timer);
        this.off('ack', onAck);
        resolve();
      };
      this.on('ack', onAck);
    });
  }

  /**
   * A reboot: RAM is gone, so kept frames and remembered answers are lost, and the device comes
   * back with a new session starting at seq 1 [FP-5.3]. The transport reconnects.
   */
  protected resetSession(): void {
    this.stats.dropped += this.unacked.size;
    this.unacked.clear();
    this.answers.clear();
    this.currentSession = newSession();
    this.nextSeq = 1;
    this.ackedSeq = 0;
    this.ready = false;
  }

  /**
   * [FP-5.4] Before seq would pass 0xFFFFFFFF: a new session. Kept frames are not lost: they are
   * renumbered into it (same samples, same times), which the old session could not hold anyway.
   */
  private renumberIntoNewSession(): void {
    const kept = [...this.unacked.entries()].filter(([seq]) => seq > this.ackedSeq).map(([, bytes]) => decodeFrame(bytes) as ReadingsFrame);
    this.unacked.clear();
    this.currentSession = newSession();
    this.nextSeq = 1;
    this.ackedSeq = 0;
    for (const frame of kept) {
      const seq = this.nextSeq++;
      this.unacked.set(seq, encodeFrame({ ...frame, seq }));
    }
    this.ready = false;
    this.restartLink();
  }
}

/** [FP-4.5.2] built-in commands every simulated device answers */
export function builtInCommand(command: CommandFrame): CommandAnswer {
  switch (command.name) {
    case 'ping':
      return { status: 'succeeded', payload: command.args };
    case 'set-rate': {
      const hz = parseRate(command.args);
      return typeof hz === 'number' ? { status: 'succeeded', payload: JSON.stringify({ hz }) } : { status: 'failed', payload: JSON.stringify({ error: hz.error }) };
    }
    case 'reboot':
      return { status: 'succeeded', payload: '{}' };
    default:
      return { status: 'unknown', payload: '' };
  }
}

/** `set-rate` arguments `{"hz": number}` → the rate, or why not. */
export function parseRate(args: string): number | { error: string } {
  try {
    const hz = JSON.parse(args || '{}').hz;
    return typeof hz === 'number' && hz > 0 && Number.isFinite(hz) ? hz : { error: 'hz must be a positive number' };
  } catch {
    return { error: 'args are not JSON' };
  }
}
