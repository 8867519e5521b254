// Stored readings for a time range, raw or aggregated per window: a chart, the first rows as a
// table, and the same query as a CSV download.
import uPlot from 'uplot';
import type { DeviceView, HistoryResponse } from '../../hub/src/http/wire.ts';
import { ApiError, HubUnreachable, type Api, type HistoryQuery } from './api.ts';
import { axis, seriesColor, timeAxisValues, withAlpha } from './chart-theme.ts';
import { h, setText } from './dom.ts';
import { formatTimestamp, formatValue, fromLocalInput, toLocalInput } from './format.ts';

const PRESETS: [label: string, ms: number][] = [
  ['Last 15 min', 15 * 60_000],
  ['Last 1 h', 3_600_000],
  ['Last 6 h', 6 * 3_600_000],
  ['Last 24 h', 86_400_000],
  ['Last 7 days', 7 * 86_400_000],
];
const WINDOWS = ['1s', '10s', '1m', '5m', '15m', '1h', '1d'];
const AGGREGATES = ['mean', 'min', 'max', 'last', 'count'];
const TABLE_ROWS = 200;
const HEIGHT = 240;

export class HistoryView {
  readonly element: HTMLElement;
  private readonly preset: HTMLSelectElement;
  private readonly from: HTMLInputElement;
  private readonly to: HTMLInputElement;
  private readonly channel: HTMLSelectElement;
  private readonly every: HTMLSelectElement;
  private readonly agg: HTMLSelectElement;
  private readonly status: HTMLElement;
  private readonly chartHost: HTMLElement;
  private readonly table: HTMLTableSectionElement;
  private readonly csvButton: HTMLButtonElement;
  private plot: uPlot | null = null;
  private readonly resizer: ResizeObserver;
  private busy = false;

  constructor(private readonly api: Api, private readonly device: DeviceView) {
    this.preset = h('select', { 'data-testid': 'history-preset', 'aria-label': 'range', onchange: () => this.applyPreset() },
      ...PRESETS.map(([label, ms]) => h('option', { value: String(ms) }, label)),
      h('option', { value: 'custom' }, 'Custom range'));
    const toCustom = () => { this.preset.value = 'custom'; };
    this.from = h('input', { type: 'datetime-local', step: '1', 'data-testid': 'history-from', 'aria-label': 'from', oninput: toCustom });
    this.to = h('input', { type: 'datetime-local', step: '1', 'data-testid': 'history-to', 'aria-label': 'to', oninput: toCustom });
    this.channel = h('select', { 'data-testid': 'history-channel', 'aria-label': 'channel' },
      h('option', { value: '' }, 'All channels'),
      ...device.channels.map((c) => h('option', { value: c.name }, c.name)));
    this.every = h('select', { 'data-testid': 'history-every', 'aria-label': 'window', onchange: () => this.syncAgg() },
      h('option', { value: '' }, 'Raw points'),
      ...WINDOWS.map((w) => h('option', { value: w }, `per ${w}`)));
    this.agg = h('select', { 'data-testid': 'history-agg', 'aria-label': 'aggregate', disabled: true },
      ...AGGREGATES.map((a) => h('option', { value: a }, a)));
    this.status = h('span', { class: 'muted', 'data-testid': 'history-summary' }, 'Pick a range and load.');
    this.chartHost = h('div', { class: 'chart-host history-chart', 'data-testid': 'history-chart', 'data-points': '0', hidden: true });
    this.table = h('tbody');
    this.csvButton = h('button', { type: 'button', class: 'button', 'data-testid': 'history-csv', onclick: () => void this.download() }, 'Download CSV');

    const form = h('form', { class: 'toolbar', onsubmit: (e: Event) => { e.preventDefault(); void this.load(); } },
      field('Range', this.preset), field('From', this.from), field('To', this.to), field('Channel', this.channel),
      field('Window', this.every), field('Aggregate', this.agg),
      h('div', { class: 'toolbar-actions' },
        h('button', { type: 'submit', class: 'button primary', 'data-testid': 'history-load' }, 'Load'),
        this.csvButton));

    this.element = h('section', { class: 'card history', 'data-testid': 'history' },
      h('header', { class: 'section-head' }, h('h2', null, 'History'), this.status),
      form,
      this.chartHost,
      h('div', { class: 'table-wrap' },
        h('table', { class: 'data-table', 'data-testid': 'history-table' },
          h('thead', null, h('tr', null, h('th', null, 'Time'), h('th', null, 'Channel'), h('th', { class: 'num' }, 'Value'))),
          this.table)));
    this.applyPreset();
    this.resizer = new ResizeObserver(() => this.fit());
    this.resizer.observe(this.chartHost);
  }

  private applyPreset(): void {
    if (this.preset.value === 'custom') return;
    const now = Date.now();
    this.from.value = toLocalInput(now - Number(this.preset.value));
    this.to.value = toLocalInput(now);
  }

  private syncAgg(): void {
    this.agg.disabled = this.every.value === '';
  }

