// The alert rules' decisions, free of I/O: readings and clock ticks go in, intents (open an alert,
// move one on) come out, and the alert service performs them against the store. Time is always
// passed in, so every case is tested with plain numbers.
//
// `readings` runs for every accepted READINGS frame, so it is built to cost next to nothing when no
// rule applies: each device gets an index channel → rules the first time it sends (rebuilt after a
// rule or its name changes), a channel no rule watches costs one Map lookup, and nothing is
// allocated unless an alert moves. Per (rule, device) the evaluator keeps only open alerts and
// intents in flight; the last reading is kept once per watched (device, channel), whichever rules
// share it.
import { asBatch, type Readings } from '../store/reading-batch.ts';
import { OPEN_STATES, type AlertRecord, type AlertState, type Rule, type Transition } from './alert-store.ts';
import { compileScope, type ScopeTest } from './rule-scope.ts';

export type Intent =
  | { kind: 'open'; rule: Rule; deviceId: string; t: Transition }
  | { kind: 'advance'; rule: Rule; alert: AlertRecord; from: AlertState; t: Transition };

export interface DevicePresence {
  online: boolean;
  lastSeen: number | null;
}

interface CompiledRule {
  rule: Rule;
  kind: 'threshold' | 'no-data' | 'offline';
  inScope: ScopeTest;
  /** beyond = value > above || value < below; an absent side is infinite */
  above: number;
  below: number;
  /** cleared = below-side ≤ value ≤ above-side: the thresholds themselves, or `clear` on its side */
  clearHigh: number;
  clearLow: number;
}

interface PairState {
  /** the open alert as last known (this hub's transition or the store's answer) */
  alert: AlertRecord | null;
  /** an intent was handed out and not settled: nothing else is emitted for the pair meanwhile */
  inFlight: boolean;
  /**
   * Threshold readings that came while an intent was in flight, oldest first: replayed by `settle`,
   * so a value that crosses back during the store write still moves the alert at its own time.
   */
  held?: { value: number; time: number }[];
}

/** Readings held per pair while its intent is in flight; past this the newest replaces the last held. */
const MAX_HELD = 64;

/** One watched channel of one device: the rules on it and its last reading. */
interface ChannelWatch {
  threshold: CompiledRule[];
  noData: CompiledRule[];
  /** time of the last reading evaluated; -Infinity before the first */
  last: number;
  value: number;
}

interface DeviceState {
  id: string;
  name: string | null;
  /** the rules version `channels`, `offline` and `inScope` were built for; -1 forces a rebuild */
  version: number;
  channels: Map<string, ChannelWatch>;
  offline: CompiledRule[];
  inScope: Set<number>;
  /** pairs with an open alert or an intent in flight, by rule id */
  pairs: Map<number, PairState>;
  /** deleted from the registry: its open alerts close, and no rule applies until it is named again */
  removed: boolean;
}

function compile(rule: Rule): CompiledRule {
  const kind = rule.offlineMs !== null ? 'offline' : rule.noDataMs !== null ? 'no-data' : 'threshold';
  const above = rule.above ?? Infinity;
  const below = rule.below ?? -Infinity;
  let clearHigh = above;
  let clearLow = below;
  if (rule.clear !== null && rule.above !== null && rule.below === null) clearHigh = rule.clear;
  if (rule.clear !== null && rule.below !== null && rule.above === null) clearLow = rule.clear;
  return { rule, kind, inScope: compileScope(rule.devices), above, below, clearHigh, clearLow };
}

const isOpen = (alert: AlertRecord | null): alert is AlertRecord => alert !== null && OPEN_STATES.includes(alert.state);

export class AlertEvaluator {
  private rules = new Map<number, CompiledRule>();
  private enabled: CompiledRule[] = [];
  private hasOffline = false;
  private version = 0;
  private readonly devices = new Map<string, DeviceState>();

