// Runs many simulated devices in one process: one timer loop for all of them, a connection
// ramp, reconnects with backoff, store-and-forward across them, commands and faults.
import { DeviceClient } from './device-client.ts';
import type { CommandAnswer } from './device-core.ts';
import { applyExcursion, firstOccurrence, malformer, wrongToken, type Faults } from './faults.ts';
import { deriveSeed, seededRandom, type Random } from './random.ts';
import { createSensors, type SensorKind, type SensorModel } from './sensors/index.ts';
import { sendSampledFrame } from './take-samples.ts';
import { addDevice, emptySnapshot, type FleetSnapshot } from './summary.ts';
import { answerCommand, REBOOT_DELAY_MS } from './sim-commands.ts';
import { Timeline } from './timeline.ts';
import type { CommandFrame } from '../../hub/src/protocol/index.ts';

export interface FleetDeviceSpec {
  id: string;
  token: string;
  kinds: readonly SensorKind[];
  /** mean temperature in °C, for devices that are not in a room */
  temperatureBase?: number;
}

export interface FleetOptions {
  hubUrl: string;
  devices: readonly FleetDeviceSpec[];
  /** READINGS frames per second per device */
  rate: number;
  /** sampling rounds per frame */
  batch: number;
  /** false: frames without a base time, stamped on arrival [FP-4.2.2] */
  absoluteTime: boolean;
  seed: number;
  dayLengthMs: number;
  /** new connections per second, for the first connect and for reconnects alike */
  connectRate: number;
  /** source addresses for the sockets, round robin; empty: the OS picks */
  sourceAddresses: readonly string[];
  /** frames each device keeps unacknowledged before dropping the oldest */
  maxUnacked: number;
  faults: Faults;
  firmware?: string;
  /** one line per notable event (refused tokens, failures) */
  log: (line: string) => void;
}

// [FP-6.3] the hub closes a silent device after 6 s; a connect that takes longer is stuck
const CONNECT_TIMEOUT_MS = 15_000;
const BACKOFF_FIRST_MS = 250;
const BACKOFF_MAX_MS = 30_000;
const SLOT_MS = 5;
const MAX_REFUSAL_LINES = 5;

type State = 'waiting' | 'queued' | 'connecting' | 'online' | 'rebooting' | 'stopped';

interface SimDevice {
  spec: FleetDeviceSpec;
  client: DeviceClient;
  sensors: SensorModel[];
  badToken: boolean;
  state: State;
  /** connected once: from then on it samples whether connected or not (store-and-forward) */
  booted: boolean;
  failures: number;
  rate: number;
  /** bumped to cancel the scheduled frame when the rate changes */
  frameGen: number;
  /** bumped at every connect attempt, to tell a stale timeout from the current one */
  connectGen: number;
  stalledUntil: number;
  burstUntil: number;
  refusedOnce: boolean;
}

type Event =
  | { kind: 'frame'; device: SimDevice; gen: number; due: number }
  | { kind: 'connect' | 'drop' | 'stall' | 'unstall' | 'burst'; device: SimDevice; due: number }
  | { kind: 'connect-timeout'; device: SimDevice; gen: number; due: number };

export class Fleet {
  private readonly devices: SimDevice[];
  private readonly timeline: Timeline<Event>;
  private readonly rand: Random;
  private readonly queue: SimDevice[] = [];
  private queueHead = 0;
  private connectTokens = 1;
  private inflight = 0;
  private lastTick = Date.now();
  private loop: NodeJS.Timeout | null = null;
  /** no new frames or faults; connections still go on so kept frames get delivered */
  private draining = false;
  /** no connections either */
  private stopping = false;
  private peakOnline = 0;
  /** devices in state 'online', kept as they connect and leave, so a short peak between summaries counts */
  private onlineNow = 0;
  readonly startedAt = Date.now();
  private readonly totals = {
    connects: 0, connectFailures: 0, refused: 0, refusedExpected: 0,
    closes: {} as Record<number, number>, hubErrors: {} as Record<number, number>, commands: {} as Record<string, number>,
    drops: 0, stalls: 0, bursts: 0,
  };

