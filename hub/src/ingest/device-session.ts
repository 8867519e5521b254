// One connection's view of the protocol: HELLO first, then READINGS / results / heartbeats.
// Transports feed it decoded frames; it never touches sockets or ports itself.
import type { Logger } from 'pino';
import type { LogLimiter } from '../log-limiter.ts';
import { ErrorCode, errorName, ReadingsColumns, type ErrorName, type Frame, type ProtocolError, type ReadingsFrame } from '../protocol/index.ts';
import type { Metrics } from '../metrics.ts';
import type { DeviceLink } from './device-link.ts';
import type { DeviceState, Ingest } from './ingest.ts';

/** What the transport knows of the other end before HELLO. */
export interface SessionPeer {
  deviceId?: string;
  ip?: string;
  path?: string;
}

type Via = { readonly transport: DeviceLink['transport']; readonly strictSequence: boolean };
// shared by every session: an object per connection is paid for by every idle device
const VIA: Record<DeviceLink['transport'], { strict: Via; loose: Via }> = {
  ws: { strict: { transport: 'ws', strictSequence: true }, loose: { transport: 'ws', strictSequence: false } },
  serial: { strict: { transport: 'serial', strictSequence: true }, loose: { transport: 'serial', strictSequence: false } },
};

export interface SessionHandlers {
  ingest: Ingest;
  metrics: Metrics;
  log: Logger;
  /** every line a device can make the hub repeat goes through it */
  logLimiter: LogLimiter;
  /**
   * What the transport knows of the other end before HELLO, added to this session's log lines: the
   * token's device id and the address over WebSocket, the port over serial.
   */
  peer?: SessionPeer;
  /** Checks a HELLO's device id (from the session's peer); returns the error that refuses it, or null. */
  admit(deviceId: string, peer: SessionPeer | undefined): Promise<ErrorName | null>;
  /** COMMAND_RESULT frames go here (the command service), once the device is known. */
  onCommandResult?(deviceId: string, frame: Extract<Frame, { type: 'command_result' }>): void;
  onDeviceReady?(deviceId: string): void;
  /**
   * [FP-8.3] Serial lines can lose a whole frame without trace (noise eats its newline), so a
   * READINGS frame that skips ahead is refused there instead of counted as a device-side gap.
   */
  strictSequence?: boolean;
}

/**
 * What a session is fed: any decoded frame, READINGS either with a sample per object (serial) or
 * in columns (WebSocket, decodeFrameInto). Columns may be reused by the transport after onFrame.
 */
export type SessionFrame = Exclude<Frame, ReadingsFrame> | ReadingsFrame | ReadingsColumns;

export class DeviceSession {
  private device: DeviceState | null = null;
  /** frames that arrive while HELLO is being processed wait here, in order */
  private waiting: SessionFrame[] | null = null;
  private ended = false;
  /** serial only: the device is still there, but must say HELLO before anything else counts */
  private awaitingHello = false;

  private readonly via: Via;

  /**
   * `handlers` may be shared by many sessions (one object per endpoint); `peer` is this session's
   * own (only its deviceId, ip and path are read), and defaults to handlers.peer.
   */
  constructor(private readonly link: DeviceLink, private readonly handlers: SessionHandlers, private readonly peer = handlers.peer) {
    this.via = handlers.strictSequence ? VIA[link.transport].strict : VIA[link.transport].loose;
  }

  get deviceId(): string | undefined {
    return this.device?.id;
  }

  onFrame(frame: SessionFrame): void {
    if (this.ended) return;
    if (this.waiting) {
      this.waiting.push(frame instanceof ReadingsColumns ? frame.copy() : frame);
      return;
    }
    this.handlers.metrics.countFrame(frame.type);
    if (frame.type === 'hello') {
      this.waiting = [];
      this.awaitingHello = false;
      void this.hello(frame);
      return;
    }
    const device = this.device;
    if (!device || this.awaitingHello) return this.fail('FP_ERR_NO_HELLO', `send HELLO first, not ${frame.type}`); // [FP-4.1.1]
    this.handlers.ingest.touch(device);
    switch (frame.type) {
      case 'readings': {
        const columns = frame instanceof ReadingsColumns ? frame : ReadingsColumns.from(frame);
        const verdict = this.handlers.ingest.readings(device, columns, this.via);
        if (verdict.kind === 'refuse') return this.fail(verdict.code, verdict.text);
        if (verdict.reply) this.link.send(verdict.reply);
        break;
      }
      case 'command_result':
        this.handlers.onCommandResult?.(device.id, frame);
        break;
      case 'heartbeat':
        break;
      case 'error':
        this.logLine('warn', { code: errorName(frame.code) ?? frame.code, text: frame.text }, 'device reported an error');
        break;
      default:
        // ACK and COMMAND only travel hub → device
        this.fail('FP_ERR_BAD_TYPE', `devices do not send ${frame.type}`);
    }
  }

