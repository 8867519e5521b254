// A chart over a fixed time range for history and the fleet view: several series of one unit, the
// range asked for as the time axis (empty stretches stay visible), breaks where a series has an
// outage, labels in the chosen zone, hover values with their unit, and drag to zoom.
import uPlot from 'uplot';
import { drawLines, rangeWithLevels } from './alert-lines.ts';
import { axis, withAlpha } from './chart-theme.ts';
import { axisTimeLabels, estimateInterval, formatTime, GAP_INTERVALS, gapThreshold, WINDOW_GAP_INTERVALS, withGaps, type Zone } from './chart-math.ts';
import { formatValue } from './format.ts';
import { valueAxis } from './live-chart.ts';
import type { ThresholdLine } from './rule-lines.ts';

export interface TimeSeries {
  label: string;
  color: string;
  /** epoch ms, ascending */
  times: number[];
  values: number[];
}

export interface TimeChartOptions {
  series: TimeSeries[];
  unit: string;
  /** on/off channels: steps, and an axis that says on and off */
  bool?: boolean;
  zone: Zone;
  /** the requested range in epoch ms: the time axis shows all of it */
  from: number;
  to: number;
  /** the aggregate window in ms, or null for raw points: a missing window is not yet an outage */
  every: number | null;
  width: number;
  height: number;
  /** charts with the same key share the hover position */
  syncKey?: string;
  /** a dragged selection, in epoch ms */
  onZoom?(from: number, to: number): void;
  /** alert rule levels drawn as dashed lines */
  lines?: ThresholdLine[];
}

/** Joins the series on one time axis: `undefined` where a series has no point (spanned), `null` at an outage (a break). */
export function joinSeries(series: TimeSeries[], every: number | null): { data: uPlot.AlignedData; gaps: number } {
  let gaps = 0;
  const columns = series.map((s) => {
    const seconds = s.times.map((t) => t / 1000);
    const gapped = withGaps(seconds, s.values, gapThreshold(estimateInterval(seconds), (every ?? 0) / 1000, every ? WINDOW_GAP_INTERVALS : GAP_INTERVALS));
    gaps += gapped?.gaps ?? 0;
    return gapped ?? { times: seconds, values: s.values as (number | null)[] };
  });
  const times = [...new Set(columns.flatMap((c) => c.times))].sort((a, b) => a - b);
  const index = new Map(times.map((t, i) => [t, i]));
  const data = columns.map((c) => {
    const column = new Array<number | null | undefined>(times.length).fill(undefined);
    c.times.forEach((t, i) => { column[index.get(t)!] = c.values[i]; });
    return column;
  });
  return { data: [times, ...data] as uPlot.AlignedData, gaps };
}

export function timeChart(host: HTMLElement, options: TimeChartOptions): { plot: uPlot; gaps: number } {
  const { series, unit, zone, bool } = options;
  const { data, gaps } = joinSeries(series, options.every);
  const points = data[0].length;
  const suffix = unit ? ` ${unit}` : '';
  const lines = options.lines ?? [];
  const levels = lines.map((l) => l.value);
  const show = (v: number | null | undefined) => (v === null || v === undefined ? '—' : bool ? (v ? 'on' : 'off') : formatValue(v) + suffix);
  const plot = new uPlot({
    width: options.width,
    height: options.height,
    tzDate: zone === 'utc' ? (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC') : undefined,
    legend: { show: true, live: true },
    cursor: {
      drag: { x: !!options.onZoom, y: false, setScale: false },
      sync: options.syncKey ? { key: options.syncKey } : undefined,
      points: { size: 6 },
    },
    select: { show: true, left: 0, top: 0, width: 0, height: 0 },
    scales: {
      x: { time: true, range: () => [options.from / 1000, options.to / 1000] },
      y: bool ? { range: [-0.1, 1.1] } : levels.length === 0 ? {} : {
        range: (_u, min, max) => {
          const r = rangeWithLevels(min, max, levels);
          return r ? uPlot.rangeNum(r[0], r[1], 0.1, true) : [null, null] as unknown as uPlot.Range.MinMax;
        },
      },
    },
    series: [
      { label: 'time', value: (_u, v) => (v === null || v === undefined ? '—' : formatTime(v * 1000, zone).slice(0, 19)) },
      ...series.map((s) => ({
        label: s.label,
        stroke: s.color,
        width: 1.5,
        fill: series.length === 1 ? withAlpha(s.color, 0.12) : undefined,
        points: { show: points < 120 },
        paths: bool ? uPlot.paths.stepped!({ align: 1 }) : undefined,
        value: (_u: uPlot, v: number | null) => show(v),
      })),
    ],
    axes: [
      axis({ space: 80, size: 30, values: (u, ticks) => axisTimeLabels(ticks, (u.scales.x.max ?? 0) - (u.scales.x.min ?? 0), zone) }),
      bool ? axis({ size: 44, splits: () => [0, 1], values: (_u, ticks) => ticks.map((t) => (t ? 'on' : 'off')) }) : valueAxis(unit),
    ],
    hooks: {
      draw: lines.length ? [drawLines(() => lines)] : [],
      setSelect: [(u) => {
        const { left, width } = u.select;
        if (!options.onZoom || width < 4) return;
        const from = u.posToVal(left, 'x') * 1000;
        const to = u.posToVal(left + width, 'x') * 1000;
        u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
        options.onZoom(Math.floor(from), Math.ceil(to));
      }],
    },
  }, data, host);
  return { plot, gaps };
}
