// One device: a live chart per channel, history with CSV export, and the command console.
import type { ChannelView, DeviceView, HistoryPoint, LiveReading } from '../../hub/src/http/wire.ts';
import { ApiError, type Api } from './api.ts';
import { CommandConsole } from './command-console.ts';
import type { DeviceStore } from './device-store.ts';
import { h, setText } from './dom.ts';
import { formatRate, relativeTime } from './format.ts';
import { describeError, HistoryView } from './history-view.ts';
import { LIVE_WINDOW_S, LiveChart } from './live-chart.ts';
import type { LiveClient } from './live-client.ts';
import { lossMeter, updateLossMeter } from './loss-meter.ts';
import type { View } from './view.ts';

/** one point per channel per window: at most 600 per chart, however fast the device */
const SEED_WINDOW = '100ms';
const MAX_HELD = 50_000;
/** rejects counted this recently explain an empty chart */
const REJECTS_RECENT_MS = 120_000;

export function devicePageView(id: string, api: Api, store: DeviceStore, live: LiveClient): View {
  const element = h('div', { class: 'page', 'data-testid': 'device-page', 'data-device-id': id },
    h('p', { class: 'muted' }, 'Loading…'));
  let disposed = false;
  let teardown: (() => void) | null = null;
  let onReconnect: (() => void) | null = null;

  const known = store.entries.get(id)?.device;
  const ready = known ? Promise.resolve(known) : api.device(id);
  ready.then(
    (device) => {
      if (disposed) return;
      ({ teardown, onReconnect } = build(element, device, api, store, live));
    },
    (err: unknown) => {
      if (disposed) return;
      const text = err instanceof ApiError && err.status === 404 ? `There is no device “${id}”.` : describeError(err);
      element.replaceChildren(
        h('p', null, h('a', { href: '#/', class: 'back' }, '← Devices')),
        h('p', { class: 'error-text', 'data-testid': 'device-error' }, text));
    },
  );

  return {
    element,
    title: id,
    dispose() {
      disposed = true;
      teardown?.();
    },
    reconnected() {
      onReconnect?.();
    },
  };
}

