// Arithmetic behind charts that do not mislead: a device's sending interval, where its line must
// break, which history windows the hub accepts for a range, channels grouped by unit, and times in
// the zone the operator picked. No DOM here, so all of it is unit-tested.
import type { ChannelView } from '../../hub/src/http/wire.ts';

/**
 * The history API refuses an aggregate query over more windows per channel than this
 * (HUB_ERR_TOO_MANY_POINTS, the hub's maxQueryPoints), so the dashboard never offers one.
 */
export const MAX_WINDOWS = 100_000;

/**
 * The typical spacing of the newest points: the (lower) median of the last `sample` positive
 * steps, so one outage or one burst does not move it. Null with fewer than two distinct times.
 */
export function estimateInterval(times: ArrayLike<number>, sample = 32): number | null {
  const steps: number[] = [];
  for (let i = times.length - 1; i > 0 && steps.length < sample; i--) {
    const step = times[i] - times[i - 1];
    if (step > 0) steps.push(step);
  }
  if (steps.length === 0) return null;
  steps.sort((a, b) => a - b);
  return steps[Math.floor((steps.length - 1) / 2)];
}

/** A pause longer than this many intervals is an outage, drawn as a break in the line. */
export const GAP_INTERVALS = 4;
/**
 * Aggregates: more than one missing window in a row (relative to the usual step, so a device
 * slower than the window does not turn into dots) is an outage.
 */
export const WINDOW_GAP_INTERVALS = 1.5;

/** Live charts never break a line for less than this, however fast the device: jitter is not an outage. */
export const LIVE_MIN_GAP_S = 1;
/** a latest value older than this many of the device's intervals (and at least MIN_STALE_MS) is stale */
const STALE_INTERVALS = 5;
const MIN_STALE_MS = 5000;
/** with a single reading there is no interval to go by */
const DEFAULT_STALE_MS = 10_000;

/** How long after its latest reading a live value is stale: five of the device's intervals (seconds), at least 5 s. */
export function staleAfterMs(intervalS: number | null): number {
  return intervalS === null ? DEFAULT_STALE_MS : Math.max(STALE_INTERVALS * intervalS * 1000, MIN_STALE_MS);
}

/** The longest step still drawn as a line: a few intervals, never less than `floor`. */
export function gapThreshold(interval: number | null, floor: number, intervals = GAP_INTERVALS): number {
  return interval === null ? Infinity : Math.max(intervals * interval, floor);
}

/**
 * The series with a null between two points further apart than `maxStep`, which uPlot draws as a
 * break. Returns null when there is no such gap, so the caller can keep drawing its arrays as they
 * are, without copying.
 */
export function withGaps(times: ArrayLike<number>, values: ArrayLike<number>, maxStep: number): { times: number[]; values: (number | null)[]; gaps: number } | null {
  let gaps = 0;
  for (let i = 1; i < times.length; i++) if (times[i] - times[i - 1] > maxStep) gaps++;
  if (gaps === 0) return null;
  const t: number[] = [];
  const v: (number | null)[] = [];
  for (let i = 0; i < times.length; i++) {
    if (i > 0 && times[i] - times[i - 1] > maxStep) {
      t.push((times[i] + times[i - 1]) / 2);
      v.push(null);
    }
    t.push(times[i]);
    v.push(values[i]);
  }
  return { times: t, values: v, gaps };
}

/** Points with `from <= time <= to`, and their smallest and largest value. */
export function rangeStats(times: ArrayLike<number>, values: ArrayLike<number | null>, from: number, to: number): { count: number; min: number; max: number } {
  let count = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < times.length; i++) {
    const v = values[i];
    if (times[i] < from || times[i] > to || v === null || v === undefined) continue;
    count++;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { count, min, max };
}

// ── history windows ───────────────────────────────────────────────────────────────────────────

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `every` as the hub reads it ("10s" → 10000); NaN for anything else. */
export function windowMs(every: string): number {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(every);
  return match ? Number(match[1]) * UNIT_MS[match[2]] : NaN;
}

/** The windows the operator can pick by hand. */
export const WINDOW_CHOICES = ['1s', '10s', '1m', '5m', '15m', '1h', '6h', '1d', '7d'];

/** Round windows for the automatic choice, shortest first. */
const NICE_WINDOWS = ['10ms', '20ms', '50ms', '100ms', '200ms', '500ms', '1s', '2s', '5s', '10s', '15s', '30s',
  '1m', '2m', '5m', '10m', '15m', '30m', '1h', '2h', '3h', '6h', '12h', '1d', '2d', '7d', '30d', '90d', '365d', '3650d', '36500d'];

/** Windows per channel the hub would compute for this range, as it counts them. */
export function windowCount(rangeMs: number, every: string): number {
  return Math.ceil(rangeMs / windowMs(every));
}

/** Whether the hub accepts `every` over a range of `rangeMs` (aggregates only; raw is always accepted). */
export function windowAllowed(rangeMs: number, every: string, max = MAX_WINDOWS): boolean {
  return windowCount(rangeMs, every) <= max;
}

/** About one window per `target` of the chart's width: the smallest round window giving at most `target` windows. */
export function autoWindow(rangeMs: number, target = 600): string {
  for (const every of NICE_WINDOWS) if (windowCount(rangeMs, every) <= target) return every;
  return NICE_WINDOWS[NICE_WINDOWS.length - 1];
}

/** The limit the hub names in a HUB_ERR_TOO_MANY_POINTS message ("... at most 100000: ..."), if any. */
export function limitFromRefusal(message: string): number | null {
  const match = /at most (\d+)/.exec(message);
  return match ? Number(match[1]) : null;
}