  setRules(rules: readonly Rule[]): void {
    this.rules = new Map(rules.map((r) => [r.id, compile(r)]));
    this.enabled = [...this.rules.values()].filter((c) => c.rule.enabled);
    this.hasOffline = this.enabled.some((c) => c.kind === 'offline');
    this.version++;
    // a deleted rule leaves nothing behind (the store cancels its alerts); a disabled rule's open
    // alerts stay known until `tick` closes them
    for (const dev of this.devices.values()) {
      for (const ruleId of dev.pairs.keys()) if (!this.rules.has(ruleId)) dev.pairs.delete(ruleId);
    }
  }

  /** A device's name, which rule patterns are matched against as well as its id. */
  deviceNamed(deviceId: string, name: string | null): void {
    const dev = this.device(deviceId);
    if (dev.name === name && !dev.removed) return;
    dev.name = name;
    dev.removed = false;
    dev.version = -1;
  }

  /**
   * The registry's devices by id → name: names for the patterns, and every device the evaluator
   * knows that is not among them was deleted — also one added and deleted between two reads.
   */
  devicesAre(names: ReadonlyMap<string, string>): void {
    for (const id of this.devices.keys()) if (!names.has(id)) this.deviceRemoved(id);
    for (const [id, name] of names) this.deviceNamed(id, name);
  }

  /** The device was deleted: `tick` closes its open alerts (a deleted device cannot clear them). */
  deviceRemoved(deviceId: string): void {
    const dev = this.devices.get(deviceId);
    if (dev === undefined) return;
    // once its alerts are closed, nothing of it needs keeping
    if (dev.removed && dev.pairs.size === 0) this.devices.delete(deviceId);
    dev.removed = true;
    dev.version = -1;
  }

  /**
   * Replaces the known open alerts of one device (or of all). Pairs with an intent in flight keep
   * what they have: `settle` brings their news, and a read that began before it would be older.
   */
  setOpen(alerts: readonly AlertRecord[], deviceId?: string): void {
    const forget = (dev: DeviceState) => {
      for (const [ruleId, state] of dev.pairs) if (!state.inFlight) dev.pairs.delete(ruleId);
    };
    if (deviceId === undefined) for (const dev of this.devices.values()) forget(dev);
    else {
      const dev = this.devices.get(deviceId);
      if (dev) forget(dev);
    }
    for (const alert of alerts) {
      if (deviceId !== undefined && alert.deviceId !== deviceId) continue;
      if (!isOpen(alert) || !this.rules.has(alert.ruleId)) continue;
      const dev = this.device(alert.deviceId);
      if (dev.pairs.get(alert.ruleId)?.inFlight) continue;
      dev.pairs.set(alert.ruleId, { alert, inFlight: false });
    }
  }

  /**
   * The service performed (alert: the store's answer) or lost (null, or what the store holds now) an
   * intent. Readings held meanwhile are evaluated now, in order: the intent they lead to, if any.
   */
  settle(ruleId: number, deviceId: string, alert: AlertRecord | null): Intent | null {
    const dev = this.devices.get(deviceId);
    if (!dev) return null;
    const held = dev.pairs.get(ruleId)?.held;
    if (isOpen(alert) && this.rules.has(ruleId)) dev.pairs.set(ruleId, { alert, inFlight: false });
    else dev.pairs.delete(ruleId);
    const c = this.rules.get(ruleId);
    if (held === undefined || c === undefined || !c.rule.enabled || c.kind !== 'threshold' || !dev.inScope.has(ruleId)) return null;
    for (let i = 0; i < held.length; i++) {
      const intent = this.onValue(dev, c, held[i].value, held[i].time);
      if (intent === null) continue;
      const rest = held.slice(i + 1);
      if (rest.length > 0) dev.pairs.get(ruleId)!.held = rest;
      return intent;
    }
    return null;
  }

