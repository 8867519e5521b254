// Latency, open loop: devices send at a fixed total rate (a fraction of the measured closed-loop
// maximum), each frame stamped with its send time; a /ws/live subscriber in its own process
// measures device → dashboard, the generators measure device → ACK.
import { BENCH_ADMIN_TOKEN } from './bench-devices.ts';
import { startChild, type Child } from './children.ts';
import type { LoadStopResult } from './load-child.ts';
import { startHubChild, startLoadChildren, stopAll, type BenchContext, type RunningHub } from './scenario-support.ts';
import { distribution, sleep, type Distribution } from './stats.ts';
import { foreignCpuDuring } from './machine-load.ts';

export interface LatencyResult {
  load: number;
  framesPerSecond: number;
  readingsPerSecond: number;
  dashboard: Distribution;
  ack: Distribution;
  /** readings the live channel coalesced away (slow subscriber) */
  liveDropped: number;
  hubCpu: number;
  foreignCpu: number;
}

export async function runLatency(ctx: BenchContext, maxFramesPerSecond: number): Promise<LatencyResult[]> {
  const { options } = ctx;
  const range = { prefix: 'lat-', from: 0, count: options.devices };
  let hub: RunningHub | null = null;
  let loads: Child[] = [];
  let live: Child | null = null;
  try {
    hub = await startHubChild(ctx, 'latency-embedded', { mode: 'embedded', devices: [range] });
    live = (await startChild('latency-live', 'live-child.ts', { logDir: ctx.logDir })).child;
    const started = await startLoadChildren(ctx, 'latency', hub.url, range, options.loadProcs);
    loads = started.children;
    const samplesPerFrame = started.ready[0].samplesPerFrame;
    await Promise.all(loads.map((c) => c.call('connect', { concurrency: 100 })));
    await live.call('connect', { hubUrl: hub.url, token: BENCH_ADMIN_TOKEN });

    const results: LatencyResult[] = [];
    for (const load of options.latencyLoads) {
      const framesPerSecond = Math.max(1, maxFramesPerSecond * load);
      await Promise.all(loads.map((c) => c.call('openLoop', { framesPerSecond: framesPerSecond / loads.length })));
      await sleep(options.warmSeconds * 1000);
      await Promise.all([live.call('record', { on: true }), ...loads.map((c) => c.call('record', { on: true }))]);
      const cpuA = await hub.stats();
      const t0 = performance.now();
      const foreignCpu = await foreignCpuDuring(() => sleep(options.seconds * 1000));
      const cpuB = await hub.stats();
      const elapsed = performance.now() - t0;
      await live.call('record', { on: false });
      const stops = await Promise.all(loads.map((c) => c.call<LoadStopResult>('stop', { drainMs: 30_000 })));
      const liveResult = await live.call<{ latency: Distribution; dropped: number }>('result');
      results.push({
        load,
        framesPerSecond,
        readingsPerSecond: framesPerSecond * samplesPerFrame,
        dashboard: liveResult.latency,
        ack: distribution(stops.flatMap((s) => s.ackLatencies)),
        liveDropped: liveResult.dropped,
        foreignCpu,
        hubCpu: (cpuB.cpuUserMs + cpuB.cpuSystemMs - cpuA.cpuUserMs - cpuA.cpuSystemMs) / elapsed,
      });
    }
    return results;
  } finally {
    await stopAll([live, ...loads, hub]);
  }
}
