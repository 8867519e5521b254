// `npm run bench -- --soak DURATION`: runs the soak and turns it into report rows — one per
// interval of the time series, then RSS, latency drift, lost, duplicated and the verdict. Every
// process started here is stopped here.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchOptions } from './bench-options.ts';
import { stopAllChildren } from './children.ts';
import { bytes, errorRow, ms, percent, si, type Report, type Row } from './report.ts';
import { machineFacts } from './run-bench.ts';
import { loadAverage } from './machine-load.ts';
import { RSS_FLAT_PER_HOUR, runSoak, SOAK_DRAIN_MS, SOAK_SAMPLES_PER_FRAME, soakIntervalMs, type SoakResult, type SoakSample } from './scenario-soak.ts';
import type { BenchContext } from './scenario-support.ts';

export interface SoakReport extends Report {
  soak: {
    series: SoakSample[];
    /** null when the run failed before its end; the series then holds what was measured */
    result: SoakResult | null;
  };
}

/** The summary rows every soak report ends with; the smoke test checks they are there. */
export const SOAK_SUMMARY_KEYS = ['soak.rss', 'soak.latency', 'soak.lost', 'soak.duplicated', 'soak.summary'] as const;

export function clock(seconds: number): string {
  const s = Math.round(seconds);
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return hh ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

function duration(msValue: number): string {
  if (msValue === 0) return '0s';
  return msValue % 3_600_000 === 0 ? `${msValue / 3_600_000}h` : msValue % 60_000 === 0 ? `${msValue / 60_000}m` : `${msValue / 1000}s`;
}

const latency = (value: number) => (Number.isFinite(value) ? ms(value) : '—');
/** Counts exactly up to 10,000, so a handful of lost or resent readings shows as such. */
const count = (value: number) => (Math.abs(value) < 10_000 ? String(value) : si(value));

/** Only finite figures go into `values`: an interval with no live message has no percentiles. */
function finite(values: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => Number.isFinite(v)));
}

function seriesRows(scenario: string, series: readonly SoakSample[]): Row[] {
  return series.map((s, i) => {
    const before = series[i - 1];
    const rate = before ? (s.acked - before.acked) / Math.max(1e-3, s.t - before.t) : 0;
    return {
      key: `soak.series.${i}`, scenario, measure: `t = ${clock(s.t)}`,
      values: finite({ t: s.t, rss: s.rss, heapUsed: s.heapUsed, connected: s.connected, generated: s.generated, acked: s.acked, reconnects: s.reconnects, p50: s.p50, p99: s.p99 }),
      result: `RSS ${bytes(s.rss)} · heap ${bytes(s.heapUsed)} · live p50 ${latency(s.p50)} · p99 ${latency(s.p99)}`,
      note: i === 0
        ? `${s.connected} connected, before streaming`
        : `${s.connected} connected · ${si(rate)} readings/s acked (${count(s.acked)} of ${count(s.generated)}) · ${count(s.reconnects)} reconnects · ` +
          `${count(s.heldFrames)} frames held offline${s.heldCount ? ` (their live p99 ${latency(s.heldP99)})` : ''}, ${count(s.resentFrames)} resent`,
    };
  });
}

