// `--serial`: one simulated device on a serial port. Samples like a fleet device, survives the
// port going away (reopens it), and answers the built-in commands.
import { errorName } from '../../hub/src/protocol/index.ts';
import { malformer, type Faults } from './faults.ts';
import { deriveSeed, seededRandom } from './random.ts';
import { createSensors, type SensorKind, type SensorModel } from './sensors/index.ts';
import { SerialDevice } from './serial-device.ts';
import { answerCommand, REBOOT_DELAY_MS } from './sim-commands.ts';
import { addDevice, emptySnapshot, type FleetSnapshot } from './summary.ts';
import { sendSampledFrame } from './take-samples.ts';

export interface SerialRunOptions {
  path: string;
  baudRate: number;
  deviceId: string;
  kinds: readonly SensorKind[];
  rate: number;
  batch: number;
  absoluteTime: boolean;
  seed: number;
  dayLengthMs: number;
  maxUnacked: number;
  faults: Faults;
  log: (line: string) => void;
}

const REOPEN_MAX_MS = 5000;

export class SerialRun {
  readonly device: SerialDevice;
  readonly startedAt = Date.now();
  private readonly sensors: SensorModel[];
  private rate: number;
  private nextDue = 0;
  private frameTimer: NodeJS.Timeout | null = null;
  private reopenTimer: NodeJS.Timeout | null = null;
  private reopenDelay = 250;
  private stopping = false;
  private booted = false;
  private readonly totals = { hubErrors: {} as Record<number, number>, commands: {} as Record<string, number>, opens: 0, openFailures: 0, closes: {} as Record<number, number> };

  constructor(private readonly options: SerialRunOptions) {
    this.rate = options.rate;
    const sensors = (this.sensors = createSensors(options.kinds, { seed: deriveSeed(options.seed, 1), dayLengthMs: options.dayLengthMs }));
    const { malformed, skewMs } = options.faults;
    this.device = new SerialDevice({
      path: options.path,
      baudRate: options.baudRate,
      deviceId: options.deviceId,
      channels: sensors.map((s) => s.channel),
      absoluteTime: options.absoluteTime,
      maxUnacked: options.maxUnacked,
      clockSkewMs: skewMs,
      tamper: malformed ? malformer(malformed, seededRandom(deriveSeed(options.seed, 0x7a3e))) : undefined,
      onCommand: (command) => {
        this.totals.commands[command.name] = (this.totals.commands[command.name] ?? 0) + 1;
        return answerCommand(command, {
          setRate: (hz) => {
            const previous = this.rate;
            this.rate = hz;
            this.scheduleFrame(Date.now());
            return previous;
          },
          reboot: () => this.reboot(),
        });
      },
    });
    this.device.on('hub-error', (code, text) => {
      this.totals.hubErrors[code] = (this.totals.hubErrors[code] ?? 0) + 1;
      options.log(`hub error ${errorName(code) ?? code}: ${text}`);
    });
    this.device.on('console', (text) => options.log(`hub console: ${text}`));
    this.device.on('open', () => {
      this.totals.opens++;
      options.log(`${options.deviceId}: HELLO acknowledged on ${options.path} (session ${this.device.session.toString(16)}, hub holds up to seq ${this.device.acked})`);
      if (!this.booted) {
        this.booted = true;
        this.scheduleFrame(Date.now());
      }
    });
    this.device.on('close', (_code, reason) => {
      if (this.stopping) return;
      this.totals.closes[0] = (this.totals.closes[0] ?? 0) + 1;
      options.log(`${options.path} closed (${reason}); reopening`);
      this.reopenLater();
    });
  }

  private scheduleFrame(from: number): void {
    if (this.frameTimer) clearTimeout(this.frameTimer);
    this.nextDue = from + 1000 / this.rate;
    this.frameTimer = setTimeout(() => this.onFrameTimer(), Math.max(0, this.nextDue - Date.now()));
  }

  private onFrameTimer(): void {
    if (this.stopping) return;
    const due = this.nextDue;
    sendSampledFrame(this.device, this.sensors, due, 1000 / this.rate, this.options.batch, this.options.absoluteTime);
    // behind by more than a period (a blocked loop): skip ahead instead of flooding
    this.scheduleFrame(Math.max(due, Date.now() - 1000 / this.rate));
  }

  start(): void {
    this.open();
  }

  private open(): void {
    this.reopenTimer = null;
    if (this.stopping) return;
    this.device.open().then(
      () => {
        this.reopenDelay = 250;
      },
      (err: Error & { helloTimeout?: boolean }) => {
        if (this.stopping) return;
        if (err.helloTimeout) {
          // the port is open and the device keeps saying HELLO; the hub may not be listening yet
          this.options.log(`${this.options.path}: ${err.message}`);
          return;
        }
        this.totals.openFailures++;
        this.options.log(`${this.options.path}: cannot open (${err.message}); retrying`);
        this.reopenLater();
      },
    );
  }

  private reopenLater(): void {
    if (this.stopping || this.reopenTimer) return;
    this.reopenTimer = setTimeout(() => this.open(), this.reopenDelay);
    this.reopenDelay = Math.min(REOPEN_MAX_MS, this.reopenDelay * 2);
  }

  private reboot(): void {
    this.device.reboot();
    // a rebooting device samples nothing until it is up again
    if (this.frameTimer) clearTimeout(this.frameTimer);
    this.frameTimer = setTimeout(() => this.scheduleFrame(Date.now()), REBOOT_DELAY_MS);
  }

  snapshot(): FleetSnapshot {
    const s = emptySnapshot(1);
    addDevice(s, this.device, !this.stopping);
    s.peakOnline = this.booted ? 1 : 0;
    s.hubErrors = { ...this.totals.hubErrors };
    s.commands = { ...this.totals.commands };
    s.connects = this.totals.opens;
    s.connectFailures = this.totals.openFailures;
    s.closes = { ...this.totals.closes };
    return s;
  }

  async stop(drainMs: number): Promise<void> {
    this.stopping = true;
    if (this.frameTimer) clearTimeout(this.frameTimer);
    if (this.reopenTimer) clearTimeout(this.reopenTimer);
    const deadline = Date.now() + drainMs;
    while (Date.now() < deadline && this.device.connected && this.device.pending > 0) await new Promise((r) => setTimeout(r, 50));
    await this.device.close();
  }
}
