// One channel's live chart. Devices may send at 50 Hz or more; points go into a ring buffer as they
// arrive and the chart redraws at most once per animation frame, for all charts together.
import uPlot from 'uplot';
import type { ChannelView } from '../../hub/src/http/wire.ts';
import { axis, seriesColor, timeAxisValues, withAlpha } from './chart-theme.ts';
import { h, setText } from './dom.ts';
import { formatValue } from './format.ts';
import { SeriesRing } from './series-ring.ts';

export const LIVE_WINDOW_S = 60;
/** 60 s at 100 Hz; a faster device shows a shorter window instead of using more memory */
const CAPACITY = 6000;
const HEIGHT = 180;

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

export class LiveChart {
  readonly element: HTMLElement;
  private readonly ring = new SeriesRing(CAPACITY);
  private readonly plotHost: HTMLElement;
  private readonly latest: HTMLElement;
  private plot: uPlot | null = null;
  private draws = 0;
  private destroyed = false;
  private readonly resizer: ResizeObserver;

  constructor(readonly channel: ChannelView, index: number) {
    const name = channel.name;
    const color = seriesColor(index);
    this.latest = h('span', { class: 'latest-value', 'data-testid': `latest-${name}` }, '—');
    this.plotHost = h('div', { class: 'chart-host', 'data-testid': `live-chart-${name}`, 'data-points': '0' });
    this.element = h('section', { class: 'card chart-card', 'data-testid': `channel-${name}` },
      h('header', { class: 'chart-head' },
        h('span', { class: 'chart-title' }, h('span', { class: `swatch swatch-${index % 8}` }), name),
        h('span', { class: 'chart-latest' }, this.latest, channel.unit ? h('span', { class: 'unit' }, channel.unit) : null)),
      this.plotHost);

    const stepped = channel.type === 'bool';
    const options: uPlot.Options = {
      width: 400,
      height: HEIGHT,
      legend: { show: false },
      // Zooming a chart that scrolls every frame is useless; hovering still shows values.
      cursor: { drag: { x: false, y: false, setScale: false }, points: { size: 6 } },
      scales: { x: { time: true }, y: stepped ? { range: [-0.1, 1.1] } : {} },
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
          ? axis({ size: 52, splits: () => [0, 1], values: (_u, ticks) => ticks.map((t) => (t ? 'on' : 'off')) })
          : axis({ size: 52, values: (_u, ticks) => ticks.map(formatValue) }),
      ],
      hooks: {
        // exposed for tests and for anyone checking the page keeps to one redraw per frame
        draw: [(u) => {
          this.plotHost.setAttribute('data-points', String(u.data[0].length));
          this.plotHost.setAttribute('data-draws', String(++this.draws));
        }],
      },
    };
    this.resizer = new ResizeObserver(() => this.fit());
    // The element is not in the document yet; size the chart once it is laid out.
    requestAnimationFrame(() => {
      if (this.destroyed) return;
      this.plot = new uPlot(options, [this.ring.times(), this.ring.values()], this.plotHost);
      this.fit();
      this.resizer.observe(this.plotHost);
      if (this.ring.length > 0) scheduleDraw(this);
    });
  }

  push(time: number, value: number): void {
    if (!this.ring.push(time / 1000, value)) return;
    scheduleDraw(this);
  }

  draw(): void {
    const plot = this.plot;
    const last = this.ring.lastValue;
    if (last !== undefined) setText(this.latest, formatValue(last));
    if (!plot) return;
    const end = this.ring.lastTime;
    plot.batch(() => {
      plot.setData([this.ring.times(), this.ring.values()], false);
      plot.setScale('x', { min: end - LIVE_WINDOW_S, max: end });
    });
  }

  private fit(): void {
    const width = Math.floor(this.plotHost.clientWidth);
    if (this.plot && width > 0 && width !== this.plot.width) this.plot.setSize({ width, height: HEIGHT });
  }

  destroy(): void {
    this.destroyed = true;
    dirty.delete(this);
    this.resizer.disconnect();
    this.plot?.destroy();
    this.plot = null;
  }
}