  constructor(private readonly options: FleetOptions) {
    this.rand = seededRandom(deriveSeed(options.seed, 0xf1ee7));
    this.timeline = new Timeline(SLOT_MS, Date.now());
    const tamperRand = seededRandom(deriveSeed(options.seed, 0x7a3e));
    const tamper = options.faults.malformed ? malformer(options.faults.malformed, tamperRand) : undefined;
    this.devices = options.devices.map((spec, index) => {
      const sensors = createSensors(spec.kinds, { seed: deriveSeed(options.seed, index + 1), dayLengthMs: options.dayLengthMs, temperatureBase: spec.temperatureBase });
      const badToken = options.faults.badToken && index === options.devices.length - 1;
      const client = new DeviceClient({
        hubUrl: options.hubUrl,
        deviceId: spec.id,
        token: badToken ? wrongToken(spec.token) : spec.token,
        firmware: options.firmware,
        channels: sensors.map((s) => s.channel),
        absoluteTime: options.absoluteTime,
        maxUnacked: options.maxUnacked,
        clockSkewMs: options.faults.skewMs,
        tamper,
        localAddress: options.sourceAddresses.length ? options.sourceAddresses[index % options.sourceAddresses.length] : undefined,
        onCommand: (command) => this.onCommand(device, command),
      });
      const device: SimDevice = {
        spec, client, sensors, badToken, state: 'waiting', booted: false, failures: 0, rate: options.rate,
        frameGen: 0, connectGen: 0, stalledUntil: 0, burstUntil: 0, refusedOnce: false,
      };
      client.on('close', (code) => this.onClose(device, code));
      client.on('hub-error', (code) => {
        this.totals.hubErrors[code] = (this.totals.hubErrors[code] ?? 0) + 1;
      });
      return device;
    });
  }

  start(): void {
    for (const device of this.devices) this.enqueue(device);
    this.loop = setInterval(() => this.tick(), SLOT_MS);
  }

