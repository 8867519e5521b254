// A device speaking firmware-protocol.md over a serial line [FP-8]: one '@' + base64 line per
// frame, console text around them, HEARTBEAT when idle [FP-6.4], HELLO again whenever the hub
// says FP_ERR_NO_HELLO [FP-6.2]. Same API as DeviceClient; hub tests drive it over socat pairs.
import { ReadlineParser } from '@serialport/parser-readline';
import { SerialPortMock, type SerialPort, type SerialPortMockOpenOptions } from 'serialport';
import { decodeLine, encodeLine, encodeLineBytes, ErrorCode, ProtocolError, type Frame } from '../../hub/src/protocol/index.ts';
import { openHangupAwarePort } from '../../hub/src/transports/hangup-binding.ts';
import { DeviceCore, type DeviceOptions } from './device-core.ts';

export interface SerialDeviceOptions extends DeviceOptions {
  /** e.g. /dev/ttyUSB0, or one end of a socat pty pair */
  path: string;
  /** [FP-8.5] default 115200 */
  baudRate?: number;
  /** a binding to use instead of the OS's: tests pass MockBinding from @serialport/binding-mock */
  binding?: typeof SerialPortMock.binding;
  /** [FP-6.4] idle time before a HEARTBEAT (before the resume ACK: before HELLO again); at most 5000 */
  heartbeatMs?: number;
  /** console line written at boot, before HELLO [FP-8.2]; false for none */
  banner?: string | false;
}

// [FP-9] codes the hub sends for a line it could not decode: the frame on it never arrived
const LOST_LINE_CODES = new Set<number>([
  ErrorCode.FP_ERR_TRUNCATED, ErrorCode.FP_ERR_BAD_VERSION, ErrorCode.FP_ERR_BAD_TYPE, ErrorCode.FP_ERR_BAD_LENGTH,
  ErrorCode.FP_ERR_TOO_LARGE, ErrorCode.FP_ERR_BAD_CHECKSUM, ErrorCode.FP_ERR_BAD_PAYLOAD, ErrorCode.FP_ERR_BAD_LINE,
]);

/** a HELLO not answered within this is sent again when the hub asks */
const HELLO_RETRY_MS = 250;

export class SerialDevice extends DeviceCore {
  /** the serialport stream; tests reach a mock binding's `emitData` and `recording` through `port.port` */
  readonly port: SerialPort | SerialPortMock;
  private heartbeat: NodeJS.Timeout | null = null;
  private lastWrite = 0;
  private lastHello = 0;
  protected override readonly strictResume = true;
  private closing = false;
  /** between open() and the port closing, so 'close' is emitted once per open */
  private opened = false;
  /** lines the hub's side wrote that did not decode (noise) */
  badLines = 0;

  constructor(override readonly options: SerialDeviceOptions) {
    super(options);
    const { path, binding } = options;
    const baudRate = options.baudRate ?? 115200;
    this.port = binding
      ? new SerialPortMock({ path, baudRate, autoOpen: false, binding } as SerialPortMockOpenOptions)
      // serialport's own binding spins on a 0-byte read after a hang-up; the hub's wrapper does not
      : openHangupAwarePort(path, baudRate);
    const lines = this.port.pipe(new ReadlineParser({ delimiter: '\n' }));
    lines.on('data', (line: string) => this.onLine(line));
    this.port.on('close', (err?: Error & { disconnected?: boolean }) => this.onPortClosed(err?.message ?? 'port closed'));
    this.port.on('error', (err: Error) => {
      // a write to a port that was just unplugged; 'close' follows and does the cleanup
      if (!this.port.isOpen) this.onPortClosed(err.message);
    });
  }

  protected get linkOpen(): boolean {
    return this.port.isOpen && !this.closing;
  }

  protected transmit(bytes: Uint8Array): void {
    // [FP-8.1] kept READINGS go out exactly as first sent
    this.write(encodeLineBytes(bytes));
  }

  protected restartLink(): void {
    this.sayHello();
  }

  private write(text: string): void {
    this.lastWrite = Date.now();
    this.port.write(text);
  }

