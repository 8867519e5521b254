// The fleet view's live chart: one channel of many devices over the last 60 s, one line and one
// legend entry per device. It keeps the device page's promises for every line at once: the time
// axis ends at now and moves on when nothing arrives, a device silent for more than a few of its
// own intervals gets a break, and a device whose latest value is stale is dimmed and says how old
// the value is, while the others go on. Points go into a ring per device as they arrive; the chart
// redraws at most once per animation frame.
import uPlot from 'uplot';
import { axis, withAlpha } from './chart-theme.ts';
import { axisTimeLabels, formatTime, type Zone } from './chart-math.ts';
import { h, setText } from './dom.ts';
import { joinColumns, showValue, trackFacts, type LivePoint, type TrackFacts } from './fleet-live-data.ts';
import { relativeTime } from './format.ts';
import { LIVE_WINDOW_S, valueAxis } from './live-chart.ts';
import { SeriesRing } from './series-ring.ts';

/** 60 s at 50 Hz per device: a rack of 50 sensors stays within a few MiB; a faster device shows a shorter window */
const CAPACITY = 3000;
/** how often the time axis moves on when no readings arrive */
const TICK_MS = 500;
/** a stale line is drawn this faint: still there, clearly not current */
const STALE_ALPHA = 0.35;
/**
 * Joining the devices' lines on one axis costs about 2 ms for 12 devices at 10 Hz, 7 ms at 50 Hz
 * and 50–70 ms for 50 devices at 50 Hz (measured in Node on a shared 2-core machine): the lines
 * are joined again at most every JOIN_SHARE times the last join's cost, so a large fast rack
 * updates less often instead of taking the page's main thread. The time axis moves on regardless.
 */
const JOIN_SHARE = 10;

/** One device's line: its readings, and the live ones held while its recent history loads. */
export interface LiveTrack {
  id: string;
  label: string;
  color: string;
  /** the colour's place in the palette, for its legend swatch */
  index: number;
  unit: string;
  bool: boolean;
  ring: SeriesRing;
  /** live points that arrived before the seed from the store; null once seeded */
  held: LivePoint[] | null;
  /** what the last draw found, for the text alternative */
  facts: TrackFacts | null;
}

export function liveTrack(id: string, label: string, index: number, color: string, unit: string, bool: boolean): LiveTrack {
  return { id, label, color, index, unit, bool, ring: new SeriesRing(CAPACITY), held: [], facts: null };
}

/** Adds a reading in epoch ms; false for one older than the line's newest (a chart takes points in order). */
export function pushPoint(track: LiveTrack, time: number, value: number): boolean {
  return track.ring.push(time / 1000, value);
}

export interface FleetLiveChartOptions {
  tracks: LiveTrack[];
  unit: string;
  bool: boolean;
  zone: Zone;
  width: number;
  height: number;
}

export class FleetLiveChart {
  readonly element: HTMLElement;
  private readonly plotHost: HTMLElement;
  private readonly empty: HTMLElement;
  private readonly cursorTime: HTMLElement;
  private readonly entries: { root: HTMLElement; value: HTMLElement; age: HTMLElement }[];
  private plot: uPlot | null = null;
  private readonly tracks: LiveTrack[];
  private version = 0;
  private drawnVersion = -1;
  private frame = 0;
  private readonly ticker: ReturnType<typeof setInterval>;
  private destroyed = false;
  private draws = 0;
  private hoverIdx: number | null = null;
  /** no new join before this time (ms) */
  private joinAfter = 0;

