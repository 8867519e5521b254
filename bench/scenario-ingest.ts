// Hub ingest, closed loop: devices send as fast as ACKs allow (a window of unacknowledged frames
// each), through the hub into its store. The rate is what the hub counted as stored in the
// measured window, and the hub's CPU per frame beside it; afterwards every reading is counted back
// through the history API (decode-only: from the devices' ACKs).
import { deviceId } from './bench-devices.ts';
import type { HubChildConfig, HubMode } from './hub-child.ts';
import { countBack, hubCounters } from './hub-api.ts';
import type { LoadStopResult } from './load-child.ts';
import { frameSamples } from './bench-options.ts';
import { cpuEach, framesPerAck, machineBeforeMs, startHubChild, startLoadChildren, stopAll, type BenchContext, type RunningHub } from './scenario-support.ts';
import { sleep } from './stats.ts';
import { machineBefore, machineDuring, type MachineDuring, type MachineLoad } from './machine-load.ts';
import type { Child } from './children.ts';

export interface IngestResult {
  readingsPerSecond: number;
  framesPerSecond: number;
  /** hub CPU time over wall time in the window (1 = one core) */
  hubCpu: number;
  /** load generators' CPU in the window, summed */
  loadCpu: number;
  /** cores other processes on the machine used in the window */
  foreignCpu: number;
  /** mean readings per store write in the window */
  batchReadings: number;
  /** share of the window spent in store writes (wall time) */
  storeBusy: number;
  stored: number;
  /**
   * readings the store holds, counted back through the hub's history API; decode-only, which keeps
   * nothing: the readings the devices had acknowledged (ACKed seqs × readings per frame)
   */
  countedBack: number;
  /** decode-only: readings the counting store was given */
  storeCounted?: number;
  /** frames each ACK acknowledged on average, over the whole run */
  framesPerAck: number;
  acked: number;
  drained: boolean;
  deviceErrors: number;
  closedConnections: number;
}

/** What runIngest adds to the figures every closed-loop ingest run has. */
export interface IngestRun extends IngestResult {
  /** each load generator's CPU in the window (1 = one core): none may be saturated */
  loadCpuEach: number[];
  /** µs of hub CPU per READINGS frame in the window */
  hubUsPerFrame: number;
  samplesPerFrame: number;
  machine: MachineLoad;
}

export interface IngestOverrides {
  seconds?: number;
  verify?: boolean;
  /** the hub's InfluxDB database URL (default: a fresh database on the bench's influxd) */
  influxUrl?: string;
  /** cluster mode for the hub (see HubChildConfig) */
  cluster?: HubChildConfig['cluster'];
  /** names the hub's and generators' logs */
  label?: string;
  /** readings per frame (default: the last of --samples) */
  samples?: number;
  /** unacknowledged frames per device (default: --window) */
  window?: number;
}

/**
 * How far back a real store's closed-loop timeline starts: its frames advance it by about 1 s a
 * second, so it stays within the minute InfluxDB's tiers count as on time and well short of the
 * hub's 5-minute limit on readings ahead of its clock [FP-4.2.4].
 */
const LIVE_TIMELINE_BACK_MS = 30_000;

export async function runIngest(ctx: BenchContext, mode: HubMode, overrides: IngestOverrides = {}): Promise<IngestRun> {
  const { options } = ctx;
  const seconds = overrides.seconds ?? options.seconds;
  const range = { prefix: 'dev-', from: 0, count: options.devices };
  let hub: RunningHub | null = null;
  let loads: Child[] = [];
  const samples = overrides.samples ?? frameSamples(options);
  const before = await machineBefore(machineBeforeMs(ctx));
  try {
    const label = overrides.label ?? `ingest-${mode}-${samples}`;
    hub = await startHubChild(ctx, label, {
      mode, devices: [range],
      influxUrl: overrides.influxUrl ?? (ctx.influxUrl ? `${ctx.influxUrl}/bench_hub_${Date.now()}` : undefined),
      cluster: overrides.cluster,
    });
    const started = await startLoadChildren(ctx, label, hub.url, range, options.loadProcs, { samples });
    loads = started.children;
    const connected = await Promise.all(loads.map((c) => c.call<{ connected: number; failed: number; firstError?: string }>('connect', { concurrency: 100 })));
    const failed = connected.reduce((n, c) => n + c.failed, 0);
    if (failed) throw new Error(`${failed} devices did not connect: ${connected.find((c) => c.firstError)?.firstError}`);

    // Into a real store the readings are stamped as live devices stamp theirs, the last half minute
    // on: a day back, every reading would be a late one for the InfluxDB store, which computes its
    // history tiers again over each batch of those. The counting store keeps no tiers, and its
    // frames outrun the clock (tens of ms of readings per ms at 40 a frame): a day back for it.
    const startBackMs = mode === 'decode-only' ? undefined : LIVE_TIMELINE_BACK_MS;
    await Promise.all(loads.map((c) => c.call('closedLoop', { window: overrides.window ?? options.window, startBackMs })));
    await sleep(options.warmSeconds * 1000);
    const [a, cpuA] = [await hubCounters(hub.url), await hub.stats()];
    let during: MachineDuring | undefined;
    const loadCpuEach = await cpuEach(loads, async () => {
      during = await machineDuring(() => sleep(seconds * 1000));
    });
    const [b, cpuB] = [await hubCounters(hub.url), await hub.stats()];
    const elapsedMs = b.at - a.at;
    const stops = await Promise.all(loads.map((c) => c.call<LoadStopResult>('stop', { drainMs: 30_000 })));
    const final = await hubCounters(hub.url);

    let countedBack = final.stored;
    let storeCounted: number | undefined;
    if (mode === 'decode-only') {
      // the counting store's own count would only repeat the hub's; the devices' ACKs are the other side
      countedBack = stops.reduce((n, s) => n + s.readingsAcked, 0);
      storeCounted = (await hub.stats()).counted ?? 0;
    } else if (overrides.verify !== false) {
      const ids = Array.from({ length: options.devices }, (_, i) => deviceId(range.prefix, i));
      const from = Math.min(...stops.map((s) => s.timeFrom));
      const to = Math.max(...stops.map((s) => s.timeTo));
      countedBack = await countBack(hub.url, ids, from, to);
    }
    const framesPerSecond = ((b.frames - a.frames) * 1000) / elapsedMs;
    const hubCpu = (cpuB.cpuUserMs + cpuB.cpuSystemMs - cpuA.cpuUserMs - cpuA.cpuSystemMs) / elapsedMs;
    return {
      readingsPerSecond: ((b.stored - a.stored) * 1000) / elapsedMs,
      framesPerSecond,
      loadCpu: loadCpuEach.reduce((sum, x) => sum + x, 0),
      loadCpuEach,
      hubUsPerFrame: (hubCpu * 1e6) / framesPerSecond,
      samplesPerFrame: started.ready[0].samplesPerFrame,
      foreignCpu: during!.foreignCpu,
      machine: { ...before, ...during! },
      batchReadings: (b.stored - a.stored) / Math.max(1, b.batches - a.batches),
      storeBusy: (b.storeSeconds - a.storeSeconds) * 1000 / elapsedMs,
      hubCpu,
      stored: final.stored,
      countedBack,
      storeCounted,
      framesPerAck: framesPerAck(stops),
      acked: stops.reduce((n, s) => n + s.readingsAcked, 0),
      drained: stops.every((s) => s.drained),
      deviceErrors: stops.reduce((n, s) => n + s.errors, 0),
      closedConnections: stops.reduce((n, s) => n + s.closed, 0),
    };
  } finally {
    await stopAll([...loads, hub]);
  }
}
