// A table of alerts with their actions (acknowledge, silence for a while) and, on expand, their
// transitions. Rows are keyed by alert id and updated in place, so a live event does not take the
// keyboard focus away from the row an operator is working on.
import type { AlertView } from '../../hub/src/http/wire.ts';
import type { Api } from './api.ts';
import { alertSince, describeState, formatAlertValue, isSilenced } from './alert-format.ts';
import { formatTime, type Zone } from './chart-math.ts';
import { h, setText } from './dom.ts';
import { relativeTime } from './format.ts';
import { describeError } from './history-view.ts';

const SILENCE_CHOICES: [label: string, ms: number][] = [
  ['15 min', 15 * 60_000],
  ['1 h', 3_600_000],
  ['4 h', 4 * 3_600_000],
  ['24 h', 86_400_000],
];

export interface AlertTableOptions {
  api: Api;
  /** test ids and labels of this table's rows: `<prefix>-row-<id>`, `<prefix>-ack-<id>`… */
  prefix: string;
  /** show the device column (not on the device's own page) */
  device: boolean;
  /** times as "since 3 min" (open alerts) or as fired/resolved times in the zone (history) */
  times: 'since' | 'absolute';
  zone(): Zone;
  /** the device's display name, where the page knows it */
  deviceName?(id: string): string | undefined;
  /** an action's answer: the alert as it is now */
  onUpdate(alert: AlertView): void;
  /** errors of actions and of loading events */
  say(text: string, error?: boolean): void;
  empty: string;
}

interface Row {
  alert: AlertView;
  tr: HTMLTableRowElement;
  device: HTMLAnchorElement | null;
  value: HTMLElement;
  severity: HTMLElement;
  state: HTMLElement;
  first: HTMLElement;
  second: HTMLElement;
  ack: HTMLButtonElement;
  silence: HTMLSelectElement;
  expand: HTMLButtonElement;
  events: HTMLTableRowElement | null;
}

export class AlertTable {
  readonly element: HTMLElement;
  private readonly body: HTMLTableSectionElement;
  private readonly rows = new Map<number, Row>();
  private readonly columns: number;
  private readonly emptyRow: HTMLTableRowElement;
  private readonly firstHead: HTMLElement;
  private readonly secondHead: HTMLElement;

  constructor(private readonly options: AlertTableOptions) {
    this.body = h('tbody');
    this.firstHead = h('th');
    this.secondHead = h('th');
    const heads = [
      h('th', null, 'Rule'), options.device ? h('th', null, 'Device') : null, h('th', null, 'Channel'),
      h('th', { class: 'num' }, 'Value'), h('th', null, 'Severity'), h('th', null, 'State'),
      this.firstHead, this.secondHead, h('th', { class: 'actions-head' }, h('span', { class: 'visually-hidden' }, 'Actions')),
    ].filter((x): x is HTMLTableCellElement => x !== null);
    this.columns = heads.length;
    this.emptyRow = h('tr', { class: 'more' }, h('td', { colspan: String(this.columns), 'data-testid': `${options.prefix}-empty` }, options.empty));
    this.element = h('div', { class: 'table-wrap alert-table phone-cards' },
      h('table', { class: 'data-table', 'data-testid': `${options.prefix}-table` }, h('thead', null, h('tr', null, ...heads)), this.body));
    this.showHeads();
  }

  private showHeads(): void {
    const short = this.options.zone() === 'utc' ? 'UTC' : 'local';
    setText(this.firstHead, this.options.times === 'since' ? 'Since' : `Fired (${short})`);
    setText(this.secondHead, this.options.times === 'since' ? `Fired (${short})` : `Resolved (${short})`);
  }

  /** Shows these alerts in this order; rows of alerts that stay keep their elements. */
  render(alerts: readonly AlertView[], now = Date.now()): void {
    this.showHeads();
    const keep = new Set(alerts.map((a) => a.id));
    for (const [id, row] of this.rows) {
      if (keep.has(id)) continue;
      row.tr.remove();
      row.events?.remove();
      this.rows.delete(id);
    }
    let previous: Element | null = null;
    for (const alert of alerts) {
      const row = this.rows.get(alert.id) ?? this.makeRow(alert);
      this.bind(row, alert, now);
      const next: Element | null = previous ? previous.nextElementSibling : this.body.firstElementChild;
      if (next !== row.tr) this.body.insertBefore(row.tr, next);
      previous = row.tr;
      if (row.events) {
        if (row.tr.nextElementSibling !== row.events) row.tr.after(row.events);
        previous = row.events;
      }
    }
    if (alerts.length === 0) this.body.replaceChildren(this.emptyRow);
    else this.emptyRow.remove();
  }