  private query(): HistoryQuery | string {
    let from: number;
    let to: number;
    if (this.preset.value === 'custom') {
      from = fromLocalInput(this.from.value);
      to = fromLocalInput(this.to.value);
      if (!Number.isFinite(from) || !Number.isFinite(to)) return 'Enter both ends of the range.';
      if (from >= to) return '“From” must be before “To”.';
    } else {
      // A preset means "until now" at the moment of loading, to the millisecond.
      to = Date.now() + 1;
      from = to - Number(this.preset.value);
      this.from.value = toLocalInput(from);
      this.to.value = toLocalInput(to);
    }
    return { from, to, channel: this.channel.value || undefined, every: this.every.value || undefined, agg: this.every.value ? this.agg.value : undefined };
  }

  async load(): Promise<void> {
    const query = this.query();
    if (typeof query === 'string') return this.say(query, true);
    if (this.busy) return;
    this.busy = true;
    this.say('Loading…');
    try {
      const history = await this.api.history(this.device.id, query);
      this.render(history);
    } catch (err) {
      this.say(describeError(err), true);
    } finally {
      this.busy = false;
    }
  }

  private async download(): Promise<void> {
    const query = this.query();
    if (typeof query === 'string') return this.say(query, true);
    this.csvButton.disabled = true;
    try {
      const { blob, filename } = await this.api.historyCsv(this.device.id, query);
      const url = URL.createObjectURL(blob);
      const link = h('a', { href: url, download: filename, hidden: true });
      document.body.appendChild(link);
      link.click();
      link.remove();
      // The download has taken its copy by the next task.
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (err) {
      this.say(describeError(err), true);
    } finally {
      this.csvButton.disabled = false;
    }
  }

  private say(text: string, error = false): void {
    setText(this.status, text);
    this.status.classList.toggle('error-text', error);
  }

  private render(history: HistoryResponse): void {
    const points = history.points;
    const channels = [...new Set(points.map((p) => p.channel))];
    const windowText = history.every ? `${history.agg} per ${this.every.value}` : 'raw';
    this.say(`${points.length.toLocaleString()} point${points.length === 1 ? '' : 's'} · ${windowText}${history.truncated ? ' · truncated: narrow the range or use a window' : ''}`);

    const rows = points.slice(0, TABLE_ROWS).map((p) =>
      h('tr', { 'data-testid': 'history-row', 'data-time': String(p.time), 'data-channel': p.channel, 'data-value': String(p.value) },
        h('td', null, formatTimestamp(p.time)), h('td', null, p.channel), h('td', { class: 'num' }, formatValue(p.value))));
    if (points.length > TABLE_ROWS) {
      rows.push(h('tr', { class: 'more' }, h('td', { colspan: '3' }, `${(points.length - TABLE_ROWS).toLocaleString()} more in the CSV download`)));
    }
    if (points.length === 0) rows.push(h('tr', { class: 'more' }, h('td', { colspan: '3' }, 'No readings in this range.')));
    this.table.replaceChildren(...rows);
    this.drawChart(channels, history);
  }

  private drawChart(channels: string[], history: HistoryResponse): void {
    this.plot?.destroy();
    this.plot = null;
    this.chartHost.setAttribute('data-points', String(history.points.length));
    this.chartHost.hidden = history.points.length === 0;
    if (history.points.length === 0) return;
    // Channels may have points at different times: join them on one time axis with gaps.
    const times = [...new Set(history.points.map((p) => p.time))].sort((a, b) => a - b);
    const index = new Map(times.map((t, i) => [t, i]));
    const columns = channels.map(() => new Array<number | null>(times.length).fill(null));
    for (const p of history.points) columns[channels.indexOf(p.channel)][index.get(p.time)!] = p.value;
    const colorOf = (name: string) => seriesColor(Math.max(0, this.device.channels.findIndex((c) => c.name === name)));
    this.plot = new uPlot({
      width: Math.max(300, this.chartHost.clientWidth),
      height: HEIGHT,
      legend: { show: channels.length > 1, live: false },
      scales: { x: { time: true } },
      series: [{}, ...channels.map((name) => ({
        label: name,
        stroke: colorOf(name),
        width: 1.5,
        fill: channels.length === 1 ? withAlpha(colorOf(name), 0.12) : undefined,
        spanGaps: true,
        points: { show: times.length < 120 },
      }))],
      axes: [axis({ space: 80, size: 30, values: timeAxisValues }), axis({ size: 52, values: (_u, ticks) => ticks.map(formatValue) })],
    }, [times.map((t) => t / 1000), ...columns] as uPlot.AlignedData, this.chartHost);
  }

  private fit(): void {
    const width = Math.floor(this.chartHost.clientWidth);
    if (this.plot && width > 0 && width !== this.plot.width) this.plot.setSize({ width, height: HEIGHT });
  }

  destroy(): void {
    this.resizer.disconnect();
    this.plot?.destroy();
  }
}

function field(label: string, control: HTMLElement): HTMLElement {
  return h('label', { class: 'field' }, h('span', null, label), control);
}

export function describeError(err: unknown): string {
  if (err instanceof HubUnreachable) return 'The hub is not reachable.';
  if (err instanceof ApiError) return err.message;
  return String(err);
}