  constructor(private readonly options: FleetLiveChartOptions) {
    const { tracks, unit, bool, zone } = options;
    this.tracks = tracks;
    this.plotHost = h('div', { class: 'chart-host', 'data-testid': 'fleet-live-chart', 'data-series': String(tracks.length), 'data-points': '0', 'data-gaps': '0' });
    this.empty = h('p', { class: 'chart-empty', 'data-testid': 'fleet-live-empty', hidden: true });
    this.cursorTime = h('span', { class: 'muted mono', 'data-testid': 'fleet-live-cursor' });
    this.entries = tracks.map((t) => {
      const value = h('span', { class: 'mono' }, '—');
      const age = h('span', { class: 'muted' });
      const root = h('span', { class: 'chart-title', 'data-testid': `fleet-entry-${t.id}`, 'data-points': '0' },
        h('span', { class: `swatch swatch-${t.index % 8}` }), t.label, value, unit && !bool ? h('span', { class: 'unit' }, unit) : null, age);
      return { root, value, age };
    });
    this.element = h('div', { class: 'fleet-live' },
      h('div', { class: 'chart-body' }, this.plotHost, this.empty),
      h('div', { class: 'facts', 'data-testid': 'fleet-legend' }, ...this.entries.map((e) => e.root), this.cursorTime));

    const plotOptions: uPlot.Options = {
      width: options.width,
      height: options.height,
      tzDate: zone === 'utc' ? (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC') : undefined,
      legend: { show: false },
      // zooming a chart that scrolls every frame is useless; hovering shows each device's value
      cursor: { drag: { x: false, y: false, setScale: false }, points: { size: 6 } },
      scales: { x: { time: true }, y: bool ? { range: [-0.1, 1.1] } : {} },
      series: [
        {},
        ...tracks.map((t) => ({
          label: t.label,
          stroke: t.color,
          width: 1.5,
          fill: tracks.length === 1 ? withAlpha(t.color, 0.12) : undefined,
          points: { show: false },
          paths: bool ? uPlot.paths.stepped!({ align: 1 }) : undefined,
        })),
      ],
      axes: [
        axis({ space: 70, size: 30, values: (u, ticks) => axisTimeLabels(ticks, (u.scales.x.max ?? 0) - (u.scales.x.min ?? 0), zone) }),
        bool ? axis({ size: 44, splits: () => [0, 1], values: (_u, ticks) => ticks.map((t) => (t ? 'on' : 'off')) }) : valueAxis(unit),
      ],
      hooks: {
        // exposed for tests and for anyone checking the page keeps to one redraw per frame
        draw: [(u) => {
          this.plotHost.setAttribute('data-x-max', String(Math.round((u.scales.x.max ?? 0) * 1000)));
          this.plotHost.setAttribute('data-draws', String(++this.draws));
        }],
        setCursor: [(u) => {
          const idx = u.cursor.idx;
          this.hoverIdx = idx === null || idx === undefined || (u.cursor.left ?? -1) < 0 ? null : idx;
          this.showLegend(Date.now());
        }],
      },
    };
    // The element is not in the document yet; draw once it is laid out.
    requestAnimationFrame(() => {
      if (this.destroyed) return;
      this.plot = new uPlot(plotOptions, [[], ...tracks.map(() => [])] as uPlot.AlignedData, this.plotHost);
      this.schedule();
    });
    this.ticker = setInterval(() => this.schedule(), TICK_MS);
  }

  /** New points in some track: redrawn at the next frame. */
  changed(): void {
    this.version++;
    this.schedule();
  }

  resize(width: number): void {
    if (this.plot && width > 0 && width !== this.plot.width) this.plot.setSize({ width, height: this.plot.height });
  }

  private schedule(): void {
    if (this.destroyed) return;
    this.frame ||= requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  draw(): void {
    const plot = this.plot;
    if (!plot || this.destroyed) return;
    const now = Date.now();
    const end = now / 1000;
    const start = end - LIVE_WINDOW_S;
    const columns = this.tracks.map((t) => ({ times: t.ring.times(), values: t.ring.values() }));
    this.tracks.forEach((t, i) => (t.facts = trackFacts(columns[i], now, start, end)));

    if (this.drawnVersion !== this.version && now >= this.joinAfter) {
      const started = performance.now();
      const { data, gaps } = joinColumns(columns);
      plot.setData(data as uPlot.AlignedData, false);
      this.joinAfter = now + (performance.now() - started) * JOIN_SHARE;
      this.drawnVersion = this.version;
      this.plotHost.setAttribute('data-points', String(columns.reduce((n, c) => n + c.times.length, 0)));
      this.plotHost.setAttribute('data-gaps', String(gaps.reduce((a, b) => a + b, 0)));
    }
    // a stopped device's line stays where its readings are, faint; the others go on
    this.tracks.forEach((t, i) => (plot.series[i + 1].alpha = t.facts?.stale ? STALE_ALPHA : 1));

    const seeded = this.tracks.every((t) => t.held === null);
    const quiet = seeded && this.tracks.every((t) => (t.facts?.count ?? 0) === 0);
    setText(this.empty, quiet ? `no readings in ${LIVE_WINDOW_S} s` : '');
    this.empty.hidden = !quiet;
    this.showLegend(now);
    plot.setScale('x', { min: start, max: end });
  }

  /** Each entry: the value under the cursor while hovering, else the latest with its age once stale. */
  private showLegend(now: number): void {
    const plot = this.plot;
    const idx = this.hoverIdx;
    setText(this.cursorTime, plot && idx !== null ? formatTime(plot.data[0][idx] * 1000, this.options.zone).slice(11, 19) : '');
    this.tracks.forEach((t, i) => {
      const entry = this.entries[i];
      const facts = t.facts;
      if (plot && idx !== null) {
        const v = plot.data[i + 1][idx];
        setText(entry.value, v === null || v === undefined ? '—' : showValue(v, t.bool));
        setText(entry.age, '');
      } else {
        setText(entry.value, facts?.last === undefined ? '—' : showValue(facts.last, t.bool));
        setText(entry.age, facts?.stale ? `· ${relativeTime(facts.lastTime, now)}, stale` : '');
      }
      entry.root.setAttribute('data-points', String(t.ring.length));
      entry.root.setAttribute('data-last', facts && facts.last !== undefined ? String(Math.round(facts.lastTime)) : '');
      entry.root.toggleAttribute('data-stale', !!facts?.stale);
    });
  }

  destroy(): void {
    this.destroyed = true;
    clearInterval(this.ticker);
    if (this.frame) cancelAnimationFrame(this.frame);
    this.plot?.destroy();
    this.plot = null;
  }
}
