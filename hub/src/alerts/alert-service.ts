// Alert rules at work: the evaluator decides, this service performs. Readings come from ingest (the
// hot path: handed to the evaluator, whose intents are performed later, so ingest never waits and
// never sees an error of ours), clock ticks drive for-durations, no-data and offline rules. Each
// intent is a compare-and-set in the store; only the hub whose write wins announces the transition
// (live event, counter, command actions, the webhook sender's wake-up), so with several hubs on one
// store, or after a restart, a transition is announced once. A lost compare-and-set means another
// hub moved the alert: the device's open alerts are read again and the evaluator carries on from them.
import type { Logger } from 'pino';
import { Counter, Gauge } from 'prom-client';
import type { LiveBus } from '../live/live-bus.ts';
import { LogLimiter } from '../log-limiter.ts';
import type { Metrics } from '../metrics.ts';
import type { Readings } from '../store/reading-batch.ts';
import { SEVERITIES, type AlertEvent, type AlertRecord, type AlertStore, type Rule } from './alert-store.ts';
import { alertView } from './alert-view.ts';
import { AlertEvaluator, type DevicePresence, type Intent } from './evaluator.ts';
import type { RuleFields } from './rule-input.ts';

export interface AlertServiceOptions {
  store: AlertStore;
  live: LiveBus;
  metrics: Metrics;
  log: Logger;
  /** queues a command for a device (a rule's action); a rejection is logged and counted */
  sendCommand(deviceId: string, name: string, args: unknown): Promise<unknown>;
  /** device id → name, which rule patterns match as well as ids */
  deviceNames(): Promise<Map<string, string>>;
  presence: { list(): Promise<ReadonlyMap<string, DevicePresence>> };
  /** how often for-durations, no-data and offline rules are looked at (default 1000 ms) */
  tickMs?: number;
  /** how often rules and open alerts are read again from the store, which other hubs may change (default 2000 ms) */
  refreshMs?: number;
  /** a transition was recorded (and queued for webhooks) by this hub */
  onTransition?: (event: AlertEvent, alert: AlertRecord) => void;
  /** wall clock in ms, as the store's times are (default Date.now) */
  now?: () => number;
}

export const ALERT_SERVICE_DEFAULTS = { tickMs: 1000, refreshMs: 2000 } as const;

const NO_DEVICES: ReadonlyMap<string, DevicePresence> = new Map();

export class AlertService {
  private readonly evaluator = new AlertEvaluator();
  private readonly limitedLog: LogLimiter;
  private readonly now: () => number;
  private readonly transitions: Counter<'to'>;
  private readonly actionFailures: Counter;
  /** intents being performed, so `close` can wait for them */
  private readonly inFlight = new Set<Promise<void>>();
  private rules = new Map<number, Rule>();
  /** the rules as last applied, to skip a refresh that changes nothing (each change rebuilds device indexes) */
  private rulesJson = '';
  private rulesRead = 0;
  private rulesApplied = 0;
  /** bumped by each settle: a refresh read that began before one is stale for that pair */
  private settles = 0;
  private tickTimer: NodeJS.Timeout | null = null;
  private refreshTimer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;
  private refreshing: Promise<void> | null = null;
  private closed = false;

  constructor(private readonly options: AlertServiceOptions) {
    this.now = options.now ?? Date.now;
    this.limitedLog = new LogLimiter(options.log);
    const registers = [options.metrics.registry];
    const evaluator = this.evaluator;
    const firing = new Gauge({
      name: 'hub_alerts_firing', help: 'Firing alerts this hub knows of, by severity', labelNames: ['severity'], registers,
      collect() {
        const counts = new Map<string, number>(SEVERITIES.map((s) => [s, 0]));
        for (const alert of evaluator.openAlerts()) if (alert.state === 'firing') counts.set(alert.severity, counts.get(alert.severity)! + 1);
        for (const [severity, count] of counts) firing.set({ severity }, count);
      },
    });
    this.transitions = new Counter({ name: 'hub_alert_transitions_total', help: 'Alert transitions recorded by this hub, by new state', labelNames: ['to'], registers });
    this.actionFailures = new Counter({ name: 'hub_alert_action_failures_total', help: 'Rule command actions that could not be queued', registers });
  }