  private async hello(frame: Extract<Frame, { type: 'hello' }>): Promise<void> {
    try {
      const refusal = await this.handlers.admit(frame.deviceId, this.peer);
      if (this.ended) return;
      if (refusal) return this.fail(refusal, `device ${frame.deviceId} refused`);
      const channelRefusal = await this.handlers.ingest.admitChannels(frame);
      if (this.ended) return;
      if (channelRefusal) return this.fail(channelRefusal.code, channelRefusal.text);
      if (this.device && this.device.id !== frame.deviceId) this.handlers.ingest.disconnected(this.device, this.link);
      this.device = await this.handlers.ingest.hello(this.link, frame);
      if (this.ended) {
        this.handlers.ingest.disconnected(this.device, this.link);
        return;
      }
      this.logLine('info', {
        firmware: frame.firmware, channels: frame.channels.map((c) => c.name), session: frame.session, ackedSeq: this.device.durableSeq,
      }, 'device hello');
      this.handlers.onDeviceReady?.(frame.deviceId);
    } catch (err) {
      this.logLine('error', { deviceId: frame.deviceId, err }, 'HELLO failed');
      return this.fail('FP_ERR_STORE_UNAVAILABLE', 'hub could not load the device');
    } finally {
      const waiting = this.waiting ?? [];
      this.waiting = null;
      for (const next of waiting) this.onFrame(next);
    }
  }

  /** A frame that did not decode [FP-3.5]: counted, answered with ERROR. */
  rejectFrame(err: ProtocolError): void {
    this.handlers.metrics.rejected.inc({ code: err.code });
    if (this.device) this.device.counters.rejected++;
    this.logLine('warn', { code: err.code, err: err.message }, 'bad frame');
    this.link.send({ type: 'error', code: ErrorCode[err.code], text: err.message });
  }

  /** Sends ERROR and ends the protocol session (the link decides what that means). */
  fail(code: ErrorName, text: string): void {
    this.handlers.metrics.rejected.inc({ code });
    this.logLine('warn', { code, text }, 'session error');
    this.link.send({ type: 'error', code: ErrorCode[code], text });
    this.link.end(code);
  }

  /**
   * Serial links keep the port and the device stays online, but its protocol session ends: every
   * frame is refused with FP_ERR_NO_HELLO until HELLO, after which the device resends what was not
   * acknowledged [FP-6.2, FP-8.3].
   */
  resync(): void {
    if (this.device) this.awaitingHello = true;
  }

  /** The device is gone from this link (a silent serial line): it shows offline. */
  reset(): void {
    this.awaitingHello = false;
    if (this.device) this.handlers.ingest.disconnected(this.device, this.link);
    this.device = null;
  }

  /**
   * Logs a line about this device through the limiter, keyed by the device (or, before HELLO, by
   * what the transport knows of it), so a device repeating something cannot flood the log.
   */
  private logLine(level: 'error' | 'warn' | 'info', fields: object, message: string): void {
    const peer = this.peer;
    const deviceId = this.device?.id ?? peer?.deviceId;
    const key = deviceId ?? peer?.path ?? peer?.ip ?? this.link.transport;
    // fields picked, not spread: a transport may pass an object with more in it as the peer
    this.handlers.logLimiter[level](key, { ip: peer?.ip, path: peer?.path, deviceId, transport: this.link.transport, ...fields }, message);
  }

  closed(): void {
    this.ended = true;
    if (this.device) this.handlers.ingest.disconnected(this.device, this.link);
  }
}