  /** One alert changed (a live event, an action): its row, if it is shown. */
  update(alert: AlertView): boolean {
    const row = this.rows.get(alert.id);
    if (!row) return false;
    this.bind(row, alert, Date.now());
    return true;
  }

  has(id: number): boolean {
    return this.rows.has(id);
  }

  private makeRow(alert: AlertView): Row {
    const p = this.options.prefix;
    const id = alert.id;
    const row: Row = {
      alert,
      tr: h('tr', { 'data-testid': `${p}-row-${id}`, 'data-alert-id': String(id), 'data-device-id': alert.deviceId, 'data-rule-id': String(alert.ruleId) }),
      device: this.options.device ? h('a', { href: `#/device/${encodeURIComponent(alert.deviceId)}`, class: 'alert-device', 'data-testid': `${p}-device-${id}` }) : null,
      value: h('td', { class: 'num mono', 'data-testid': `${p}-value-${id}` }),
      severity: h('span', { 'data-testid': `${p}-severity-${id}` }),
      state: h('span', { 'data-testid': `${p}-state-${id}` }),
      first: h('td', { class: 'time-cell', 'data-testid': `${p}-since-${id}`, 'data-label': this.options.times === 'since' ? 'for' : 'fired' }),
      second: h('td', { class: 'time-cell', 'data-testid': `${p}-resolved-${id}`, 'data-label': this.options.times === 'since' ? 'fired' : 'resolved' }),
      ack: h('button', { type: 'button', class: 'button small', 'data-testid': `${p}-ack-${id}` }, 'Ack'),
      silence: h('select', { class: 'small-select', 'data-testid': `${p}-silence-${id}` }),
      expand: h('button', { type: 'button', class: 'button ghost small', 'aria-expanded': 'false', 'data-testid': `${p}-expand-${id}` }, 'Events'),
      events: null,
    };
    row.tr.append(
      h('td', null, h('a', { href: `#/rules/${alert.ruleId}`, class: 'rule-link', 'data-testid': `${p}-rule-${id}` }, alert.ruleName)),
      row.device ? h('td', null, row.device) : '',
      h('td', { class: 'mono' }, alert.channel ?? '—'),
      row.value,
      h('td', null, row.severity),
      h('td', null, row.state),
      row.first, row.second,
      h('td', null, h('div', { class: 'alert-actions' }, row.ack, row.silence, row.expand)));
    row.ack.addEventListener('click', () => void this.act(row, () => this.options.api.ackAlert(row.alert.id), row.ack));
    row.silence.addEventListener('change', () => {
      const forMs = Number(row.silence.value);
      row.silence.value = '';
      void this.act(row, () => this.options.api.silenceAlert(row.alert.id, forMs), row.silence);
    });
    row.expand.addEventListener('click', () => void this.toggleEvents(row));
    this.rows.set(id, row);
    return row;
  }

