// One device: its open alerts, a live chart per channel (with the levels of the alert rules that
// watch it), history with CSV export, and the command console.
import type { AlertView, ChannelView, DeviceView, HistoryPoint, LiveReading } from '../../hub/src/http/wire.ts';
import { SEVERITY_RANK, type AlertFeed } from './alert-feed.ts';
import { describeCondition } from './alert-format.ts';
import { AlertTable } from './alert-table.ts';
import { ApiError, type Api, type RuleView } from './api.ts';
import { CommandConsole } from './command-console.ts';
import type { DeviceStore } from './device-store.ts';
import { h, setText } from './dom.ts';
import { formatRate, relativeTime } from './format.ts';
import { describeError, HistoryView, savedZone } from './history-view.ts';
import { LIVE_WINDOW_S, LiveChart } from './live-chart.ts';
import type { LiveClient } from './live-client.ts';
import { lossMeter, updateLossMeter } from './loss-meter.ts';
import { linesByChannel, rulesFor, type ThresholdLine } from './rule-lines.ts';
import { newRuleHref } from './rule-page.ts';
import type { View } from './view.ts';

/** one point per channel per window: at most 600 per chart, however fast the device */
const SEED_WINDOW = '100ms';
const MAX_HELD = 50_000;
/** rejects counted this recently explain an empty chart */
const REJECTS_RECENT_MS = 120_000;

export function devicePageView(id: string, api: Api, store: DeviceStore, live: LiveClient, alerts: AlertFeed): View {
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
      ({ teardown, onReconnect } = build(element, device, api, store, live, alerts));
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

/** The alert that matters most on one channel: firing before pending, then the most severe. */
export function worstAlert(alerts: readonly AlertView[]): AlertView | null {
  let worst: AlertView | null = null;
  for (const a of alerts) {
    if (a.state !== 'firing' && a.state !== 'pending') continue;
    if (!worst || (a.state === 'firing' && worst.state !== 'firing')
      || (a.state === worst.state && SEVERITY_RANK[a.severity] > SEVERITY_RANK[worst.severity])) worst = a;
  }
  return worst;
}

function build(element: HTMLElement, device: DeviceView, api: Api, store: DeviceStore, live: LiveClient, feed: AlertFeed) {
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
  const alertSummary = h('span', { class: 'muted', 'data-testid': 'device-alerts-summary' });
  const alertTable = new AlertTable({
    api, prefix: 'device-alert', device: false, times: 'since', zone: savedZone,
    onUpdate: (a) => feed.put(a),
    say: (text, error) => { setText(alertSummary, text); alertSummary.classList.toggle('error-text', !!error); },
    empty: 'No open alerts.',
  });
  const watching = h('p', { class: 'muted watched-by', 'data-testid': 'device-rules' });

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
    h('section', { class: 'section device-alerts', 'data-testid': 'device-alerts' },
      h('header', { class: 'section-head' }, h('h2', null, 'Alerts'), alertSummary, h('span', { class: 'spacer' }),
        h('a', { href: newRuleHref(id), 'data-testid': 'device-new-rule' }, 'New rule for this device')),
      alertTable.element, watching),
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
  let lines = new Map<string, ThresholdLine[]>();
  const addChart = (channel: ChannelView) => {
    const chart = new LiveChart(channel, charts.size, { emptyReason, newRuleHref: (name) => newRuleHref(id, name) });
    chart.setLines(lines.get(channel.name) ?? []);
    if (grid.hasAttribute('data-seeded')) chart.loaded();
    charts.set(channel.name, chart);
    grid.appendChild(chart.element);
    noChannels.remove();
    return chart;
  };
  for (const channel of device.channels) addChart(channel);
  void commands.load();

  // Open alerts on top, and the chart of the channel they are about tinted by the worst of them.
  const showAlerts = () => {
    const open = feed.forDevice(id);
    alertTable.render(open);
    alertTable.element.hidden = open.length === 0;
    const firing = open.filter((a) => a.state === 'firing').length;
    setText(alertSummary, open.length ? `${firing} firing · ${open.length - firing} pending` : 'none open');
    alertSummary.classList.remove('error-text');
    for (const [name, chart] of charts) {
      const worst = worstAlert(open.filter((a) => a.channel === name));
      chart.setAlert(worst && { state: worst.state as 'pending' | 'firing', severity: worst.severity, text: `${worst.state} · ${worst.ruleName}` });
    }
  };
  const offFeed = feed.on(showAlerts);
  showAlerts();

  // The rules are read once per visit: a rule edited meanwhile shows at the next.
  let rules: RuleView[] = [];
  const showRules = () => {
    const name = store.entries.get(id)?.device.name ?? device.name;
    const applying = rulesFor(rules, id, name);
    lines = linesByChannel(rules, id, name);
    for (const [channel, chart] of charts) chart.setLines(lines.get(channel) ?? []);
    history.setLines(lines);
    watching.replaceChildren(...(applying.length
      ? ['Watched by ', ...applying.flatMap((r, i) => [i ? ', ' : '', h('a', { href: `#/rules/${r.id}` }, r.name), ` (${describeCondition(r)})`]), '.']
      : ['No rule watches this device yet.']));
  };
  let gone = false;
  api.rules().then((all) => {
    if (gone) return;
    rules = all;
    showRules();
  }, () => undefined);

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
  const ticker = setInterval(() => {
    refreshFacts();
    alertTable.refresh();
  }, 1000);
  refreshFacts();
  if (!store.entries.has(id)) store.refresh().catch(() => undefined);

  return {
    teardown() {
      gone = true;
      offFeed();
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
