// Stored readings for a time range, raw or aggregated per window: a chart per unit, the first rows
// as a table, and the same query as a CSV download.
//
// It opens on the last hour with a window fitting the chart, labels its time zone (local or UTC,
// and the CSV follows the choice), zooms by dragging across a chart, and never offers a window the
// hub would refuse for the range (more than 100,000 windows per channel).
import type uPlot from 'uplot';
import type { DeviceView, HistoryResponse } from '../../hub/src/http/wire.ts';
import { ApiError, HubUnreachable, type Api, type HistoryQuery } from './api.ts';
import { seriesColor } from './chart-theme.ts';
import {
  autoWindow, csvInZone, formatTime, fromZoneInput, groupByUnit, limitFromRefusal, MAX_WINDOWS, toZoneInput,
  WINDOW_CHOICES, windowAllowed, windowCount, zoneLabel, type Zone,
} from './chart-math.ts';
import { h, setText } from './dom.ts';
import { formatValue } from './format.ts';
import type { ThresholdLine } from './rule-lines.ts';
import { timeChart } from './time-chart.ts';

export const PRESETS: [label: string, ms: number][] = [
  ['Last 15 min', 15 * 60_000],
  ['Last 1 h', 3_600_000],
  ['Last 6 h', 6 * 3_600_000],
  ['Last 24 h', 86_400_000],
  ['Last 7 days', 7 * 86_400_000],
  ['Last 30 days', 30 * 86_400_000],
  ['Last 365 days', 365 * 86_400_000],
];
const DEFAULT_PRESET = 3_600_000;
const AGGREGATES = ['mean', 'min', 'max', 'last', 'count'];
const TABLE_ROWS = 200;
const HEIGHT_ONE = 240;
const HEIGHT_EACH = 170;
/** a drag narrower than this is a click */
const MIN_ZOOM_MS = 1000;

const ZONE_KEY = 'hub.timeZone';

/** The zone the operator last picked, shared by history and the fleet view. */
export function savedZone(): Zone {
  try {
    return localStorage.getItem(ZONE_KEY) === 'utc' ? 'utc' : 'local';
  } catch {
    return 'local';
  }
}

export function saveZone(zone: Zone): void {
  try {
    localStorage.setItem(ZONE_KEY, zone);
  } catch {
    // private mode: the choice lasts as long as the page
  }
}

let historyCharts = 0;

export class HistoryView {
  readonly element: HTMLElement;
  private readonly preset: HTMLSelectElement;
  private readonly from: HTMLInputElement;
  private readonly to: HTMLInputElement;
  private readonly channel: HTMLSelectElement;
  private readonly every: HTMLSelectElement;
  private readonly agg: HTMLSelectElement;
  private readonly zone: HTMLSelectElement;
  private readonly zoneNote: HTMLElement;
  private readonly fromLabel: HTMLElement;
  private readonly toLabel: HTMLElement;
  private readonly timeHead: HTMLElement;
  private readonly status: HTMLElement;
  /** alert rule levels per channel */
  private lines = new Map<string, ThresholdLine[]>();
  private readonly windowNote: HTMLElement;
  private readonly chartHost: HTMLElement;
  private readonly summary: HTMLElement;
  private readonly table: HTMLTableSectionElement;
  private readonly csvButton: HTMLButtonElement;
  private plots: uPlot[] = [];
  private readonly resizer: ResizeObserver;
  private generation = 0;
  private maxWindows = MAX_WINDOWS;
  private last: { history: HistoryResponse; query: HistoryQuery; every: string | null; auto: boolean } | null = null;
  private readonly syncKey = `history-${++historyCharts}`;
  /** the form was changed since the shown answer was loaded */
  private edited = false;