function summaryRows(scenario: string, r: SoakResult, series: readonly SoakSample[]): Row[] {
  const { rss, latency: drift, delivery: d, drain, totals, hub } = r;
  const held = series.reduce((sum, s) => sum + s.heldCount, 0);
  const rows: Row[] = [];
  const rssTarget = `growth < ${percent(RSS_FLAT_PER_HOUR)} of final RSS per hour (${bytes(rss.boundPerHour)}/h)`;
  rows.push({
    key: 'soak.rss', scenario, measure: 'hub RSS over the run',
    values: finite({ first: rss.first, last: rss.last, max: rss.max, slopePerHour: rss.slopePerHour }),
    result: `first ${bytes(rss.first)} · last ${bytes(rss.last)} · max ${bytes(rss.max)} · ${Number.isFinite(rss.slopePerHour) ? `${rss.slopePerHour >= 0 ? '+' : ''}${bytes(rss.slopePerHour)}/h` : 'slope: too few samples'}`,
    target: rssTarget, met: rss.flat,
    note: `least squares over the ${rss.fittedSamples} samples from t = ${clock(rss.fitFromSeconds)} (the first half is warm-up)` +
      (r.durationMs < 10 * 60_000 ? '; a run under 10 min mostly shows warm-up, not a trend' : ''),
  });
  rows.push({
    key: 'soak.latency', scenario, measure: 'device → /ws/live p99 drift',
    values: finite({ firstP99: drift.firstP99, lastP99: drift.lastP99, maxP99: drift.maxP99 }),
    result: `p99 first ${latency(drift.firstP99)} → last ${latency(drift.lastP99)} · max ${latency(drift.maxP99)}`,
    note: `p50 first ${latency(drift.firstP50)} → last ${latency(drift.lastP50)}; per ${r.intervalMs / 1000} s interval, ${drift.intervals} intervals; ms-resolution stamps (+0–1 ms); ` +
      `${count(held)} frames made offline and sent after their outage timed apart (their wait is the outage's)`,
  });
  rows.push({
    key: 'soak.lost', scenario, measure: 'readings lost (made − found)',
    values: { lost: d.lost, generated: d.generated, distinct: d.distinct },
    result: `lost ${d.lost} of ${count(d.generated)}`,
    target: '0', met: d.lost === 0,
    note: [
      `every device's readings read back raw and matched by number; ${count(d.rows)} rows, store's count ${count(d.countedRows)}${d.countedRows === d.rows ? '' : ' (DIFFERS)'}`,
      d.devicesWithLoss ? `${d.devicesWithLoss} devices with gaps` : '',
      d.unexpected ? `${d.unexpected} rows with a number no device made` : '',
      ...d.examples,
    ].filter(Boolean).join('; '),
  });
  rows.push({
    key: 'soak.duplicated', scenario, measure: 'readings duplicated',
    values: { duplicated: d.duplicated, duplicateRows: d.duplicateRows, rewrites: d.rewrites },
    result: `duplicated ${d.duplicated}`,
    target: '0', met: d.duplicated === 0,
    note: `${d.duplicateRows} rows repeating a number; hub wrote ${count(d.written)} readings for ${count(d.rows)} rows (${d.rewrites} rewrites the store absorbed); ` +
      `${count(totals.drops + totals.unexpectedCloses)} reconnects: ${count(totals.heldFrames)} frames held offline, ${count(totals.resentFrames)} resent, ${count(hub.duplicateFrames)} dropped by the hub as already held`,
  });
  const verdicts = [
    rss.flat === undefined ? 'RSS: too few samples' : rss.flat ? 'RSS flat' : 'RSS GROWING',
    `lost ${d.lost}`,
    `duplicated ${d.duplicated}`,
  ];
  const problems = [
    drain.drained ? '' : `NOT DRAINED: ${drain.undrained} devices still held unacknowledged frames after ${SOAK_DRAIN_MS / 1000} s`,
    totals.anomalies ? `${totals.anomalies} protocol anomalies: ${totals.anomalyExamples.join('; ')}` : '',
    hub.sequenceGaps ? `${hub.sequenceGaps} sequence gaps counted by the hub` : '',
    hub.storeWriteFailures ? `${hub.storeWriteFailures} failed store writes` : '',
    totals.unexpectedCloses ? `${totals.unexpectedCloses} connections ended by the hub` : '',
    totals.errorFrames ? `${totals.errorFrames} ERROR frames` : '',
  ].filter(Boolean);
  rows.push({
    key: 'soak.summary', scenario, measure: 'verdict',
    values: { lost: d.lost, duplicated: d.duplicated, drained: drain.drained ? 1 : 0 },
    result: verdicts.join(' · '),
    target: 'RSS flat, lost 0, duplicated 0', met: r.deliveryOk && rss.flat !== false,
    note: [
      `${r.devices} devices on ${r.procs} generator processes, ${r.framesPerSecond} frame/s × ${r.samplesPerFrame} samples each, ` +
        `${r.reconnectEveryMs ? `a random drop every ~${duration(r.reconnectEveryMs)} per device (half right after a frame, back at once; half offline up to ${duration(r.outageMs)})` : 'no random drops'}; ` +
        `drained in ${ms(drain.ms)}`,
      ...problems,
    ].join('; '),
  });
  return rows;
}

export async function runSoakBench(options: BenchOptions, log: (line: string) => void = () => undefined): Promise<SoakReport> {
  if (options.soak === undefined) throw new Error('runSoakBench needs options.soak');
  const startedAt = new Date().toISOString();
  // before anything runs: the load the soak started in, not the one it left
  const machine = machineFacts();
  const ctx: BenchContext = {
    options,
    logDir: join(options.resultsDir, 'logs'),
    profileDir: join(options.resultsDir, 'profiles'),
    influxUrl: null,
    influxSkip: 'the soak runs on the embedded store',
    log,
  };
  mkdirSync(ctx.logDir, { recursive: true });
  if (options.profile) mkdirSync(ctx.profileDir, { recursive: true });
  const scenario = `soak ${duration(options.soak)}, ${options.devices} devices (embedded)`;
  const series: SoakSample[] = [];
  let result: SoakResult | null = null;
  let failure: unknown = null;
  try {
    result = await runSoak(ctx, series);
  } catch (err) {
    failure = err;
  } finally {
    await stopAllChildren();
  }
  const rows = seriesRows(scenario, series);
  if (result) rows.push(...summaryRows(scenario, result, series));
  else rows.push(errorRow('soak.summary', scenario, 'verdict', failure));
  return {
    startedAt,
    finishedAt: new Date().toISOString(),
    machine: { ...machine, loadAverageAtEnd: loadAverage() },
    // only what shapes a soak: the other scenarios' sizes would read as if they applied
    options: {
      soak: options.soak, devices: options.devices, loadProcs: options.loadProcs,
      soakRate: options.soakRate, soakSamplesPerFrame: SOAK_SAMPLES_PER_FRAME,
      soakReconnectEveryMs: options.soakReconnectEveryMs, soakOutageMs: options.soakOutageMs,
      soakIntervalMs: soakIntervalMs(options.soak, options.soakIntervalMs),
      hubBatchSize: options.hubBatchSize, profile: options.profile, dataRoot: options.dataRoot,
    },
    rows,
    soak: { series, result },
  };
}
