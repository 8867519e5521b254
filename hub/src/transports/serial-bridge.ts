// Serial transport: each configured port carries one device speaking frame lines [FP-8]. The
// bridge moves lines between the port and the codec; DeviceSession and Ingest do the rest.
// A port that hangs up, however that shows (a 0-byte read, POLLHUP, EIO or EBADF, its device node
// gone, the end of the stream), is closed and reopened with backoff. Console lines are bounded per
// port: in length, in rate, and in how many are kept.
import { ReadlineParser } from '@serialport/parser-readline';
import type { Logger } from 'pino';
import type { Duplex } from 'node:stream';
import type { SerialPortOption } from '../config.ts';
import type { DeviceLink } from '../ingest/device-link.ts';
import { DeviceSession, type SessionHandlers } from '../ingest/device-session.ts';
import type { LiveBus } from '../live/live-bus.ts';
import type { Metrics } from '../metrics.ts';
import { decodeLine, encodeLine, ErrorCode, MAX_LINE_LENGTH, ProtocolError, type ErrorName } from '../protocol/index.ts';
import type { DeviceRegistry } from '../registry/registry.ts';
import { openHangupAwarePort } from './hangup-binding.ts';
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
  /** console lines kept per port per second; more are dropped and counted (default 100) */
  consoleLinesPerSecond?: number;
  /** console lines longer than this many bytes are cut there and counted (default 1024) */
  consoleMaxLineBytes?: number;
  openPort?: (path: string, baudRate: number) => SerialPortLike;
}

export interface ConsoleLine {
  at: number;
  text: string;
}

/** console lines kept per port for GET /api/devices/:id/console */
export const CONSOLE_LINES_KEPT = 200;
export const CONSOLE_DEFAULTS = { linesPerSecond: 100, maxLineBytes: 1024 } as const;
const TRUNCATED_MARK = ' [truncated]';

const openRealPort = (path: string, baudRate: number): SerialPortLike => openHangupAwarePort(path, baudRate);

/** The last CONSOLE_LINES_KEPT console lines of a port, oldest first. */
class ConsoleRing {
  private readonly lines: (ConsoleLine | undefined)[] = new Array(CONSOLE_LINES_KEPT);
  private next = 0;
  private size = 0;

  push(line: ConsoleLine): void {
    this.lines[this.next] = line;
    this.next = (this.next + 1) % CONSOLE_LINES_KEPT;
    this.size = Math.min(this.size + 1, CONSOLE_LINES_KEPT);
  }

  toArray(): ConsoleLine[] {
    const out: ConsoleLine[] = [];
    for (let i = CONSOLE_LINES_KEPT - this.size; i < CONSOLE_LINES_KEPT; i++) out.push(this.lines[(this.next + i) % CONSOLE_LINES_KEPT]!);
    return out;
  }
}

class BridgedPort {
  private port: SerialPortLike | null = null;
  private session: DeviceSession | null = null;
  private lastFrame = 0;
  private reopenDelay: number;
  private reopenTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** console output of the port, so the device page can show it (also while the port is away) */
  private readonly consoleLines = new ConsoleRing();
  /** the console rate window: its start and the lines kept in it */
  private consoleWindowStart = 0;
  private consoleWindowLines = 0;
  private consoleWindowDropped = 0;
  private readonly consoleLinesPerSecond: number;
  private readonly consoleMaxLineBytes: number;
  /** the device last known on this port */
  private lastDeviceId: string | undefined;

  constructor(private readonly spec: SerialPortOption, private readonly options: SerialBridgeOptions) {
    this.reopenDelay = options.reopenMs;
    this.consoleLinesPerSecond = options.consoleLinesPerSecond ?? CONSOLE_DEFAULTS.linesPerSecond;
    this.consoleMaxLineBytes = options.consoleMaxLineBytes ?? CONSOLE_DEFAULTS.maxLineBytes;
  }

  get deviceId(): string | undefined {
    return this.session?.deviceId ?? this.lastDeviceId;
  }