  /** Loads device names, rules and open alerts, then starts the clock. */
  async start(): Promise<void> {
    await this.refreshNames();
    this.applyRules(await this.options.store.listRules());
    this.evaluator.setOpen(await this.options.store.openAlerts());
    this.tickTimer = setInterval(() => void this.tick(), this.options.tickMs ?? ALERT_SERVICE_DEFAULTS.tickMs);
    this.tickTimer.unref();
    this.refreshTimer = setInterval(() => void this.refresh(), this.options.refreshMs ?? ALERT_SERVICE_DEFAULTS.refreshMs);
    this.refreshTimer.unref();
  }

  /**
   * The hot path, for each accepted READINGS frame: `readings[from .. from + count)` of one device.
   * Ingest passes its pending batch as it is; the evaluator reads the slice before this returns.
   */
  readings(deviceId: string, readings: Readings, from = 0, count = readings.length - from): void {
    if (this.closed) return;
    let intents: Intent[] | null;
    try {
      intents = this.evaluator.readings(deviceId, readings, from, count);
    } catch (err) {
      this.limitedLog.error(`evaluate:${deviceId}`, { err, deviceId }, 'alert rules could not evaluate readings');
      return;
    }
    if (intents !== null) for (const intent of intents) this.perform(intent);
  }

  async createRule(rule: RuleFields): Promise<Rule> {
    const created = await this.options.store.createRule(rule, this.now());
    await this.reloadRules();
    return created;
  }

  async updateRule(id: number, rule: RuleFields): Promise<Rule | undefined> {
    const updated = await this.options.store.updateRule(id, rule, this.now());
    if (updated) await this.reloadRules();
    return updated;
  }

  /** The store cancels the rule's open alerts; live clients are shown them cancelled. */
  async deleteRule(id: number): Promise<boolean> {
    const open = await this.options.store.listAlerts({ state: 'open', ruleId: id, limit: 1000 });
    if (!(await this.options.store.deleteRule(id))) return false;
    await this.reloadRules();
    for (const alert of open) {
      const cancelled = await this.options.store.getAlert(alert.id);
      if (cancelled) this.publish(cancelled, alert.ruleName);
    }
    return true;
  }

  getRule(id: number): Promise<Rule | undefined> {
    return this.options.store.getRule(id);
  }

  listRules(): Promise<Rule[]> {
    return this.options.store.listRules();
  }

  async acknowledge(id: number): Promise<AlertRecord | undefined> {
    const alert = await this.options.store.acknowledge(id, this.now());
    if (alert) this.publish(alert);
    return alert;
  }

  /** Silences an alert's actions and webhooks for `forMs`; 0 or null ends a silence. */
  async silence(id: number, forMs: number | null): Promise<AlertRecord | undefined> {
    const now = this.now();
    const alert = await this.options.store.silence(id, forMs ? now + forMs : null, now);
    if (alert) this.publish(alert);
    return alert;
  }

  /** A device was renamed: patterns may take it in or leave it out. */
  async deviceRenamed(): Promise<void> {
    await this.refreshNames();
  }

  /** Devices were added or deleted. */
  async devicesChanged(): Promise<void> {
    await this.refreshNames();
  }

