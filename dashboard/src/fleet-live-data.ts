// The arithmetic of the fleet view's live chart: many devices' newest readings joined on one time
// axis with a break wherever a device fell silent, what each device's line says (latest value, its
// age, stale or not, the minute's range), and a history seed joined to the live points without a
// reading out of order. The same rules as a device page's live charts (live-chart.ts), for many
// series at once. No DOM here, so all of it is unit-tested.
import { estimateInterval, gapThreshold, LIVE_MIN_GAP_S, rangeStats, staleAfterMs, withGaps } from './chart-math.ts';
import { formatValue, relativeTime } from './format.ts';


export interface LivePoint {
  /** epoch ms */
  time: number;
  value: number;
}

/**
 * The seed from the store, cut where the live points held meanwhile begin, then those points: a
 * chart only takes points in order, and the store may already hold the first live ones.
 */
export function seedThenLive(seed: readonly LivePoint[], held: readonly LivePoint[]): LivePoint[] {
  const firstLive = held[0]?.time;
  return [...(firstLive === undefined ? seed : seed.filter((p) => p.time < firstLive)), ...held];
}


export interface Column {
  /** epoch seconds, ascending */
  times: ArrayLike<number>;
  values: ArrayLike<number>;
}

/**
 * The columns on one time axis, as uPlot takes them: `undefined` where a device has no point at a
 * time another device has (the line goes on), `null` inside an outage (the line breaks). Each
 * column's outages are judged by its own interval, so a 1 Hz device beside a 50 Hz one keeps its
 * line.
 */
export function joinColumns(columns: readonly Column[], minGapS = LIVE_MIN_GAP_S): { data: [Float64Array, ...(number | null | undefined)[][]]; gaps: number[] } {
  const gapped = columns.map((c) => withGaps(c.times, c.values, gapThreshold(estimateInterval(c.times), minGapS)) ?? { times: c.times, values: c.values, gaps: 0 });
  let total = 0;
  for (const c of gapped) total += c.times.length;
  // every time once, ascending: a typed array sorts numbers without a comparator
  const all = new Float64Array(total);
  let at = 0;
  for (const c of gapped) for (let i = 0; i < c.times.length; i++) all[at++] = c.times[i];
  all.sort();
  let m = 0;
  for (let i = 0; i < total; i++) if (i === 0 || all[i] !== all[m - 1]) all[m++] = all[i];
  const times = all.subarray(0, m);
  const data = gapped.map((c) => {
    const column = new Array<number | null | undefined>(m).fill(undefined);
    // several readings at one time: the last one counts, as it does in a ring that took them all
    for (let i = 0, j = 0; i < c.times.length; i++) {
      while (times[j] < c.times[i]) j++;
      column[j] = c.values[i];
    }
    return column;
  });
  return { data: [times, ...data], gaps: gapped.map((c) => c.gaps) };
}

export interface TrackFacts {
  /** the latest value and its time (epoch ms), if any */
  last: number | undefined;
  lastTime: number;
  /** the device's usual step in seconds, or null with fewer than two readings */
  interval: number | null;
  stale: boolean;
  /** readings in the window, and their range */
  count: number;
  min: number;
  max: number;
}

/** What one device's line shows at `now` (ms), over the window from `fromS` to `toS` (epoch seconds). */
export function trackFacts(column: Column, now: number, fromS: number, toS: number): TrackFacts {
  const n = column.times.length;
  const last = n ? column.values[n - 1] : undefined;
  const lastTime = n ? column.times[n - 1] * 1000 : -Infinity;
  const interval = estimateInterval(column.times);
  const stats = rangeStats(column.times, column.values, fromS, toS);
  return { last, lastTime, interval, stale: last !== undefined && now - lastTime > staleAfterMs(interval), ...stats };
}

/** A value as the legend shows it: on/off for on/off channels. */
export function showValue(value: number, bool: boolean): string {
  return bool ? (value ? 'on' : 'off') : formatValue(value);
}

/**
 * One device in the text alternative: "rack-a: latest 21.50 °C, 3 s ago; 58 readings in 60 s from
 * 20.10 to 21.50 °C", with ", stale" once the value is stale, or "no reading yet".
 */
export function describeTrack(label: string, facts: TrackFacts, unit: string, bool: boolean, now: number, windowS: number): string {
  if (facts.last === undefined) return `${label}: no reading yet`;
  const u = unit && !bool ? ` ${unit}` : '';
  const latest = `latest ${showValue(facts.last, bool)}${u}, ${relativeTime(facts.lastTime, now)}${facts.stale ? ', stale' : ''}`;
  const range = facts.count === 0
    ? `no readings in ${windowS} s`
    : `${facts.count} reading${facts.count === 1 ? '' : 's'} in ${windowS} s from ${showValue(facts.min, bool)} to ${showValue(facts.max, bool)}${u}`;
  return `${label}: ${latest}; ${range}`;
}
