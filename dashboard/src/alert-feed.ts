// The open alerts (pending and firing) of the whole fleet, as every view shows them: loaded once
// (and again after the live connection was lost), then kept current by the `alert` events /ws/live
// sends every client on every transition. Nothing is polled.
import type { AlertView } from '../../hub/src/http/wire.ts';
import type { Api } from './api.ts';
import type { LiveClient } from './live-client.ts';

/** the hub answers at most this many in one page; a fleet with more open alerts has bigger problems */
const LOAD_LIMIT = 1000;

export type Severity = AlertView['severity'];
export const SEVERITY_RANK: Record<Severity, number> = { info: 0, warning: 1, critical: 2 };

export function isOpen(alert: Pick<AlertView, 'state'>): boolean {
  return alert.state === 'pending' || alert.state === 'firing';
}

/** What one device's badge shows. */
export interface DeviceAlerts {
  count: number;
  firing: number;
  pending: number;
  /** the highest severity of its open alerts */
  severity: Severity;
}

export function summarize(alerts: Iterable<AlertView>): DeviceAlerts | null {
  let summary: DeviceAlerts | null = null;
  for (const a of alerts) {
    if (!isOpen(a)) continue;
    summary ??= { count: 0, firing: 0, pending: 0, severity: a.severity };
    summary.count++;
    if (a.state === 'firing') summary.firing++;
    else summary.pending++;
    if (SEVERITY_RANK[a.severity] > SEVERITY_RANK[summary.severity]) summary.severity = a.severity;
  }
  return summary;
}

/** Whether `next` is news over `known`: a later change, or the same change moving on (pending → firing in one millisecond). */
export function isNewer(next: AlertView, known: AlertView | undefined): boolean {
  if (!known) return true;
  const a = Date.parse(next.updatedAt);
  const b = Date.parse(known.updatedAt);
  if (a !== b) return a > b;
  return stateOrder(next) >= stateOrder(known);
}

function stateOrder(alert: AlertView): number {
  return alert.state === 'pending' ? 0 : alert.state === 'firing' ? 1 : 2;
}

/**
 * The open set itself, without I/O: live events and a loaded page are merged so that whichever
 * is newer wins, and an alert closed by a live event while a load was under way is not reopened
 * by the (older) answer.
 */
export class OpenAlerts {
  readonly open = new Map<number, AlertView>();
  /** every alert this page heard of since the last load began, open or not: the load may be older */
  private heard: Map<number, AlertView> | null = null;
  private byDeviceCache: Map<string, AlertView[]> | null = null;
  version = 0;

  /** Applies one alert as a live event carries it; true when the open set changed. */
  apply(alert: AlertView): boolean {
    const previous = this.heard?.get(alert.id) ?? this.open.get(alert.id);
    if (!isNewer(alert, previous)) return false;
    this.heard?.set(alert.id, alert);
    if (isOpen(alert)) this.open.set(alert.id, alert);
    else if (!this.open.delete(alert.id)) return false;
    this.touch();
    return true;
  }

  /** A load starts: remember what live events say meanwhile. */
  beginLoad(): void {
    this.heard = new Map();
  }

  /** The answer of a load: every open alert, unless a live event since the load began knows better. */
  endLoad(alerts: AlertView[]): void {
    const heard = this.heard ?? new Map<number, AlertView>();
    this.heard = null;
    const next = new Map<number, AlertView>();
    for (const a of alerts) {
      const live = heard.get(a.id);
      const winner = live && isNewer(live, a) ? live : a;
      if (isOpen(winner)) next.set(a.id, winner);
    }
    // opened live after the hub answered
    const answered = new Set(alerts.map((a) => a.id));
    for (const [id, a] of heard) if (!answered.has(id) && isOpen(a)) next.set(id, a);
    this.open.clear();
    for (const [id, a] of next) this.open.set(id, a);
    this.touch();
  }

  forDevice(deviceId: string): AlertView[] {
    return this.byDevice().get(deviceId) ?? [];
  }

  /** Open alerts per device, newest first. */
  byDevice(): Map<string, AlertView[]> {
    if (!this.byDeviceCache) {
      const map = new Map<string, AlertView[]>();
      for (const a of this.open.values()) (map.get(a.deviceId) ?? map.set(a.deviceId, []).get(a.deviceId)!).push(a);
      for (const list of map.values()) list.sort((a, b) => b.id - a.id);
      this.byDeviceCache = map;
    }
    return this.byDeviceCache;
  }

  private touch(): void {
    this.version++;
    this.byDeviceCache = null;
  }
}

export class AlertFeed extends OpenAlerts {
  loaded = false;
  /** the last load failed (the hub has no alerts, or was unreachable) */
  failed = false;
  private readonly listeners = new Set<() => void>();
  private readonly stopLive: () => void;
  private loading: Promise<void> | null = null;

  constructor(private readonly api: Api, live: LiveClient) {
    super();
    this.stopLive = live.on((message) => {
      if (message.type === 'alert' && this.apply(message.alert)) this.changed();
    });
  }

  on(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** An alert as an action (ack, silence) answered it. */
  put(alert: AlertView): void {
    if (this.apply(alert)) this.changed();
  }

  /** All open alerts again: at session start and after the live connection came back. One request at a time. */
  reload(): Promise<void> {
    this.loading ??= (async () => {
      this.beginLoad();
      try {
        const { alerts } = await this.api.alerts({ state: 'open', limit: LOAD_LIMIT });
        this.endLoad(alerts);
        this.loaded = true;
        this.failed = false;
      } catch (err) {
        this.endLoad([...this.open.values()]);
        this.failed = true;
        throw err;
      } finally {
        this.loading = null;
        this.changed();
      }
    })();
    return this.loading;
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }

  dispose(): void {
    this.stopLive();
    this.listeners.clear();
  }
}
