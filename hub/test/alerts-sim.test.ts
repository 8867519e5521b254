// An alert from end to end: device-sim, in its own process, drives a device's temperature over a
// rule's threshold and back (--fault excursion) while dropping its connection every 2 s (--fault
// drop), against a real hub. The alert's times are checked against the readings the hub stored,
// and the reconnects while it fires (with the readings kept meanwhile sent late) open no second one.
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { AlertView, HistoryResponse, LiveMessage } from '../src/http/wire.ts';
import { startTestHub, waitFor, type TestHub } from './support/hub-fixture.ts';

const root = new URL('../..', import.meta.url).pathname;

interface AlertDetail {
  alert: AlertView;
  events: { from: string; to: string; value: number | null; at: string }[];
}

const ABOVE = 45;
const CLEAR = 40;
const FOR_MS = 2000;
// A room reads about 12 to 32 °C (sensors/temperature.ts), so +50 lands above 60: every normal
// reading is below the clear level and every shifted one above the threshold.
const EXCURSION = 'excursion:temperature:+50/3/10';

describe('an alert driven over its threshold and back by device-sim', () => {
  let hub: TestHub;
  let sim: ChildProcess | null = null;
  let live: WebSocket | null = null;

  beforeAll(async () => {
    hub = await startTestHub();
  });
  afterAll(async () => {
    live?.terminate();
    if (sim?.pid && sim.exitCode === null && sim.signalCode === null) process.kill(sim.pid, 'SIGKILL');
    await hub?.stop();
  });

  async function json<T>(path: string, init?: RequestInit): Promise<T> {
    const res = await hub.api(path, init);
    const body = await res.text();
    if (!res.ok) throw new Error(`${init?.method ?? 'GET'} ${path}: HTTP ${res.status} ${body}`);
    return JSON.parse(body) as T;
  }

  it('goes pending → firing → resolved at the times of the stored readings, and reconnects while firing open no second alert', async () => {
    const id = 'exc-0001';
    const startedAt = Date.now();
    const rule = await json<{ id: number }>('/api/rules', {
      method: 'POST',
      body: JSON.stringify({ name: 'hot room', devices: [id], channel: 'temperature', above: ABOVE, clear: CLEAR, forMs: FOR_MS, severity: 'warning' }),
    });

    // status events reach every live client, subscribed or not
    const statuses: { online: boolean; at: number }[] = [];
    live = new WebSocket(hub.url.replace('http', 'ws') + '/ws/live', { headers: { authorization: `Bearer ${hub.adminToken}` } });
    live.on('message', (data) => {
      const message = JSON.parse(data.toString()) as LiveMessage;
      if (message.type === 'status' && message.deviceId === id) statuses.push({ online: message.online, at: message.at });
    });
    await new Promise((resolve, reject) => live!.once('open', resolve).once('error', reject));

    // 10 frames/s: a reconnect takes at least 125 ms of backoff, so every drop leaves frames to send
    // late. Summary lines sample the peak of devices online: the exit code needs it above 0, and
    // at exit the device may be between a drop and its reconnect.
    const child = (sim = spawn(process.execPath, ['--import', 'tsx', 'device-sim/src/cli.ts',
      '--hub', hub.url, '--token', hub.adminToken, '--devices', '1', '--prefix', 'exc-', '--rate', '10',
      '--channels', 'temperature', '--duration', '17', '--summary-interval', '1', '--seed', '7',
      '--fault', EXCURSION, '--fault', 'drop:2',
    ], { cwd: root, env: { ...process.env, HUB_ADMIN_TOKEN: '' }, stdio: ['ignore', 'pipe', 'pipe'] }));
    let output = '';
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code, output).toBe(0);
    expect(output).toContain(`temperature +50 for 10 s from 3 s after each device's first connect`);
    expect(Number(/drops ([\d,]+)/.exec(output)?.[1].replace(/,/g, '')), output).toBeGreaterThan(0);
    expect(Number(/([\d,]+) resent/.exec(output)?.[1].replace(/,/g, '')), output).toBeGreaterThan(0);

    const alerts = (await waitFor(async () => {
      const page = await json<{ alerts: AlertView[] }>(`/api/alerts?state=all&device=${id}`);
      return page.alerts.some((a) => a.state !== 'pending' && a.state !== 'firing') ? page.alerts : null;
    }, 'the alert to end', 15_000))!;
    expect(alerts.map((a) => [a.ruleId, a.deviceId, a.state])).toEqual([[rule.id, id, 'resolved']]);

    const history = await json<HistoryResponse>(`/api/devices/${id}/readings?format=json&channel=temperature&from=${startedAt - 1000}&to=${Date.now() + 1000}`);
    expect(history.truncated).toBe(false);
    const points = history.points.slice().sort((a, b) => a.time - b.time);
    const first = points.findIndex((p) => p.value > ABOVE);
    // normal readings before the excursion, and none of them anywhere near the threshold
    expect(first, JSON.stringify(points)).toBeGreaterThan(0);
    expect(points.slice(0, first).every((p) => p.value <= CLEAR)).toBe(true);
    const t0 = points[first].time;
    const fired = points.find((p) => p.value > ABOVE && p.time - t0 >= FOR_MS)!;
    const resolved = points.find((p) => p.time > fired.time && p.value <= CLEAR)!;
    expect(fired).toBeDefined();
    expect(resolved).toBeDefined();
    // one unbroken excursion: every reading from its first to the resolving one is above
    expect(points.filter((p) => p.time >= t0 && p.time < resolved.time).every((p) => p.value > ABOVE)).toBe(true);

    const { alert, events } = await json<AlertDetail>(`/api/alerts/${alerts[0].id}`);
    expect(alert).toMatchObject({ ruleName: 'hot room', channel: 'temperature', severity: 'warning', state: 'resolved' });
    expect(alert.pendingAt).toBe(new Date(t0).toISOString());
    expect(alert.firedAt).toBe(new Date(fired.time).toISOString());
    expect(alert.resolvedAt).toBe(new Date(resolved.time).toISOString());
    expect(events.map((e) => [e.from, e.to, e.at])).toEqual([
      ['ok', 'pending', new Date(t0).toISOString()],
      ['pending', 'firing', new Date(fired.time).toISOString()],
      ['firing', 'resolved', new Date(resolved.time).toISOString()],
    ]);
    // firing may be decided by the clock when the reading that completes forMs is late (a drop):
    // its time is still that reading's, but its value is the last one heard
    expect([events[0].value, events[2].value]).toEqual([points[first].value, resolved.value]);

    // the device went offline and came back while the alert was firing
    const whileFiring = statuses.filter((s) => s.at > fired.time && s.at < resolved.time);
    const offline = whileFiring.findIndex((s) => !s.online);
    expect(offline, JSON.stringify({ statuses, fired: fired.time, resolved: resolved.time })).toBeGreaterThanOrEqual(0);
    expect(whileFiring.slice(offline).some((s) => s.online)).toBe(true);
  }, 60_000);
});
