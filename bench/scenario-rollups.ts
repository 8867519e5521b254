// History tiers: long ranges of one device-channel written through each store, then the same
// aggregate timed from the tiers (the store's own choice) and from a scan of the readings (rawOnly).
//
// Sizes follow --history-points (one day at 1 Hz by default): 30 days at that rate, and a year at a
// tenth of it (3.2M readings by default; a year at 1 Hz, 31.5M, took too long to load in a bench
// run). The readings are written as history, days old, in 50,000-reading batches: the embedded store
// keeps its tiers in the same transactions, InfluxDB computes them after each write for these late
// readings (its continuous queries only see readings of the last minutes). The load rate beside each
// row is the cost of that.
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInfluxStore } from '../hub/src/store/influx-store.ts';
import type { ReadingQuery, ReadingStore } from '../hub/src/store/store.ts';
import { createThreadedSqliteStore } from '../hub/src/store/threaded-sqlite-store.ts';
import { errorRow, ms, si, skippedRow, type Row } from './report.ts';
import type { BenchContext } from './scenario-support.ts';
import { median } from './stats.ts';

export const ROLLUPS_TARGET_MS = 100;
export const ROLLUP_ROW_KEYS = ['rollups.embedded.month', 'rollups.embedded.year', 'rollups.influx.month', 'rollups.influx.year'] as const;

const DAY = 86_400_000;
const HOUR = 3_600_000;
const BATCH = 50_000;
const QUERY_TIMEOUT_MS = 120_000;

interface Span {
  name: 'month' | 'year';
  days: number;
  /** ms between readings */
  stepMs: number;
  every: number;
}

interface SpanResult {
  span: Span;
  points: number;
  windows: number;
  loadMs: number;
  tierMs: number[];
  rawMs: number[];
}

function spans(ctx: BenchContext): Span[] {
  // --history-points is a day of readings
  const stepMs = Math.max(1, Math.round(DAY / ctx.options.historyPoints));
  return [
    { name: 'month', days: 30, stepMs, every: HOUR },
    { name: 'year', days: 365, stepMs: stepMs * 10, every: DAY },
  ];
}

async function load(store: ReadingStore, deviceId: string, from: number, to: number, stepMs: number): Promise<number> {
  let written = 0;
  for (let start = from; start < to; start += BATCH * stepMs) {
    const batch = [];
    for (let time = start; time < Math.min(to, start + BATCH * stepMs); time += stepMs) {
      // a slow daily swing plus noise, in quarters
      batch.push({ deviceId, channel: 'temperature', time, value: Math.round(80 + 40 * Math.sin(time / DAY * 2 * Math.PI) + ((time / stepMs) % 7)) / 4 });
    }
    await store.write(batch);
    written += batch.length;
  }
  return written;
}

async function timed(store: ReadingStore, query: ReadingQuery, runs: number): Promise<{ times: number[]; windows: number }> {
  const first = await store.query(query); // warm: threads, caches, the answer's shape checked below
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await store.query(query);
    times.push(performance.now() - start);
  }
  return { times, windows: first.length };
}

async function measure(ctx: BenchContext, store: ReadingStore, label: string): Promise<SpanResult[]> {
  // whole days ending at yesterday's midnight: in the past of every tier's lag
  const end = Math.floor(Date.now() / DAY) * DAY - DAY;
  const results: SpanResult[] = [];
  for (const span of spans(ctx)) {
    const deviceId = `rollups-${span.name}`;
    const from = end - span.days * DAY;
    ctx.log(`rollups: ${label}: loading ${span.name}`);
    const started = performance.now();
    const points = await load(store, deviceId, from, end, span.stepMs);
    const loadMs = performance.now() - started;
    const query: ReadingQuery = { deviceId, channel: 'temperature', from, to: end, every: span.every, agg: 'mean', limit: 100_000, timeoutMs: QUERY_TIMEOUT_MS };
    ctx.log(`rollups: ${label}: querying ${span.name}`);
    const tier = await timed(store, query, ctx.options.historyRuns);
    const raw = await timed(store, { ...query, rawOnly: true }, Math.max(1, Math.min(3, ctx.options.historyRuns)));
    const windows = (end - from) / span.every;
    if (tier.windows !== windows || raw.windows !== windows) throw new Error(`${span.name}: ${tier.windows} windows from the tiers, ${raw.windows} from the readings, expected ${windows}`);
    results.push({ span, points, windows, loadMs, tierMs: tier.times, rawMs: raw.times });
  }
  return results;
}