  constructor(private readonly api: Api, private readonly device: DeviceView) {
    this.preset = h('select', { 'data-testid': 'history-preset', 'aria-label': 'range', onchange: () => this.applyPreset() },
      ...PRESETS.map(([label, ms]) => h('option', { value: String(ms), selected: ms === DEFAULT_PRESET }, label)),
      h('option', { value: 'custom' }, 'Custom range'));
    const toCustom = () => {
      this.preset.value = 'custom';
      this.syncWindows();
    };
    this.from = h('input', { type: 'datetime-local', step: '1', 'data-testid': 'history-from', 'aria-label': 'from', oninput: toCustom });
    this.to = h('input', { type: 'datetime-local', step: '1', 'data-testid': 'history-to', 'aria-label': 'to', oninput: toCustom });
    this.channel = h('select', { 'data-testid': 'history-channel', 'aria-label': 'channel' },
      h('option', { value: '' }, 'All channels'),
      ...device.channels.map((c) => h('option', { value: c.name }, c.unit ? `${c.name} (${c.unit})` : c.name)));
    this.every = h('select', { 'data-testid': 'history-every', 'aria-label': 'window', onchange: () => this.syncAgg() },
      h('option', { value: 'auto', selected: true }, 'Auto'),
      h('option', { value: '' }, 'Raw points'),
      ...WINDOW_CHOICES.map((w) => h('option', { value: w }, `per ${w}`)));
    this.agg = h('select', { 'data-testid': 'history-agg', 'aria-label': 'aggregate' },
      ...AGGREGATES.map((a) => h('option', { value: a }, a)));
    this.zone = h('select', { 'data-testid': 'history-zone', 'aria-label': 'time zone', onchange: () => this.changeZone() },
      h('option', { value: 'local' }, 'Local time'),
      h('option', { value: 'utc' }, 'UTC'));
    this.zone.value = savedZone();
    this.zoneNote = h('span', { class: 'muted zone-label', 'data-testid': 'history-zone-label' });
    this.fromLabel = h('span');
    this.toLabel = h('span');
    this.timeHead = h('th');
    this.status = h('span', { class: 'muted', 'data-testid': 'history-summary' }, 'Loading…');
    this.windowNote = h('p', { class: 'muted window-note', 'data-testid': 'history-window-note', hidden: true });
    this.chartHost = h('div', { class: 'chart-host history-chart', 'data-testid': 'history-chart', 'data-points': '0', hidden: true });
    this.summary = h('p', { class: 'visually-hidden', 'data-testid': 'history-text', 'aria-live': 'polite' });
    this.table = h('tbody');
    this.csvButton = h('button', { type: 'button', class: 'button', 'data-testid': 'history-csv', onclick: () => void this.download() }, 'Download CSV');

    // Once the form differs from what the charts show, the CSV follows the form; until then it is what is shown.
    const edited = (e: Event) => { if (e.target !== this.zone) this.edited = true; };
    const form = h('form', { class: 'toolbar', onsubmit: (e: Event) => { e.preventDefault(); void this.load(); }, oninput: edited, onchange: edited },
      field('Range', this.preset), field(this.fromLabel, this.from), field(this.toLabel, this.to), field('Channel', this.channel),
      field('Window', this.every), field('Aggregate', this.agg), field('Times in', this.zone),
      h('div', { class: 'toolbar-actions' },
        h('button', { type: 'submit', class: 'button primary', 'data-testid': 'history-load' }, 'Load'),
        h('button', { type: 'button', class: 'button', 'data-testid': 'history-zoom-out', title: 'twice the range, around its middle', onclick: () => this.zoomOut() }, 'Zoom out'),
        this.csvButton));

    this.element = h('section', { class: 'card history', 'data-testid': 'history' },
      h('header', { class: 'section-head' }, h('h2', null, 'History'), this.status, h('span', { class: 'spacer' }), this.zoneNote),
      form,
      this.windowNote,
      this.chartHost,
      this.summary,
      h('p', { class: 'muted chart-hint' }, 'Drag across a chart to zoom into that stretch.'),
      h('div', { class: 'table-wrap' },
        h('table', { class: 'data-table', 'data-testid': 'history-table' },
          h('thead', null, h('tr', null, this.timeHead, h('th', null, 'Channel'), h('th', { class: 'num' }, 'Value'))),
          this.table)));
    this.showZone();
    this.applyPreset();
    this.resizer = new ResizeObserver(() => this.fit());
    this.resizer.observe(this.chartHost);
    void this.load();
  }

