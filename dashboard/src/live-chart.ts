// One channel's live chart. Devices may send at 50 Hz or more; points go into a ring buffer as they
// arrive and the chart redraws at most once per animation frame, for all charts together.
//
// The chart never pretends: its time axis ends at now and keeps moving when nothing arrives, an
// outage longer than a few of the device's own intervals breaks the line, a latest value that is
// no longer fresh says how old it is, and an empty chart says why it is empty.
import uPlot from 'uplot';
import type { ChannelView } from '../../hub/src/http/wire.ts';
import { describeLines, drawLines, rangeWithLevels } from './alert-lines.ts';
import { axis, seriesColor, timeAxisValues, withAlpha } from './chart-theme.ts';
import { estimateInterval, formatTime, gapThreshold, LIVE_MIN_GAP_S, rangeStats, staleAfterMs, withGaps } from './chart-math.ts';
import { h, setText } from './dom.ts';
import { formatValue, relativeTime } from './format.ts';
import type { ThresholdLine } from './rule-lines.ts';
import { SeriesRing } from './series-ring.ts';

export const LIVE_WINDOW_S = 60;
/** 60 s at 100 Hz; a faster device shows a shorter window instead of using more memory */
const CAPACITY = 6000;
const HEIGHT = 180;
/** how often the time axis moves on when no readings arrive */
const TICK_MS = 500;

const dirty = new Set<LiveChart>();
let frame = 0;

function scheduleDraw(chart: LiveChart): void {
  dirty.add(chart);
  frame ||= requestAnimationFrame(() => {
    frame = 0;
    const charts = [...dirty];
    dirty.clear();
    for (const c of charts) c.draw();
  });
}

// One timer moves every chart's axis on, so a stalled device looks stalled.
const open = new Set<LiveChart>();
let ticker: ReturnType<typeof setInterval> | null = null;

function track(chart: LiveChart): void {
  open.add(chart);
  ticker ??= setInterval(() => {
    for (const c of open) scheduleDraw(c);
  }, TICK_MS);
}

function untrack(chart: LiveChart): void {
  open.delete(chart);
  if (open.size === 0 && ticker) {
    clearInterval(ticker);
    ticker = null;
  }
}

/** Axis labels with the unit; the axis is as wide as its longest label. */
export function valueAxis(unit: string, extra: uPlot.Axis = {}): uPlot.Axis {
  const suffix = unit ? ` ${unit}` : '';
  return axis({
    values: (_u, ticks) => ticks.map((t) => formatValue(t) + suffix),
    size: (_u, values) => Math.max(44, 14 + 6.4 * Math.max(0, ...(values ?? []).map((v) => String(v).length))),
    ...extra,
  });
}

export interface LiveChartContext {
  /** what the device's counters and status say about an empty chart ("354 rejected: …"), or null */
  emptyReason?(): string | null;
  /** where "new alert rule" for this channel leads; no link without it */
  newRuleHref?(channel: string): string;
}

export class LiveChart {
  readonly element: HTMLElement;
  private readonly ring = new SeriesRing(CAPACITY);
  private readonly plotHost: HTMLElement;
  private readonly latest: HTMLElement;
  private readonly age: HTMLElement;
  private readonly empty: HTMLElement;
  private readonly tip: HTMLElement;
  private readonly body: HTMLElement;
  private readonly alertNote: HTMLElement;
  private readonly unit: string;
  private readonly stepped: boolean;
  private plot: uPlot | null = null;
  private draws = 0;
  private destroyed = false;
  private loading = true;
  private readonly resizer: ResizeObserver;
  /** pushes since the data last went to the plot: idle ticks reuse the arrays they drew */
  private version = 0;
  private drawnVersion = -1;
  private interval: number | null = null;
  private gaps = 0;
  private label = '';
  /** levels of the rules that watch this channel on this device */
  private lines: ThresholdLine[] = [];

