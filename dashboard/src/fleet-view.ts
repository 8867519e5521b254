// One channel across many devices on one chart, for comparing a rack of sensors: pick the devices
// (or filter them by id or name), a range, and get a series per device with its own legend entry.
// History: one request per device, a few at a time. Live: the picked devices' channel over
// /ws/live, each line opening with its last minute from the store.
import type uPlot from 'uplot';
import type { HistoryPoint, HistoryResponse } from '../../hub/src/http/wire.ts';
import type { Api } from './api.ts';
import { seriesColor } from './chart-theme.ts';
import { autoWindow, formatTime, windowMs, zoneLabel, type Zone } from './chart-math.ts';
import type { DeviceEntry, DeviceStore } from './device-store.ts';
import { h, setText } from './dom.ts';
import { FleetLiveChart, liveTrack, pushPoint, type LiveTrack } from './fleet-live.ts';
import { describeTrack, seedThenLive, trackFacts } from './fleet-live-data.ts';
import { describeError, describeSeries, PRESETS, savedZone, saveZone } from './history-view.ts';
import { LIVE_WINDOW_S } from './live-chart.ts';
import type { LiveClient } from './live-client.ts';
import { timeChart, type TimeSeries } from './time-chart.ts';
import type { View } from './view.ts';

/** requests in flight at once: a rack of 50 sensors must not queue 50 queries on the store together */
const CONCURRENCY = 4;
/** picked by default when a filter matches more: a chart with more lines than this is unreadable */
const DEFAULT_PICKS = 12;
const HEIGHT = 320;
const DEFAULT_PRESET = 3_600_000;
/** the range select's value for live */
const LIVE = 'live';
/** a live line opens with its last minute from the store, one point per window: at most 600 per device */
const SEED_WINDOW = '100ms';
/** live readings held per device while its seed loads: a slow store must not let a fast device fill memory */
const MAX_HELD = 20_000;
/** how often the text alternative and the summary follow the live lines */
const TEXT_MS = 1000;

/** The picked devices' lines while the view is live. */
interface LiveRun {
  /** channel and device ids: a new run only when they change */
  key: string;
  channel: string;
  tracks: LiveTrack[];
  byId: Map<string, LiveTrack>;
  charts: FleetLiveChart[];
  /** bumped by every seeding, so an answer to an earlier one is ignored */
  seeds: number;
  timer: ReturnType<typeof setInterval>;
}