  private get zoneValue(): Zone {
    return this.zone.value === 'utc' ? 'utc' : 'local';
  }

  private showZone(): void {
    const zone = this.zoneValue;
    const short = zone === 'utc' ? 'UTC' : 'local';
    setText(this.zoneNote, `Times in ${zoneLabel(zone)}`);
    setText(this.fromLabel, `From (${short})`);
    setText(this.toLabel, `To (${short})`);
    setText(this.timeHead, `Time (${short})`);
    setText(this.csvButton, `Download CSV (${short})`);
  }

  /** Same instants, shown in the other zone: inputs, table, charts and the CSV follow. */
  private changeZone(): void {
    const previous: Zone = this.zoneValue === 'utc' ? 'local' : 'utc';
    const from = fromZoneInput(this.from.value, previous);
    const to = fromZoneInput(this.to.value, previous);
    saveZone(this.zoneValue);
    if (Number.isFinite(from)) this.from.value = toZoneInput(from, this.zoneValue);
    if (Number.isFinite(to)) this.to.value = toZoneInput(to, this.zoneValue);
    this.showZone();
    if (this.last) this.render(this.last.history, this.last.query, this.last.every, this.last.auto);
  }

  private applyPreset(): void {
    if (this.preset.value !== 'custom') {
      const now = Date.now();
      this.from.value = toZoneInput(now - Number(this.preset.value), this.zoneValue);
      this.to.value = toZoneInput(now, this.zoneValue);
    }
    this.syncWindows();
  }

  private syncAgg(): void {
    this.agg.disabled = this.every.value === '';
    this.windowNote.hidden = true;
  }

  /** The range the form describes now, in ms; NaN when it is incomplete. */
  private rangeMs(): number {
    if (this.preset.value !== 'custom') return Number(this.preset.value);
    const from = fromZoneInput(this.from.value, this.zoneValue);
    const to = fromZoneInput(this.to.value, this.zoneValue);
    return to - from;
  }

  /**
   * Hides windows that would give the hub more than it accepts for this range; a chosen window
   * that no longer fits becomes Auto, and the form says so.
   */
  private syncWindows(): void {
    const range = this.rangeMs();
    const valid = Number.isFinite(range) && range > 0;
    for (const option of this.every.options) {
      if (option.value === 'auto' || option.value === '') continue;
      const ok = !valid || windowAllowed(range, option.value, this.maxWindows);
      option.disabled = !ok;
      option.hidden = !ok;
    }
    const chosen = this.every.selectedOptions[0];
    if (chosen?.disabled) {
      const count = windowCount(range, chosen.value);
      this.every.value = 'auto';
      setText(this.windowNote, `per ${chosen.value} would be ${count.toLocaleString()} windows per channel (the hub answers at most ${this.maxWindows.toLocaleString()}); Auto picks one that fits.`);
      this.windowNote.hidden = false;
    }
    this.agg.disabled = this.every.value === '';
  }

  private query(): { query: HistoryQuery; every: string | null; auto: boolean } | string {
    let from: number;
    let to: number;
    const zone = this.zoneValue;
    if (this.preset.value === 'custom') {
      from = fromZoneInput(this.from.value, zone);
      to = fromZoneInput(this.to.value, zone);
      if (!Number.isFinite(from) || !Number.isFinite(to)) return 'Enter both ends of the range.';
      if (from >= to) return '“From” must be before “To”.';
    } else {
      // A preset means "until now" at the moment of loading, to the millisecond.
      to = Date.now() + 1;
      from = to - Number(this.preset.value);
      this.from.value = toZoneInput(from, zone);
      this.to.value = toZoneInput(to, zone);
    }
    this.syncWindows();
    const auto = this.every.value === 'auto';
    const every = auto ? autoWindow(to - from) : this.every.value || null;
    const agg = every ? this.agg.value : undefined;
    return { query: { from, to, channel: this.channel.value || undefined, every: every ?? undefined, agg }, every, auto };
  }