  constructor(readonly channel: ChannelView, index: number, private readonly context: LiveChartContext = {}) {
    const name = channel.name;
    const color = seriesColor(index);
    this.unit = channel.unit;
    this.stepped = channel.type === 'bool';
    this.latest = h('span', { class: 'latest-value', 'data-testid': `latest-${name}` }, '—');
    this.age = h('span', { class: 'latest-age', 'data-testid': `age-${name}` });
    this.plotHost = h('div', { class: 'chart-host', 'data-testid': `live-chart-${name}`, 'data-points': '0', 'data-gaps': '0', role: 'img', 'aria-label': `${name}: loading` });
    this.empty = h('p', { class: 'chart-empty', 'data-testid': `empty-${name}`, hidden: true });
    this.tip = h('div', { class: 'chart-tip', 'data-testid': `tip-${name}`, hidden: true, 'aria-hidden': 'true' });
    this.body = h('div', { class: 'chart-body' }, this.plotHost, this.empty, this.tip);
    this.alertNote = h('span', { class: 'chart-alert', 'data-testid': `chart-alert-${name}`, hidden: true });
    this.element = h('section', { class: 'card chart-card', 'data-testid': `channel-${name}` },
      h('header', { class: 'chart-head' },
        h('span', { class: 'chart-title' }, h('span', { class: `swatch swatch-${index % 8}` }), name,
          h('a', { class: 'chart-compare', href: `#/fleet/${encodeURIComponent(name)}`, 'data-testid': `compare-${name}`, title: `${name} across devices` }, 'compare'),
          context.newRuleHref ? h('a', { class: 'chart-compare', href: context.newRuleHref(name), 'data-testid': `new-rule-${name}`, title: `a new alert rule on ${name}` }, 'alert rule') : null),
        h('span', { class: 'chart-latest' }, this.latest, channel.unit ? h('span', { class: 'unit' }, channel.unit) : null, this.age),
        this.alertNote),
      this.body);

    const stepped = this.stepped;
    const options: uPlot.Options = {
      width: 400,
      height: HEIGHT,
      legend: { show: false },
      // Zooming a chart that scrolls every frame is useless; hovering shows value, unit and time.
      cursor: { drag: { x: false, y: false, setScale: false }, points: { size: 6 } },
      scales: {
        x: { time: true },
        // uPlot's own padding around the readings, widened to take in nearby threshold levels
        y: stepped ? { range: [-0.1, 1.1] } : {
          range: (_u, min, max) => {
            const r = rangeWithLevels(min, max, this.lines.map((l) => l.value));
            return r ? uPlot.rangeNum(r[0], r[1], 0.1, true) : [null, null] as unknown as uPlot.Range.MinMax;
          },
        },
      },
      series: [
        {},
        {
          label: name,
          stroke: color,
          width: 1.5,
          fill: withAlpha(color, 0.12),
          points: { show: false },
          paths: stepped ? uPlot.paths.stepped!({ align: 1 }) : undefined,
        },
      ],
      axes: [
        axis({ space: 70, size: 30, values: timeAxisValues }),
        stepped
          ? axis({ size: 44, splits: () => [0, 1], values: (_u, ticks) => ticks.map((t) => (t ? 'on' : 'off')) })
          : valueAxis(channel.unit),
      ],
      hooks: {
        // exposed for tests and for anyone checking the page keeps to one redraw per frame
        draw: [(u) => {
          this.plotHost.setAttribute('data-points', String(this.ring.length));
          this.plotHost.setAttribute('data-gaps', String(this.gaps));
          this.plotHost.setAttribute('data-x-max', String(Math.round((u.scales.x.max ?? 0) * 1000)));
          this.plotHost.setAttribute('data-draws', String(++this.draws));
        }, drawLines(() => this.lines)],
        setCursor: [(u) => this.showTip(u)],
      },
    };
    this.resizer = new ResizeObserver(() => this.fit());
    // The element is not in the document yet; size the chart once it is laid out.
    requestAnimationFrame(() => {
      if (this.destroyed) return;
      this.plot = new uPlot(options, [this.ring.times(), this.ring.values()], this.plotHost);
      this.fit();
      this.resizer.observe(this.plotHost);
      scheduleDraw(this);
    });
    track(this);
  }

  /** The threshold levels to draw, as dashed lines. */
  setLines(lines: ThresholdLine[]): void {
    this.lines = lines;
    this.plotHost.setAttribute('data-lines', lines.map((l) => `${l.kind}:${l.value}`).join(' '));
    scheduleDraw(this);
  }

  /** The worst open alert on this channel tints the chart's header; null clears it. */
  setAlert(alert: { state: 'pending' | 'firing'; severity: string; text: string } | null): void {
    if (alert) {
      this.element.setAttribute('data-alert', alert.state);
      this.element.setAttribute('data-severity', alert.severity);
    } else {
      this.element.removeAttribute('data-alert');
      this.element.removeAttribute('data-severity');
    }
    setText(this.alertNote, alert?.text ?? '');
    this.alertNote.hidden = !alert;
  }

  push(time: number, value: number): void {
    if (!this.ring.push(time / 1000, value)) return;
    this.version++;
    scheduleDraw(this);
  }

  /** The recent readings from the store are in: an empty chart now means there were none. */
  loaded(): void {
    this.loading = false;
    scheduleDraw(this);
  }

