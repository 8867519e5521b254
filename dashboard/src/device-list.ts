// The device list: status within a second (live status events), last seen, firmware, readings/s
// measured here, and the data-loss meter.
import type { DeviceEntry, DeviceStore } from './device-store.ts';
import { h, setText } from './dom.ts';
import { formatRate, relativeTime } from './format.ts';
import type { LiveClient } from './live-client.ts';
import { lossMeter, updateLossMeter } from './loss-meter.ts';
import type { View } from './view.ts';

interface Row {
  tr: HTMLTableRowElement;
  name: HTMLAnchorElement;
  status: HTMLElement;
  lastSeen: HTMLElement;
  firmware: HTMLElement;
  rate: HTMLElement;
  loss: HTMLElement;
}

export function deviceListView(store: DeviceStore, live: LiveClient): View {
  const rows = new Map<string, Row>();
  const body = h('tbody');
  const count = h('span', { class: 'muted', 'data-testid': 'device-count' });
  const dropped = h('span', { class: 'muted', 'data-testid': 'live-dropped' });
  const empty = h('p', { class: 'empty', 'data-testid': 'device-empty', hidden: true },
    'No devices yet. Provision one with POST /api/devices; it appears here when it connects.');
  const table = h('table', { class: 'data-table devices', 'data-testid': 'device-list' },
    h('thead', null, h('tr', null,
      h('th', null, 'Device'), h('th', null, 'Status'), h('th', null, 'Last seen'), h('th', null, 'Firmware'),
      h('th', { class: 'num' }, 'Readings/s'), h('th', { class: 'num', title: 'sequence gaps + rejected readings + live updates dropped for this browser' }, 'Data loss'))),
    body);
  const element = h('div', { class: 'page' },
    h('header', { class: 'page-head' }, h('h1', null, 'Devices'), count, h('span', { class: 'spacer' }), dropped),
    h('section', { class: 'card flush' }, h('div', { class: 'table-wrap' }, table), empty));

  function row(entry: DeviceEntry): Row {
    const id = entry.device.id;
    let r = rows.get(id);
    if (!r) {
      r = {
        tr: h('tr', { 'data-testid': `device-row-${id}`, 'data-device-id': id }),
        name: h('a', { class: 'device-link', href: `#/device/${encodeURIComponent(id)}`, 'data-testid': `device-link-${id}` }),
        status: h('span', { class: 'pill', 'data-testid': `status-${id}` }),
        lastSeen: h('td', { 'data-testid': `last-seen-${id}` }),
        firmware: h('td', { class: 'mono', 'data-testid': `firmware-${id}` }),
        rate: h('td', { class: 'num mono', 'data-testid': `rate-${id}` }),
        loss: lossMeter(`loss-${id}`),
      };
      const idLine = h('span', { class: 'device-id mono' }, id);
      r.tr.append(h('td', null, r.name, idLine), h('td', null, r.status), r.lastSeen, r.firmware, r.rate, h('td', { class: 'num' }, r.loss));
      rows.set(id, r);
    }
    return r;
  }

  function render(): void {
    const now = Date.now();
    const entries = [...store.entries.values()].sort((a, b) => a.device.name.localeCompare(b.device.name) || a.device.id.localeCompare(b.device.id));
    const wanted = new Set(entries.map((e) => e.device.id));
    for (const [id, r] of rows) if (!wanted.has(id)) { r.tr.remove(); rows.delete(id); }
    entries.forEach((entry, i) => {
      const r = row(entry);
      if (body.children[i] !== r.tr) body.insertBefore(r.tr, body.children[i] ?? null);
      setText(r.name, entry.device.name);
      setText(r.status, entry.online ? 'online' : 'offline');
      r.status.className = `pill ${entry.online ? 'online' : 'offline'}`;
      r.tr.setAttribute('data-online', String(entry.online));
      setText(r.lastSeen, relativeTime(entry.lastSeen, now));
      r.lastSeen.title = entry.lastSeen ? new Date(entry.lastSeen).toLocaleString() : '';
      setText(r.firmware, entry.device.firmware ?? '—');
      const rate = entry.rate.rate(now);
      setText(r.rate, formatRate(!entry.online && !rate ? null : rate));
      updateLossMeter(r.loss, store.loss(entry), live.dropped);
    });
    empty.hidden = !store.loaded || entries.length > 0;
    table.hidden = entries.length === 0;
    const online = entries.filter((e) => e.online).length;
    setText(count, store.loaded ? `${entries.length} device${entries.length === 1 ? '' : 's'} · ${online} online` : 'Loading…');
    setText(dropped, live.dropped > 0 ? `${live.dropped.toLocaleString()} live updates dropped for this browser` : '');
  }

  live.subscribe('*');
  const offStore = store.on(render);
  const ticker = setInterval(render, 1000);
  render();
  store.refresh().catch(() => undefined);

  return {
    element,
    title: 'Devices',
    dispose() {
      offStore();
      clearInterval(ticker);
    },
  };
}
