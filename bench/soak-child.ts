// A load generator process for the soak: a range of store-and-forward devices streaming at a fixed
// rate, each dropping its connection at random. The parent reads its counters once per interval
// and, at the end, how many frames each device made, to check every one of them was stored once.
// The cluster scenario's failover fleet is one of these, without random drops.
import { deviceId, deviceToken, type DeviceRange } from './bench-devices.ts';
import { withConcurrency } from './bench-device.ts';
import { announce, serveRpc } from './child-rpc.ts';
import { SoakDevice, type SoakDeviceCounters } from './soak-device.ts';
import { sleep } from './stats.ts';

export interface SoakChildConfig {
  hubUrl: string;
  range: DeviceRange;
  samplesPerFrame: number;
  /** source addresses, round robin over the devices */
  sourceAddresses: string[];
}

export interface SoakSnapshot extends SoakDeviceCounters {
  devices: number;
  /** devices with a resumed session right now */
  online: number;
  /** readings made, written to a socket at least once, acknowledged */
  generated: number;
  sent: number;
  acked: number;
  anomalies: number;
  /** the first few anomalies, as text */
  anomalyExamples: string[];
}

export interface SoakDrainResult {
  drained: boolean;
  /** devices still holding unacknowledged frames (or offline) when the drain gave up */
  undrained: number;
  ms: number;
  snapshot: SoakSnapshot;
}

const config = JSON.parse(process.argv[2]) as SoakChildConfig;
const n = config.samplesPerFrame;
const devices: SoakDevice[] = [];
for (let i = 0; i < config.range.count; i++) {
  const id = deviceId(config.range.prefix, config.range.from + i);
  const addresses = config.sourceAddresses;
  devices.push(new SoakDevice({
    hubUrl: config.hubUrl, id, token: deviceToken(id), samplesPerFrame: n,
    localAddress: addresses.length > 0 ? addresses[i % addresses.length] : undefined,
  }));
}

const closesAtWatch = new Map<SoakDevice, number>();

function snapshot(): SoakSnapshot {
  const s: SoakSnapshot = {
    devices: devices.length, online: 0, generated: 0, sent: 0, acked: 0, anomalies: 0, anomalyExamples: [],
    connects: 0, drops: 0, unexpectedCloses: 0, failedConnects: 0, heldFrames: 0, resentFrames: 0, errorFrames: 0,
  };
  for (const d of devices) {
    if (d.online) s.online++;
    s.generated += d.generated * n;
    s.sent += d.sentUpTo * n;
    s.acked += d.acked * n;
    for (const key of ['connects', 'drops', 'unexpectedCloses', 'failedConnects', 'heldFrames', 'resentFrames', 'errorFrames'] as const) s[key] += d.counters[key];
    s.anomalies += d.anomalies.length;
    for (const a of d.anomalies) if (s.anomalyExamples.length < 5) s.anomalyExamples.push(`${d.options.id}: ${a}`);
  }
  return s;
}

serveRpc({
  /** Brings every device online (first HELLO answered); gives up on stragglers after `timeoutMs`. */
  async connect(params: { concurrency: number; timeoutMs: number }) {
    const started = performance.now();
    const deadline = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), params.timeoutMs).unref());
    await withConcurrency(devices, params.concurrency, async (device) => {
      await Promise.race([device.start(), deadline]);
    });
    const online = devices.filter((d) => d.online).length;
    return { online, failed: devices.length - online, ms: performance.now() - started };
  },

  start(params: { framesPerSecond: number; reconnectEveryMs: number; outageMs: number }) {
    for (const device of devices) {
      device.startGenerating(1000 / params.framesPerSecond);
      if (params.reconnectEveryMs > 0) device.startDropping(params.reconnectEveryMs, params.outageMs);
    }
    return true;
  },

  snapshot,

  /** Stops making frames and dropping connections, then waits until every device is online with nothing unacknowledged. */
  async drain(params: { timeoutMs: number }): Promise<SoakDrainResult> {
    const started = performance.now();
    for (const device of devices) device.quiesce();
    while (devices.some((d) => !d.drained) && performance.now() - started < params.timeoutMs) await sleep(20);
    const undrained = devices.filter((d) => !d.drained).length;
    return { drained: undrained === 0, undrained, ms: performance.now() - started, snapshot: snapshot() };
  },

  /** Failover: from now on, each device notes when a frame it makes from here on is acknowledged. */
  watch() {
    for (const d of devices) {
      d.watchFrom = d.generated;
      d.recoveredAt = null;
      d.resumedAt = null;
      closesAtWatch.set(d, d.counters.unexpectedCloses);
    }
    return true;
  },

  /** When each device was streaming again and when it resumed on a new connection (Date.now(), null: not yet), and whether its connection dropped since `watch`. */
  recovery() {
    return devices.map((d) => ({ at: d.recoveredAt, resumedAt: d.resumedAt, dropped: d.counters.unexpectedCloses > (closesAtWatch.get(d) ?? 0), online: d.online }));
  },

  /** Frames each device made: its readings carry the counts 1 … frames × samplesPerFrame. */
  generated() {
    return devices.map((d) => ({ id: d.options.id, frames: d.generated, acked: d.acked }));
  },

  async closeAll() {
    await withConcurrency(devices, 500, (d) => d.close());
    return true;
  },
});
announce({ pid: process.pid, devices: devices.length });