  /** Opens the port, prints the boot banner, sends HELLO, and resolves after the resume ACK [FP-4.1.2]. */
  async open(timeoutMs = 30_000): Promise<void> {
    if (!this.port.isOpen) {
      await new Promise<void>((resolve, reject) => this.port.open((err) => (err ? reject(err) : resolve())));
    }
    this.closing = false;
    this.opened = true;
    this.linkLost();
    const { banner } = this.options;
    if (banner !== false) this.console(banner ?? `${this.options.deviceId} booting, firmware ${this.options.firmware ?? 'sim-1.0'}, session ${this.session.toString(16)}`);
    const opened = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('open', onOpen);
        // the port stays open and HELLO keeps going out with the heartbeat; close() stops it
        reject(Object.assign(new Error(`no ACK to HELLO within ${timeoutMs} ms; still trying`), { helloTimeout: true }));
      }, timeoutMs);
      const onOpen = () => {
        clearTimeout(timer);
        resolve();
      };
      this.once('open', onOpen);
    });
    this.sayHello();
    this.startHeartbeat();
    return opened;
  }

  /** Same as open(), for code written against DeviceClient. */
  connect(): Promise<void> {
    return this.open();
  }

  /** Writes a console line (no '@'), as firmware prints debug output [FP-8.2]. */
  console(text: string): void {
    // a leading '@' or an embedded newline would make the hub read it as a (broken) frame line
    if (this.linkOpen) this.write(text.replace(/^@+/, '').replace(/\n/g, ' ') + '\n');
  }

  /** Writes any text as is: half lines, noise, lines that are not base64. */
  writeRaw(text: string): void {
    if (this.linkOpen) this.write(text);
  }

  /** Closes the port; the device stops. */
  async close(): Promise<void> {
    this.stopHeartbeat();
    if (!this.port.isOpen) return;
    this.closing = true;
    await new Promise<void>((resolve) => this.port.close(() => resolve()));
  }

  /** [FP-4.5.2] `reboot`: a banner, a new empty session, HELLO. The port stays open. */
  reboot(): void {
    this.resetSession();
    this.console(`${this.options.deviceId} rebooting, session ${this.session.toString(16)}`);
    this.sayHello();
  }

  private sayHello(): void {
    this.lastHello = Date.now();
    this.linkLost();
    if (this.linkOpen) this.transmit(this.helloBytes());
  }

  private startHeartbeat(): void {
    this.stopHeartbeat();
    const every = Math.min(this.options.heartbeatMs ?? 2000, 5000);
    this.heartbeat = setInterval(() => {
      if (!this.linkOpen || Date.now() - this.lastWrite < every) return;
      // [FP-6.4] a frame at least every 5 s; without a resume ACK yet, HELLO is the frame to send
      if (this.ready) this.write(encodeLine({ type: 'heartbeat' }));
      else this.sayHello();
    }, Math.max(50, every / 4));
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }

  private onLine(line: string): void {
    let frame: Frame;
    try {
      const decoded = decodeLine(line);
      if (decoded.kind === 'console') {
        if (decoded.text) this.emit('console', decoded.text);
        return;
      }
      frame = decoded.frame;
    } catch (err) {
      // [FP-8.3] noise on the line: drop it; an ACK or an ERROR will come again
      if (err instanceof ProtocolError) {
        this.badLines++;
        return;
      }
      throw err;
    }
    this.handleFrame(frame);
  }

  protected override onHubError(code: number): void {
    // [FP-6.2] [FP-8.3] the hub does not know our session on this port (it just opened it), or it
    // ended it because one of our lines arrived damaged: HELLO again, and the resume ACK makes us
    // resend what it does not hold. Errors for frames sent before that HELLO say nothing new.
    if (code !== ErrorCode.FP_ERR_NO_HELLO && !LOST_LINE_CODES.has(code)) return;
    if (this.ready || Date.now() - this.lastHello > HELLO_RETRY_MS) this.sayHello();
  }

  private onPortClosed(reason: string): void {
    this.stopHeartbeat();
    this.linkLost();
    if (!this.opened) return;
    this.opened = false;
    this.emit('close', 0, reason);
  }
}
