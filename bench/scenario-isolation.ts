// Isolation: good devices stream at a steady open-loop rate, well under the hub's capacity, to a
// hub on the embedded store that keeps its default per-device budgets. For each abuser in turn
// (each in a process of its own) their ACK latency is measured in a window alone, then, without
// stopping them, in a window beside the abuser. Then the good devices stop and drain, and what they
// sent since they started is counted back from the store. On a shared machine the baseline drifts
// with other processes: each abuser is set against the alone windows on either side of it (the
// next abuser's, and one more after the last).
import type { AbuserConfig, AbuserKind, AbuserStats } from './abuser-child.ts';
import { BENCH_ADMIN_TOKEN, deviceId } from './bench-devices.ts';
import { startChild, type Child } from './children.ts';
import { countBack, hubCounters } from './hub-api.ts';
import type { LoadSnapshot, LoadStopResult } from './load-child.ts';
import { foreignCpuDuring, loadAverage } from './machine-load.ts';
import { sourceAddresses, startHubChild, startLoadChildren, stopAll, type BenchContext, type RunningHub } from './scenario-support.ts';
import { distribution, sleep, type Distribution } from './stats.ts';

export const ISOLATION_ABUSERS = ['fat-frames', 'channel-churn', 'history', 'stuck-live'] as const satisfies readonly AbuserKind[];
export const FAT_SAMPLES = 1600;
export const CHURN_PER_SECOND = 10;
export const HISTORY_CONCURRENCY = 4;
/**
 * A fresh non-reading client replaces the last one this often: no longer than the hub keeps a
 * stuck client (10 s backed up, then 4008), so one is always there, its buffers full or filling.
 */
export const LIVE_REOPEN_MS = 10_000;
const WINDOW_MS = 60_000;

export interface IsolationWindow {
  ack: Distribution;
  /** hub CPU time over wall time in the window (1 = one core) */
  hubCpu: number;
  /** the abuser's process, the same way (0 alone) */
  abuserCpu: number;
  foreignCpu: number;
  loadAverage: number;
}

export interface IsolationPhase {
  abuser: AbuserKind;
  alone: IsolationWindow;
  beside: IsolationWindow;
  /** the good devices' readings over the phase (both windows, warm-ups and drain) */
  sent: number;
  acked: number;
  /** sent, not acknowledged, connection still open when the drain gave up */
  pending: number;
  /** sent − acknowledged − pending */
  lost: number;
  /** what the store holds for the good devices over the phase's sample times */
  countedBack: number;
  drained: boolean;
  deviceErrors: number;
  closedConnections: number;
  abuserStats: AbuserStats;
  /** from the hub's /metrics, over the phase: budget pauses and closes, live updates coalesced away */
  throttled: number;
  liveDropped: number;
  liveClientsAtEnd: number;
}

export interface IsolationResult {
  devices: number;
  framesPerSecond: number;
  readingsPerSecond: number;
  samplesPerFrame: number;
  seedPoints: number;
  seedMs: number;
  phases: IsolationPhase[];
  /** one more alone window after the last abuser, the baseline after it */
  finalAlone: IsolationWindow;
}