  async load(): Promise<void> {
    const built = this.query();
    if (typeof built === 'string') return this.say(built, true);
    const generation = ++this.generation;
    this.say('Loading…');
    this.element.setAttribute('data-loading', 'true');
    try {
      const history = await this.api.history(this.device.id, built.query);
      if (generation !== this.generation) return;
      this.edited = false;
      this.render(history, built.query, built.every, built.auto);
    } catch (err) {
      if (generation !== this.generation) return;
      // A hub with a lower limit than this page knows: learn it and offer only what it accepts.
      const limit = err instanceof ApiError && err.code === 'HUB_ERR_TOO_MANY_POINTS' ? limitFromRefusal(err.message) : null;
      if (limit && limit < this.maxWindows) {
        this.maxWindows = limit;
        this.syncWindows();
      }
      this.say(describeError(err), true);
    } finally {
      if (generation === this.generation) this.element.removeAttribute('data-loading');
    }
  }

  /** Dragged across a chart: that stretch becomes the range, loaded with a window that fits it. */
  private zoom(from: number, to: number): void {
    if (to - from < MIN_ZOOM_MS) return;
    this.setRange(from, to);
  }

  private zoomOut(): void {
    const zone = this.zoneValue;
    const from = fromZoneInput(this.from.value, zone);
    const to = fromZoneInput(this.to.value, zone);
    if (!Number.isFinite(from) || !Number.isFinite(to) || from >= to) return;
    const span = to - from;
    const end = Math.min(Date.now() + 1, to + span / 2);
    this.setRange(end - 2 * span, end);
  }

  private setRange(from: number, to: number): void {
    this.preset.value = 'custom';
    this.from.value = toZoneInput(from, this.zoneValue);
    this.to.value = toZoneInput(to, this.zoneValue);
    this.element.setAttribute('data-from', String(from));
    this.element.setAttribute('data-to', String(to));
    // a window picked by hand for the old range rarely fits the new one
    if (this.every.value !== '') this.every.value = 'auto';
    this.syncWindows();
    void this.load();
  }