  /** The open alerts known, for the firing gauge. */
  *openAlerts(): IterableIterator<AlertRecord> {
    for (const dev of this.devices.values()) {
      for (const state of dev.pairs.values()) if (state.alert !== null) yield state.alert;
    }
  }

  /** Whether `tick` needs device presence (only offline rules read it). */
  get watchesPresence(): boolean {
    return this.hasOffline;
  }

  /**
   * The hot path: `readings[from .. from + count)` of one device, as ingest accepted them. Null when
   * nothing moves, without allocating.
   */
  readings(deviceId: string, readings: Readings, from = 0, count = readings.length - from): Intent[] | null {
    if (this.enabled.length === 0) return null;
    const dev = this.device(deviceId);
    if (dev.version !== this.version) this.index(dev);
    if (dev.channels.size === 0) return null;
    let out: Intent[] | null = null;
    const { channel, time: times, value: values } = asBatch(readings);
    const end = from + count;
    for (let i = from; i < end; i++) {
      const watch = dev.channels.get(channel[i]);
      const time = times[i];
      // out of order or resent: already evaluated, or older than what was
      if (watch === undefined || time <= watch.last) continue;
      const value = values[i];
      watch.last = time;
      watch.value = value;
      for (const c of watch.threshold) {
        const intent = this.onValue(dev, c, value, time);
        if (intent !== null) (out ??= []).push(intent);
      }
      if (dev.pairs.size === 0) continue;
      for (const c of watch.noData) {
        const state = dev.pairs.get(c.rule.id);
        if (state === undefined || state.inFlight || state.alert === null) continue;
        (out ??= []).push(this.close(c, state, null, time));
      }
    }
    return out;
  }

  /** Time-driven transitions: for-durations without a new reading, no-data, offline, rules gone out of effect. */
  tick(now: number, devices: ReadonlyMap<string, DevicePresence>): Intent[] {
    const out: Intent[] = [];
    if (this.hasOffline) {
      for (const [deviceId, presence] of devices) {
        const dev = this.device(deviceId);
        if (dev.version !== this.version) this.index(dev);
        for (const c of dev.offline) {
          const state = dev.pairs.get(c.rule.id);
          if (state?.inFlight) continue;
          if (state?.alert) {
            if (presence.online) out.push(this.close(c, state, null, now));
          } else if (!presence.online && presence.lastSeen !== null && now - presence.lastSeen >= c.rule.offlineMs!) {
            out.push(this.open(dev, c, 'firing', null, presence.lastSeen + c.rule.offlineMs!));
          }
        }
      }
    }
    for (const dev of this.devices.values()) {
      if (dev.channels.size === 0 && dev.pairs.size === 0) continue;
      if (dev.version !== this.version) this.index(dev);
      for (const watch of dev.channels.values()) {
        if (watch.noData.length === 0 || watch.last === -Infinity) continue;
        for (const c of watch.noData) {
          if (dev.pairs.has(c.rule.id) || now - watch.last < c.rule.noDataMs!) continue;
          out.push(this.open(dev, c, 'firing', null, watch.last + c.rule.noDataMs!));
        }
      }
      for (const [ruleId, state] of dev.pairs) {
        const alert = state.alert;
        const c = this.rules.get(ruleId);
        if (state.inFlight || alert === null || c === undefined) continue;
        if (!c.rule.enabled || !dev.inScope.has(ruleId)) {
          out.push(this.close(c, state, null, now));
          continue;
        }
        if (c.kind !== 'threshold') continue;
        const watch = dev.channels.get(c.rule.channel!);
        if (watch === undefined || watch.last === -Infinity) continue;
        const beyond = watch.value > c.above || watch.value < c.below;
        if (alert.state === 'pending') {
          const pendingAt = alert.pendingAt ?? alert.updatedAt;
          if (beyond && now >= pendingAt + c.rule.forMs) out.push(this.advance(c, state, 'firing', watch.value, pendingAt + c.rule.forMs));
          // a reading that came while the alert was being opened
          else if (!beyond && watch.last > pendingAt) out.push(this.advance(c, state, 'cancelled', watch.value, watch.last));
        } else if (alert.state === 'firing' && watch.last > (alert.firedAt ?? alert.updatedAt) && this.cleared(c, watch.value)) {
          out.push(this.advance(c, state, 'resolved', watch.value, watch.last));
        }
      }
    }
    return out;
  }

