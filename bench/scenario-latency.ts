// Latency, open loop: devices send at a fixed total rate, each frame stamped with its send time; a
// /ws/live subscriber in its own process measures device → dashboard, the generators measure
// device → ACK. The rates are fractions of the open-loop maximum, found first with the same
// devices and the same interleaved traffic: a closed-loop maximum (runs of one device's frames)
// is one the open-loop load cannot reach, and a fraction of it could be past saturation.
import { BENCH_ADMIN_TOKEN } from './bench-devices.ts';
import { startChild, type Child } from './children.ts';
import type { LoadSnapshot, LoadStopResult } from './load-child.ts';
import { machineBefore, machineDuring, type MachineBefore, type MachineLoad } from './machine-load.ts';
import { cpuEach, machineBeforeMs, startHubChild, startLoadChildren, stopAll, type BenchContext, type RunningHub } from './scenario-support.ts';
import { distribution, sleep, type Distribution } from './stats.ts';

export interface LatencyResult {
  load: number;
  framesPerSecond: number;
  readingsPerSecond: number;
  dashboard: Distribution;
  ack: Distribution;
  /** readings the live channel coalesced away (slow subscriber) */
  liveDropped: number;
  hubCpu: number;
  machine: MachineLoad;
}

export interface OpenLoopProbe {
  /** the rate asked of the generators, frames/s */
  framesPerSecond: number;
  sentPerSecond: number;
  ackedPerSecond: number;
  /** frames sent and not yet acknowledged at the end of the probe */
  pending: number;
  /** the most any one generator used, 1 = one core */
  loadCpuMax: number;
  sustained: boolean;
}

export interface OpenLoopMax {
  /** the highest rate sustained, frames/s */
  framesPerSecond: number;
  readingsPerSecond: number;
  /** in the order they ran */
  probes: OpenLoopProbe[];
  /** the lowest unsustained rate failed because the generators could not send it, not the hub */
  generatorBound: boolean;
  machine: MachineBefore;
}

export interface LatencyRun {
  max: OpenLoopMax;
  results: LatencyResult[];
}

/** A probe is sustained when the hub acknowledges what is sent and no more than this much of it waits. */
const MAX_BACKLOG_SECONDS = 0.25;
const SUSTAINED_SHARE = 0.95;
const BISECT_STEPS = 3;

/** `startFramesPerSecond`: where the search for the open-loop maximum begins. */
export async function runLatency(ctx: BenchContext, startFramesPerSecond: number): Promise<LatencyRun> {
  const { options } = ctx;
  const range = { prefix: 'lat-', from: 0, count: options.devices };
  let hub: RunningHub | null = null;
  let loads: Child[] = [];
  let live: Child | null = null;
  try {
    const before = await machineBefore(machineBeforeMs(ctx));
    hub = await startHubChild(ctx, 'latency-embedded', { mode: 'embedded', devices: [range] });
    live = (await startChild('latency-live', 'live-child.ts', { logDir: ctx.logDir })).child;
    const started = await startLoadChildren(ctx, 'latency', hub.url, range, options.loadProcs);
    loads = started.children;
    const samplesPerFrame = started.ready[0].samplesPerFrame;
    await Promise.all(loads.map((c) => c.call('connect', { concurrency: 100 })));
    await live.call('connect', { hubUrl: hub.url, token: BENCH_ADMIN_TOKEN });

    const probes = await searchOpenLoopMax(ctx, loads, Math.max(1, startFramesPerSecond));
    const best = probes.filter((p) => p.sustained).sort((a, b) => b.framesPerSecond - a.framesPerSecond)[0];
    const lowestFailed = probes.filter((p) => !p.sustained).sort((a, b) => a.framesPerSecond - b.framesPerSecond)[0];
    if (!best) throw new Error(`no open-loop rate was sustained, down to ${si0(Math.min(...probes.map((p) => p.framesPerSecond)))} frames/s`);
    const max: OpenLoopMax = {
      framesPerSecond: best.framesPerSecond, readingsPerSecond: best.framesPerSecond * samplesPerFrame, probes,
      generatorBound: lowestFailed !== undefined && lowestFailed.sentPerSecond < SUSTAINED_SHARE * lowestFailed.framesPerSecond,
      machine: before,
    };
    ctx.log(`latency: open-loop maximum ${si0(max.framesPerSecond)} frames/s after ${probes.length} probes`);

    const results: LatencyResult[] = [];
    for (const load of options.latencyLoads) {
      const framesPerSecond = Math.max(1, max.framesPerSecond * load);
      await Promise.all(loads.map((c) => c.call('openLoop', { framesPerSecond: framesPerSecond / loads.length })));
      await sleep(options.warmSeconds * 1000);
      await Promise.all([live.call('record', { on: true }), ...loads.map((c) => c.call('record', { on: true }))]);
      const cpuA = await hub.stats();
      const t0 = performance.now();
      const during = await machineDuring(() => sleep(options.seconds * 1000));
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
        machine: { ...before, ...during },
        hubCpu: (cpuB.cpuUserMs + cpuB.cpuSystemMs - cpuA.cpuUserMs - cpuA.cpuSystemMs) / elapsed,
      });
    }
    return { max, results };
  } finally {
    await stopAll([live, ...loads, hub]);
  }
}