  /** The CSV of what the charts and table show (the same query), or of the form once it was changed. */
  private async download(): Promise<void> {
    let query: HistoryQuery;
    if (this.last && !this.edited) query = this.last.query;
    else {
      const built = this.query();
      if (typeof built === 'string') return this.say(built, true);
      query = built.query;
    }
    this.csvButton.disabled = true;
    try {
      const zone = this.zoneValue;
      const { blob, filename } = await this.api.historyCsv(this.device.id, query);
      // the hub writes UTC; the file says what the page shows
      const file = zone === 'utc' ? blob : new Blob([csvInZone(await blob.text(), zone)], { type: blob.type });
      const url = URL.createObjectURL(file);
      const link = h('a', { href: url, download: zone === 'utc' ? filename : filename.replace(/\.csv$/, '-local.csv'), hidden: true });
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

  private render(history: HistoryResponse, query: HistoryQuery, every: string | null, auto: boolean): void {
    this.last = { history, query, every, auto };
    const zone = this.zoneValue;
    const points = history.points;
    this.element.setAttribute('data-from', String(query.from));
    this.element.setAttribute('data-to', String(query.to));
    this.element.setAttribute('data-every', every ?? '');
    const windowText = history.every ? `${history.agg} per ${every}${auto ? ' (auto)' : ''}` : 'raw';
    this.say(`${points.length.toLocaleString()} point${points.length === 1 ? '' : 's'} · ${windowText}${history.truncated ? ' · truncated: narrow the range or use a window' : ''}`);

    const rows = points.slice(0, TABLE_ROWS).map((p) =>
      h('tr', { 'data-testid': 'history-row', 'data-time': String(p.time), 'data-channel': p.channel, 'data-value': String(p.value) },
        h('td', null, formatTime(p.time, zone)), h('td', null, p.channel), h('td', { class: 'num' }, formatValue(p.value))));
    if (points.length > TABLE_ROWS) {
      rows.push(h('tr', { class: 'more' }, h('td', { colspan: '3' }, `${(points.length - TABLE_ROWS).toLocaleString()} more in the CSV download`)));
    }
    if (points.length === 0) rows.push(h('tr', { class: 'more' }, h('td', { colspan: '3' }, 'No readings in this range.')));
    this.table.replaceChildren(...rows);
    this.drawCharts(history, query, zone);
  }

  private drawCharts(history: HistoryResponse, query: HistoryQuery, zone: Zone): void {
    for (const plot of this.plots) plot.destroy();
    this.plots = [];
    const points = history.points;
    this.chartHost.setAttribute('data-points', String(points.length));
    this.chartHost.hidden = points.length === 0;
    this.chartHost.replaceChildren();
    if (points.length === 0) {
      setText(this.summary, `No readings from ${formatTime(query.from, zone)} to ${formatTime(query.to, zone)}.`);
      return;
    }
    // points come ordered by channel, then time
    const byChannel = new Map<string, { times: number[]; values: number[] }>();
    for (const p of points) {
      const s = byChannel.get(p.channel) ?? byChannel.set(p.channel, { times: [], values: [] }).get(p.channel)!;
      s.times.push(p.time);
      s.values.push(p.value);
    }
    const groups = groupByUnit([...byChannel.keys()], this.device.channels);
    const width = Math.max(300, this.chartHost.clientWidth);
    const height = groups.length === 1 ? HEIGHT_ONE : HEIGHT_EACH;
    const colorOf = (name: string) => seriesColor(Math.max(0, this.device.channels.findIndex((c) => c.name === name)));
    const text: string[] = [];
    for (const group of groups) {
      const host = h('div', { class: 'history-group', 'data-testid': 'history-group', 'data-unit': group.unit, 'data-channels': group.channels.join(',') },
        h('div', { class: 'group-label' }, group.key === 'bool' ? 'on/off' : group.unit || 'no unit'));
      this.chartHost.appendChild(host);
      const series = group.channels.map((name) => ({ label: name, color: colorOf(name), ...byChannel.get(name)! }));
      const { plot, gaps } = timeChart(host, {
        series, unit: group.unit, bool: group.key === 'bool', zone, from: query.from, to: query.to,
        every: history.every, width, height, syncKey: this.syncKey, onZoom: (from, to) => this.zoom(from, to),
        lines: group.channels.flatMap((name) => this.lines.get(name) ?? []),
      });
      host.setAttribute('data-lines', group.channels.flatMap((name) => this.lines.get(name) ?? []).map((l) => `${l.kind}:${l.value}`).join(' '));
      host.setAttribute('data-gaps', String(gaps));
      this.plots.push(plot);
      for (const s of series) text.push(describeSeries(s.label, s.times, s.values, group.unit, zone));
    }
    setText(this.summary, `From ${formatTime(query.from, zone)} to ${formatTime(query.to, zone)}: ${text.join('; ')}.`);
  }

  /** The levels of the rules that watch this device, drawn on the charts from now on. */
  setLines(lines: Map<string, ThresholdLine[]>): void {
    this.lines = lines;
    if (this.last) this.drawCharts(this.last.history, this.last.query, this.zoneValue);
  }

  private fit(): void {
    const width = Math.floor(this.chartHost.clientWidth);
    for (const plot of this.plots) if (width > 0 && width !== plot.width) plot.setSize({ width, height: plot.height });
  }

  destroy(): void {
    this.generation++;
    this.resizer.disconnect();
    for (const plot of this.plots) plot.destroy();
    this.plots = [];
  }
}

/** One series in words: how many points, its range and the newest value. */
export function describeSeries(label: string, times: number[], values: number[], unit: string, zone: Zone): string {
  if (values.length === 0) return `${label}: no readings`;
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const u = unit ? ` ${unit}` : '';
  return `${label}: ${values.length} points from ${formatValue(min)} to ${formatValue(max)}${u}, latest ${formatValue(values[values.length - 1])}${u} at ${formatTime(times[times.length - 1], zone).slice(0, 19)}`;
}

function field(label: string | HTMLElement, control: HTMLElement): HTMLElement {
  return h('label', { class: 'field' }, typeof label === 'string' ? h('span', null, label) : label, control);
}

export function describeError(err: unknown): string {
  if (err instanceof HubUnreachable) return 'The hub is not reachable.';
  if (err instanceof ApiError) return err.message;
  return String(err);
}