  private tick(): void {
    const now = Date.now();
    // the ramp: at most connectRate new connections a second, a short burst allowed
    const burst = Math.max(1, this.options.connectRate / 20);
    this.connectTokens = Math.min(burst, this.connectTokens + ((now - this.lastTick) / 1000) * this.options.connectRate);
    this.lastTick = now;
    const maxInflight = Math.max(10, this.options.connectRate);
    while (this.connectTokens >= 1 && this.queueHead < this.queue.length && this.inflight < maxInflight) {
      this.connectTokens--;
      this.connect(this.queue[this.queueHead++]);
    }
    if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue.splice(0, this.queueHead);
      this.queueHead = 0;
    }
    this.timeline.take(now, (event) => this.run(event, now));
  }

  private run(event: Event, now: number): void {
    const device = event.device;
    if (device.state === 'stopped') return;
    if (this.draining && event.kind !== 'connect' && event.kind !== 'connect-timeout') return;
    switch (event.kind) {
      case 'frame':
        if (event.gen === device.frameGen) this.frame(device, event.due, now);
        break;
      case 'connect':
        this.enqueue(device);
        break;
      case 'connect-timeout':
        // a hub that accepted the socket but never answered HELLO: give up on this attempt
        if (event.gen === device.connectGen && device.state === 'connecting') device.client.drop();
        break;
      case 'drop': {
        const drop = this.options.faults.drop!;
        if (device.state === 'online' && now >= device.stalledUntil) {
          this.totals.drops++;
          device.client.drop();
        }
        this.timeline.at(event.due + drop.everyMs, { kind: 'drop', device, due: event.due + drop.everyMs });
        break;
      }
      case 'stall': {
        const stall = this.options.faults.stall!;
        this.totals.stalls++;
        device.stalledUntil = event.due + stall.forMs;
        device.client.pause();
        this.timeline.at(device.stalledUntil, { kind: 'unstall', device, due: device.stalledUntil });
        this.timeline.at(event.due + stall.everyMs, { kind: 'stall', device, due: event.due + stall.everyMs });
        break;
      }
      case 'unstall':
        device.client.resume();
        break;
      case 'burst': {
        const burst = this.options.faults.burst!;
        this.totals.bursts++;
        device.burstUntil = event.due + burst.forMs;
        this.scheduleFrame(device, now); // sooner than the frame planned at the normal rate
        this.timeline.at(event.due + burst.everyMs, { kind: 'burst', device, due: event.due + burst.everyMs });
        break;
      }
    }
  }

  private periodMs(device: SimDevice, at: number): number {
    const factor = at < device.burstUntil ? this.options.faults.burst!.factor : 1;
    return 1000 / (device.rate * factor);
  }

  private scheduleFrame(device: SimDevice, from: number, phase = 1): void {
    device.frameGen++;
    const due = from + this.periodMs(device, from) * phase;
    this.timeline.at(due, { kind: 'frame', device, gen: device.frameGen, due });
  }

  private frame(device: SimDevice, due: number, now: number): void {
    const period = this.periodMs(device, due);
    // a stalled or rebooting device samples nothing
    if (now >= device.stalledUntil && device.state !== 'rebooting') {
      sendSampledFrame(device.client, device.sensors, due, period, this.options.batch, this.options.absoluteTime);
    }
    device.frameGen++;
    // a loop that fell behind (a blocked event loop) does not catch up in a flood, as a device would not
    const next = Math.max(due + period, now - period);
    this.timeline.at(next, { kind: 'frame', device, gen: device.frameGen, due: next });
  }

  private enqueue(device: SimDevice): void {
    if (this.stopping) return;
    device.state = 'queued';
    this.queue.push(device);
  }

  private connect(device: SimDevice): void {
    if (device.state !== 'queued' || this.stopping) return;
    device.state = 'connecting';
    this.inflight++;
    const gen = ++device.connectGen;
    const due = Date.now() + CONNECT_TIMEOUT_MS;
    this.timeline.at(due, { kind: 'connect-timeout', device, gen, due });
    device.client.connect().then(
      () => {
        this.inflight--;
        this.totals.connects++;
        if (device.state !== 'connecting' || gen !== device.connectGen) return;
        device.state = 'online';
        this.peakOnline = Math.max(this.peakOnline, ++this.onlineNow);
        device.failures = 0;
        if (!device.booted) this.boot(device);
      },
      (err: Error & { status?: number }) => {
        this.inflight--;
        this.totals.connectFailures++;
        if (device.state !== 'connecting' || gen !== device.connectGen) return;
        if (err.status === 401) this.refused(device);
        this.reconnectLater(device);
      },
    );
  }

  private refused(device: SimDevice): void {
    if (device.badToken) {
      this.totals.refusedExpected++;
      if (!device.refusedOnce) this.options.log(`${device.spec.id}: hub refused the wrong token with HTTP 401, as the bad-token fault intends`);
    } else {
      this.totals.refused++;
      // a stale tokens file refuses every device: a few lines say it, the summary counts the rest
      if (!device.refusedOnce && this.totals.refused <= MAX_REFUSAL_LINES) {
        this.options.log(`${device.spec.id}: hub refused its token with HTTP 401 (deleted or re-provisioned elsewhere?); retrying with backoff` +
          (this.totals.refused === MAX_REFUSAL_LINES ? '; further refusals are only counted' : ''));
      }
    }
    device.refusedOnce = true;
  }

  /** First connect: the device starts sampling, at its own phase so frames do not all line up. */
  private boot(device: SimDevice): void {
    device.booted = true;
    const now = Date.now();
    this.scheduleFrame(device, now, this.rand());
    const { drop, stall, burst, excursion } = this.options.faults;
    if (excursion) device.sensors = applyExcursion(device.sensors, excursion, now);
    if (drop) this.scheduleFault(device, 'drop', firstOccurrence(now, drop.everyMs, this.rand));
    if (stall) this.scheduleFault(device, 'stall', firstOccurrence(now, stall.everyMs, this.rand));
    if (burst) this.scheduleFault(device, 'burst', firstOccurrence(now, burst.everyMs, this.rand));
  }

  private scheduleFault(device: SimDevice, kind: 'drop' | 'stall' | 'burst', due: number): void {
    this.timeline.at(due, { kind, device, due });
  }

  private onClose(device: SimDevice, code: number): void {
    if (device.state !== 'online') return; // failed attempts are handled where they were made
    this.onlineNow--;
    this.totals.closes[code] = (this.totals.closes[code] ?? 0) + 1;
    this.reconnectLater(device);
  }

  /** Exponential backoff with jitter, so a hub restart is not met by every device at once. */
  private reconnectLater(device: SimDevice): void {
    if (this.stopping) return;
    device.state = 'waiting';
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** device.failures) * (0.5 + this.rand());
    device.failures++;
    // a hung device does not try before it wakes up
    const due = Math.max(Date.now() + delay, device.stalledUntil);
    this.timeline.at(due, { kind: 'connect', device, due });
  }

  private onCommand(device: SimDevice, command: CommandFrame): CommandAnswer {
    this.totals.commands[command.name] = (this.totals.commands[command.name] ?? 0) + 1;
    return answerCommand(command, {
      setRate: (hz) => {
        const previous = device.rate;
        device.rate = hz;
        if (device.booted) this.scheduleFrame(device, Date.now());
        return previous;
      },
      reboot: () => void this.reboot(device),
    });
  }

  private async reboot(device: SimDevice): Promise<void> {
    if (device.state !== 'online') return;
    this.onlineNow--;
    device.state = 'rebooting';
    await device.client.reboot();
    if (device.state !== 'rebooting' || this.stopping) return;
    const due = Date.now() + REBOOT_DELAY_MS;
    this.timeline.at(due, { kind: 'connect', device, due });
  }

  snapshot(): FleetSnapshot {
    const t = this.totals;
    const s: FleetSnapshot = {
      ...emptySnapshot(this.devices.length),
      hubErrors: { ...t.hubErrors }, connects: t.connects, connectFailures: t.connectFailures,
      closes: { ...t.closes }, refused: t.refused, refusedExpected: t.refusedExpected,
      commands: { ...t.commands }, faults: { drops: t.drops, stalls: t.stalls, bursts: t.bursts },
    };
    for (const { client, state } of this.devices) addDevice(s, client, state !== 'stopped');
    this.peakOnline = Math.max(this.peakOnline, s.online);
    s.peakOnline = this.peakOnline;
    return s;
  }

  /**
   * Stops making frames and injecting faults, gives devices up to `drainMs` to deliver what they
   * keep (reconnecting if they must), then closes every connection.
   */
  async stop(drainMs = 5000): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    const now = Date.now();
    for (const device of this.devices) {
      if (device.stalledUntil > now) {
        device.stalledUntil = 0;
        device.client.resume();
      }
      // waiting out a long backoff would outlast the drain
      if (device.state === 'waiting' && device.client.pending > 0) this.enqueue(device);
    }
    const deadline = now + drainMs;
    const undelivered = () => this.devices.some((d) => d.booted && d.client.pending > 0);
    while (Date.now() < deadline && undelivered()) await new Promise((r) => setTimeout(r, 50));
    this.stopping = true;
    this.queue.length = this.queueHead = 0;
    if (this.loop) clearInterval(this.loop);
    this.timeline.clear();
    this.snapshot(); // the peak, before the connections go
    await Promise.all(this.devices.map((d) => {
      d.state = 'stopped';
      return d.client.close(1000).catch(() => undefined);
    }));
  }
}