export async function runIsolation(ctx: BenchContext): Promise<IsolationResult> {
  const { options } = ctx;
  const good = { prefix: 'iso-', from: 0, count: options.devices };
  const fat = { prefix: 'iso-fat-', from: 0, count: 1 };
  const churn = { prefix: 'iso-churn-', from: 0, count: 1 };
  const heavy = { prefix: 'iso-heavy-', from: 0, count: 1 };
  // a whole number of windows, ending an hour ago
  const seedStart = Math.floor((Date.now() - 3_600_000 - options.isolationPoints * 1000) / WINDOW_MS) * WINDOW_MS;
  let hub: RunningHub | null = null;
  let loads: Child[] = [];
  let abuser: Child | null = null;
  try {
    hub = await startHubChild(ctx, 'isolation-embedded', {
      mode: 'embedded', devices: [good, fat, churn, heavy], defaultBudgets: true,
      seed: { deviceId: deviceId(heavy.prefix, 0), channel: 'temperature', points: options.isolationPoints, startTime: seedStart },
    }, [], 600_000);
    const hubUrl = hub.url;
    const started = await startLoadChildren(ctx, 'isolation', hubUrl, good, options.loadProcs);
    loads = started.children;
    const samplesPerFrame = started.ready[0].samplesPerFrame;
    const connected = await Promise.all(loads.map((c) => c.call<{ failed: number; firstError?: string }>('connect', { concurrency: 100 })));
    const failed = connected.reduce((n, c) => n + c.failed, 0);
    if (failed) throw new Error(`${failed} devices did not connect: ${connected.find((c) => c.firstError)?.firstError}`);
    const framesPerSecond = options.devices * options.isolationRate;
    const ids = Array.from({ length: good.count }, (_, i) => deviceId(good.prefix, i));

    const abuserConfig = (kind: AbuserKind): AbuserConfig => ({
      kind, hubUrl, adminToken: BENCH_ADMIN_TOKEN, localAddress: sourceAddresses(1)[0],
      ...(kind === 'fat-frames' ? { deviceId: deviceId(fat.prefix, 0), fatSamples: FAT_SAMPLES }
        : kind === 'channel-churn' ? { deviceId: deviceId(churn.prefix, 0), churnPerSecond: CHURN_PER_SECOND }
          : kind === 'history' ? { deviceId: deviceId(heavy.prefix, 0), historyQuery: `every=1m&agg=mean&from=${seedStart}`, concurrency: HISTORY_CONCURRENCY }
            : { deviceId: '', liveReopenMs: LIVE_REOPEN_MS }),
    });
    const cpuOf = async (child: Child | null) => (child ? child.call<{ at: number; ms: number }>('cpu') : null);

    /** One measured window; the latencies are taken by the caller. */
    const measure = async (child: Child | null): Promise<Omit<IsolationWindow, 'ack'>> => {
      const [cpuA, abuserA] = [await hub!.stats(), await cpuOf(child)];
      const t0 = performance.now();
      const foreignCpu = await foreignCpuDuring(() => sleep(options.seconds * 1000));
      const [cpuB, abuserB] = [await hub!.stats(), await cpuOf(child)];
      const elapsed = performance.now() - t0;
      return {
        hubCpu: (cpuB.cpuUserMs + cpuB.cpuSystemMs - cpuA.cpuUserMs - cpuA.cpuSystemMs) / elapsed,
        abuserCpu: abuserA && abuserB ? (abuserB.ms - abuserA.ms) / (abuserB.at - abuserA.at) : 0,
        foreignCpu,
        loadAverage: loadAverage(),
      };
    };
    const record = (on: boolean) => Promise.all(loads.map((c) => c.call('record', { on, untilAcked: true })));

    const phases: IsolationPhase[] = [];
    for (const kind of ISOLATION_ABUSERS) {
      ctx.log(`isolation: alone, then beside ${kind}`);
      const before = await Promise.all(loads.map((c) => c.call<LoadSnapshot>('snapshot')));
      const metricsA = await hubCounters(hubUrl);
      await Promise.all(loads.map((c) => c.call('openLoop', { framesPerSecond: framesPerSecond / loads.length, distinctTimes: true })));
      await sleep(options.warmSeconds * 1000);
      await record(true);
      const aloneFigures = await measure(null);
      await record(false);
      abuser = (await startChild(`isolation-${kind}`, 'abuser-child.ts', { config: abuserConfig(kind), logDir: ctx.logDir })).child;
      await abuser.call('start', {}, 120_000);
      // the alone window's last ACKs have long come in
      const aloneAck = distribution((await Promise.all(loads.map((c) => c.call<number[]>('takeLatencies')))).flat());
      await sleep(options.warmSeconds * 1000);
      await record(true);
      const besideFigures = await measure(abuser);
      const liveClientsAtEnd = (await hubCounters(hubUrl)).liveClients;
      const stops = await Promise.all(loads.map((c) => c.call<LoadStopResult>('stop', { drainMs: 30_000 })));
      const metricsB = await hubCounters(hubUrl);
      const abuserStats = await abuser.call<AbuserStats>('stop', {}, 30_000);
      await abuser.stop();
      abuser = null;

      const sum = (f: (s: LoadSnapshot) => number, list: readonly LoadSnapshot[]) => list.reduce((n, s) => n + f(s), 0);
      const sent = (sum((s) => s.framesSent, stops) - sum((s) => s.framesSent, before)) * samplesPerFrame;
      const acked = (sum((s) => s.framesAcked, stops) - sum((s) => s.framesAcked, before)) * samplesPerFrame;
      const pending = (sum((s) => s.pending, stops) - sum((s) => s.pending, before)) * samplesPerFrame;
      // JSON has no Infinity: a generator that sent nothing answers null
      const from = Math.min(...stops.map((s) => s.openTimeFrom ?? Infinity));
      const to = Math.max(...stops.map((s) => s.openTimeTo ?? -Infinity));
      const countedBack = Number.isFinite(from) && Number.isFinite(to) ? await countBack(hubUrl, ids, from, to) : 0;
      phases.push({
        abuser: kind,
        alone: { ack: aloneAck, ...aloneFigures },
        beside: { ack: distribution(stops.flatMap((s) => s.ackLatencies)), ...besideFigures },
        sent, acked, pending, lost: sent - acked - pending, countedBack,
        drained: stops.every((s) => s.drained),
        deviceErrors: sum((s) => s.errors, stops) - sum((s) => s.errors, before),
        closedConnections: sum((s) => s.closed, stops),
        abuserStats,
        throttled: metricsB.throttled - metricsA.throttled,
        liveDropped: metricsB.liveDropped - metricsA.liveDropped,
        liveClientsAtEnd,
      });
    }
    ctx.log('isolation: alone again');
    await Promise.all(loads.map((c) => c.call('openLoop', { framesPerSecond: framesPerSecond / loads.length, distinctTimes: true })));
    await sleep(options.warmSeconds * 1000);
    await record(true);
    const finalFigures = await measure(null);
    const finalStops = await Promise.all(loads.map((c) => c.call<LoadStopResult>('stop', { drainMs: 30_000 })));
    const finalAlone = { ack: distribution(finalStops.flatMap((s) => s.ackLatencies)), ...finalFigures };
    return {
      devices: options.devices, framesPerSecond, readingsPerSecond: framesPerSecond * samplesPerFrame, samplesPerFrame,
      seedPoints: options.isolationPoints, seedMs: hub.seedMs ?? 0, phases, finalAlone,
    };
  } finally {
    await stopAll([abuser, ...loads, hub]);
  }
}
