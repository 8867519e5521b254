// Serial transport: each configured port carries one device speaking frame lines [FP-8]. The
// bridge moves lines between the port and the codec; DeviceSession and Ingest do the rest.
// Ports are reopened with backoff after an unplug.
import { ReadlineParser } from '@serialport/parser-readline';
import type { Logger } from 'pino';
import { SerialPort } from 'serialport';
import type { Duplex } from 'node:stream';
import type { SerialPortOption } from '../config.ts';
import type { DeviceLink } from '../ingest/device-link.ts';
import { DeviceSession, type SessionHandlers } from '../ingest/device-session.ts';
import type { LiveBus } from '../live/live-bus.ts';
import type { Metrics } from '../metrics.ts';
import { decodeLine, encodeLine, ErrorCode, MAX_LINE_LENGTH, ProtocolError, type ErrorName } from '../protocol/index.ts';
import type { DeviceRegistry } from '../registry/registry.ts';
import { LineLengthGuard } from './line-length-guard.ts';

/** What the bridge needs of a serial port; `serialport`'s SerialPort and SerialPortMock fit. */
export interface SerialPortLike extends Duplex {
  open(callback: (err: Error | null) => void): void;
  close(callback?: (err: Error | null) => void): void;
  readonly isOpen: boolean;
}

export interface SerialBridgeOptions {
  ports: SerialPortOption[];
  registry: DeviceRegistry;
  metrics: Metrics;
  log: Logger;
  live: LiveBus;
  session: Omit<SessionHandlers, 'admit'>;
  /** HUB_MAX_DEVICES: a serial device registering itself counts like a provisioned one */
  maxDevices: number;
  /** [FP-6.4] silence after which the device shows offline */
  silenceMs: number;
  /** first reopen delay after an unplug; doubles up to maxReopenMs */
  reopenMs: number;
  maxReopenMs: number;
  openPort?: (path: string, baudRate: number) => SerialPortLike;
}

export interface ConsoleLine {
  at: number;
  text: string;
}

const CONSOLE_LINES_KEPT = 200;

const openRealPort = (path: string, baudRate: number): SerialPortLike => new SerialPort({ path, baudRate, autoOpen: false });

class BridgedPort {
  private port: SerialPortLike | null = null;
  private session: DeviceSession | null = null;
  private lastFrame = 0;
  private reopenDelay: number;
  private reopenTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** console output per device, so the device page can show it */
  readonly console: ConsoleLine[] = [];

  constructor(private readonly spec: SerialPortOption, private readonly options: SerialBridgeOptions) {
    this.reopenDelay = options.reopenMs;
  }

  get deviceId(): string | undefined {
    return this.session?.deviceId;
  }

  private get limitedLog() {
    return this.options.session.logLimiter;
  }

  open(): void {
    if (this.stopped) return;
    const { log } = this.options;
    const port = (this.options.openPort ?? openRealPort)(this.spec.path, this.spec.baudRate);
    port.open((err) => {
      if (err) {
        log.debug({ path: this.spec.path, err: err.message }, 'serial port not available yet');
        return this.scheduleReopen();
      }
      if (this.stopped) return port.close();
      // a port that comes and goes (a loose cable) reopens every 250 ms: limited, like every line here
      this.limitedLog.info(this.spec.path, { path: this.spec.path, baudRate: this.spec.baudRate, transport: 'serial' }, 'serial port open');
      this.reopenDelay = this.options.reopenMs;
      this.attach(port);
    });
  }

  private attach(port: SerialPortLike): void {
    this.port = port;
    const link: DeviceLink = {
      transport: 'serial',
      send: (frame) => {
        if (port.isOpen) port.write(encodeLine(frame));
      },
      // [FP-6.2] a serial session ends by forgetting the HELLO; the port stays open
      end: () => this.session?.resync(),
    };
    const session = new DeviceSession(link, {
      ...this.options.session,
      strictSequence: true,
      peer: { path: this.spec.path },
      admit: (deviceId) => this.admit(deviceId),
    });
    this.session = session;
    // +1 for the '@': the codec refuses what is longer, the guard keeps memory bounded
    const lines = port.pipe(new LineLengthGuard(MAX_LINE_LENGTH + 2)).pipe(new ReadlineParser({ delimiter: '\n', encoding: 'latin1' }));
    lines.on('data', (line: string) => this.onLine(line));
    port.on('error', (err) => this.limitedLog.warn(this.spec.path, { path: this.spec.path, err: err.message }, 'serial port error'));
    port.on('close', () => {
      const deviceId = session.deviceId;
      this.limitedLog.warn(this.spec.path, { path: this.spec.path, deviceId, transport: 'serial' }, 'serial port closed');
      if (deviceId) this.limitedLog.info(deviceId, { deviceId, transport: 'serial', path: this.spec.path, reason: 'port closed' }, 'device disconnected');
      session.closed();
      if (this.session === session) this.session = null;
      this.port = null;
      this.scheduleReopen();
    });
    // [FP-6.2] ask whoever is on the line to introduce itself
    link.send({ type: 'error', code: ErrorCode.FP_ERR_NO_HELLO, text: 'hub ready; send HELLO' });
  }

