// #/alerts: what is open now (kept current by live events), and the history of alerts by state and
// device, newest first, a page at a time ("Older"). Times follow the zone chosen for history.
import type { AlertView } from '../../hub/src/http/wire.ts';
import type { AlertQueryParams, Api } from './api.ts';
import { isOpen, SEVERITY_RANK, type AlertFeed } from './alert-feed.ts';
import { AlertTable } from './alert-table.ts';
import { zoneLabel, type Zone } from './chart-math.ts';
import type { DeviceStore } from './device-store.ts';
import { h, setText } from './dom.ts';
import { describeError, savedZone, saveZone } from './history-view.ts';
import type { LiveClient } from './live-client.ts';
import { newRuleHref } from './rule-page.ts';
import type { View } from './view.ts';

const PAGE = 50;
/** silences run out and "since" moves on; nothing else here changes without an event */
const TICK_MS = 30_000;
/** device suggestions offered in the filter; a larger fleet is typed */
const MAX_SUGGESTIONS = 500;
const STATES: [value: NonNullable<AlertQueryParams['state']>, label: string][] = [
  ['all', 'All states'], ['open', 'Open'], ['firing', 'Firing'], ['pending', 'Pending'], ['resolved', 'Resolved'], ['cancelled', 'Cancelled'],
];

/** Open alerts in the order that needs attention: firing first, then by severity, newest first. */
export function byUrgency(a: AlertView, b: AlertView): number {
  return (a.state === 'firing' ? 0 : 1) - (b.state === 'firing' ? 0 : 1)
    || SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity]
    || b.id - a.id;
}

export function matchesQuery(alert: AlertView, query: AlertQueryParams): boolean {
  if (query.device && alert.deviceId !== query.device) return false;
  const state = query.state ?? 'all';
  if (state === 'all') return true;
  if (state === 'open') return isOpen(alert);
  return alert.state === state;
}

