// Soak: a fleet of store-and-forward devices streams at a fixed rate for a long time, each dropping
// its connection at random, while a /ws/live subscriber measures device → dashboard latency. Once
// per interval it records the hub's RSS and heap, devices connected, readings made and
// acknowledged, and the interval's live latency. At the end every device drains, and every reading
// it made is looked up in the store: each of its numbered readings must be there exactly once.
import { BENCH_ADMIN_TOKEN, SOAK_CHANNELS } from './bench-devices.ts';
import { startChild, type Child } from './children.ts';
import { countOne, hubCounters, rawPoints, type HubCounters } from './hub-api.ts';
import { sourceAddresses, splitRange, startHubChild, stopAll, type BenchContext, type RunningHub } from './scenario-support.ts';
import type { SoakChildConfig, SoakDrainResult, SoakSnapshot } from './soak-child.ts';
import { sleep, type Distribution } from './stats.ts';

export const SOAK_SAMPLES_PER_FRAME = 10;
/** how long the devices get, once streaming stops, to have everything acknowledged */
export const SOAK_DRAIN_MS = 60_000;
/** RSS counts as flat while its fitted growth per hour (second half) stays below this share of the final RSS */
export const RSS_FLAT_PER_HOUR = 0.05;

export interface SoakSample {
  /** seconds since the devices started streaming (0: all connected, nothing sent yet) */
  t: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  /** devices the hub counts as connected */
  connected: number;
  /** devices with a resumed session, by their own count */
  online: number;
  /** readings made and acknowledged so far */
  generated: number;
  acked: number;
  /** connections dropped on purpose or ended by the hub, so far */
  reconnects: number;
  /** frames made offline (sent after the reconnect), and frames written a second time, so far */
  heldFrames: number;
  resentFrames: number;
  /** device → /ws/live latency over the interval ending here, ms (NaN when nothing arrived) */
  liveCount: number;
  p50: number;
  p99: number;
  max: number;
  /** frames made during an outage and sent after it: how many reached the subscriber in the interval, and their p99 */
  heldCount: number;
  heldP99: number;
  /** live updates the hub coalesced away for the subscriber, so far */
  liveDropped: number;
}

export interface RssTrend {
  first: number;
  last: number;
  max: number;
  /** least-squares slope over the second half, bytes per hour; NaN with fewer than 3 samples there */
  slopePerHour: number;
  fittedSamples: number;
  fitFromSeconds: number;
  /** RSS_FLAT_PER_HOUR of the final RSS */
  boundPerHour: number;
  flat: boolean | undefined;
}

export interface LatencyDrift {
  firstP99: number;
  lastP99: number;
  maxP99: number;
  firstP50: number;
  lastP50: number;
  intervals: number;
}

export interface Delivery {
  /** readings the devices made, and had acknowledged */
  generated: number;
  acked: number;
  /** readings the hub says it wrote (hub_readings_stored_total) */
  written: number;
  /** rows read back raw, and counted by the store's count aggregate */
  rows: number;
  countedRows: number;
  /** counts found at least once */
  distinct: number;
  /** values never found */
  lost: number;
  /** extra copies: rows repeating a value, plus writes the store folded into an existing row */
  duplicated: number;
  duplicateRows: number;
  rewrites: number;
  /** rows with a count no device made */
  unexpected: number;
  devicesWithLoss: number;
  devicesWithDuplicates: number;
  examples: string[];
}

export interface SoakResult {
  devices: number;
  procs: number;
  durationMs: number;
  intervalMs: number;
  samplesPerFrame: number;
  framesPerSecond: number;
  reconnectEveryMs: number;
  outageMs: number;
  drain: { drained: boolean; undrained: number; ms: number };
  /** the devices' counters, merged over the generators, after the drain */
  totals: SoakSnapshot;
  hub: Pick<HubCounters, 'duplicateFrames' | 'sequenceGaps' | 'storeWriteFailures'>;
  delivery: Delivery;
  rss: RssTrend;
  latency: LatencyDrift;
  /** lost, duplicated and unexpected all 0, drained, and no protocol anomaly */
  deliveryOk: boolean;
}

