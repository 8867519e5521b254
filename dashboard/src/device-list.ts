// The device list, built for fleets of thousands: search (id, name, firmware), filters (status,
// data loss), sortable columns with problem devices first by default, and virtual rows: only the
// rows in view (and a few around them) are in the DOM, positioned in a scroller as tall as the
// whole list, so 10,000 devices scroll as smoothly as 10. Status arrives within a second (live
// status events); last seen, counters and readings/s every 2 s from the hub's `counters` pushes;
// open alerts as they change (live `alert` events).
import { SEVERITY_RANK, summarize, type AlertFeed, type DeviceAlerts } from './alert-feed.ts';
import type { DeviceEntry, DeviceStore } from './device-store.ts';
import { h, setText } from './dom.ts';
import { formatRate, relativeTime } from './format.ts';
import type { LiveClient } from './live-client.ts';
import { lossMeter, updateLossMeter } from './loss-meter.ts';
import { openAddDevice, openDeleteDevice, openRenameDevice } from './provision-view.ts';
import type { View } from './view.ts';

/** Every row is this tall (the stylesheet's --vrow-height, which phones change), which is what makes the list virtual. */
const DEFAULT_ROW_HEIGHT = 52;
/** rows kept in the DOM above and below the visible ones */
const OVERSCAN = 6;
/** data changes re-sort at most this often; scrolling and typing redraw at once */
const RESORT_MS = 300;

type SortKey = 'problems' | 'alerts' | 'name' | 'status' | 'lastSeen' | 'rate' | 'loss';
type StatusFilter = 'all' | 'online' | 'offline' | 'never';

const SORT_LABELS: Record<SortKey, string> = {
  problems: 'Problems first',
  alerts: 'Open alerts',
  name: 'Name',
  status: 'Status',
  lastSeen: 'Last seen',
  rate: 'Readings/s',
  loss: 'Data loss',
};

interface Item {
  entry: DeviceEntry;
  loss: number;
  alerts: DeviceAlerts | null;
  rank: number;
  name: string;
}

interface Row {
  el: HTMLElement;
  name: HTMLAnchorElement;
  id: HTMLElement;
  status: HTMLElement;
  alerts: HTMLAnchorElement;
  lastSeen: HTMLElement;
  firmware: HTMLElement;
  rate: HTMLElement;
  loss: HTMLElement;
  rename: HTMLButtonElement;
  remove: HTMLButtonElement;
  deviceId: string | null;
}

/** How loud a device's open alerts are: firing critical highest, nothing open 0. */
export function alertWeight(alerts: DeviceAlerts | null): number {
  if (!alerts) return 0;
  return (alerts.firing > 0 ? 4 : 1) + SEVERITY_RANK[alerts.severity];
}

/**
 * Problems first: firing alerts (most severe first), then pending ones, then offline with data
 * loss, then data loss, then offline (heard before), then never heard, then healthy devices.
 */
function rankOf(entry: DeviceEntry, loss: number, alerts: DeviceAlerts | null): number {
  if (alerts) return -alertWeight(alerts);
  if (loss > 0) return entry.online ? 1 : 0;
  if (!entry.online) return entry.lastSeen ? 2 : 3;
  return 4;
}

function compareItems(key: SortKey, dir: 1 | -1): (a: Item, b: Item) => number {
  const byName = (a: Item, b: Item) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.entry.device.id < b.entry.device.id ? -1 : a.entry.device.id > b.entry.device.id ? 1 : 0);
  const num = (f: (i: Item) => number) => (a: Item, b: Item) => dir * (f(a) - f(b)) || byName(a, b);
  switch (key) {
    case 'problems':
      // within a rank: most lost first, then most recently heard
      return (a, b) => dir * (a.rank - b.rank) || b.loss - a.loss || (b.entry.lastSeen ?? 0) - (a.entry.lastSeen ?? 0) || byName(a, b);
    case 'name':
      return (a, b) => dir * byName(a, b);
    case 'status':
      return num((i) => (i.entry.online ? 1 : 0));
    case 'lastSeen':
      return num((i) => -(i.entry.lastSeen ?? 0));
    case 'rate':
      return num((i) => -(i.entry.rate.value ?? -1));
    case 'loss':
      return num((i) => -i.loss);
    case 'alerts':
      return num((i) => -(alertWeight(i.alerts) * 100_000 + (i.alerts?.count ?? 0)));
  }
}