export function alertPageView(api: Api, store: DeviceStore, feed: AlertFeed, live: LiveClient): View {
  let zone: Zone = savedZone();
  let disposed = false;
  const openStatus = h('span', { class: 'muted', 'data-testid': 'open-alerts-summary' });
  const historyStatus = h('span', { class: 'muted', 'data-testid': 'alerts-summary' }, 'Loading…');
  const deviceName = (id: string) => store.entries.get(id)?.device.name;
  const sayOpen = (text: string, error = false) => { setText(openStatus, text); openStatus.classList.toggle('error-text', error); };
  const sayHistory = (text: string, error = false) => { setText(historyStatus, text); historyStatus.classList.toggle('error-text', error); };

  const openTable = new AlertTable({
    api, prefix: 'open-alert', device: true, times: 'absolute', zone: () => zone, deviceName,
    onUpdate: (a) => { feed.put(a); history.update(a); }, say: sayOpen, empty: 'Nothing is open.',
  });
  const history = new AlertTable({
    api, prefix: 'alert', device: true, times: 'absolute', zone: () => zone, deviceName,
    onUpdate: (a) => { feed.put(a); replace(a); }, say: sayHistory, empty: 'No alerts match.',
  });

  const stateSelect = h('select', { id: 'alerts-state', 'data-testid': 'alerts-state' }, ...STATES.map(([value, label]) => h('option', { value }, label)));
  const suggestions = h('datalist', { id: 'alerts-device-list' });
  const deviceInput = h('input', { type: 'search', id: 'alerts-device', list: 'alerts-device-list', placeholder: 'all devices', autocomplete: 'off', spellcheck: 'false', 'data-testid': 'alerts-device' });
  const zoneSelect = h('select', { id: 'alerts-zone', 'data-testid': 'alerts-zone' }, h('option', { value: 'local' }, 'Local time'), h('option', { value: 'utc' }, 'UTC'));
  zoneSelect.value = zone;
  const zoneNote = h('span', { class: 'muted zone-label', 'data-testid': 'alerts-zone-label' });
  const older = h('button', { type: 'button', class: 'button', 'data-testid': 'alerts-older', hidden: true }, 'Older');
  const filters = h('form', { class: 'toolbar', 'data-testid': 'alerts-filters', role: 'search' },
    h('div', { class: 'field' }, h('label', { for: 'alerts-state' }, 'State'), stateSelect),
    h('div', { class: 'field' }, h('label', { for: 'alerts-device' }, 'Device'), deviceInput, suggestions),
    h('div', { class: 'field' }, h('label', { for: 'alerts-zone' }, 'Times in'), zoneSelect),
    h('div', { class: 'toolbar-actions' }, h('button', { type: 'submit', class: 'button primary', 'data-testid': 'alerts-load' }, 'Show')));

  const element = h('div', { class: 'page alerts', 'data-testid': 'alerts-page' },
    h('header', { class: 'page-head' }, h('h1', null, 'Alerts'), h('span', { class: 'spacer' }), zoneNote,
      h('a', { class: 'button', href: '#/rules', 'data-testid': 'alerts-rules' }, 'Rules and webhooks'),
      h('a', { class: 'button primary', href: newRuleHref(), 'data-testid': 'alerts-new-rule' }, 'New rule')),
    h('section', { class: 'card', 'data-testid': 'open-alerts' },
      h('header', { class: 'section-head' }, h('h2', null, 'Open'), openStatus),
      openTable.element),
    h('section', { class: 'card', 'data-testid': 'alert-history' },
      h('header', { class: 'section-head' }, h('h2', null, 'History'), historyStatus),
      filters,
      history.element,
      h('div', { class: 'more-row' }, older)));

  let items: AlertView[] = [];
  let next: number | null = null;
  let query: AlertQueryParams = { state: 'all' };
  let generation = 0;

  function renderOpen(): void {
    const open = [...feed.open.values()].sort(byUrgency);
    openTable.render(open);
    const firing = open.filter((a) => a.state === 'firing').length;
    if (!feed.loaded && feed.failed) sayOpen('The hub did not answer with its open alerts.', true);
    else sayOpen(feed.loaded ? `${firing} firing · ${open.length - firing} pending` : 'Loading…');
  }

  function renderHistory(): void {
    history.render(items);
    older.hidden = next === null;
    sayHistory(`${items.length} shown${next === null ? '' : ', more with “Older”'}`);
  }

  /** An alert changed: in place where it is shown, and at the top when it is new and fits the filter. */
  function replace(alert: AlertView): void {
    const i = items.findIndex((a) => a.id === alert.id);
    if (i >= 0) {
      items[i] = alert;
      if (!matchesQuery(alert, query)) items.splice(i, 1);
    } else if (matchesQuery(alert, query) && (items.length === 0 || alert.id > items[0].id)) {
      items.unshift(alert);
    } else return;
    renderHistory();
  }

  async function load(append: boolean): Promise<void> {
    const g = ++generation;
    if (!append) {
      const device = deviceInput.value.trim();
      query = { state: stateSelect.value as AlertQueryParams['state'], device: device || undefined };
    }
    sayHistory('Loading…');
    older.disabled = true;
    try {
      const page = await api.alerts({ ...query, limit: PAGE, before: append ? next ?? undefined : undefined });
      if (g !== generation || disposed) return;
      items = append ? [...items, ...page.alerts.filter((a) => !items.some((b) => b.id === a.id))] : page.alerts;
      next = page.next;
      renderHistory();
    } catch (err) {
      if (g === generation && !disposed) sayHistory(describeError(err), true);
    } finally {
      older.disabled = false;
    }
  }

  function showZone(): void {
    setText(zoneNote, `Times in ${zoneLabel(zone)}`);
  }

  function fillSuggestions(): void {
    if (suggestions.childElementCount === Math.min(store.entries.size, MAX_SUGGESTIONS)) return;
    const ids = [...store.entries.keys()].sort().slice(0, MAX_SUGGESTIONS);
    suggestions.replaceChildren(...ids.map((id) => h('option', { value: id }, deviceName(id) ?? id)));
  }

  filters.addEventListener('submit', (e) => {
    e.preventDefault();
    void load(false);
  });
  stateSelect.addEventListener('change', () => void load(false));
  deviceInput.addEventListener('change', () => void load(false));
  zoneSelect.addEventListener('change', () => {
    zone = zoneSelect.value === 'utc' ? 'utc' : 'local';
    saveZone(zone);
    showZone();
    openTable.refresh();
    history.refresh();
  });
  older.addEventListener('click', () => void load(true));

  const offFeed = feed.on(renderOpen);
  const offLive = live.on((message) => {
    if (message.type === 'alert') replace(message.alert);
  });
  const offStore = store.on(fillSuggestions);
  const ticker = setInterval(() => {
    openTable.refresh();
    history.refresh();
  }, TICK_MS);

  showZone();
  renderOpen();
  fillSuggestions();
  store.refresh().catch(() => undefined);
  void load(false);

  return {
    element,
    title: 'Alerts',
    dispose() {
      disposed = true;
      offFeed();
      offLive();
      offStore();
      clearInterval(ticker);
    },
    reconnected() {
      void load(false);
    },
  };
}
