import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { AlertView } from '../http/wire.ts';
import { createLocalLiveBus, type LiveBus } from '../live/live-bus.ts';
import { createMetrics, type Metrics } from '../metrics.ts';
import type { Reading } from '../store/store.ts';
import { AlertService, type AlertServiceOptions } from './alert-service.ts';
import type { AlertStore } from './alert-store.ts';
import type { DevicePresence } from './evaluator.ts';
import type { RuleFields } from './rule-input.ts';
import { createSqliteAlertStore } from './sqlite-alert-store.ts';

const hot: RuleFields = {
  name: 'hot', description: '', devices: '*', channel: 'temp', above: 30, below: null, clear: null, forMs: 0, noDataMs: null,
  offlineMs: null, severity: 'warning', enabled: true,
  actions: [{ type: 'command', name: 'fan.on', args: { speed: 3 }, on: 'firing' }, { type: 'command', name: 'fan.off', args: {}, on: 'resolved' }],
};

const readings = (deviceId: string, ...points: [time: number, value: number][]): Reading[] =>
  points.map(([time, value]) => ({ deviceId, channel: 'temp', time, value }));

let dir: string;
let path: string;
let live: LiveBus;
/** every alert event on the bus, as "device state" */
let heard: AlertView[];
let clock: number;
const closers: (() => Promise<void>)[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'alert-service-'));
  path = join(dir, 'alerts.db');
  live = createLocalLiveBus();
  heard = [];
  live.subscribe((event) => {
    if (event.type === 'alert') heard.push(event.alert);
  });
  clock = 1_000_000;
});

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  await rm(dir, { recursive: true, force: true });
});

interface Hub {
  service: AlertService;
  store: AlertStore;
  metrics: Metrics;
  commands: [deviceId: string, name: string, args: unknown][];
  presence: Map<string, DevicePresence>;
  names: Map<string, string>;
  /** what onTransition heard, as "from→to alertId" */
  transitions: string[];
}

/** A service on its own connection to the shared alerts.db, as a hub process would hold. */
async function startHub(overrides: Partial<AlertServiceOptions> = {}): Promise<Hub> {
  const store = createSqliteAlertStore({ path });
  const metrics = createMetrics();
  const commands: Hub['commands'] = [];
  const presence = new Map<string, DevicePresence>();
  const names = new Map<string, string>();
  const transitions: string[] = [];
  const service = new AlertService({
    store, live, metrics, log: pino({ level: 'silent' }),
    sendCommand: async (deviceId, name, args) => {
      commands.push([deviceId, name, args]);
      return { id: commands.length };
    },
    deviceNames: async () => new Map(names),
    presence: { list: async () => presence },
    // the clock is driven by the tests (ticks only where a test asks for them)
    tickMs: 3_600_000, refreshMs: 3_600_000,
    now: () => clock,
    onTransition: (event, alert) => transitions.push(`${event.from}→${event.to} ${alert.id}`),
    ...overrides,
  });
  await service.start();
  closers.push(async () => {
    await service.close();
    await store.close();
  });
  return { service, store, metrics, commands, presence, names, transitions };
}

const states = () => heard.map((a) => `${a.deviceId} ${a.state}`);

async function metric(metrics: Metrics, name: string): Promise<string> {
  return (await metrics.registry.getSingleMetricAsString(name)).split('\n').filter((l) => !l.startsWith('#')).join('\n');
}

