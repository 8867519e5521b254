// History query: one series of `historyPoints` readings at 1 Hz (a day by default), uploaded by a
// device through the hub, then queried in 1-minute mean windows through the HTTP API.
import type { Child } from './children.ts';
import type { HubMode } from './hub-child.ts';
import { timedQuery } from './hub-api.ts';
import { startHubChild, startLoadChildren, stopAll, type BenchContext, type RunningHub } from './scenario-support.ts';
import { median } from './stats.ts';

export interface HistoryResult {
  medianMs: number;
  minMs: number;
  maxMs: number;
  runs: number;
  points: number;
  windows: number;
  uploadMs: number;
}

const WINDOW_MS = 60_000;

export async function runHistory(ctx: BenchContext, mode: Exclude<HubMode, 'decode-only'>): Promise<HistoryResult> {
  const { options } = ctx;
  const range = { prefix: 'hist-', from: 0, count: 1 };
  let hub: RunningHub | null = null;
  let loads: Child[] = [];
  try {
    hub = await startHubChild(ctx, `history-${mode}`, {
      mode, devices: [range],
      influxUrl: ctx.influxUrl ? `${ctx.influxUrl}/bench_history_${Date.now()}` : undefined,
    });
    loads = (await startLoadChildren(ctx, `history-${mode}`, hub.url, range, 1, { channels: 'series', samples: 1 })).children;
    await loads[0].call('connect', { concurrency: 1 });
    // a whole number of windows, ending an hour ago: every point is in the past
    const from = Math.floor((Date.now() - 3_600_000 - options.historyPoints * 1000) / WINDOW_MS) * WINDOW_MS;
    const to = from + options.historyPoints * 1000;
    const upload = await loads[0].call<{ ms: number }>('series', { points: options.historyPoints, perFrame: 1000, startTime: from, window: 8 }, 300_000);
    const path = `/api/devices/hist-0/readings?channel=temperature&from=${from}&to=${to}&every=1m&agg=mean`;
    const windows = Math.ceil((to - from) / WINDOW_MS);
    const first = await timedQuery(hub.url, path);
    if (first.points !== windows) throw new Error(`history query returned ${first.points} windows, expected ${windows}`);
    await timedQuery(hub.url, path);
    const times: number[] = [];
    for (let i = 0; i < options.historyRuns; i++) times.push((await timedQuery(hub.url, path)).ms);
    return {
      medianMs: median(times), minMs: Math.min(...times), maxMs: Math.max(...times),
      runs: times.length, points: options.historyPoints, windows, uploadMs: upload.ms,
    };
  } finally {
    await stopAll([...loads, hub]);
  }
}