  private bind(row: Row, alert: AlertView, now: number): void {
    row.alert = alert;
    const open = alert.state === 'pending' || alert.state === 'firing';
    const silenced = isSilenced(alert, now);
    const zone = this.options.zone();
    const who = `${alert.ruleName} on ${this.options.deviceName?.(alert.deviceId) ?? alert.deviceId}`;
    row.tr.setAttribute('data-state', alert.state);
    row.tr.toggleAttribute('data-acknowledged', !!alert.acknowledgedAt);
    row.tr.toggleAttribute('data-silenced', silenced);
    if (row.device) setText(row.device, this.options.deviceName?.(alert.deviceId) ?? alert.deviceId);
    setText(row.value, formatAlertValue(alert.value));
    setText(row.severity, alert.severity);
    row.severity.className = `pill sev-${alert.severity}`;
    setText(row.state, describeState(alert, now));
    row.state.className = `pill state-${alert.state}`;
    const since = alertSince(alert);
    if (this.options.times === 'since') {
      setText(row.first, since === null ? '—' : relativeTime(since, now).replace(/ ago$/, ''));
      row.first.title = since === null ? '' : formatTime(since, zone).slice(0, 19);
      setText(row.second, alert.firedAt ? formatTime(Date.parse(alert.firedAt), zone).slice(0, 19) : 'not yet');
    } else {
      // a pending or cancelled alert never fired: when it began is in its transitions
      setText(row.first, alert.firedAt ? formatTime(Date.parse(alert.firedAt), zone).slice(0, 19) : '—');
      setText(row.second, alert.resolvedAt ? formatTime(Date.parse(alert.resolvedAt), zone).slice(0, 19) : '—');
    }
    row.ack.hidden = !open;
    row.ack.disabled = !!alert.acknowledgedAt;
    setText(row.ack, alert.acknowledgedAt ? 'Acked' : 'Ack');
    row.ack.setAttribute('aria-label', alert.acknowledgedAt ? `${who} is acknowledged` : `acknowledge ${who}`);
    row.silence.hidden = !open;
    row.silence.setAttribute('aria-label', `silence ${who}`);
    const wanted = silenced ? 'silenced' : 'loud';
    if (row.silence.getAttribute('data-options') !== wanted) {
      row.silence.setAttribute('data-options', wanted);
      row.silence.replaceChildren(
        h('option', { value: '', selected: true, disabled: true }, silenced ? 'Silenced' : 'Silence…'),
        ...SILENCE_CHOICES.map(([label, ms]) => h('option', { value: String(ms) }, `${silenced ? 'Silence for ' : 'for '}${label}`)),
        ...(silenced ? [h('option', { value: '0' }, 'End silence')] : []));
    }
    row.expand.setAttribute('aria-label', `transitions of ${who}`);
  }

  private async act(row: Row, action: () => Promise<AlertView>, control: HTMLButtonElement | HTMLSelectElement): Promise<void> {
    control.disabled = true;
    try {
      const alert = await action();
      this.options.onUpdate(alert);
      this.update(alert);
      if (row.events) void this.loadEvents(row);
    } catch (err) {
      this.options.say(describeError(err), true);
    } finally {
      control.disabled = control === row.ack ? !!row.alert.acknowledgedAt : false;
      // an acknowledged alert's button is disabled, which drops the focus: keep it in the row
      if (control.disabled && !row.silence.hidden) row.silence.focus();
    }
  }

  private async toggleEvents(row: Row): Promise<void> {
    if (row.events) {
      row.events.remove();
      row.events = null;
      row.expand.setAttribute('aria-expanded', 'false');
      return;
    }
    row.events = h('tr', { class: 'alert-events-row' }, h('td', { colspan: String(this.columns) }, h('span', { class: 'muted' }, 'Loading…')));
    row.events.setAttribute('data-testid', `${this.options.prefix}-events-${row.alert.id}`);
    row.tr.after(row.events);
    row.expand.setAttribute('aria-expanded', 'true');
    await this.loadEvents(row);
  }

  private async loadEvents(row: Row): Promise<void> {
    const target = row.events;
    if (!target) return;
    try {
      const { events } = await this.options.api.alert(row.alert.id);
      if (row.events !== target) return;
      const zone = this.options.zone();
      const list = h('ol', { class: 'alert-events' },
        ...events.map((e) => h('li', { 'data-testid': 'alert-event', 'data-to': e.to },
          h('span', { class: 'mono' }, formatTime(Date.parse(e.at), zone).slice(0, 19)), ' ',
          `${e.from} → ${e.to}`, e.value === null ? '' : ` at ${formatAlertValue(e.value)}`)));
      target.firstElementChild!.replaceChildren(events.length ? list : h('span', { class: 'muted' }, 'No transitions recorded.'));
    } catch (err) {
      if (row.events === target) target.firstElementChild!.replaceChildren(h('span', { class: 'error-text' }, describeError(err)));
    }
  }

  /** Times moved on (relative "since"), or the zone changed. */
  refresh(now = Date.now()): void {
    this.showHeads();
    for (const row of this.rows.values()) this.bind(row, row.alert, now);
  }
}