function build(element: HTMLElement, device: DeviceView, api: Api, store: DeviceStore, live: LiveClient) {
  const id = device.id;
  const status = h('span', { class: 'pill', 'data-testid': 'device-status' });
  const lastSeen = h('span', { 'data-testid': 'device-last-seen' });
  const firmware = h('span', { class: 'mono', 'data-testid': 'device-firmware' });
  const rate = h('span', { class: 'mono', 'data-testid': 'device-rate' });
  const loss = lossMeter('device-loss');
  const grid = h('div', { class: 'chart-grid', 'data-testid': 'live-charts' });
  const noChannels = h('p', { class: 'empty' }, 'This device has not announced any channels yet; charts appear with its first HELLO.');
  const history = new HistoryView(api, device);
  const commands = new CommandConsole(api, id);

  element.replaceChildren(
    h('p', { class: 'crumbs' }, h('a', { href: '#/', class: 'back', 'data-testid': 'back' }, '← Devices')),
    h('header', { class: 'page-head device-head' },
      h('div', null,
        h('h1', { 'data-testid': 'device-name' }, device.name),
        h('div', { class: 'device-id mono' }, id)),
      h('span', { class: 'spacer' }),
      h('dl', { class: 'facts' },
        fact('Status', status), fact('Last seen', lastSeen), fact('Firmware', firmware),
        fact('Readings/s', rate), fact('Data loss', loss))),
    h('section', { class: 'section' },
      h('header', { class: 'section-head' }, h('h2', null, 'Live'), h('span', { class: 'muted' }, `last ${LIVE_WINDOW_S} s, local time`),
        h('span', { class: 'spacer' }), h('a', { href: '#/fleet', 'data-testid': 'fleet-link' }, 'Compare devices →')),
      grid, device.channels.length ? null : noChannels),
    history.element,
    commands.element);

  // An empty chart says why when the device's counters or status know: readings the hub rejected
  // (a device clock off by more than 5 minutes is the usual cause), or the device being offline.
  let rejectedSeen = store.entries.get(id)?.device.counters.rejected ?? device.counters.rejected;
  let rejectedGrewAt = 0;
  const emptyReason = (): string | null => {
    const entry = store.entries.get(id);
    const now = Date.now();
    const counters = entry?.device.counters ?? device.counters;
    if (counters.rejected > rejectedSeen) {
      rejectedSeen = counters.rejected;
      rejectedGrewAt = now;
    }
    if (counters.rejected > 0 && (now - rejectedGrewAt < REJECTS_RECENT_MS || counters.readings === 0)) {
      return `${counters.rejected.toLocaleString()} rejected by the hub: device clock off?`;
    }
    if (entry && !entry.online) return `device offline, last seen ${relativeTime(entry.lastSeen, now)}`;
    return null;
  };

  const charts = new Map<string, LiveChart>();
  const addChart = (channel: ChannelView) => {
    const chart = new LiveChart(channel, charts.size, { emptyReason });
    if (grid.hasAttribute('data-seeded')) chart.loaded();
    charts.set(channel.name, chart);
    grid.appendChild(chart.element);
    noChannels.remove();
    return chart;
  };
  for (const channel of device.channels) addChart(channel);
  void commands.load();

  const refreshFacts = () => {
    const entry = store.entries.get(id);
    if (!entry) return;
    const now = Date.now();
    setText(status, entry.online ? 'online' : 'offline');
    status.className = `pill ${entry.online ? 'online' : 'offline'}`;
    setText(lastSeen, relativeTime(entry.lastSeen, now));
    setText(firmware, entry.device.firmware ?? '—');
    const r = entry.rate.rate(now);
    setText(rate, formatRate(!entry.online && !r ? null : r));
    updateLossMeter(loss, store.loss(entry), live.dropped);
  };

  const chartFor = (name: string) => charts.get(name) ?? addChart({ id: -1, type: 'f64', name, unit: '' });

  // The charts open with the last minute from the store, so a quiet device does not look dead,
  // and fill the gap the same way after the live connection was lost. Live points that arrive
  // meanwhile are held and the seed is cut where they begin: a chart only takes points in order.
  let held: Map<string, LiveReading[]> | null = null;
  let heldCount = 0;
  let seedGeneration = 0;
  const release = (seed: HistoryPoint[]) => {
    const waiting = held;
    if (!waiting) return;
    held = null;
    for (const p of seed) {
      const firstLive = waiting.get(p.channel)?.[0]?.time;
      if (firstLive === undefined || p.time < firstLive) chartFor(p.channel).push(p.time, p.value);
    }
    for (const [channel, points] of waiting) for (const p of points) chartFor(channel).push(p.time, p.value);
    for (const chart of charts.values()) chart.loaded();
    grid.setAttribute('data-seeded', 'true');
  };
  const seed = () => {
    const generation = ++seedGeneration;
    held ??= new Map();
    heldCount = 0;
    const to = Date.now();
    api.history(id, { from: to - LIVE_WINDOW_S * 1000, to, every: SEED_WINDOW, agg: 'last' }).then(
      (history) => generation === seedGeneration && release(history.points),
      () => generation === seedGeneration && release([]),
    );
  };
  seed();

  const offLive = live.on((message) => {
    if (message.type === 'readings' && message.deviceId === id) {
      if (held) {
        for (const r of message.readings) (held.get(r.channel) ?? held.set(r.channel, []).get(r.channel)!).push(r);
        heldCount += message.readings.length;
        // a slow store must not make a fast device fill memory: give up on the seed
        if (heldCount > MAX_HELD) release([]);
        return;
      }
      // A device that changed its channels since the page loaded still gets charts.
      for (const r of message.readings) chartFor(r.channel).push(r.time, r.value);
    } else if (message.type === 'command' && message.deviceId === id) {
      commands.update(message.command);
    }
  });
  live.subscribe([id]);
  const offStore = store.on(refreshFacts);
  const ticker = setInterval(refreshFacts, 1000);
  refreshFacts();
  if (!store.entries.has(id)) store.refresh().catch(() => undefined);

  return {
    teardown() {
      held = null;
      seedGeneration++;
      offLive();
      offStore();
      clearInterval(ticker);
      for (const chart of charts.values()) chart.destroy();
      history.destroy();
    },
    onReconnect() {
      seed();
      void commands.refresh();
    },
  };
}

function fact(label: string, value: HTMLElement): HTMLElement {
  return h('div', { class: 'fact' }, h('dt', null, label), h('dd', null, value));
}