async function embedded(ctx: BenchContext): Promise<SpanResult[]> {
  const dir = mkdtempSync(join(ctx.options.dataRoot, 'bench-rollups-'));
  const store = createThreadedSqliteStore({ path: join(dir, 'readings.db') });
  try {
    await store.open();
    return await measure(ctx, store, 'embedded');
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function influx(ctx: BenchContext, url: string): Promise<SpanResult[]> {
  const database = `bench_rollups_${Date.now()}`;
  const store = createInfluxStore({ url: `${url}/${database}`, queryTimeoutMs: QUERY_TIMEOUT_MS, timeoutMs: QUERY_TIMEOUT_MS });
  try {
    await store.open();
    return await measure(ctx, store, 'InfluxDB');
  } finally {
    await store.close();
    await fetch(`${url}/query`, { method: 'POST', body: new URLSearchParams({ q: `DROP DATABASE "${database}"` }) }).catch(() => undefined);
  }
}

function measureText(span: Span, store: string, points?: number): string {
  const rate = span.stepMs === 1000 ? '1 Hz' : span.stepMs % 1000 === 0 ? `1 per ${span.stepMs / 1000} s` : `1 per ${span.stepMs} ms`;
  const what = span.name === 'month' ? '30 days' : '1 year';
  const windows = span.every === HOUR ? '1-hour' : '1-day';
  return `${what} @ ${rate}${points ? ` (${si(points)} pts)` : ''}, ${windows} means, ${store}`;
}

function rows(mode: 'embedded' | 'influx', results: SpanResult[]): Row[] {
  const store = mode === 'embedded' ? 'embedded' : 'InfluxDB';
  return results.map((r) => {
    const tier = median(r.tierMs);
    const raw = median(r.rawMs);
    return {
      key: `rollups.${mode}.${r.span.name}`,
      scenario: 'history tiers',
      measure: measureText(r.span, store, r.points),
      values: { tierMs: tier, rawMs: raw, points: r.points, windows: r.windows, loadPerSecond: r.points / (r.loadMs / 1000) },
      result: `${ms(tier)} median from tiers (${ms(Math.min(...r.tierMs))}–${ms(Math.max(...r.tierMs))}, ${r.tierMs.length} runs)`,
      reference: `raw scan ${ms(raw)}`, ratio: raw / tier, ratioStyle: 'times',
      target: `≤ ${ROLLUPS_TARGET_MS} ms`, met: tier <= ROLLUPS_TARGET_MS,
      note: `${r.windows} windows; loaded as history at ${si(r.points / (r.loadMs / 1000))} readings/s, tiers kept as they arrive${mode === 'influx' ? ' (computed after each write: late readings)' : ''}`,
    };
  });
}

export async function rollupRows(ctx: BenchContext): Promise<Row[]> {
  const out: Row[] = [];
  for (const mode of ['embedded', 'influx'] as const) {
    const label = mode === 'embedded' ? 'embedded' : 'InfluxDB';
    const keys = ROLLUP_ROW_KEYS.filter((k) => k.startsWith(`rollups.${mode}.`));
    const target = `≤ ${ROLLUPS_TARGET_MS} ms`;
    if (mode === 'influx' && !ctx.influxUrl) {
      out.push(...spans(ctx).map((span, i) => skippedRow(keys[i], 'history tiers', measureText(span, label), ctx.influxSkip ?? 'no influxd', target)));
      continue;
    }
    try {
      out.push(...rows(mode, mode === 'embedded' ? await embedded(ctx) : await influx(ctx, ctx.influxUrl!)));
    } catch (err) {
      out.push(...spans(ctx).map((span, i) => errorRow(keys[i], 'history tiers', measureText(span, label), err, target)));
    }
  }
  return out;
}