/**
 * Halves from the start until a rate is sustained, doubles until one is not, then bisects between
 * the two: each probe a settling second and a measured window, then a drain.
 */
async function searchOpenLoopMax(ctx: BenchContext, loads: Child[], start: number): Promise<OpenLoopProbe[]> {
  const probeSeconds = Math.max(0.5, ctx.options.seconds / 4);
  const probes: OpenLoopProbe[] = [];
  const probe = async (framesPerSecond: number): Promise<OpenLoopProbe> => {
    await Promise.all(loads.map((c) => c.call('openLoop', { framesPerSecond: framesPerSecond / loads.length })));
    await sleep(Math.min(1000, probeSeconds * 500));
    const snap = () => Promise.all(loads.map((c) => c.call<LoadSnapshot>('snapshot')));
    const a = await snap();
    const t0 = performance.now();
    const cpu = await cpuEach(loads, () => sleep(probeSeconds * 1000));
    const b = await snap();
    const seconds = (performance.now() - t0) / 1000;
    await Promise.all(loads.map((c) => c.call<LoadStopResult>('stop', { drainMs: 30_000 })));
    const sum = (f: (s: LoadSnapshot) => number, list: LoadSnapshot[]) => list.reduce((n, s) => n + f(s), 0);
    const sentPerSecond = (sum((s) => s.framesSent, b) - sum((s) => s.framesSent, a)) / seconds;
    const ackedPerSecond = (sum((s) => s.framesAcked, b) - sum((s) => s.framesAcked, a)) / seconds;
    const pending = sum((s) => s.pending, b);
    const result: OpenLoopProbe = {
      framesPerSecond, sentPerSecond, ackedPerSecond, pending, loadCpuMax: Math.max(...cpu),
      sustained: sentPerSecond >= SUSTAINED_SHARE * framesPerSecond && ackedPerSecond >= SUSTAINED_SHARE * framesPerSecond && pending <= framesPerSecond * MAX_BACKLOG_SECONDS,
    };
    ctx.log(`latency: probe ${si0(framesPerSecond)} frames/s: sent ${si0(sentPerSecond)}/s, acked ${si0(ackedPerSecond)}/s, ${pending} pending → ${result.sustained ? 'sustained' : 'not sustained'}`);
    probes.push(result);
    return result;
  };

  let low = 0;
  let high = Infinity;
  let rate = start;
  for (let i = 0; i < 5 && low === 0; i++, rate /= 2) {
    if ((await probe(rate)).sustained) low = rate;
    else high = rate;
  }
  if (low === 0) return probes;
  for (rate = low * 2; high === Infinity && rate < low * 2 ** 7; rate *= 2) {
    if ((await probe(rate)).sustained) low = rate;
    else high = rate;
  }
  if (high === Infinity) return probes;
  for (let i = 0; i < BISECT_STEPS; i++) {
    rate = (low + high) / 2;
    if ((await probe(rate)).sustained) low = rate;
    else high = rate;
  }
  return probes;
}

const si0 = (n: number) => Math.round(n).toLocaleString('en-US');