export function soakIntervalMs(durationMs: number, override?: number): number {
  return override ?? Math.max(1000, Math.round(durationMs / 30 / 1000) * 1000);
}

/** Least-squares slope of y over x. */
export function slope(points: readonly { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return NaN;
  let sx = 0;
  let sy = 0;
  for (const p of points) {
    sx += p.x;
    sy += p.y;
  }
  const mx = sx / n;
  const my = sy / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den === 0 ? NaN : num / den;
}

/** The second half only: connection set-up, JIT and the store's first pages are warm-up, not a leak. */
export function rssTrend(series: readonly SoakSample[], durationMs: number): RssTrend {
  const fitFromSeconds = durationMs / 2000;
  const half = series.filter((s) => s.t >= fitFromSeconds);
  const perSecond = half.length >= 3 ? slope(half.map((s) => ({ x: s.t, y: s.rss }))) : NaN;
  const last = series.length ? series[series.length - 1].rss : NaN;
  const slopePerHour = perSecond * 3600;
  const boundPerHour = RSS_FLAT_PER_HOUR * last;
  return {
    first: series.length ? series[0].rss : NaN,
    last,
    max: series.reduce((m, s) => Math.max(m, s.rss), -Infinity),
    slopePerHour,
    fittedSamples: half.length,
    fitFromSeconds,
    boundPerHour,
    flat: Number.isFinite(slopePerHour) ? slopePerHour < boundPerHour : undefined,
  };
}

export function latencyDrift(series: readonly SoakSample[]): LatencyDrift {
  const measured = series.filter((s) => s.t > 0 && s.liveCount > 0);
  const first = measured[0];
  const last = measured[measured.length - 1];
  return {
    firstP99: first?.p99 ?? NaN,
    lastP99: last?.p99 ?? NaN,
    maxP99: measured.length ? Math.max(...measured.map((s) => s.p99)) : NaN,
    firstP50: first?.p50 ?? NaN,
    lastP50: last?.p50 ?? NaN,
    intervals: measured.length,
  };
}

function mergeSnapshots(snaps: readonly SoakSnapshot[]): SoakSnapshot {
  const out: SoakSnapshot = {
    devices: 0, online: 0, generated: 0, sent: 0, acked: 0, anomalies: 0, anomalyExamples: [],
    connects: 0, drops: 0, unexpectedCloses: 0, failedConnects: 0, heldFrames: 0, resentFrames: 0, errorFrames: 0,
  };
  for (const s of snaps) {
    for (const key of Object.keys(out) as (keyof SoakSnapshot)[]) {
      if (key === 'anomalyExamples') out.anomalyExamples.push(...s.anomalyExamples);
      else out[key] += s[key];
    }
  }
  return out;
}

interface LiveTake {
  latency: Distribution;
  held: Distribution;
  dropped: number;
  open: boolean;
}

interface Generated {
  id: string;
  frames: number;
}

/**
 * Reads every reading of every device back and checks it against what the device made: counts
 * 1 … frames × samplesPerFrame, each exactly once. Rows alone cannot show a duplicate the store
 * absorbed (it keeps one reading per series and time), so the hub's own count of readings
 * written is compared too.
 */
async function checkDelivery(hubUrl: string, generated: readonly Generated[], samplesPerFrame: number, from: number, to: number, written: number, acked: number): Promise<Delivery> {
  const channel = SOAK_CHANNELS[0].name;
  const d: Delivery = {
    generated: 0, acked, written, rows: 0, countedRows: 0, distinct: 0, lost: 0, duplicated: 0, duplicateRows: 0, rewrites: 0,
    unexpected: 0, devicesWithLoss: 0, devicesWithDuplicates: 0, examples: [],
  };
  let next = 0;
  const worker = async () => {
    while (next < generated.length) {
      const { id, frames } = generated[next++];
      const expected = frames * samplesPerFrame;
      const [points, counted] = await Promise.all([rawPoints(hubUrl, id, channel, from, to), countOne(hubUrl, id, channel, from, to)]);
      const seen = new Uint8Array(expected + 1);
      let distinct = 0;
      let repeats = 0;
      let unexpected = 0;
      let firstMissing = 0;
      for (const p of points) {
        // the low bit only says whether the frame waited out an outage (SOAK_CHANNELS)
        const v = Math.floor(p.value / 2);
        if (!Number.isInteger(p.value) || v < 1 || v > expected) unexpected++;
        else if (seen[v]) repeats++;
        else {
          seen[v] = 1;
          distinct++;
        }
      }
      if (distinct < expected) for (let v = 1; v <= expected && !firstMissing; v++) if (!seen[v]) firstMissing = v;
      d.generated += expected;
      d.rows += points.length;
      d.countedRows += counted;
      d.distinct += distinct;
      d.duplicateRows += repeats;
      d.unexpected += unexpected;
      if (distinct < expected) d.devicesWithLoss++;
      if (repeats) d.devicesWithDuplicates++;
      if ((distinct < expected || repeats || unexpected) && d.examples.length < 5) {
        d.examples.push(`${id}: ${expected - distinct} of ${expected} missing${firstMissing ? ` (first: count ${firstMissing})` : ''}, ${repeats} repeated, ${unexpected} unexpected`);
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  d.lost = d.generated - d.distinct;
  d.rewrites = d.written - d.rows;
  d.duplicated = d.duplicateRows + Math.max(0, d.rewrites);
  return d;
}

/** Runs the soak; `series` fills as it goes, so a run that fails still leaves its time series. */
export async function runSoak(ctx: BenchContext, series: SoakSample[]): Promise<SoakResult> {
  const { options, log } = ctx;
  const durationMs = options.soak;
  if (durationMs === undefined) throw new Error('runSoak needs options.soak');
  const intervalMs = soakIntervalMs(durationMs, options.soakIntervalMs);
  const n = SOAK_SAMPLES_PER_FRAME;
  const range = { prefix: 'soak-', from: 0, count: options.devices };
  const procs = options.loadProcs;
  let hub: RunningHub | null = null;
  let live: Child | null = null;
  let loads: Child[] = [];
  try {
    log(`soak: starting the hub with ${options.devices} devices provisioned`);
    hub = await startHubChild(ctx, 'soak-embedded', { mode: 'embedded', devices: [range] });
    const hubUrl = hub.url;
    const [liveStarted, loadsStarted] = await Promise.all([
      startChild('soak-live', 'live-child.ts', { logDir: ctx.logDir }),
      Promise.all(splitRange(range, procs).map((r, i) =>
        startChild(`soak-load-${i}`, 'soak-child.ts', {
          config: { hubUrl, range: r, samplesPerFrame: n, sourceAddresses: sourceAddresses(r.count) } satisfies SoakChildConfig,
          logDir: ctx.logDir,
        }))),
    ]);
    live = liveStarted.child;
    loads = loadsStarted.map((s) => s.child);

    log(`soak: connecting ${options.devices} devices from ${procs} processes`);
    const connects = await Promise.all(loads.map((c) => c.call<{ online: number; failed: number }>('connect', { concurrency: 100, timeoutMs: 60_000 }, 90_000)));
    const failed = connects.reduce((sum, c) => sum + c.failed, 0);
    if (failed) throw new Error(`${failed} of ${options.devices} devices did not come online within 60 s; logs in ${ctx.logDir}`);
    await live.call('connect', { hubUrl, token: BENCH_ADMIN_TOKEN, heldMarker: true });
    await live.call('record', { on: true });

    let t0 = performance.now();
    let previous: SoakSample | null = null;
    const sample = async (): Promise<SoakSample> => {
      const [stats, counters, snaps, take] = await Promise.all([
        hub!.stats(),
        hubCounters(hubUrl),
        Promise.all(loads.map((c) => c.call<SoakSnapshot>('snapshot'))),
        live!.call<LiveTake>('take'),
      ]);
      if (!take.open) throw new Error('the /ws/live subscriber lost its connection');
      const s = mergeSnapshots(snaps);
      return {
        t: (performance.now() - t0) / 1000,
        rss: stats.rss, heapUsed: stats.heapUsed, heapTotal: stats.heapTotal, external: stats.external,
        connected: counters.connected, online: s.online,
        generated: s.generated, acked: s.acked,
        reconnects: s.drops + s.unexpectedCloses, heldFrames: s.heldFrames, resentFrames: s.resentFrames,
        liveCount: take.latency.count, p50: take.latency.p50, p99: take.latency.p99, max: take.latency.max,
        heldCount: take.held.count, heldP99: take.held.p99,
        liveDropped: take.dropped,
      };
    };
    const logSample = (s: SoakSample) => {
      const rate = previous ? ((s.acked - previous.acked) / Math.max(1e-3, s.t - previous.t)).toFixed(0) : '0';
      log(`soak t=${s.t.toFixed(0)}s: RSS ${(s.rss / 1048576).toFixed(1)} MiB, heap ${(s.heapUsed / 1048576).toFixed(1)} MiB, ` +
        `${s.connected} connected, ${rate} readings/s acked, ${s.reconnects} reconnects, live p99 ${Number.isFinite(s.p99) ? s.p99.toFixed(1) : '-'} ms`);
      previous = s;
    };

    // t = 0: the fleet connected and silent, the baseline the rest is read against
    const baseline = await sample();
    baseline.t = 0;
    series.push(baseline);
    logSample(baseline);

    log(`soak: streaming for ${durationMs / 1000} s, a row every ${intervalMs / 1000} s`);
    await Promise.all(loads.map((c) => c.call('start', { framesPerSecond: options.soakRate, reconnectEveryMs: options.soakReconnectEveryMs, outageMs: options.soakOutageMs })));
    t0 = performance.now();
    const wallStart = Date.now();
    for (let i = 1; ; i++) {
      const at = Math.min(i * intervalMs, durationMs);
      const wait = t0 + at - performance.now();
      if (wait > 0) await sleep(wait);
      const s = await sample();
      series.push(s);
      logSample(s);
      if (at >= durationMs) break;
    }

    log('soak: streaming stopped; waiting for every device to have everything acknowledged');
    const drains = await Promise.all(loads.map((c) => c.call<SoakDrainResult>('drain', { timeoutMs: SOAK_DRAIN_MS }, SOAK_DRAIN_MS + 30_000)));
    const generated = (await Promise.all(loads.map((c) => c.call<Generated[]>('generated')))).flat();
    await Promise.all(loads.map((c) => c.call('closeAll', {}, 60_000)));
    await stopAll(loads);
    loads = [];
    const final = await hubCounters(hubUrl);
    const totals = mergeSnapshots(drains.map((d) => d.snapshot));
    const drain = { drained: drains.every((d) => d.drained), undrained: drains.reduce((sum, d) => sum + d.undrained, 0), ms: Math.max(...drains.map((d) => d.ms)) };

    log(`soak: reading back ${generated.length} devices' readings`);
    // stamps are send times; the margin covers the ms offsets of the first frames' samples
    const from = wallStart - 60_000;
    const to = Date.now() + 60_000;
    const delivery = await checkDelivery(hubUrl, generated, n, from, to, final.stored, totals.acked);
    const rss = rssTrend(series, durationMs);
    return {
      devices: options.devices, procs, durationMs, intervalMs, samplesPerFrame: n, framesPerSecond: options.soakRate,
      reconnectEveryMs: options.soakReconnectEveryMs, outageMs: options.soakOutageMs,
      drain, totals,
      hub: { duplicateFrames: final.duplicateFrames, sequenceGaps: final.sequenceGaps, storeWriteFailures: final.storeWriteFailures },
      delivery, rss, latency: latencyDrift(series),
      deliveryOk: delivery.lost === 0 && delivery.duplicated === 0 && delivery.unexpected === 0 && drain.drained && totals.anomalies === 0,
    };
  } finally {
    await stopAll([live, ...loads, hub]);
  }
}
