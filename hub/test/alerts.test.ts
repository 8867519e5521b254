// Alerts end to end on a real hub: rules over REST, readings from a real device client, alert
// events on /ws/live, /api/alerts, /metrics, and signed webhook deliveries to a real HTTP receiver
// in this process: once each, in order, also across a hub killed with SIGKILL.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { DeviceClient } from '../../device-sim/src/device-client.ts';
import type { AlertView, WebhookDelivery } from '../src/http/wire.ts';
import { startTestHub, TEST_CHANNELS, waitFor, type TestHub } from './support/hub-fixture.ts';

const root = new URL('../..', import.meta.url).pathname;
const SECRET = 'a-webhook-secret-of-some-length';
const TOKEN = 'alerts-test-admin-token';

interface Received {
  body: WebhookDelivery;
  raw: string;
  signatureOk: boolean;
}

/** A webhook receiver: records what it accepts; `mode` decides how it answers. */
class Receiver {
  readonly received: Received[] = [];
  mode: 'ok' | 'fail' = 'ok';
  private server: Server | null = null;
  port = 0;

  async listen(port = 0): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req).then((status) => res.writeHead(status).end(), () => res.writeHead(400).end()));
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  private async handle(req: IncomingMessage): Promise<number> {
    let raw = '';
    for await (const chunk of req) raw += chunk;
    if (this.mode === 'fail') return 500;
    const expected = 'sha256=' + createHmac('sha256', SECRET).update(raw).digest('hex');
    this.received.push({ body: JSON.parse(raw) as WebhookDelivery, raw, signatureOk: req.headers['x-hub-signature-256'] === expected });
    return 200;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

const receivers: Receiver[] = [];
async function receiver(port?: number): Promise<Receiver> {
  const r = new Receiver();
  await r.listen(port);
  receivers.push(r);
  return r;
}

async function json<T>(res: Response | Promise<Response>, status = 200): Promise<T> {
  const answer = await res;
  const text = await answer.text();
  expect(answer.status, text).toBe(status);
  return (text ? JSON.parse(text) : null) as T;
}

type Api = (path: string, init?: RequestInit) => Promise<Response>;
const post = (api: Api, path: string, body: unknown) => api(path, { method: 'POST', body: JSON.stringify(body) });
const alertsOf = async (api: Api, query: string) => (await json<{ alerts: AlertView[] }>(api(`/api/alerts?${query}`))).alerts;
const temperature = (value: number) => [{ channel: 1, type: 'f32' as const, offset: 0, value }];

describe('alerts on one hub', () => {
  const hubs: TestHub[] = [];
  afterEach(async () => {
    await Promise.all(hubs.splice(0).map((h) => h.stop()));
    await Promise.all(receivers.splice(0).map((r) => r.close()));
  });

  it('a threshold rule with hysteresis fires and resolves once; /ws/live, /api/alerts, /metrics and a signed webhook each see it once', async () => {
    const hub = await startTestHub();
    hubs.push(hub);
    const hook = await receiver();
    await json(post(hub.api, '/api/webhooks', { url: hook.url, secret: SECRET }), 201);
    const rule = await json<{ id: number }>(post(hub.api, '/api/rules', {
      name: 'cold room warm', devices: ['al-1'], channel: 'temperature', above: 30, clear: 25, severity: 'critical',
    }), 201);
    const live = new WebSocket(hub.url.replace('http', 'ws') + '/ws/live', { headers: { authorization: `Bearer ${hub.adminToken}` } });
    const liveAlerts: AlertView[] = [];
    live.on('message', (d) => {
      const message = JSON.parse(d.toString()) as { type: string; alert?: AlertView };
      if (message.type === 'alert') liveAlerts.push(message.alert!);
    });
    await new Promise((r) => live.on('open', r));

    const device = hub.device('al-1', await hub.provision('al-1'));
    await device.connect();
    const t0 = Date.now() - 60_000;
    // 20 → 35 fires; 28 stays firing (above the clear level); 24 resolves; 36 fires a second alert
    const values = [20, 35, 31, 28, 24, 22];
    values.forEach((v, i) => device.sendReadings(temperature(v), t0 + i * 1000));
    await device.waitAcked();

    const [resolved] = (await waitFor(async () => {
      const found = await alertsOf(hub.api, 'state=resolved&device=al-1');
      return found.length > 0 ? found : null;
    }, 'a resolved alert'))!;
    expect(resolved).toMatchObject({ ruleId: rule.id, deviceId: 'al-1', channel: 'temperature', state: 'resolved', severity: 'critical', value: 24 });
    expect(resolved.firedAt).toBe(new Date(t0 + 1000).toISOString());
    expect(resolved.resolvedAt).toBe(new Date(t0 + 4000).toISOString());
    expect(await alertsOf(hub.api, 'state=all')).toHaveLength(1);
    const detail = await json<{ events: { from: string; to: string }[] }>(hub.api(`/api/alerts/${resolved.id}`));
    expect(detail.events.map((e) => `${e.from}>${e.to}`)).toEqual(['ok>firing', 'firing>resolved']);

    await waitFor(() => hook.received.length >= 2 && liveAlerts.length >= 2, 'deliveries and live events');
    expect(hook.received.map((r) => r.body.event)).toEqual(['firing', 'resolved']);
    expect(hook.received.every((r) => r.signatureOk)).toBe(true);
    expect(new Set(hook.received.map((r) => r.body.idempotencyKey)).size).toBe(2);
    expect(hook.received[1].body.alert).toMatchObject({ id: resolved.id, state: 'resolved', value: 24 });
    expect(liveAlerts.map((a) => a.state)).toEqual(['firing', 'resolved']);

    // the same readings again (a device that lost its ACKs resends them) change nothing
    await device.reboot();
    await device.connect().catch(() => undefined);
    device.sendReadings(temperature(40), t0 + 1000);
    device.sendReadings(temperature(20), t0 + 20_000);
    await device.waitAcked();
    await hub.api('/healthz');
    expect(await alertsOf(hub.api, 'state=all')).toHaveLength(1);

    // above again: a new alert; /metrics counts it under its severity
    device.sendReadings(temperature(33), t0 + 21_000);
    await device.waitAcked();
    await waitFor(async () => (await alertsOf(hub.api, 'state=firing')).length === 1, 'a second alert firing');
    const metrics = await (await hub.api('/metrics')).text();
    expect(metrics).toMatch(/^hub_alerts_firing\{severity="critical"\} 1$/m);

    // a deleted device cannot clear its alerts: they resolve
    expect((await hub.api('/api/devices/al-1', { method: 'DELETE' })).status).toBe(204);
    await waitFor(async () => (await alertsOf(hub.api, 'state=open')).length === 0, 'the deleted device\'s alert resolved');
    live.close();
  });

  it('a command action reaches the device when the alert fires, recorded like any command; a silenced alert runs none', async () => {
    const hub = await startTestHub();
    hubs.push(hub);
    await json(post(hub.api, '/api/rules', {
      name: 'fan on when hot', devices: ['fan-1'], channel: 'temperature', above: 30, severity: 'warning',
      actions: [{ type: 'command', name: 'fan', args: { on: true } }, { type: 'command', name: 'fan', args: { on: false }, on: 'resolved' }],
    }), 201);
    const device = hub.device('fan-1', await hub.provision('fan-1'), { onCommand: (c) => ({ status: 'succeeded', payload: c.args }) });
    const seen: { name: string; args: string }[] = [];
    device.on('command', (c) => seen.push({ name: c.name, args: c.args }));
    await device.connect();
    const t0 = Date.now() - 10_000;
    device.sendReadings(temperature(35), t0);
    await device.waitAcked();
    await waitFor(() => seen.length === 1, 'the firing action at the device');
    expect(seen[0]).toEqual({ name: 'fan', args: '{"on":true}' });
    const recorded = await waitFor(async () => {
      const list = await json<{ name: string; args: unknown; status: string }[]>(hub.api('/api/devices/fan-1/commands'));
      return list.length === 1 && list[0].status === 'succeeded' ? list : null;
    }, 'the command recorded and answered');
    expect(recorded![0]).toMatchObject({ name: 'fan', args: { on: true } });

    device.sendReadings(temperature(20), t0 + 1000);
    await device.waitAcked();
    await waitFor(() => seen.length === 2, 'the resolved action at the device');
    expect(seen[1]).toEqual({ name: 'fan', args: '{"on":false}' });

    // fire again, silence it, resolve: the resolved action is not run while silenced
    device.sendReadings(temperature(36), t0 + 2000);
    await device.waitAcked();
    await waitFor(() => seen.length === 3, 'the second firing action');
    const [firing] = await alertsOf(hub.api, 'state=firing');
    await json(post(hub.api, `/api/alerts/${firing.id}/silence`, { forMs: 3_600_000 }));
    device.sendReadings(temperature(20), t0 + 3000);
    await device.waitAcked();
    await waitFor(async () => (await alertsOf(hub.api, 'state=resolved')).length === 2, 'the silenced alert resolved');
    // a command sent after it arrives after anything the transition sent (one device's commands keep their order)
    await json(post(hub.api, '/api/devices/fan-1/commands', { name: 'ping' }), 202);
    await waitFor(() => seen.some((c) => c.name === 'ping'), 'the ping after it');
    expect(seen.map((c) => c.name)).toEqual(['fan', 'fan', 'fan', 'ping']);
  });

  it('no-data and offline rules fire on the clock and resolve when data and the device come back', async () => {
    const hub = await startTestHub();
    hubs.push(hub);
    await json(post(hub.api, '/api/rules', { name: 'humidity silent', devices: ['quiet-1'], channel: 'humidity', noDataMs: 1000, severity: 'warning' }), 201);
    await json(post(hub.api, '/api/rules', { name: 'gone', devices: ['quiet-*'], offlineMs: 1000, severity: 'critical' }), 201);
    const token = await hub.provision('quiet-1');
    const device = hub.device('quiet-1', token);
    await device.connect();
    const humidity = (value: number, time: number) => device.sendReadings([{ channel: 2, type: 'f64', offset: 0, value }], time);
    const first = Date.now() - 100;
    humidity(50, first);
    await device.waitAcked();
    const [silent] = (await waitFor(async () => {
      const found = await alertsOf(hub.api, 'state=firing&device=quiet-1');
      return found.length > 0 ? found : null;
    }, 'the no-data alert firing'))!;
    expect(silent).toMatchObject({ channel: 'humidity', value: null, firedAt: new Date(first + 1000).toISOString() });
    const back = Date.now();
    humidity(51, back);
    await device.waitAcked();
    await waitFor(async () => (await alertsOf(hub.api, 'state=resolved&device=quiet-1')).length === 1, 'the no-data alert resolved by a reading');
    expect((await alertsOf(hub.api, 'state=resolved&device=quiet-1'))[0].resolvedAt).toBe(new Date(back).toISOString());

    await device.close();
    const [gone] = (await waitFor(async () => {
      const found = (await alertsOf(hub.api, 'state=firing&device=quiet-1')).filter((a) => a.channel === null);
      return found.length > 0 ? found : null;
    }, 'the offline alert firing'))!;
    expect(gone).toMatchObject({ severity: 'critical', ruleName: 'gone' });
    const again = hub.device('quiet-1', token);
    await again.connect();
    await waitFor(async () => (await alertsOf(hub.api, 'state=open&device=quiet-1')).every((a) => a.channel !== null), 'the offline alert resolved');
  });

  it('rules are validated with the error shape and the field at fault; ack and silence are kept', async () => {
    const hub = await startTestHub();
    hubs.push(hub);
    for (const [body, field] of [
      [{ name: 'x', devices: '*', channel: 'temperature', severity: 'loud', above: 1 }, 'severity'],
      [{ name: 'x', devices: '*', channel: 'temperature', severity: 'info', above: 1, below: 5 }, 'below'],
      [{ name: 'x', devices: '*', channel: 'temperature', severity: 'info', abvoe: 1 }, 'abvoe'],
      [{ name: 'x', devices: [], channel: 'temperature', severity: 'info', above: 1 }, 'devices'],
    ] as const) {
      const answer = await json<{ error: { code: string; field: string } }>(post(hub.api, '/api/rules', body), 400);
      expect(answer.error.code).toBe('HUB_ERR_BAD_REQUEST');
      expect(answer.error.field).toBe(field);
    }
    expect((await json<{ error: { code: string } }>(post(hub.api, '/api/webhooks', { url: 'ftp://x', secret: SECRET }), 400)).error.code).toBe('HUB_ERR_BAD_REQUEST');
    expect((await hub.api('/api/rules/999')).status).toBe(404);
    expect((await hub.api('/api/rules/abc', { method: 'DELETE' })).status).toBe(404);
    expect((await hub.api('/api/alerts?state=burning')).status).toBe(400);

    const rule = await json<{ id: number }>(post(hub.api, '/api/rules', { name: 'low battery', devices: ['al-*'], channel: 'humidity', below: 10, severity: 'warning' }), 201);
    const device = hub.device('al-2', await hub.provision('al-2'));
    await device.connect();
    device.sendReadings([{ channel: 2, type: 'f64', offset: 0, value: 5 }], Date.now());
    await device.waitAcked();
    const [firing] = (await waitFor(async () => {
      const found = await alertsOf(hub.api, 'state=firing');
      return found.length > 0 ? found : null;
    }, 'an alert matched by pattern'))!;
    expect(firing).toMatchObject({ ruleId: rule.id, deviceId: 'al-2', acknowledgedAt: null });
    const acked = await json<AlertView>(post(hub.api, `/api/alerts/${firing.id}/ack`, {}));
    expect(acked.acknowledgedAt).not.toBeNull();
    const silenced = await json<AlertView>(post(hub.api, `/api/alerts/${firing.id}/silence`, { forMs: 60_000 }));
    expect(Date.parse(silenced.silencedUntil!)).toBeGreaterThan(Date.now());
    expect((await hub.api(`/api/alerts/${firing.id}/silence`, { method: 'POST', body: '{"forMs":-1}' })).status).toBe(400);

    const edited = await json<{ below: number }>(hub.api(`/api/rules/${rule.id}`, {
      method: 'PUT', body: JSON.stringify({ name: 'low battery', devices: ['al-*'], channel: 'humidity', below: 3, severity: 'warning' }),
    }));
    expect(edited.below).toBe(3);
    expect((await hub.api(`/api/rules/${rule.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await hub.api(`/api/rules/${rule.id}`)).status).toBe(404);
    // the alert outlives its rule, no longer open
    expect(await alertsOf(hub.api, 'state=open')).toHaveLength(0);
    expect((await json<{ alert: AlertView }>(hub.api(`/api/alerts/${firing.id}`))).alert.ruleName).toBe('low battery');
  });
});

/** A hub in a process of its own, so it can be killed with SIGKILL. */
class HubProcess {
  child: ChildProcess | null = null;
  output = '';
  url = '';

  constructor(readonly dataDir: string) {}

  async start(): Promise<void> {
    this.output = '';
    const child = spawn(process.execPath, ['--import', 'tsx', 'hub/src/main.ts'], {
      cwd: root, stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, HUB_HOST: '127.0.0.1', HUB_PORT: '0', HUB_DATA_DIR: this.dataDir, HUB_ADMIN_TOKEN: TOKEN, HUB_LOG_LEVEL: 'warn' },
    });
    this.child = child;
    child.stdout!.on('data', (d) => (this.output += d));
    child.stderr!.on('data', (d) => (this.output += d));
    const port = await waitFor(() => {
      if (child.exitCode !== null) throw new Error(`hub exited ${child.exitCode}:\n${this.output}`);
      return /hub: dashboard at http:\/\/127\.0\.0\.1:(\d+)\//.exec(this.output)?.[1];
    }, 'hub up', 30_000);
    this.url = `http://127.0.0.1:${port}`;
  }

  api: Api = (path, init = {}) => fetch(this.url + path, { ...init, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...init.headers } });

  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }
}

describe('alerts across a hub killed with SIGKILL', () => {
  const processes: HubProcess[] = [];
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(processes.map((p) => p.kill()));
    await Promise.all(receivers.splice(0).map((r) => r.close()));
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('a transition whose webhook was down when the hub died is delivered after the restart, once; a firing alert stays firing and is not announced again', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'hub-alerts-'));
    dirs.push(dataDir);
    const hub = new HubProcess(dataDir);
    processes.push(hub);
    await hub.start();
    const hook = await receiver();
    hook.mode = 'fail';
    await json(post(hub.api, '/api/webhooks', { url: hook.url, secret: SECRET }), 201);
    await json(post(hub.api, '/api/rules', { name: 'hot', devices: '*', channel: 'temperature', above: 30, severity: 'warning' }), 201);
    const token = (await json<{ token: string }>(post(hub.api, '/api/devices', { id: 'kill-1' }), 201)).token;
    const device = new DeviceClient({ hubUrl: hub.url, deviceId: 'kill-1', token, channels: TEST_CHANNELS });
    await device.connect();
    const t0 = Date.now() - 5000;
    device.sendReadings(temperature(40), t0);
    await device.waitAcked();
    await waitFor(async () => (await alertsOf(hub.api, 'state=firing')).length === 1, 'the alert firing');
    await device.close();
    // the receiver refused every attempt so far: the transition sits in the outbox
    await hub.kill();

    hook.mode = 'ok';
    await hub.start();
    await waitFor(() => hook.received.length >= 1, 'the delivery after restart', 20_000);
    const [firing] = await alertsOf(hub.api, 'state=firing');
    expect(firing).toMatchObject({ deviceId: 'kill-1', state: 'firing', value: 40 });
    // readings still above the threshold after the restart do not fire again
    const again = new DeviceClient({ hubUrl: hub.url, deviceId: 'kill-1', token, channels: TEST_CHANNELS });
    await again.connect();
    again.sendReadings(temperature(41), t0 + 1000);
    again.sendReadings(temperature(20), t0 + 2000);
    await again.waitAcked();
    await waitFor(() => hook.received.length >= 2, 'the resolved delivery');
    await again.close();
    expect(hook.received.map((r) => r.body.event)).toEqual(['firing', 'resolved']);
    expect(hook.received.every((r) => r.signatureOk)).toBe(true);
    expect(hook.received[0].body.alert.id).toBe(firing.id);
    const [resolved] = await alertsOf(hub.api, 'state=all');
    expect(resolved).toMatchObject({ id: firing.id, state: 'resolved', resolvedAt: new Date(t0 + 2000).toISOString() });
    const deliveries = await json<{ deliveries: { status: string; attempts: number; lastError: string | null }[] }>(hub.api('/api/webhooks/1/deliveries'));
    expect(deliveries.deliveries.map((d) => d.status)).toEqual(['delivered', 'delivered']);
    expect(deliveries.deliveries[1].attempts).toBeGreaterThan(1);
    expect(deliveries.deliveries[1].lastError).toMatch(/500/);
    await hub.kill();
  });
});