describe('AlertService', () => {
  it('records each transition, publishes it live, counts it and runs the actions that match', async () => {
    const hub = await startHub();
    const rule = await hub.service.createRule(hot);
    hub.service.readings('d1', readings('d1', [100, 25]));
    hub.service.readings('d1', readings('d1', [200, 31]));
    await hub.service.idle();
    expect(states()).toEqual(['d1 firing']);
    expect(heard[0]).toMatchObject({ ruleId: rule.id, ruleName: 'hot', channel: 'temp', value: 31, firedAt: new Date(200).toISOString() });
    expect(hub.commands).toEqual([['d1', 'fan.on', { speed: 3 }]]);

    hub.service.readings('d1', readings('d1', [300, 35]));
    await hub.service.idle();
    expect(states()).toEqual(['d1 firing']);

    hub.service.readings('d1', readings('d1', [400, 20]));
    await hub.service.idle();
    expect(states()).toEqual(['d1 firing', 'd1 resolved']);
    expect(hub.commands).toEqual([['d1', 'fan.on', { speed: 3 }], ['d1', 'fan.off', {}]]);

    const [alert] = await hub.store.listAlerts({ deviceId: 'd1' });
    expect((await hub.store.events(alert.id)).map((e) => `${e.from}→${e.to}@${e.at}`)).toEqual(['ok→firing@200', 'firing→resolved@400']);
    expect(await metric(hub.metrics, 'hub_alert_transitions_total')).toContain('hub_alert_transitions_total{to="firing"} 1');
    expect(await metric(hub.metrics, 'hub_alert_transitions_total')).toContain('hub_alert_transitions_total{to="resolved"} 1');
  });

  it('reads only the slice of a shared batch it is given', async () => {
    const hub = await startHub();
    await hub.service.createRule(hot);
    const batch = [...readings('d0', [1, 99]), ...readings('d1', [1, 20], [2, 31]), ...readings('d2', [1, 99])];
    hub.service.readings('d1', batch, 1, 2);
    await hub.service.idle();
    expect(states()).toEqual(['d1 firing']);
  });

  it('reports firing alerts by severity at scrape', async () => {
    const hub = await startHub();
    await hub.service.createRule(hot);
    await hub.service.createRule({ ...hot, name: 'very hot', above: 40, severity: 'critical', actions: [] });
    hub.service.readings('d1', readings('d1', [1, 35]));
    hub.service.readings('d2', readings('d2', [1, 45]));
    await hub.service.idle();
    const text = await metric(hub.metrics, 'hub_alerts_firing');
    expect(text).toContain('hub_alerts_firing{severity="warning"} 2');
    expect(text).toContain('hub_alerts_firing{severity="critical"} 1');
    expect(text).toContain('hub_alerts_firing{severity="info"} 0');
    hub.service.readings('d2', readings('d2', [2, 0]));
    await hub.service.idle();
    expect(await metric(hub.metrics, 'hub_alerts_firing')).toContain('hub_alerts_firing{severity="critical"} 0');
  });

  it('after a restart on the same file, a firing alert stays firing and is not announced again', async () => {
    const first = await startHub();
    await first.service.createRule(hot);
    first.service.readings('d1', readings('d1', [1, 31]));
    await first.service.close();
    expect(states()).toEqual(['d1 firing']);

    const second = await startHub();
    second.service.readings('d1', readings('d1', [2, 35], [3, 40]));
    await second.service.idle();
    expect(states()).toEqual(['d1 firing']);
    expect(second.commands).toEqual([]);
    expect(await metric(second.metrics, 'hub_alerts_firing')).toContain('hub_alerts_firing{severity="warning"} 1');

    second.service.readings('d1', readings('d1', [4, 10]));
    await second.service.idle();
    expect(states()).toEqual(['d1 firing', 'd1 resolved']);
    expect(second.commands).toEqual([['d1', 'fan.off', {}]]);
  });

  it('two hubs on one file: the one that loses a compare-and-set announces nothing and carries on from the store', async () => {
    const a = await startHub();
    const b = await startHub();
    await a.service.createRule(hot);
    // b learns of the rule as it would from its refresh
    await b.service.updateRule((await b.service.listRules())[0].id, hot);

    a.service.readings('d1', readings('d1', [1, 31]));
    await a.service.idle();
    b.service.readings('d1', readings('d1', [1, 31]));
    await b.service.idle();
    expect(states()).toEqual(['d1 firing']);

    a.service.readings('d1', readings('d1', [2, 20]));
    await a.service.idle();
    b.service.readings('d1', readings('d1', [2, 20]));
    await b.service.idle();
    expect(states()).toEqual(['d1 firing', 'd1 resolved']);
    expect([...a.commands, ...b.commands]).toEqual([['d1', 'fan.on', { speed: 3 }], ['d1', 'fan.off', {}]]);

    // b took the store's word: the next episode is opened by whichever hub sees it first, once
    const aCommands = a.commands.length;
    b.service.readings('d1', readings('d1', [3, 33]));
    await b.service.idle();
    a.service.readings('d1', readings('d1', [3, 33]));
    await a.service.idle();
    expect(states()).toEqual(['d1 firing', 'd1 resolved', 'd1 firing']);
    expect(b.commands.at(-1)).toEqual(['d1', 'fan.on', { speed: 3 }]);
    expect(a.commands).toHaveLength(aCommands);
    expect(await a.store.listAlerts({ state: 'open' })).toHaveLength(1);
    expect(a.transitions).toEqual([`ok→firing ${heard[0].id}`, `firing→resolved ${heard[0].id}`]);
    expect(b.transitions).toEqual([`ok→firing ${heard[2].id}`]);
  });

  it('a silenced alert is recorded and shown but runs no actions', async () => {
    const hub = await startHub();
    await hub.service.createRule({ ...hot, forMs: 1000 });
    hub.service.readings('d1', readings('d1', [1000, 31]));
    await hub.service.idle();
    const [pending] = await hub.store.listAlerts({ state: 'open' });
    const silenced = await hub.service.silence(pending.id, 60_000);
    expect(silenced?.silencedUntil).toBe(clock + 60_000);
    clock += 10_000;
    hub.service.readings('d1', readings('d1', [2000, 32]));
    await hub.service.idle();
    hub.service.readings('d1', readings('d1', [3000, 20]));
    await hub.service.idle();
    expect(states()).toEqual(['d1 pending', 'd1 pending', 'd1 firing', 'd1 resolved']);
    expect(heard[1].silencedUntil).toBe(new Date(clock - 10_000 + 60_000).toISOString());
    expect(hub.commands).toEqual([]);
  });

  it('ending a silence lets actions run again', async () => {
    const hub = await startHub();
    await hub.service.createRule({ ...hot, forMs: 1000 });
    hub.service.readings('d1', readings('d1', [clock, 31]));
    await hub.service.idle();
    const [pending] = await hub.store.listAlerts({ state: 'open' });
    await hub.service.silence(pending.id, 60_000);
    expect((await hub.service.silence(pending.id, 0))?.silencedUntil).toBeNull();
    hub.service.readings('d1', readings('d1', [clock + 1000, 31]));
    await hub.service.idle();
    expect(hub.commands).toEqual([['d1', 'fan.on', { speed: 3 }]]);
  });

  it('acknowledging an alert publishes it', async () => {
    const hub = await startHub();
    await hub.service.createRule(hot);
    hub.service.readings('d1', readings('d1', [1, 31]));
    await hub.service.idle();
    const acked = await hub.service.acknowledge(heard[0].id);
    expect(acked?.acknowledgedAt).toBe(clock);
    expect(heard.at(-1)).toMatchObject({ state: 'firing', acknowledgedAt: new Date(clock).toISOString() });
    expect(await hub.service.acknowledge(12345)).toBeUndefined();
  });

  it('a failing command is counted and the transition still stands', async () => {
    const hub = await startHub({ sendCommand: async () => { throw new Error('queue full'); } });
    await hub.service.createRule(hot);
    hub.service.readings('d1', readings('d1', [1, 31]));
    await hub.service.idle();
    expect(states()).toEqual(['d1 firing']);
    expect(await metric(hub.metrics, 'hub_alert_action_failures_total')).toContain('hub_alert_action_failures_total 1');
  });

  it('never throws into ingest, even when the store fails; the pair is tried again later', async () => {
    const hub = await startHub();
    await hub.service.createRule(hot);
    await hub.store.close();
    expect(() => hub.service.readings('d1', readings('d1', [1, 31]))).not.toThrow();
    await hub.service.idle();
    expect(states()).toEqual([]);
  });

  it('rule changes apply at once: a disabled rule fires nothing until enabled', async () => {
    const hub = await startHub();
    const rule = await hub.service.createRule({ ...hot, enabled: false });
    hub.service.readings('d1', readings('d1', [1, 31]));
    await hub.service.idle();
    expect(states()).toEqual([]);
    await hub.service.updateRule(rule.id, hot);
    hub.service.readings('d1', readings('d1', [2, 31]));
    await hub.service.idle();
    expect(states()).toEqual(['d1 firing']);
  });

  it('deleting a rule shows its open alerts cancelled', async () => {
    const hub = await startHub();
    const rule = await hub.service.createRule(hot);
    hub.service.readings('d1', readings('d1', [1, 31]));
    await hub.service.idle();
    expect(await hub.service.deleteRule(rule.id)).toBe(true);
    expect(states()).toEqual(['d1 firing', 'd1 cancelled']);
    expect(await hub.service.deleteRule(rule.id)).toBe(false);
    hub.service.readings('d1', readings('d1', [2, 20], [3, 40]));
    await hub.service.idle();
    expect(states()).toEqual(['d1 firing', 'd1 cancelled']);
  });

  it('matches patterns against device names and follows renames', async () => {
    const hub = await startHub();
    hub.names.set('a1', 'gh-north');
    await hub.service.devicesChanged();
    await hub.service.createRule({ ...hot, devices: ['gh-*'] });
    hub.service.readings('a1', readings('a1', [1, 31]));
    hub.service.readings('a2', readings('a2', [1, 31]));
    await hub.service.idle();
    expect(states()).toEqual(['a1 firing']);
    hub.names.set('a2', 'gh-south');
    await hub.service.deviceRenamed();
    hub.service.readings('a2', readings('a2', [2, 31]));
    await hub.service.idle();
    expect(states()).toEqual(['a1 firing', 'a2 firing']);
    hub.names.delete('a1');
    await hub.service.devicesChanged();
    // a1 has left the rule: its readings move nothing (a tick closes its open alert)
    hub.service.readings('a1', readings('a1', [2, 10], [3, 35]));
    await hub.service.idle();
    expect(states()).toEqual(['a1 firing', 'a2 firing']);
  });

  it('ticks fire offline rules from presence, and resolve them when the device is back', async () => {
    const hub = await startHub({ tickMs: 5 });
    await hub.service.createRule({ ...hot, channel: null, above: null, offlineMs: 60_000, actions: [] });
    hub.presence.set('d1', { online: false, lastSeen: clock - 61_000 });
    hub.presence.set('d2', { online: false, lastSeen: clock - 1000 });
    await vi.waitFor(() => expect(states()).toEqual(['d1 firing']));
    expect(heard[0]).toMatchObject({ channel: null, value: null, firedAt: new Date(clock - 1000).toISOString() });
    hub.presence.set('d1', { online: true, lastSeen: clock });
    await vi.waitFor(() => expect(states()).toEqual(['d1 firing', 'd1 resolved']));
  });

  it('ticks fire no-data rules, and a reading resolves them', async () => {
    const hub = await startHub({ tickMs: 5 });
    await hub.service.createRule({ ...hot, above: null, noDataMs: 10_000, actions: [] });
    hub.service.readings('d1', readings('d1', [clock - 5000, 1]));
    await hub.service.idle();
    clock += 5000;
    await vi.waitFor(() => expect(states()).toEqual(['d1 firing']));
    hub.service.readings('d1', readings('d1', [clock, 1]));
    await vi.waitFor(() => expect(states()).toEqual(['d1 firing', 'd1 resolved']));
  });

  it('a refresh takes up rules and alerts another hub changed', async () => {
    const a = await startHub({ refreshMs: 5 });
    const b = await startHub({ refreshMs: 5 });
    await b.service.createRule(hot);
    await vi.waitFor(() => {
      a.service.readings('d1', readings('d1', [clock++, 31]));
      expect(states()).toEqual(['d1 firing']);
    });
    // b learns of the alert a opened, and resolves it
    await vi.waitFor(async () => {
      b.service.readings('d1', readings('d1', [clock++, 10]));
      await b.service.idle();
      expect(states()).toEqual(['d1 firing', 'd1 resolved']);
    });
    // a learns the alert is over and, with the condition back, opens a new one
    await vi.waitFor(async () => {
      a.service.readings('d1', readings('d1', [clock++, 31]));
      await a.service.idle();
      expect(states()).toEqual(['d1 firing', 'd1 resolved', 'd1 firing']);
    });
    expect(a.commands.map(([, name]) => name)).toEqual(['fan.on', 'fan.on']);
    expect(b.commands.map(([, name]) => name)).toEqual(['fan.off']);
  });
});