  get console(): ConsoleLine[] {
    return this.consoleLines.toArray();
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
      this.attach(port);
    });
  }

  private attach(port: SerialPortLike): void {
    this.port = port;
    const openedAt = Date.now();
    let gone = false;
    const link: DeviceLink = {
      transport: 'serial',
      send: (frame) => {
        if (!gone && port.isOpen && !port.destroyed) port.write(encodeLine(frame));
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
    let heard = false;
    lines.on('data', (line: string) => {
      // what the parser still held when the port went belongs to no session
      if (gone) return;
      if (!heard) {
        // someone is on the line: the next unplug starts the backoff over
        heard = true;
        this.reopenDelay = this.options.reopenMs;
      }
      this.onLine(line);
    });
    // Every way a port can go away ends here once: 'close' from the binding (a hang-up, EIO, EBADF,
    // a removed device node), 'close' from the stream destroyed by a write error, or the end of
    // the stream from a binding that reports a hang-up as end of file.
    const onGone = (reason: string) => {
      if (gone) return;
      gone = true;
      if (port.isOpen) port.close(() => undefined);
      const deviceId = session.deviceId;
      if (!this.stopped) this.options.metrics.serialDisconnects.inc();
      this.limitedLog.warn(this.spec.path, { path: this.spec.path, deviceId, transport: 'serial', reason }, 'serial port closed');
      if (deviceId) this.limitedLog.info(deviceId, { deviceId, transport: 'serial', path: this.spec.path, reason: 'port closed' }, 'device disconnected');
      session.closed();
      if (this.session === session) this.session = null;
      if (this.port === port) this.port = null;
      // a port that stayed open a while was a real connection: its replug starts the backoff over
      if (Date.now() - openedAt >= this.options.maxReopenMs) this.reopenDelay = this.options.reopenMs;
      this.scheduleReopen();
    };
    port.on('error', (err) => this.limitedLog.warn(this.spec.path, { path: this.spec.path, err: err.message }, 'serial port error'));
    port.on('close', (err?: Error | null) => onGone(err?.message ?? 'port closed'));
    port.on('end', () => onGone('end of stream'));
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
    if (decoded.kind === 'console') return this.onConsole(decoded.text, session);
    this.lastFrame = Date.now();
    session.onFrame(decoded.frame);
    if (session.deviceId) this.lastDeviceId = session.deviceId;
  }

  /**
   * [FP-8.2] A console line: at most consoleLinesPerSecond per port are kept, shown live and
   * logged (through the limiter); longer than consoleMaxLineBytes they are cut. What goes over is
   * counted, never buffered.
   */
  private onConsole(raw: string, session: DeviceSession): void {
    if (raw.length === 0) return;
    const { metrics } = this.options;
    const now = Date.now();
    if (now - this.consoleWindowStart >= 1000) {
      this.consoleWindowStart = now;
      this.consoleWindowLines = 0;
      this.consoleWindowDropped = 0;
    }
    if (this.consoleWindowLines >= this.consoleLinesPerSecond) {
      metrics.consoleLinesDropped.inc({ reason: 'rate' });
      // one line per second at most, and the limiter's bound on top
      if (this.consoleWindowDropped++ === 0) {
        this.limitedLog.warn(this.spec.path, { path: this.spec.path, deviceId: session.deviceId, linesPerSecond: this.consoleLinesPerSecond }, 'device console over its rate, lines dropped');
      }
      return;
    }
    this.consoleWindowLines++;
    // the line holds bytes (latin1); it is cut as bytes, then read as UTF-8
    let bytes = raw;
    if (bytes.length > this.consoleMaxLineBytes) {
      bytes = bytes.slice(0, this.consoleMaxLineBytes);
      metrics.consoleLinesTruncated.inc();
    }
    let text = Buffer.from(bytes, 'latin1').toString('utf8');
    if (bytes !== raw) text += TRUNCATED_MARK;
    const entry = { at: now, text };
    this.consoleLines.push(entry);
    const deviceId = session.deviceId;
    this.limitedLog.info(this.spec.path, { path: this.spec.path, deviceId, console: text }, 'device console');
    if (deviceId) this.options.live.publish({ type: 'console', deviceId, ...entry });
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