  private cleared(c: CompiledRule, value: number): boolean {
    return value <= c.clearHigh && value >= c.clearLow;
  }

  private onValue(dev: DeviceState, c: CompiledRule, value: number, time: number): Intent | null {
    const beyond = value > c.above || value < c.below;
    const state = dev.pairs.size === 0 ? undefined : dev.pairs.get(c.rule.id);
    if (state === undefined) return beyond ? this.open(dev, c, c.rule.forMs === 0 ? 'firing' : 'pending', value, time) : null;
    const alert = state.alert;
    if (state.inFlight) {
      const held = (state.held ??= []);
      if (held.length < MAX_HELD) held.push({ value, time });
      else held[MAX_HELD - 1] = { value, time };
      return null;
    }
    if (alert === null) return null;
    if (alert.state === 'pending') {
      if (!beyond) return this.advance(c, state, 'cancelled', value, time);
      if (time - (alert.pendingAt ?? alert.updatedAt) >= c.rule.forMs) return this.advance(c, state, 'firing', value, time);
      return null;
    }
    if (alert.state === 'firing' && this.cleared(c, value)) return this.advance(c, state, 'resolved', value, time);
    return null;
  }

  private open(dev: DeviceState, c: CompiledRule, to: 'pending' | 'firing', value: number | null, at: number): Intent {
    dev.pairs.set(c.rule.id, { alert: null, inFlight: true });
    return { kind: 'open', rule: c.rule, deviceId: dev.id, t: { to, value, at } };
  }

  private advance(c: CompiledRule, state: PairState, to: AlertState, value: number | null, at: number): Intent {
    const alert = state.alert!;
    state.inFlight = true;
    return { kind: 'advance', rule: c.rule, alert, from: alert.state, t: { to, value, at } };
  }

  /** The condition is over (or the rule no longer applies): a firing alert resolves, a pending one is cancelled. */
  private close(c: CompiledRule, state: PairState, value: number | null, at: number): Intent {
    return this.advance(c, state, state.alert!.state === 'firing' ? 'resolved' : 'cancelled', value, at);
  }

  private device(deviceId: string): DeviceState {
    let dev = this.devices.get(deviceId);
    if (dev === undefined) {
      dev = { id: deviceId, name: null, version: -1, channels: new Map(), offline: [], inScope: new Set(), pairs: new Map(), removed: false };
      this.devices.set(deviceId, dev);
    }
    return dev;
  }

  /** Which enabled rules watch this device, by channel; a watched channel keeps its last reading across rebuilds. */
  private index(dev: DeviceState): void {
    const channels = new Map<string, ChannelWatch>();
    const offline: CompiledRule[] = [];
    const inScope = new Set<number>();
    for (const c of this.enabled) {
      if (dev.removed || !c.inScope(dev.id, dev.name)) continue;
      inScope.add(c.rule.id);
      if (c.kind === 'offline') {
        offline.push(c);
        continue;
      }
      const channel = c.rule.channel!;
      let watch = channels.get(channel);
      if (watch === undefined) {
        const old = dev.channels.get(channel);
        watch = { threshold: [], noData: [], last: old?.last ?? -Infinity, value: old?.value ?? NaN };
        channels.set(channel, watch);
      }
      (c.kind === 'threshold' ? watch.threshold : watch.noData).push(c);
    }
    dev.channels = channels;
    dev.offline = offline;
    dev.inScope = inScope;
    dev.version = this.version;
  }
}