  /** Resolves once no transition is being recorded (and no action sent). */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** Stops the clock and waits for the transitions being recorded. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.tickTimer) clearInterval(this.tickTimer);
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    await this.ticking;
    await this.refreshing;
    await this.idle();
    this.limitedLog.close();
  }

  private perform(intent: Intent): void {
    const task = this.record(intent).finally(() => this.inFlight.delete(task));
    this.inFlight.add(task);
  }

  private async record(intent: Intent): Promise<void> {
    const { store } = this.options;
    const ruleId = intent.rule.id;
    const deviceId = intent.kind === 'open' ? intent.deviceId : intent.alert.deviceId;
    let done: { alert: AlertRecord; event: AlertEvent } | undefined;
    try {
      done = intent.kind === 'open' ? await store.openAlert(intent.rule, deviceId, intent.t) : await store.advance(intent.alert.id, intent.from, intent.t);
    } catch (err) {
      // the pair is as it was: the next reading or tick tries again
      this.limitedLog.error(`record:${ruleId}`, { err, ruleId, deviceId, to: intent.t.to }, 'alert transition not recorded');
      this.settle(ruleId, deviceId, intent.kind === 'open' ? null : intent.alert);
      return;
    }
    if (!done) {
      await this.lost(ruleId, deviceId);
      return;
    }
    this.settle(ruleId, deviceId, done.alert);
    this.announce(intent.rule, done.alert, done.event);
    await this.act(intent.rule, done.alert, done.event);
  }

  /** Another hub moved the pair first: carry on from what the store holds, announcing nothing. */
  private async lost(ruleId: number, deviceId: string): Promise<void> {
    let open: AlertRecord[];
    try {
      open = await this.options.store.openAlerts(deviceId);
    } catch (err) {
      this.limitedLog.error(`reread:${deviceId}`, { err, deviceId }, 'open alerts could not be read again');
      this.settle(ruleId, deviceId, null);
      return;
    }
    this.evaluator.setOpen(open, deviceId);
    this.settle(ruleId, deviceId, open.find((a) => a.ruleId === ruleId) ?? null);
  }

  private settle(ruleId: number, deviceId: string, alert: AlertRecord | null): void {
    this.settles++;
    const next = this.evaluator.settle(ruleId, deviceId, alert);
    if (next !== null && !this.closed) this.perform(next);
  }

  private announce(rule: Rule, alert: AlertRecord, event: AlertEvent): void {
    this.transitions.inc({ to: event.to });
    this.publish(alert, rule.name);
    try {
      this.options.onTransition?.(event, alert);
    } catch (err) {
      this.limitedLog.error('onTransition', { err }, 'alert transition listener failed');
    }
  }

  private publish(alert: AlertRecord, ruleName = this.rules.get(alert.ruleId)?.name ?? alert.ruleName): void {
    this.options.live.publish({ type: 'alert', deviceId: alert.deviceId, alert: alertView(alert, ruleName) });
  }

  /** A rule's command actions: on firing, or on resolving after firing; never while silenced (as webhooks). */
  private async act(rule: Rule, alert: AlertRecord, event: AlertEvent): Promise<void> {
    const on = event.to === 'firing' ? 'firing' : event.to === 'resolved' && event.from === 'firing' ? 'resolved' : null;
    if (on === null || rule.actions.length === 0) return;
    if (alert.silencedUntil !== null && alert.silencedUntil > event.at) return;
    await Promise.all(rule.actions.filter((a) => (a.on ?? 'firing') === on).map(async (action) => {
      try {
        await this.options.sendCommand(alert.deviceId, action.name, action.args ?? {});
      } catch (err) {
        this.actionFailures.inc();
        this.limitedLog.warn(`action:${rule.id}:${alert.deviceId}`, { err, ruleId: rule.id, alertId: alert.id, deviceId: alert.deviceId, command: action.name }, 'alert action failed');
      }
    }));
  }

  private tick(): Promise<void> {
    if (this.ticking || this.closed) return this.ticking ?? Promise.resolve();
    const ticking = (async () => {
      try {
        const devices = this.evaluator.watchesPresence ? await this.options.presence.list() : NO_DEVICES;
        if (this.closed) return;
        for (const intent of this.evaluator.tick(this.now(), devices)) this.perform(intent);
      } catch (err) {
        this.limitedLog.error('tick', { err }, 'alert tick failed');
      }
    })();
    // cleared once it has settled, never inside it: without an offline rule the body runs to its
    // end before `ticking` is even assigned, and a clear in there would leave every later tick waiting
    this.ticking = ticking.finally(() => {
      this.ticking = null;
    });
    return this.ticking;
  }


  /** Rules and open alerts as the store has them now: another hub may have changed either. */
  private refresh(): Promise<void> {
    if (this.refreshing || this.closed) return this.refreshing ?? Promise.resolve();
    this.refreshing = (async () => {
      try {
        await this.reloadRules();
        const settles = this.settles;
        const open = await this.options.store.openAlerts();
        // a transition settled meanwhile is newer than this read; the next refresh catches up
        if (settles === this.settles && !this.closed) this.evaluator.setOpen(open);
      } catch (err) {
        this.limitedLog.error('refresh', { err }, 'alert rules and open alerts could not be read again');
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }

  private async reloadRules(): Promise<void> {
    const read = ++this.rulesRead;
    const rules = await this.options.store.listRules();
    // a later read may have finished first: it has the newer rules
    if (read < this.rulesApplied) return;
    this.rulesApplied = read;
    this.applyRules(rules);
  }

  private applyRules(rules: Rule[]): void {
    const json = JSON.stringify(rules);
    if (json === this.rulesJson) return;
    this.rulesJson = json;
    this.rules = new Map(rules.map((r) => [r.id, r]));
    this.evaluator.setRules(rules);
  }

  private async refreshNames(): Promise<void> {
    const names = await this.options.deviceNames();
    this.evaluator.devicesAre(names);
  }
}