/** Runs `task` over `items` with at most `limit` at a time; results keep the items' order. */
export async function mapLimited<T, R>(items: T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await task(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

export function fleetView(api: Api, store: DeviceStore, live: LiveClient, initialChannel?: string): View {
  let zone: Zone = savedZone();
  let generation = 0;
  let plots: uPlot[] = [];
  /** devices unticked by hand: a filter change does not tick them again */
  const unpicked = new Set<string>();
  const picked = new Set<string>();
  let pickedByHand = false;

  const channel = h('select', { 'data-testid': 'fleet-channel', 'aria-label': 'channel', onchange: () => { pickedByHand = false; renderPicker(); void load(); } });
  const filter = h('input', { type: 'search', placeholder: 'id or name contains…', 'data-testid': 'fleet-filter', 'aria-label': 'filter devices', oninput: () => { renderPicker(); scheduleLoad(); } });
  const preset = h('select', { 'data-testid': 'fleet-preset', 'aria-label': 'range', onchange: () => { range = null; void load(); } },
    h('option', { value: LIVE }, `Live, last ${LIVE_WINDOW_S} s`),
    ...PRESETS.map(([label, ms]) => h('option', { value: String(ms), selected: ms === DEFAULT_PRESET }, label)),
    h('option', { value: 'custom' }, 'Zoomed'));
  /** the history range to go back to from live */
  let historyPreset = String(DEFAULT_PRESET);
  // live one click away, and one click back to the range that was shown
  const liveButton = h('button', {
    type: 'button', class: 'button', 'data-testid': 'fleet-live', 'aria-pressed': 'false',
    onclick: () => {
      preset.value = isLive() ? historyPreset : LIVE;
      range = null;
      void load();
    },
  }, 'Live');
  const zoneSelect = h('select', { 'data-testid': 'fleet-zone', 'aria-label': 'time zone', onchange: () => { zone = zoneSelect.value === 'utc' ? 'utc' : 'local'; saveZone(zone); showZone(); redraw(); } },
    h('option', { value: 'local' }, 'Local time'), h('option', { value: 'utc' }, 'UTC'));
  zoneSelect.value = zone;
  const zoneNote = h('span', { class: 'muted zone-label', 'data-testid': 'fleet-zone-label' });
  const picker = h('div', { class: 'fleet-picker', 'data-testid': 'fleet-devices', role: 'group', 'aria-label': 'devices' });
  const pickCount = h('span', { class: 'muted', 'data-testid': 'fleet-pick-count' });
  const status = h('span', { class: 'muted', 'data-testid': 'fleet-summary' }, 'Loading devices…');
  const chartHost = h('div', { class: 'chart-host fleet-chart', 'data-testid': 'fleet-chart', 'data-series': '0' });
  const summary = h('p', { class: 'visually-hidden', 'data-testid': 'fleet-text', 'aria-live': 'polite' });
  const hint = h('p', { class: 'muted chart-hint', 'data-testid': 'fleet-hint' });
  const problems = h('ul', { class: 'fleet-problems error-text', 'data-testid': 'fleet-errors', hidden: true });

  const element = h('div', { class: 'page fleet', 'data-testid': 'fleet-page' },
    h('p', { class: 'crumbs' }, h('a', { href: '#/', class: 'back', 'data-testid': 'back' }, '← Devices')),
    h('header', { class: 'page-head' }, h('h1', null, 'Compare devices'), status, h('span', { class: 'spacer' }), zoneNote),
    h('section', { class: 'card' },
      h('div', { class: 'toolbar' },
        field('Channel', channel), field('Devices', filter), field('Range', preset), field('Times in', zoneSelect),
        h('div', { class: 'toolbar-actions' },
          liveButton,
          h('button', { type: 'button', class: 'button', 'data-testid': 'fleet-all', onclick: () => pickAll(true) }, 'All shown'),
          h('button', { type: 'button', class: 'button', 'data-testid': 'fleet-none', onclick: () => pickAll(false) }, 'None'))),
      h('div', { class: 'fleet-pick-head' }, pickCount),
      picker),
    h('section', { class: 'card' },
      chartHost, summary, problems, hint));

  /** a zoomed range, or null for the preset until now */
  let range: { from: number; to: number } | null = null;
  let last: { series: TimeSeries[]; unitOf: Map<string, string>; from: number; to: number; every: number | null } | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let run: LiveRun | null = null;
  const isLive = () => preset.value === LIVE;

  const showZone = () => setText(zoneNote, `Times in ${zoneLabel(zone)}`);
  showZone();
  showMode();

  const devicesWith = (name: string): DeviceEntry[] =>
    [...store.entries.values()]
      .filter((e) => e.device.channels.some((c) => c.name === name))
      .sort((a, b) => a.device.name.localeCompare(b.device.name) || a.device.id.localeCompare(b.device.id));

  const matches = (entry: DeviceEntry): boolean => {
    const text = filter.value.trim().toLowerCase();
    return !text || entry.device.id.toLowerCase().includes(text) || entry.device.name.toLowerCase().includes(text);
  };

  function renderChannels(): void {
    const names = new Map<string, Set<string>>();
    for (const entry of store.entries.values()) {
      for (const c of entry.device.channels) (names.get(c.name) ?? names.set(c.name, new Set()).get(c.name)!).add(c.unit);
    }
    const wanted = [...names.keys()].sort();
    const current = channel.value || initialChannel || wanted[0] || '';
    const have = [...channel.options].map((o) => o.value);
    if (have.join('\n') !== wanted.join('\n')) {
      channel.replaceChildren(...wanted.map((name) => {
        const units = [...names.get(name)!].filter(Boolean);
        return h('option', { value: name }, units.length ? `${name} (${units.join(', ')})` : name);
      }));
    }
    if (wanted.includes(current)) channel.value = current;
  }

  let pickerKey = '';
  function renderPicker(): void {
    const entries = devicesWith(channel.value).filter(matches);
    if (!pickedByHand) {
      picked.clear();
      for (const e of entries) if (!unpicked.has(e.device.id) && picked.size < DEFAULT_PICKS) picked.add(e.device.id);
    }
    // the store changes every few seconds: keep the boxes (and focus) unless the list changed
    const key = [store.loaded, channel.value, ...entries.map((e) => `${e.device.id}\u0000${e.device.name}\u0000${picked.has(e.device.id)}`)].join('\u0001');
    if (key === pickerKey) return updateCount();
    pickerKey = key;
    picker.replaceChildren(...entries.map((e) => {
      const id = e.device.id;
      const box = h('input', {
        type: 'checkbox', 'data-testid': `fleet-pick-${id}`, checked: picked.has(id),
        onchange: () => {
          pickedByHand = true;
          if (box.checked) { picked.add(id); unpicked.delete(id); } else { picked.delete(id); unpicked.add(id); }
          pickerKey = '';
          updateCount();
          scheduleLoad();
        },
      });
      return h('label', { class: 'fleet-pick' }, box, h('span', null, e.device.name), e.device.name !== id ? h('span', { class: 'muted mono' }, id) : null);
    }));
    if (entries.length === 0) picker.appendChild(h('p', { class: 'muted' }, store.loaded ? 'No device with this channel matches.' : 'Loading devices…'));
    updateCount();
  }

  function chosen(): DeviceEntry[] {
    return devicesWith(channel.value).filter((e) => matches(e) && picked.has(e.device.id));
  }

  function updateCount(): void {
    const shown = devicesWith(channel.value).filter(matches).length;
    setText(pickCount, `${chosen().length} of ${shown} shown device${shown === 1 ? '' : 's'} picked`);
  }

  function pickAll(on: boolean): void {
    pickedByHand = true;
    for (const e of devicesWith(channel.value).filter(matches)) {
      if (on) { picked.add(e.device.id); unpicked.delete(e.device.id); } else { picked.delete(e.device.id); unpicked.add(e.device.id); }
    }
    renderPicker();
    void load();
  }

  function scheduleLoad(): void {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => { timer = null; void load(); }, 300);
  }

  /** The label a device's line and legend entry carry. */
  const labelOf = (entry: DeviceEntry) => (entry.device.name === entry.device.id ? entry.device.id : `${entry.device.name} (${entry.device.id})`);

  /** What a live run for the current picks would be keyed by; '' for none. */
  function liveKey(): string {
    const entries = chosen();
    return channel.value && entries.length ? [channel.value, ...entries.map((e) => e.device.id)].join('\u0000') : '';
  }

  function showMode(): void {
    liveButton.setAttribute('aria-pressed', String(isLive()));
    liveButton.classList.toggle('primary', isLive());
    if (!isLive() && preset.value !== 'custom') historyPreset = preset.value;
    setText(hint, isLive()
      ? `The last ${LIVE_WINDOW_S} s up to now, as readings arrive. A line breaks where its device fell silent; a device whose latest value is stale is drawn faint and says how old the value is.`
      : 'Drag across the chart to zoom into that stretch.');
    // read out every second, a live summary would drown everything else a screen reader says
    summary.setAttribute('aria-live', isLive() ? 'off' : 'polite');
    element.toggleAttribute('data-live', isLive());
  }

  function nothingPicked(): boolean {
    const name = channel.value;
    if (name && chosen().length) return false;
    last = null;
    redraw();
    setText(status, name ? 'Pick at least one device.' : store.loaded ? 'No device has announced a channel yet.' : 'Loading devices…');
    return true;
  }

  function startLive(): void {
    // an answer to a history load still on its way is not drawn
    generation++;
    element.removeAttribute('data-loading');
    problems.hidden = true;
    const key = liveKey();
    if (run && run.key === key) return;
    stopLive(false);
    if (nothingPicked()) {
      live.subscribe([]);
      return;
    }
    const name = channel.value;
    const tracks = chosen().map((entry, i) => {
      const declared = entry.device.channels.find((c) => c.name === name);
      return liveTrack(entry.device.id, labelOf(entry), i, seriesColor(i), declared?.unit ?? '', declared?.type === 'bool');
    });
    const started: LiveRun = { key, channel: name, tracks, byId: new Map(tracks.map((t) => [t.id, t])), charts: [], seeds: 0, timer: setInterval(() => describeLive(), TEXT_MS) };
    run = started;
    live.subscribe(tracks.map((t) => t.id), [name]);
    redraw();
    seed(started);
  }

  function stopLive(unsubscribe = true): void {
    if (!run) return;
    clearInterval(run.timer);
    for (const chart of run.charts) chart.destroy();
    run = null;
    last = null;
    redraw();
    if (unsubscribe) live.subscribe([]);
  }

  /** Each line opens with its last minute from the store, so a quiet device does not look dead; after a lost connection the same fills the gap. */
  function seed(target: LiveRun): void {
    const seeding = ++target.seeds;
    for (const track of target.tracks) track.held ??= [];
    const to = Date.now();
    void mapLimited(target.tracks, CONCURRENCY, async (track) => {
      if (run !== target || seeding !== target.seeds) return;
      let points: HistoryPoint[] = [];
      try {
        points = (await api.history(track.id, { from: to - LIVE_WINDOW_S * 1000, to, channel: target.channel, every: SEED_WINDOW, agg: 'last' })).points;
      } catch {
        // the live readings still come: the line just opens later
      }
      if (run === target && seeding === target.seeds) release(target, track, points);
    });
  }

  function release(target: LiveRun, track: LiveTrack, seedPoints: HistoryPoint[]): void {
    const held = track.held;
    if (!held) return;
    track.held = null;
    for (const p of seedThenLive(seedPoints, held)) pushPoint(track, p.time, p.value);
    for (const chart of target.charts) chart.changed();
    describeLive();
  }

  const offLive = live.on((message) => {
    if (!run || message.type !== 'readings') return;
    const track = run.byId.get(message.deviceId);
    if (!track) return;
    let added = false;
    for (const r of message.readings) {
      if (r.channel !== run.channel) continue;
      if (!track.held) added = pushPoint(track, r.time, r.value) || added;
      else if (track.held.push(r) > MAX_HELD) release(run, track, []);
    }
    if (added) for (const chart of run.charts) chart.changed();
  });

  /** The text alternative and the summary line: every device's latest value, its age, and whether it is stale. */
  function describeLive(): void {
    if (!run) return;
    const now = Date.now();
    const end = now / 1000;
    const lines = run.tracks.map((t) => {
      const facts = trackFacts({ times: t.ring.times(), values: t.ring.values() }, now, end - LIVE_WINDOW_S, end);
      return { stale: facts.stale, text: describeTrack(t.label, facts, t.unit, t.bool, now, LIVE_WINDOW_S) };
    });
    const stale = lines.filter((l) => l.stale).length;
    const n = run.tracks.length;
    setText(status, `${n} device${n === 1 ? '' : 's'} · live, last ${LIVE_WINDOW_S} s${stale ? ` · ${stale} stale` : ''}`);
    setText(summary, `${run.channel}, live: ${lines.map((l) => l.text).join('; ')}.`);
  }

  async function load(): Promise<void> {
    showMode();
    if (isLive()) return startLive();
    stopLive();
    const name = channel.value;
    const entries = chosen();
    const gen = ++generation;
    if (nothingPicked()) return;
    const to = range?.to ?? Date.now() + 1;
    const from = range?.from ?? to - Number(preset.value);
    const every = autoWindow(to - from);
    setText(status, `Loading ${entries.length} device${entries.length === 1 ? '' : 's'}…`);
    element.setAttribute('data-loading', 'true');
    const failures: string[] = [];
    const answers = await mapLimited(entries, CONCURRENCY, async (entry): Promise<HistoryResponse | null> => {
      if (gen !== generation) return null;
      try {
        return await api.history(entry.device.id, { from, to, channel: name, every, agg: 'mean' });
      } catch (err) {
        failures.push(`${entry.device.name}: ${describeError(err)}`);
        return null;
      }
    });
    if (gen !== generation) return;
    element.removeAttribute('data-loading');
    const series: TimeSeries[] = [];
    const unitOf = new Map<string, string>();
    let points = 0;
    let truncated = false;
    entries.forEach((entry, i) => {
      const answer = answers[i];
      if (!answer) return;
      const label = labelOf(entry);
      series.push({ label, color: seriesColor(i), times: answer.points.map((p) => p.time), values: answer.points.map((p) => p.value) });
      unitOf.set(label, entry.device.channels.find((c) => c.name === name)?.unit ?? '');
      points += answer.points.length;
      truncated ||= answer.truncated;
    });
    last = { series, unitOf, from, to, every: windowMs(every) };
    problems.replaceChildren(...failures.map((f) => h('li', null, f)));
    problems.hidden = failures.length === 0;
    setText(status, `${series.length} device${series.length === 1 ? '' : 's'} · ${points.toLocaleString()} points · mean per ${every} (auto)${truncated ? ' · truncated' : ''}`);
    redraw();
  }

  function redraw(): void {
    for (const plot of plots) plot.destroy();
    plots = [];
    chartHost.replaceChildren();
    if (run) return drawLive(run);
    chartHost.setAttribute('data-series', String(last?.series.length ?? 0));
    if (!last || last.series.length === 0) {
      setText(summary, '');
      return;
    }
    const { series, unitOf, from, to, every } = last;
    // the same channel name may carry different units on different devices: one chart per unit
    const units = [...new Set(series.map((s) => unitOf.get(s.label) ?? ''))];
    const width = Math.max(300, chartHost.clientWidth);
    for (const unit of units) {
      const group = series.filter((s) => (unitOf.get(s.label) ?? '') === unit);
      const host = h('div', { class: 'history-group', 'data-testid': 'fleet-group', 'data-unit': unit, 'data-series': String(group.length) });
      if (units.length > 1) host.appendChild(h('div', { class: 'group-label' }, unit || 'no unit'));
      chartHost.appendChild(host);
      const { plot } = timeChart(host, {
        series: group, unit, zone, from, to, every, width, height: units.length > 1 ? HEIGHT / 2 + 40 : HEIGHT,
        syncKey: 'fleet', onZoom: (a, b) => {
          if (b - a < 1000) return;
          range = { from: a, to: b };
          preset.value = 'custom';
          element.setAttribute('data-from', String(a));
          element.setAttribute('data-to', String(b));
          void load();
        },
      });
      plots.push(plot);
    }
    const text = series.map((s) => describeSeries(s.label, s.times, s.values, unitOf.get(s.label) ?? '', zone));
    setText(summary, `${channel.value} from ${formatTime(from, zone)} to ${formatTime(to, zone)}: ${text.join('; ')}.`);
  }

  /** One live chart per unit, as in history: the same channel name may carry different units. */
  function drawLive(target: LiveRun): void {
    for (const chart of target.charts) chart.destroy();
    target.charts = [];
    chartHost.setAttribute('data-series', String(target.tracks.length));
    const groups = new Map<string, LiveTrack[]>();
    for (const t of target.tracks) {
      const key = t.bool ? 'bool' : t.unit;
      (groups.get(key) ?? groups.set(key, []).get(key)!).push(t);
    }
    const width = Math.max(300, chartHost.clientWidth);
    for (const [key, tracks] of groups) {
      const unit = key === 'bool' ? '' : key;
      const host = h('div', { class: 'history-group', 'data-testid': 'fleet-group', 'data-unit': unit, 'data-series': String(tracks.length) });
      if (groups.size > 1) host.appendChild(h('div', { class: 'group-label' }, key === 'bool' ? 'on/off' : unit || 'no unit'));
      const chart = new FleetLiveChart({ tracks, unit, bool: key === 'bool', zone, width, height: groups.size > 1 ? HEIGHT / 2 + 40 : HEIGHT });
      host.appendChild(chart.element);
      chartHost.appendChild(host);
      target.charts.push(chart);
    }
    describeLive();
  }

  const resizer = new ResizeObserver(() => {
    const width = Math.floor(chartHost.clientWidth);
    for (const plot of plots) if (width > 0 && width !== plot.width) plot.setSize({ width, height: plot.height });
    for (const chart of run?.charts ?? []) chart.resize(width);
  });
  resizer.observe(chartHost);

  let loadedOnce = false;
  const onStore = () => {
    renderChannels();
    renderPicker();
    if (!loadedOnce && store.loaded) {
      loadedOnce = true;
      void load();
    } else if (loadedOnce && isLive() && liveKey() !== (run?.key ?? '')) {
      // a device that appeared, or lost the channel, changes what live shows
      scheduleLoad();
    }
  };
  const offStore = store.on(onStore);
  onStore();
  store.refresh().catch(() => undefined);

  return {
    element,
    title: 'Compare devices',
    dispose() {
      generation++;
      if (timer) clearTimeout(timer);
      offLive();
      stopLive();
      offStore();
      resizer.disconnect();
      for (const plot of plots) plot.destroy();
    },
    reconnected() {
      if (run) seed(run);
    },
  };
}

function field(label: string, control: HTMLElement): HTMLElement {
  return h('label', { class: 'field' }, h('span', null, label), control);
}