  private onLine(line: string): void {
    const session = this.session;
    if (!session) return;
    let decoded;
    try {
      decoded = decodeLine(line);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      // [FP-8.3] the port stays open, but the session starts over: a READINGS frame lost in this
      // line must not be covered by the cumulative ACK of a later one
      session.rejectFrame(err);
      session.resync();
      return;
    }
    if (decoded.kind === 'console') {
      const text = Buffer.from(decoded.text, 'latin1').toString('utf8');
      if (text.length === 0) return;
      const entry = { at: Date.now(), text };
      this.console.push(entry);
      if (this.console.length > CONSOLE_LINES_KEPT) this.console.shift();
      this.limitedLog.info(this.spec.path, { path: this.spec.path, deviceId: session.deviceId, console: text }, 'device console');
      if (session.deviceId) this.options.live.publish({ type: 'console', deviceId: session.deviceId, ...entry });
      return;
    }
    this.lastFrame = Date.now();
    session.onFrame(decoded.frame);
  }

  private async admit(deviceId: string): Promise<ErrorName | null> {
    const { registry, maxDevices } = this.options;
    const known = await registry.get(deviceId);
    // [FP-6.2] the port vouches for whoever is on it, not for a device that holds a token
    if (known) return known.tokenHash === null ? null : 'FP_ERR_DEVICE_MISMATCH';
    if ((await registry.count()) >= maxDevices) return 'FP_ERR_DEVICE_LIMIT';
    // [FP-6.2] the port is trusted by configuration: an unknown device registers itself
    await registry.create({ id: deviceId, name: deviceId, tokenHash: null, transport: 'serial' });
    // a device may send a new id with every HELLO
    this.limitedLog.info(this.spec.path, { deviceId, path: this.spec.path }, 'serial device registered');
    return null;
  }

  /** [FP-6.4] a device silent for too long is shown offline until it says HELLO again. */
  checkSilence(now: number): void {
    const deviceId = this.session?.deviceId;
    if (this.session && deviceId && now - this.lastFrame > this.options.silenceMs) {
      this.limitedLog.info(deviceId, { deviceId, transport: 'serial', path: this.spec.path, reason: 'silent', silentMs: now - this.lastFrame }, 'device disconnected');
      this.session.reset();
    }
  }

  private scheduleReopen(): void {
    if (this.stopped || this.reopenTimer) return;
    this.reopenTimer = setTimeout(() => {
      this.reopenTimer = null;
      this.open();
    }, this.reopenDelay);
    this.reopenDelay = Math.min(this.reopenDelay * 2, this.options.maxReopenMs);
  }

  async close(): Promise<void> {
    this.stopped = true;
    if (this.reopenTimer) clearTimeout(this.reopenTimer);
    const port = this.port;
    if (port?.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
  }
}

export function createSerialBridge(options: SerialBridgeOptions) {
  const ports = options.ports.map((spec) => new BridgedPort(spec, options));
  for (const port of ports) port.open();
  const silenceTimer = setInterval(() => {
    const now = Date.now();
    for (const port of ports) port.checkSilence(now);
  }, Math.max(100, Math.floor(options.silenceMs / 5)));
  silenceTimer.unref();

  return {
    consoleOf(deviceId: string): ConsoleLine[] | undefined {
      return ports.find((p) => p.deviceId === deviceId)?.console;
    },
    async close(): Promise<void> {
      clearInterval(silenceTimer);
      await Promise.all(ports.map((p) => p.close()));
    },
  };
}

export type SerialBridge = ReturnType<typeof createSerialBridge>;