  draw(): void {
    const now = Date.now();
    const end = now / 1000;
    const start = end - LIVE_WINDOW_S;
    const times = this.ring.times();
    const values = this.ring.values();
    const lastTime = this.ring.lastTime * 1000;
    const last = this.ring.lastValue;

    if (this.drawnVersion !== this.version) {
      this.interval = estimateInterval(times);
      const gapped = withGaps(times, values, gapThreshold(this.interval, LIVE_MIN_GAP_S));
      this.gaps = gapped?.gaps ?? 0;
      this.plot?.setData((gapped ? [gapped.times, gapped.values] : [times, values]) as uPlot.AlignedData, false);
      if (this.plot) this.drawnVersion = this.version;
    }

    // the latest value, and how old it is once it is no longer fresh
    setText(this.latest, last === undefined ? '—' : this.format(last));
    const staleAfter = staleAfterMs(this.interval);
    const stale = last !== undefined && now - lastTime > staleAfter;
    setText(this.age, stale ? `· ${relativeTime(lastTime, now)}, stale` : '');
    this.element.toggleAttribute('data-stale', stale);

    // an empty chart says why
    const stats = rangeStats(times, values, start, end);
    let emptyText = '';
    if (stats.count === 0 && !this.loading) {
      const reason = this.context.emptyReason?.() ?? (last !== undefined ? `last reading ${relativeTime(lastTime, now)}` : null);
      emptyText = [`no readings in ${LIVE_WINDOW_S} s`, reason].filter(Boolean).join(' · ');
    }
    setText(this.empty, emptyText);
    this.empty.hidden = emptyText === '';

    this.describe(stats, last, lastTime, now, stale, emptyText);
    const plot = this.plot;
    if (!plot) return;
    plot.setScale('x', { min: start, max: end });
    if (!this.tip.hidden) this.showTip(plot);
  }

  /** The chart's text alternative: latest value, its age, and the range of the visible minute. */
  private describe(stats: { count: number; min: number; max: number }, last: number | undefined, lastTime: number, now: number, stale: boolean, emptyText: string): void {
    const unit = this.unit ? ` ${this.unit}` : '';
    const name = this.channel.name;
    let label: string;
    if (this.loading && stats.count === 0) label = `${name}: loading`;
    else {
      const latest = last === undefined ? 'no reading yet' : `latest ${this.format(last)}${unit}, ${relativeTime(lastTime, now)}${stale ? ', stale' : ''}`;
      const range = stats.count === 0
        ? emptyText
        : `last ${LIVE_WINDOW_S} s: ${stats.count} readings from ${this.format(stats.min)} to ${this.format(stats.max)}${unit}${this.gaps ? `, with ${this.gaps} gap${this.gaps === 1 ? '' : 's'}` : ''}`;
      label = `${name}: ${latest}; ${range}`;
    }
    if (this.lines.length) label += `; alert levels ${describeLines(this.lines)}`;
    if (label !== this.label) {
      this.label = label;
      this.plotHost.setAttribute('aria-label', label);
    }
  }

  private format(value: number): string {
    return this.stepped ? (value ? 'on' : 'off') : formatValue(value);
  }

  /** Hover: the value under the cursor with its unit and time. */
  private showTip(u: uPlot): void {
    const idx = u.cursor.idx;
    const value = idx === null || idx === undefined ? null : u.data[1][idx];
    if (idx === null || idx === undefined || value === null || value === undefined || u.cursor.left === undefined || u.cursor.left < 0) {
      this.tip.hidden = true;
      return;
    }
    const time = u.data[0][idx] * 1000;
    setText(this.tip, `${this.stepped ? this.format(value) : formatValue(value)}${this.unit ? ` ${this.unit}` : ''} · ${formatTime(time, 'local').slice(11)}`);
    this.tip.setAttribute('data-time', String(Math.round(time)));
    this.tip.hidden = false;
    const over = u.over.getBoundingClientRect();
    const body = this.body.getBoundingClientRect();
    const x = over.left - body.left + u.valToPos(u.data[0][idx], 'x');
    const flip = x > body.width - 170;
    this.tip.style.left = `${Math.round(flip ? x - 10 - this.tip.offsetWidth : x + 10)}px`;
    this.tip.style.top = `${Math.round(over.top - body.top + 4)}px`;
  }

  private fit(): void {
    const width = Math.floor(this.plotHost.clientWidth);
    if (this.plot && width > 0 && width !== this.plot.width) this.plot.setSize({ width, height: HEIGHT });
  }

  destroy(): void {
    this.destroyed = true;
    dirty.delete(this);
    untrack(this);
    this.resizer.disconnect();
    this.plot?.destroy();
    this.plot = null;
  }
}