// ── channels grouped by unit ──────────────────────────────────────────────────────────────────

export interface UnitGroup {
  /** stable key: the unit, "" for no unit, or "bool" for on/off channels */
  key: string;
  /** the unit as shown on the axis ("" for none) */
  unit: string;
  channels: string[];
}

/**
 * One group per unit, so mV and °C never share an axis; on/off channels get their own group, and
 * channels the device no longer declares count as unitless. Groups keep the order of their first channel.
 */
export function groupByUnit(names: string[], declared: readonly ChannelView[]): UnitGroup[] {
  const groups = new Map<string, UnitGroup>();
  for (const name of names) {
    const channel = declared.find((c) => c.name === name);
    const key = channel?.type === 'bool' ? 'bool' : channel?.unit ?? '';
    const group = groups.get(key) ?? groups.set(key, { key, unit: key === 'bool' ? '' : key, channels: [] }).get(key)!;
    group.channels.push(name);
  }
  return [...groups.values()];
}

// ── time zones ────────────────────────────────────────────────────────────────────────────────

export type Zone = 'local' | 'utc';

function pad(n: number, width = 2): string {
  return String(Math.abs(n)).padStart(width, '0');
}

interface Parts { y: number; mo: number; d: number; h: number; mi: number; s: number; ms: number }

function parts(ms: number, zone: Zone): Parts {
  const d = new Date(ms);
  return zone === 'utc'
    ? { y: d.getUTCFullYear(), mo: d.getUTCMonth() + 1, d: d.getUTCDate(), h: d.getUTCHours(), mi: d.getUTCMinutes(), s: d.getUTCSeconds(), ms: d.getUTCMilliseconds() }
    : { y: d.getFullYear(), mo: d.getMonth() + 1, d: d.getDate(), h: d.getHours(), mi: d.getMinutes(), s: d.getSeconds(), ms: d.getMilliseconds() };
}

/** "+01:00", "-05:30" or "+00:00": the zone's offset from UTC at that instant. */
export function utcOffset(ms: number, zone: Zone): string {
  if (zone === 'utc') return '+00:00';
  const minutes = -new Date(ms).getTimezoneOffset();
  return `${minutes < 0 ? '-' : '+'}${pad(Math.trunc(minutes / 60))}:${pad(minutes % 60)}`;
}

/** "UTC", or "local time (Europe/Berlin, UTC+01:00)". */
export function zoneLabel(zone: Zone, now = Date.now()): string {
  if (zone === 'utc') return 'UTC';
  const name = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (/^(Etc\/)?(UTC|GMT|Zulu)$/.test(name ?? '')) return 'local time (UTC)';
  return `local time (${name ? `${name}, ` : ''}UTC${utcOffset(now, 'local')})`;
}

/** YYYY-MM-DD HH:mm:ss.SSS in the zone. */
export function formatTime(ms: number, zone: Zone): string {
  const p = parts(ms, zone);
  return `${p.y}-${pad(p.mo)}-${pad(p.d)} ${pad(p.h)}:${pad(p.mi)}:${pad(p.s)}.${pad(p.ms, 3)}`;
}

/** ISO 8601 in the zone: "...Z" for UTC (as the hub writes it), with the offset for local time. */
export function isoInZone(ms: number, zone: Zone): string {
  if (zone === 'utc') return new Date(ms).toISOString();
  const p = parts(ms, zone);
  return `${p.y}-${pad(p.mo)}-${pad(p.d)}T${pad(p.h)}:${pad(p.mi)}:${pad(p.s)}.${pad(p.ms, 3)}${utcOffset(ms, zone)}`;
}

/** The value a datetime-local input shows for `ms` in the zone. */
export function toZoneInput(ms: number, zone: Zone): string {
  const p = parts(ms, zone);
  return `${p.y}-${pad(p.mo)}-${pad(p.d)}T${pad(p.h)}:${pad(p.mi)}:${pad(p.s)}`;
}

/** A datetime-local input's text read in the zone; NaN when empty or not a time. */
export function fromZoneInput(text: string, zone: Zone): number {
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?$/.test(text)) return NaN;
  return zone === 'utc' ? Date.parse(`${text}Z`) : new Date(text).getTime();
}

/** Time-axis labels in the zone with only as much detail as the visible span (seconds) needs. */
export function axisTimeLabels(ticks: number[], spanS: number, zone: Zone): string[] {
  return ticks.map((t) => {
    const p = parts(t * 1000, zone);
    const hm = `${pad(p.h)}:${pad(p.mi)}`;
    if (spanS <= 600) return `${hm}:${pad(p.s)}`;
    if (spanS <= 86_400) return hm;
    if (spanS <= 90 * 86_400) return `${pad(p.mo)}-${pad(p.d)} ${hm}`;
    return `${p.y}-${pad(p.mo)}-${pad(p.d)}`;
  });
}

/**
 * The hub's CSV (`time,channel,value`, times in UTC ISO) with its times in the zone, so the file
 * says what the page shows. The time is always the first field and never quoted.
 */
export function csvInZone(csv: string, zone: Zone): string {
  if (zone === 'utc') return csv;
  return csv.split('\n').map((line, i) => {
    if (i === 0 || line === '') return line;
    const comma = line.indexOf(',');
    const ms = Date.parse(line.slice(0, comma));
    return Number.isFinite(ms) ? isoInZone(ms, zone) + line.slice(comma) : line;
  }).join('\n');
}
