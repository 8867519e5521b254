// Hub ingest, closed loop: devices send as fast as ACKs allow (a window of unacknowledged frames
// each), through the hub into its store. The rate is what the hub counted as stored in the
// measured window; afterwards every reading is counted back through the history API.
import { deviceId } from './bench-devices.ts';
import type { HubChildConfig, HubMode } from './hub-child.ts';
import { countBack, hubCounters } from './hub-api.ts';
import type { LoadStopResult } from './load-child.ts';
import { cpuOver, startHubChild, startLoadChildren, stopAll, type BenchContext, type RunningHub } from './scenario-support.ts';
import { sleep } from './stats.ts';
import { foreignCpuDuring } from './machine-load.ts';
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
  /** readings the store holds, counted back through the hub (decode-only: what the counting store was given) */
  countedBack: number;
  acked: number;
  drained: boolean;
  deviceErrors: number;
  closedConnections: number;
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
}

export async function runIngest(ctx: BenchContext, mode: HubMode, overrides: IngestOverrides = {}): Promise<IngestResult> {
  const { options } = ctx;
  const seconds = overrides.seconds ?? options.seconds;
  const range = { prefix: 'dev-', from: 0, count: options.devices };
  let hub: RunningHub | null = null;
  let loads: Child[] = [];
  try {
    const label = overrides.label ?? `ingest-${mode}`;
    hub = await startHubChild(ctx, label, {
      mode, devices: [range],
      influxUrl: overrides.influxUrl ?? (ctx.influxUrl ? `${ctx.influxUrl}/bench_hub_${Date.now()}` : undefined),
      cluster: overrides.cluster,
    });
    loads = (await startLoadChildren(ctx, label, hub.url, range, options.loadProcs)).children;
    const connected = await Promise.all(loads.map((c) => c.call<{ connected: number; failed: number; firstError?: string }>('connect', { concurrency: 100 })));
    const failed = connected.reduce((n, c) => n + c.failed, 0);
    if (failed) throw new Error(`${failed} devices did not connect: ${connected.find((c) => c.firstError)?.firstError}`);

    await Promise.all(loads.map((c) => c.call('closedLoop', { window: options.window })));
    await sleep(options.warmSeconds * 1000);
    const [a, cpuA] = [await hubCounters(hub.url), await hub.stats()];
    let foreignCpu = 0;
    const loadCpu = await cpuOver(loads, async () => {
      foreignCpu = await foreignCpuDuring(() => sleep(seconds * 1000));
    });
    const [b, cpuB] = [await hubCounters(hub.url), await hub.stats()];
    const elapsedMs = b.at - a.at;
    const stops = await Promise.all(loads.map((c) => c.call<LoadStopResult>('stop', { drainMs: 30_000 })));
    const final = await hubCounters(hub.url);

    let countedBack = final.stored;
    if (mode === 'decode-only') {
      countedBack = (await hub.stats()).counted ?? 0;
    } else if (overrides.verify !== false) {
      const ids = Array.from({ length: options.devices }, (_, i) => deviceId(range.prefix, i));
      const from = Math.min(...stops.map((s) => s.timeFrom));
      const to = Math.max(...stops.map((s) => s.timeTo));
      countedBack = await countBack(hub.url, ids, from, to);
    }
    return {
      readingsPerSecond: ((b.stored - a.stored) * 1000) / elapsedMs,
      framesPerSecond: ((b.frames - a.frames) * 1000) / elapsedMs,
      loadCpu,
      foreignCpu,
      batchReadings: (b.stored - a.stored) / Math.max(1, b.batches - a.batches),
      storeBusy: (b.storeSeconds - a.storeSeconds) * 1000 / elapsedMs,
      hubCpu: (cpuB.cpuUserMs + cpuB.cpuSystemMs - cpuA.cpuUserMs - cpuA.cpuSystemMs) / elapsedMs,
      stored: final.stored,
      countedBack,
      acked: stops.reduce((n, s) => n + s.readingsAcked, 0),
      drained: stops.every((s) => s.drained),
      deviceErrors: stops.reduce((n, s) => n + s.errors, 0),
      closedConnections: stops.reduce((n, s) => n + s.closed, 0),
    };
  } finally {
    await stopAll([...loads, hub]);
  }
}