/** The badge's text for people: "2 open alerts: 1 firing, 1 pending, highest critical". */
export function describeAlerts(a: DeviceAlerts): string {
  const parts = [a.firing ? `${a.firing} firing` : '', a.pending ? `${a.pending} pending` : ''].filter(Boolean).join(', ');
  return `${a.count} open alert${a.count === 1 ? '' : 's'}: ${parts}, highest ${a.severity}`;
}

export function deviceListView(store: DeviceStore, live: LiveClient, feed: AlertFeed): View {
  const api = store.api;
  let sortKey: SortKey = 'problems';
  let sortDir: 1 | -1 = 1;
  let query = '';
  let statusFilter: StatusFilter = 'all';
  let lossOnly = false;
  let alertsOnly = false;
  let items: Item[] = [];
  let sortedVersion = -1;
  let sortedFor = '';

  const count = h('span', { class: 'muted', 'data-testid': 'device-count' });
  const dropped = h('span', { class: 'muted', 'data-testid': 'live-dropped' });
  const addButton = h('button', { type: 'button', class: 'button primary', 'data-testid': 'add-device', onclick: () => openAddDevice(api, store) }, 'Add a device');

  const search = h('input', {
    type: 'search', class: 'list-search', placeholder: 'Search id, name or firmware', 'aria-label': 'search devices',
    spellcheck: 'false', autocomplete: 'off', 'data-testid': 'device-search',
  });
  const statusSelect = h('select', { 'aria-label': 'status', 'data-testid': 'device-filter' },
    h('option', { value: 'all' }, 'All statuses'), h('option', { value: 'online' }, 'Online'),
    h('option', { value: 'offline' }, 'Offline'), h('option', { value: 'never' }, 'Never connected'));
  const lossBox = h('input', { type: 'checkbox', 'data-testid': 'device-filter-loss' });
  const alertsBox = h('input', { type: 'checkbox', 'data-testid': 'device-filter-alerts' });
  const sortSelect = h('select', { 'aria-label': 'sort', 'data-testid': 'device-sort' },
    ...Object.entries(SORT_LABELS).map(([key, label]) => h('option', { value: key }, label)));
  const toolbar = h('div', { class: 'list-toolbar' },
    search, statusSelect,
    h('label', { class: 'list-check' }, lossBox, h('span', null, 'With data loss')),
    h('label', { class: 'list-check' }, alertsBox, h('span', null, 'With open alerts')),
    h('span', { class: 'spacer' }),
    h('label', { class: 'list-sort muted' }, h('span', null, 'Sort'), sortSelect));

  const headerCells = new Map<SortKey, HTMLElement>();
  const headCell = (key: SortKey | null, label: string, extra = '', title?: string) => {
    if (!key) return h('div', { class: `vcell ${extra}`, role: 'columnheader' }, label);
    const button = h('button', { type: 'button', class: 'sort-button', 'data-testid': `sort-${key}`, title, onclick: () => setSort(key) }, label);
    const cell = h('div', { class: `vcell ${extra}`, role: 'columnheader', 'aria-sort': 'none' }, button);
    headerCells.set(key, cell);
    return cell;
  };
  const head = h('div', { class: 'vrow vhead', role: 'row' },
    headCell('name', 'Device'), headCell('status', 'Status'), headCell('alerts', 'Alerts', '', 'open alerts: firing filled, pending outlined, coloured by severity'),
    headCell('lastSeen', 'Last seen'), headCell(null, 'Firmware'),
    headCell('rate', 'Readings/s', 'num'),
    headCell('loss', 'Data loss', 'num', 'sequence gaps + rejected readings + live updates dropped for this browser'),
    headCell(null, '', 'actions'));
  const body = h('div', { class: 'vbody', role: 'rowgroup', 'data-testid': 'device-rows' });
  const scroller = h('div', { class: 'vlist', role: 'table', 'aria-label': 'devices', 'data-testid': 'device-list' }, head, body);
  const noMatch = h('p', { class: 'empty', 'data-testid': 'device-no-match', hidden: true }, 'No device matches.');
  const empty = h('div', { class: 'empty list-empty', 'data-testid': 'device-empty', hidden: true },
    h('p', null, 'No devices yet.'),
    h('p', null, h('button', { type: 'button', class: 'button primary', 'data-testid': 'empty-add-device', onclick: () => openAddDevice(api, store) }, 'Add a device'),
      ' and connect it with its token, or start the hub with simulated devices: ', h('code', { class: 'mono' }, 'npm run demo'), '.'));
  const card = h('section', { class: 'card flush device-card' }, toolbar, scroller, noMatch, empty);
  const element = h('div', { class: 'page' },
    h('header', { class: 'page-head' }, h('h1', null, 'Devices'), count, h('span', { class: 'spacer' }), dropped, addButton),
    card);

  const pool: Row[] = [];
  let ROW_HEIGHT = DEFAULT_ROW_HEIGHT;
  const measureRows = () => {
    ROW_HEIGHT = parseFloat(getComputedStyle(scroller).getPropertyValue('--vrow-height')) || DEFAULT_ROW_HEIGHT;
  };

  function makeRow(): Row {
    const r: Row = {
      el: h('div', { class: 'vrow', role: 'row' }),
      name: h('a', { class: 'device-link' }),
      id: h('span', { class: 'device-id mono' }),
      status: h('span', { class: 'pill' }),
      alerts: h('a', { class: 'alert-badge', hidden: true }),
      lastSeen: h('div', { class: 'vcell', role: 'cell' }),
      firmware: h('div', { class: 'vcell mono', role: 'cell' }),
      rate: h('div', { class: 'vcell num mono', role: 'cell' }),
      loss: lossMeter(''),
      rename: h('button', { type: 'button', class: 'button ghost small' }, 'Rename'),
      remove: h('button', { type: 'button', class: 'button ghost small danger' }, 'Delete'),
      deviceId: null,
    };
    r.rename.addEventListener('click', () => {
      const entry = r.deviceId ? store.entries.get(r.deviceId) : undefined;
      if (entry) openRenameDevice(api, store, entry);
    });
    r.remove.addEventListener('click', () => {
      const entry = r.deviceId ? store.entries.get(r.deviceId) : undefined;
      if (entry) openDeleteDevice(api, store, entry);
    });
    r.el.append(
      h('div', { class: 'vcell name-cell', role: 'cell' }, r.name, r.id),
      h('div', { class: 'vcell', role: 'cell' }, r.status),
      h('div', { class: 'vcell alerts-cell', role: 'cell' }, r.alerts),
      r.lastSeen, r.firmware, r.rate,
      h('div', { class: 'vcell num', role: 'cell' }, r.loss),
      h('div', { class: 'vcell actions', role: 'cell' }, r.rename, r.remove));
    return r;
  }

  function bind(r: Row, entry: DeviceEntry, alerts: DeviceAlerts | null, index: number, now: number): void {
    const id = entry.device.id;
    if (r.deviceId !== id) {
      r.deviceId = id;
      r.el.setAttribute('data-testid', `device-row-${id}`);
      r.el.setAttribute('data-device-id', id);
      r.name.href = `#/device/${encodeURIComponent(id)}`;
      r.name.setAttribute('data-testid', `device-link-${id}`);
      r.status.setAttribute('data-testid', `status-${id}`);
      r.alerts.setAttribute('data-testid', `alerts-${id}`);
      r.alerts.href = `#/device/${encodeURIComponent(id)}`;
      r.lastSeen.setAttribute('data-testid', `last-seen-${id}`);
      r.firmware.setAttribute('data-testid', `firmware-${id}`);
      r.rate.setAttribute('data-testid', `rate-${id}`);
      r.loss.setAttribute('data-testid', `loss-${id}`);
      r.rename.setAttribute('data-testid', `rename-${id}`);
      r.remove.setAttribute('data-testid', `delete-${id}`);
      r.rename.setAttribute('aria-label', `rename ${id}`);
      r.remove.setAttribute('aria-label', `delete ${id}`);
      setText(r.id, id);
    }
    r.el.setAttribute('data-index', String(index));
    // CSSOM, not a style attribute: the page's CSP allows no inline styles
    r.el.style.transform = `translateY(${index * ROW_HEIGHT}px)`;
    setText(r.name, entry.device.name);
    setText(r.status, entry.online ? 'online' : 'offline');
    r.status.className = `pill ${entry.online ? 'online' : 'offline'}`;
    r.el.setAttribute('data-online', String(entry.online));
    bindBadge(r.alerts, alerts);
    setText(r.lastSeen, relativeTime(entry.lastSeen, now));
    r.lastSeen.title = entry.lastSeen ? new Date(entry.lastSeen).toLocaleString() : '';
    setText(r.firmware, entry.device.firmware ?? '—');
    const rate = entry.rate.rate(now);
    setText(r.rate, formatRate(!entry.online && !rate ? null : rate));
    updateLossMeter(r.loss, store.loss(entry), live.dropped);
  }

  function matches(entry: DeviceEntry, loss: number, alerts: DeviceAlerts | null, text: string): boolean {
    if (alertsOnly && !alerts) return false;
    if (statusFilter === 'online' && !entry.online) return false;
    if (statusFilter === 'offline' && entry.online) return false;
    if (statusFilter === 'never' && (entry.online || entry.lastSeen)) return false;
    if (lossOnly && loss === 0) return false;
    if (!text) return true;
    const d = entry.device;
    return d.id.toLowerCase().includes(text) || d.name.toLowerCase().includes(text) || (d.firmware ?? '').toLowerCase().includes(text);
  }

  /** Filters and sorts when the data or the controls changed since the last time. */
  function resort(): void {
    const settings = `${sortKey}|${sortDir}|${query}|${statusFilter}|${lossOnly}|${alertsOnly}|${live.dropped}|${feed.version}`;
    if (sortedVersion === store.version && sortedFor === settings) return;
    sortedVersion = store.version;
    sortedFor = settings;
    const text = query.trim().toLowerCase();
    const next: Item[] = [];
    const open = feed.byDevice();
    for (const entry of store.entries.values()) {
      const loss = store.loss(entry).total;
      const list = open.get(entry.device.id);
      const alerts = list ? summarize(list) : null;
      if (!matches(entry, loss, alerts, text)) continue;
      next.push({ entry, loss, alerts, rank: rankOf(entry, loss, alerts), name: entry.device.name.toLowerCase() });
    }
    next.sort(compareItems(sortKey, sortDir));
    items = next;
    body.style.height = `${items.length * ROW_HEIGHT}px`;
  }

  /** Puts the rows in view (and OVERSCAN around them) in the DOM; nothing else is. */
  function draw(): void {
    const now = Date.now();
    const viewport = scroller.clientHeight || 600;
    const top = Math.max(0, scroller.scrollTop - head.offsetHeight);
    const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(items.length, Math.ceil((top + viewport) / ROW_HEIGHT) + OVERSCAN);
    const wanted = Math.max(0, last - first);
    while (pool.length < wanted) pool.push(makeRow());
    // rows already showing a device in the window keep it, so scrolling moves few elements
    const byId = new Map<string, Row>();
    const free: Row[] = [];
    const windowIds = new Set<string>();
    for (let i = first; i < last; i++) windowIds.add(items[i].entry.device.id);
    for (const r of pool) {
      if (r.deviceId && windowIds.has(r.deviceId) && !byId.has(r.deviceId)) byId.set(r.deviceId, r);
      else free.push(r);
    }
    const used: Row[] = [];
    for (let i = first; i < last; i++) {
      const { entry, alerts } = items[i];
      const r = byId.get(entry.device.id) ?? free.pop()!;
      bind(r, entry, alerts, i, now);
      if (r.el.parentNode !== body) body.appendChild(r.el);
      used.push(r);
    }
    for (const r of free) {
      if (r.el.parentNode) r.el.remove();
      r.deviceId = null;
    }
    pool.length = 0;
    pool.push(...used, ...free);
    body.setAttribute('data-first', String(first));
    body.setAttribute('data-rendered', String(wanted));
  }

  /** the list has been drawn with the registry loaded */
  let listedOnce = false;
  function render(): void {
    listedOnce ||= store.loaded;
    const before = ROW_HEIGHT;
    measureRows();
    if (before !== ROW_HEIGHT) sortedVersion = -1;
    resort();
    draw();
    const total = store.entries.size;
    const hasDevices = store.loaded && total > 0;
    empty.hidden = !store.loaded || total > 0;
    scroller.hidden = !hasDevices;
    toolbar.hidden = !hasDevices;
    noMatch.hidden = !hasDevices || items.length > 0;
    let online = 0;
    let lossy = 0;
    for (const entry of store.entries.values()) {
      if (entry.online) online++;
      if (store.loss(entry).total > 0) lossy++;
    }
    const shown = items.length === total ? '' : ` · showing ${items.length.toLocaleString()}`;
    setText(count, store.loaded
      ? `${total.toLocaleString()} device${total === 1 ? '' : 's'} · ${online.toLocaleString()} online${lossy ? ` · ${lossy.toLocaleString()} with data loss` : ''}${shown}`
      : 'Loading…');
    setText(dropped, live.dropped > 0 ? `${live.dropped.toLocaleString()} live updates dropped for this browser` : '');
    for (const [key, cell] of headerCells) {
      cell.setAttribute('aria-sort', key === sortKey ? (sortDir === 1 ? 'ascending' : 'descending') : 'none');
      cell.classList.toggle('sorted', key === sortKey);
    }
    if (sortSelect.value !== sortKey) sortSelect.value = sortKey;
  }

  let frame = 0;
  const renderNow = () => {
    if (frame) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      render();
    });
  };
  let resortTimer: ReturnType<typeof setTimeout> | null = null;
  const renderSoon = () => {
    resortTimer ??= setTimeout(() => {
      resortTimer = null;
      renderNow();
    }, RESORT_MS);
  };

  function setSort(key: SortKey): void {
    if (key === sortKey && key !== 'problems') sortDir = sortDir === 1 ? -1 : 1;
    else {
      sortKey = key;
      sortDir = 1;
    }
    renderNow();
  }

  let searchTimer: ReturnType<typeof setTimeout> | null = null;
  search.addEventListener('input', () => {
    if (searchTimer) clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      query = search.value;
      scroller.scrollTop = 0;
      renderNow();
    }, 80);
  });
  statusSelect.addEventListener('change', () => {
    statusFilter = statusSelect.value as StatusFilter;
    scroller.scrollTop = 0;
    renderNow();
  });
  lossBox.addEventListener('change', () => {
    lossOnly = lossBox.checked;
    scroller.scrollTop = 0;
    renderNow();
  });
  alertsBox.addEventListener('change', () => {
    alertsOnly = alertsBox.checked;
    scroller.scrollTop = 0;
    renderNow();
  });
  sortSelect.addEventListener('change', () => {
    sortKey = sortSelect.value as SortKey;
    sortDir = 1;
    renderNow();
  });
  scroller.addEventListener('scroll', renderNow, { passive: true });
  window.addEventListener('resize', renderNow);

  // The list needs no readings: status and counters reach it whatever the subscription.
  live.subscribe([]);
  // The registry's first answer is drawn at once: the re-sort pause is for changes to a list in view.
  const offStore = store.on(() => (listedOnce ? renderSoon() : renderNow()));
  // an alert is news at once, not at the next re-sort
  const offFeed = feed.on(renderNow);
  const ticker = setInterval(renderNow, 1000);
  render();
  store.refresh().catch(() => undefined);

  return {
    element,
    title: 'Devices',
    dispose() {
      offStore();
      offFeed();
      clearInterval(ticker);
      if (resortTimer) clearTimeout(resortTimer);
      if (searchTimer) clearTimeout(searchTimer);
      if (frame) cancelAnimationFrame(frame);
      window.removeEventListener('resize', renderNow);
    },
  };
}

/** A device's open alerts as a badge: its count, firing filled and pending outlined, in the colour of the highest severity. */
export function bindBadge(badge: HTMLElement, alerts: DeviceAlerts | null): void {
  badge.hidden = !alerts;
  if (!alerts) {
    badge.removeAttribute('data-severity');
    badge.removeAttribute('data-state');
    return;
  }
  setText(badge, String(alerts.count));
  badge.setAttribute('data-severity', alerts.severity);
  badge.setAttribute('data-state', alerts.firing ? 'firing' : 'pending');
  const label = describeAlerts(alerts);
  badge.setAttribute('aria-label', label);
  badge.title = label;
}
