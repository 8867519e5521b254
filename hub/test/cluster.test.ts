// Cluster mode on real parts: three hubs (separate processes) behind HAProxy, sharing a 3-node
// NATS cluster, PostgreSQL and InfluxDB, with store-and-forward devices streaming through the load
// balancer. Walks what must work across hubs and counts every reading back from InfluxDB.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { builtInCommand, DeviceClient, type CommandAnswer } from '../../device-sim/src/device-client.ts';
import type { CommandFrame } from '../src/protocol/index.ts';
import { INFLUX_RETENTION_POLICY } from '../src/store/influx-store.ts';
import { finalReportOf, onlineOf, startSim, summaryLines } from './support/device-sim-process.ts';
import { TEST_CHANNELS, waitFor } from './support/hub-fixture.ts';
import { startHaproxy, type Haproxy } from './support/haproxy.ts';
import { startInfluxd } from './support/influxd.ts';
import { startNats, type NatsCluster } from './support/nats.ts';
import { startPostgres, type Postgres } from './support/postgres.ts';
import { freePort, hasRealPart } from './support/real-parts.ts';

const root = new URL('../..', import.meta.url).pathname;
const TOKEN = 'cluster-operator-token';

interface HubProcess {
  id: string;
  port: number;
  url: string;
  /** removed by the suite once the hub has stopped */
  dataDir: string;
  child: ChildProcess | null;
  output: string;
  start(): Promise<void>;
  /** SIGTERM, and wait for the exit */
  stop(): Promise<number | null>;
  kill(): void;
  readonly running: boolean;
}

function hubProcess(id: string, port: number, env: Record<string, string>): HubProcess {
  const dataDir = mkdtempSync(join(tmpdir(), `cluster-${id}-`));
  const hub: HubProcess = {
    id, port, url: `http://127.0.0.1:${port}`, dataDir, child: null, output: '',
    async start() {
      const child = spawn(process.execPath, ['--import', 'tsx', 'hub/src/main.ts'], {
        cwd: root, stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, ...env, HUB_ID: id, HUB_HOST: '127.0.0.1', HUB_PORT: String(port), HUB_DATA_DIR: dataDir, HUB_ADMIN_TOKEN: TOKEN, HUB_LOG_LEVEL: 'warn' },
      });
      hub.child = child;
      child.stdout!.on('data', (d) => (hub.output += d));
      child.stderr!.on('data', (d) => (hub.output += d));
      await waitFor(async () => {
        if (child.exitCode !== null) throw new Error(`hub ${id} exited ${child.exitCode}:\n${hub.output}`);
        return fetch(`${hub.url}/healthz`).then((r) => r.status === 200, () => false);
      }, `hub ${id} up`, 30_000);
    },
    async stop() {
      const child = hub.child;
      // a hub killed with SIGKILL has no exit code but a signal, and will not exit again
      if (!child || child.exitCode !== null || child.signalCode !== null) return child?.exitCode ?? null;
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      child.kill('SIGTERM');
      return exited;
    },
    kill() {
      if (hub.running) hub.child!.kill('SIGKILL');
    },
    get running() {
      return hub.child !== null && hub.child.exitCode === null && hub.child.signalCode === null;
    },
  };
  return hub;
}

/** Keeps a device connected through the load balancer: it reconnects (and resends) whenever it drops. */
function keepConnected(device: DeviceClient): () => void {
  let stopped = false;
  void (async () => {
    while (!stopped) {
      if (!device.connected) await device.connect().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return () => {
    stopped = true;
  };
}

const parts = ['nats-server', 'haproxy', 'influxd', '/usr/lib/postgresql/15/bin/initdb'];

describe.runIf(parts.every((p) => hasRealPart(p)))('cluster mode', () => {
  let pg: Postgres;
  let nats: NatsCluster;
  let stopInflux: (() => Promise<void>) | undefined;
  let proxy: Haproxy;
  /** InfluxDB's base URL and the cluster's database in it */
  let influx: { url: string; db: string };
  const hubs: HubProcess[] = [];
  const api = (base: string, path: string, init: RequestInit = {}) =>
    fetch(base + path, { ...init, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...init.headers } });
  /** Readings InfluxDB holds for each device whose id starts with `prefix`, counted by InfluxDB. */
  const storedPerDevice = async (prefix: string): Promise<Map<string, number>> => {
    const q = `SELECT count("value") FROM "${INFLUX_RETENTION_POLICY}"."readings" WHERE "device" =~ /^${prefix}/ GROUP BY "device"`;
    const res = await fetch(`${influx.url}/query?${new URLSearchParams({ db: influx.db, q })}`);
    if (res.status !== 200) throw new Error(`InfluxDB query: ${res.status} ${await res.text()}`);
    const body = (await res.json()) as { results: { series?: { tags: { device: string }; values: [string, number][] }[] }[] };
    return new Map((body.results[0].series ?? []).map((s) => [s.tags.device, s.values[0][1]]));
  };

  beforeAll(async () => {
    pg = await startPostgres();
    nats = await startNats(3);
    let influxBase = process.env.TEST_INFLUX_URL;
    if (!influxBase) {
      const influx = await startInfluxd();
      influxBase = influx.url;
      stopInflux = influx.stop;
    }
    influx = { url: influxBase, db: `cluster_${process.pid}_${Date.now()}` };
    const env = {
      HUB_POSTGRES_URL: await pg.database('cluster'),
      HUB_NATS_URL: nats.urls,
      INFLUX_URL: `${influx.url}/${influx.db}`,
    };
    for (const id of ['hub-a', 'hub-b', 'hub-c']) hubs.push(hubProcess(id, await freePort(), env));
    // several hubs starting at once migrate the schema safely
    await Promise.all(hubs.map((h) => h.start()));
    proxy = await startHaproxy(hubs.map((h) => ({ name: h.id, port: h.port })));
    await waitFor(() => fetch(`${proxy.url}/healthz`).then((r) => r.status === 200, () => false), 'the load balancer passing requests', 20_000);
  }, 120_000);
  afterAll(async () => {
    await proxy?.stop();
    await Promise.all(hubs.map((h) => h.stop()));
    for (const hub of hubs) rmSync(hub.dataDir, { recursive: true, force: true });
    await nats?.stop();
    await pg?.stop();
    await stopInflux?.();
  });

  it('shares the registry, tokens and operator sessions: any hub serves any REST call', async () => {
    const [a, b, c] = hubs;
    const created = await api(a.url, '/api/devices', { method: 'POST', body: JSON.stringify({ id: 'shared-1' }) });
    expect(created.status).toBe(201);
    expect((await api(b.url, '/api/devices/shared-1')).status).toBe(200);
    // a duplicate on another hub is a conflict
    expect((await api(c.url, '/api/devices', { method: 'POST', body: JSON.stringify({ id: 'shared-1' }) })).status).toBe(409);
    // a dashboard session opened on one hub works on the others, and logout ends it everywhere
    const login = await fetch(`${a.url}/login`, { method: 'POST', body: JSON.stringify({ token: TOKEN }), headers: { 'content-type': 'application/json' } });
    const cookie = login.headers.get('set-cookie')!.split(';')[0];
    expect((await fetch(`${c.url}/api/devices`, { headers: { cookie } })).status).toBe(200);
    await fetch(`${b.url}/logout`, { method: 'POST', headers: { cookie } });
    expect((await fetch(`${a.url}/api/devices`, { headers: { cookie } })).status).toBe(401);
    // the device's token, issued by hub A, opens a device connection on hub C
    const device = new DeviceClient({ hubUrl: c.url, deviceId: 'shared-1', token: (await created.json()).token, channels: TEST_CHANNELS });
    await device.connect();
    await waitFor(async () => (await (await api(a.url, '/api/devices/shared-1')).json()).online, 'online as seen from hub A');
    await device.close();
    // deleted on one hub, gone on all
    expect((await api(b.url, '/api/devices/shared-1', { method: 'DELETE' })).status).toBe(204);
    expect((await api(c.url, '/api/devices/shared-1')).status).toBe(404);
  });

  it('one owner per device: a second connection on another hub evicts the first with 4027', async () => {
    const [a, b] = hubs;
    const token = (await (await api(a.url, '/api/devices', { method: 'POST', body: JSON.stringify({ id: 'owner-1' }) })).json()).token;
    const first = new DeviceClient({ hubUrl: a.url, deviceId: 'owner-1', token, channels: TEST_CHANNELS });
    await first.connect();
    const closed = new Promise<number>((r) => first.once('close', (code: number) => r(code)));
    const second = new DeviceClient({ hubUrl: b.url, deviceId: 'owner-1', token, channels: TEST_CHANNELS });
    await second.connect();
    expect(await closed).toBe(4027);
    second.sendReadings([{ channel: 3, type: 'i32', offset: 0, value: 1 }], Date.now() - 1000);
    await second.waitAcked();
    expect(second.connected).toBe(true);
    await second.close();
  });

  it('live, commands and resume anywhere: a dashboard on hub C sees a device on hub A, a command posted to hub B reaches it, and it resumes on another hub', async () => {
    const [a, b, c] = hubs;
    const token = (await (await api(a.url, '/api/devices', { method: 'POST', body: JSON.stringify({ id: 'roam-1' }) })).json()).token;
    const live = new WebSocket(c.url.replace('http', 'ws') + '/ws/live', { headers: { authorization: `Bearer ${TOKEN}` } });
    const messages: { type: string; deviceId?: string; online?: boolean; readings?: { value: number }[]; command?: { status: string } }[] = [];
    live.on('message', (d) => messages.push(JSON.parse(String(d))));
    await new Promise((resolve, reject) => { live.once('open', resolve); live.once('error', reject); });
    live.send(JSON.stringify({ type: 'subscribe', devices: ['roam-1'] }));
    await waitFor(() => messages.some((m) => m.type === 'subscribed'), 'subscribed');

    const device = new DeviceClient({ hubUrl: a.url, deviceId: 'roam-1', token, channels: TEST_CHANNELS });
    await device.connect();
    const t0 = Date.now() - 60_000;
    for (let i = 0; i < 20; i++) device.sendReadings([{ channel: 3, type: 'i32', offset: 0, value: i }], t0 + i);
    await device.waitAcked();
    await waitFor(() => messages.filter((m) => m.type === 'readings').flatMap((m) => m.readings!).length === 20, 'the 20 readings live on hub C');
    expect(messages.some((m) => m.type === 'status' && m.deviceId === 'roam-1' && m.online === true)).toBe(true);

    const submitted = await (await api(b.url, '/api/devices/roam-1/commands', { method: 'POST', body: JSON.stringify({ name: 'ping', args: { n: 1 } }) })).json();
    await waitFor(async () => (await (await api(c.url, `/api/devices/roam-1/commands/${submitted.id}`)).json()).status === 'succeeded', 'command answered through hub A');
    await waitFor(() => messages.some((m) => m.type === 'command' && m.command?.status === 'succeeded'), 'command result live on hub C');

    // the device moves to hub B mid-stream: its unacknowledged frames are resent there, and hub B
    // resumes from the watermark hub A shared
    for (let i = 20; i < 40; i++) device.sendReadings([{ channel: 3, type: 'i32', offset: 0, value: i }], t0 + i);
    device.drop();
    (device.options as { hubUrl: string }).hubUrl = b.url;
    await device.connect();
    await device.waitAcked();
    const stored = await (await api(c.url, `/api/devices/roam-1/readings?channel=count&from=${t0}&to=${t0 + 60_000}`)).json();
    expect((stored.points as { value: number }[]).map((p) => p.value)).toEqual(Array.from({ length: 40 }, (_, i) => i));
    live.close();
    await device.close();
  });

  it('alerts: a device moving between hubs mid-alert keeps one alert, fired on one hub and resolved on another; the webhook hears each transition once though every hub runs a sender', async () => {
    const [a, b, c] = hubs;
    const secret = 'cluster-webhook-secret';
    const received: { event: string; alertId: number; key: string; signed: boolean }[] = [];
    const receiver = createServer((req, res) => {
      let raw = '';
      req.on('data', (d) => (raw += d));
      req.on('end', () => {
        const body = JSON.parse(raw) as { event: string; idempotencyKey: string; alert: { id: number } };
        const signed = req.headers['x-hub-signature-256'] === 'sha256=' + createHmac('sha256', secret).update(raw).digest('hex');
        received.push({ event: body.event, alertId: body.alert.id, key: body.idempotencyKey, signed });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    try {
      const hookUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/`;
      expect((await api(c.url, '/api/webhooks', { method: 'POST', body: JSON.stringify({ url: hookUrl, secret }) })).status).toBe(201);
      const rule = {
        name: 'freezer warm', devices: ['alarm-1'], channel: 'temperature', above: 30, clear: 25, severity: 'critical',
        actions: [{ type: 'command', name: 'ping', args: { fired: true } }, { type: 'command', name: 'ping', args: { fired: false }, on: 'resolved' }],
      };
      expect((await api(a.url, '/api/rules', { method: 'POST', body: JSON.stringify(rule) })).status).toBe(201);
      const token = (await (await api(a.url, '/api/devices', { method: 'POST', body: JSON.stringify({ id: 'alarm-1' }) })).json()).token;
      const temperature = (value: number) => [{ channel: 1, type: 'f32' as const, offset: 0, value }];
      const alerts = async (state: string) => ((await (await api(c.url, `/api/alerts?state=${state}&device=alarm-1`)).json()) as { alerts: { id: number; firedAt: string; resolvedAt: string | null }[] }).alerts;

      // a dashboard on hub C, where the device never is
      const live = new WebSocket(c.url.replace('http', 'ws') + '/ws/live', { headers: { authorization: `Bearer ${TOKEN}` } });
      const messages: { type: string; deviceId?: string; readings?: unknown[]; alert?: { id: number; state: string } }[] = [];
      live.on('message', (d) => messages.push(JSON.parse(String(d))));
      await new Promise((resolve, reject) => { live.once('open', resolve); live.once('error', reject); });
      live.send(JSON.stringify({ type: 'subscribe', devices: ['alarm-1'] }));
      await waitFor(() => messages.some((m) => m.type === 'subscribed'), 'subscribed');

      const device = new DeviceClient({ hubUrl: a.url, deviceId: 'alarm-1', token, channels: TEST_CHANNELS });
      await device.connect();
      const t0 = Date.now() - 30_000;
      device.sendReadings(temperature(20), t0);
      // hub C hears hub A before the alert can fire
      await waitFor(() => messages.some((m) => m.type === 'readings' && m.deviceId === 'alarm-1'), 'a reading from hub A live on hub C');
      device.sendReadings(temperature(35), t0 + 1000);
      await device.waitAcked();
      await waitFor(async () => (await alerts('firing')).length === 1, 'the alert firing, fired on hub A');
      // hub B learns of rules and open alerts every 2 s; give it one round so that the move is
      // tested against a hub that knows the alert as well as (below) one that may not
      await new Promise((r) => setTimeout(r, 2500));

      device.drop();
      (device.options as { hubUrl: string }).hubUrl = b.url;
      await device.connect();
      device.sendReadings(temperature(36), t0 + 2000);
      device.sendReadings(temperature(28), t0 + 3000);
      device.sendReadings(temperature(22), t0 + 4000);
      await device.waitAcked();
      const [resolved] = (await waitFor(async () => {
        const found = await alerts('resolved');
        return found.length > 0 ? found : null;
      }, 'the alert resolved on hub B'))!;
      expect(resolved.firedAt).toBe(new Date(t0 + 1000).toISOString());
      expect(resolved.resolvedAt).toBe(new Date(t0 + 4000).toISOString());
      expect(await alerts('all')).toHaveLength(1);
      await waitFor(() => received.length >= 2, 'both deliveries');
      // a moment for a second delivery that must not come (every hub runs a sender)
      await new Promise((r) => setTimeout(r, 1500));
      expect(received.map((r) => r.event)).toEqual(['firing', 'resolved']);
      expect(received.every((r) => r.signed && r.alertId === resolved.id)).toBe(true);
      expect(new Set(received.map((r) => r.key)).size).toBe(2);
      // each action ran once, from the hub that made the transition, and reached the device
      const commands = await waitFor(async () => {
        const list = (await (await api(c.url, '/api/devices/alarm-1/commands')).json()) as { args: { fired: boolean }; status: string }[];
        return list.length === 2 && list.every((x) => x.status === 'succeeded') ? list : null;
      }, 'both actions answered');
      expect(commands!.map((x) => x.args.fired).sort()).toEqual([false, true]);
      // the dashboard on hub C saw the alert fire (on hub A) and resolve (on hub B), each once
      const seen = messages.filter((m) => m.type === 'alert' && m.deviceId === 'alarm-1').map((m) => m.alert!);
      expect(seen.map((x) => x.state)).toEqual(['firing', 'resolved']);
      expect(seen.every((x) => x.id === resolved.id)).toBe(true);
      live.close();
      await device.close();
    } finally {
      receiver.closeAllConnections();
      await new Promise((r) => receiver.close(r));
    }
  }, 60_000);

  it('a hub killed with SIGKILL under 300 device-sim devices streaming through the load balancer: its devices reconnect to the others and resume, and InfluxDB holds every reading each device made, once', async () => {
    const fleet = 300;
    const sim = startSim([
      '--hub', proxy.url, '--token', TOKEN, '--devices', String(fleet), '--prefix', 'kill-', '--rate', '5', '--channels', 'counter',
      '--connect-rate', '1000', '--summary-interval', '0.5', '--drain', '30', '--seed', '9',
    ]);
    const lines = () => {
      if (sim.child.exitCode !== null) throw new Error(`device-sim exited ${sim.child.exitCode}:\n${sim.output()}\n${sim.stderr()}`);
      return summaryLines(sim.output());
    };
    /** resolves once `more` summary lines (half a second each) came after the `after`th */
    const linesAfter = (after: number, more: number, what: string) => waitFor(() => lines().length >= after + more, what, 20_000);
    try {
      await waitFor(() => lines().some((l) => onlineOf(l)[0] === fleet), `all ${fleet} devices online`, 30_000);
      await linesAfter(lines().length, 2, 'a second of streaming');
      const atKill = lines().length;
      expect(lines().at(-1)).not.toContain('closes');
      const victim = hubs[0];
      victim.kill();
      // every device online again, after some of them closed: those on the victim came back through the others
      await waitFor(() => lines().slice(atKill).some((l) => l.includes('closes') && onlineOf(l)[0] === fleet), 'every device online again after the kill', 30_000);
      const list = (await (await api(hubs[1].url, '/api/devices')).json()) as { id: string; online: boolean }[];
      expect(list.filter((d) => d.id.startsWith('kill-') && d.online)).toHaveLength(fleet);
      await linesAfter(lines().length, 2, 'a second of streaming after the move');
      sim.interrupt();
      expect(await sim.exited).toBe(0);
    } finally {
      sim.kill();
      if (!hubs[0].running) await hubs[0].start();
    }

    const report = finalReportOf(sim.output());
    const closed = Object.values(report.closes).reduce((a, b) => a + b, 0);
    // the devices HAProxy gave the victim lost their connection, the others did not
    expect(closed).toBeGreaterThan(0);
    expect(closed).toBeLessThan(fleet);
    // each of them connected again (closes while stopping are not counted), with no token refused
    expect(report.connects).toBe(fleet + closed);
    expect(report.refused).toBe(0);
    // store-and-forward: what they made while away was sent after the reconnect; at exit every
    // frame made was acknowledged, none kept, none dropped
    expect(report.resent).toBeGreaterThan(0);
    expect([report.acked, report.pending, report.dropped]).toEqual([report.frames, 0, 0]);
    // Counted by InfluxDB itself. InfluxDB keeps one point per device, channel and time, and every
    // frame a device makes has its own time (5 frames/s, one counter reading each): so a device's
    // count is at most what it made, and the total equal to what the fleet made means every
    // device's count is exactly its own: nothing lost, nothing stored twice.
    const stored = await storedPerDevice('kill-');
    expect(stored.size).toBe(fleet);
    expect([...stored].filter(([, n]) => n === 0)).toEqual([]);
    expect([...stored.values()].reduce((a, b) => a + b, 0)).toBe(report.readings);
  }, 120_000);

  it('a hub killed with SIGKILL while commands to its devices wait for answers: each ends succeeded or timed-out, as a surviving hub shows, whichever hub armed its timer', async () => {
    const [a, b, c] = hubs;
    let moved = false;
    const onCommand = (command: CommandFrame): CommandAnswer | null => {
      switch (command.name) {
        case 'hang': return null; // never answers
        case 'accept': return { status: 'accepted', payload: '' }; // takes it on, never finishes
        case 'later': return moved ? { status: 'succeeded', payload: command.args } : null; // answers only on the new hub
        default: return builtInCommand(command);
      }
    };
    const provisionOnA = async (id: string) => {
      const token = ((await (await api(a.url, '/api/devices', { method: 'POST', body: JSON.stringify({ id }) })).json()) as { token: string }).token;
      return new DeviceClient({ hubUrl: a.url, deviceId: id, token, channels: TEST_CHANNELS, onCommand });
    };
    // one device stays away after the kill, one reconnects through hub C, and one is offline until
    // after the kill, when it first connects through hub B
    const away = await provisionOnA('inflight-away');
    const mover = await provisionOnA('inflight-mover');
    const late = await provisionOnA('inflight-late');
    await away.connect();
    await mover.connect();
    try {
      const received = new Set<number>();
      for (const d of [away, mover]) d.on('command', (command) => received.add(command.id));
      const submit = async (hub: HubProcess, deviceId: string, name: string, timeoutMs: number) => {
        const res = await api(hub.url, `/api/devices/${deviceId}/commands`, { method: 'POST', body: JSON.stringify({ name, args: { name }, timeoutMs }) });
        expect(res.status).toBe(202);
        return ((await res.json()) as { id: number }).id;
      };
      const statusOf = async (id: number, deviceId: string) =>
        ((await (await api(c.url, `/api/devices/${deviceId}/commands/${id}`)).json()) as { status: string }).status;

      const answered = await submit(b, 'inflight-away', 'ping', 3000);
      await waitFor(async () => (await statusOf(answered, 'inflight-away')) === 'succeeded', 'a command answered before the kill');
      // unanswered at the kill: one whose only timer was armed on the victim, one acknowledged by the
      // device and timed on another hub, one the device answers only after it moved
      const hang = await submit(a, 'inflight-away', 'hang', 3000);
      const accepted = await submit(b, 'inflight-away', 'accept', 3000);
      const later = await submit(a, 'inflight-mover', 'later', 20_000);
      await waitFor(async () => received.has(hang) && received.has(later) && (await statusOf(accepted, 'inflight-away')) === 'acked', 'the commands at the devices');
      expect(await statusOf(hang, 'inflight-away')).toBe('sent');
      expect(await statusOf(later, 'inflight-mover')).toBe('sent');
      // queued on the victim for a device that is offline
      const queued = await submit(a, 'inflight-late', 'ping', 20_000);
      expect(await statusOf(queued, 'inflight-late')).toBe('queued');

      a.kill();
      await waitFor(() => !away.connected && !mover.connected, 'the devices cut off');
      // submitted after the kill, while the shared presence still says the devices are on the victim
      const lost = await submit(c, 'inflight-away', 'ping', 3000);
      const resent = await submit(b, 'inflight-mover', 'ping', 20_000);
      moved = true;
      (mover.options as { hubUrl: string }).hubUrl = c.url;
      await mover.connect();
      (late.options as { hubUrl: string }).hubUrl = b.url;
      await late.connect();

      const expected = new Map([
        [answered, ['inflight-away', 'succeeded']], [hang, ['inflight-away', 'timed-out']], [accepted, ['inflight-away', 'timed-out']],
        [lost, ['inflight-away', 'timed-out']], [later, ['inflight-mover', 'succeeded']], [resent, ['inflight-mover', 'succeeded']],
        [queued, ['inflight-late', 'succeeded']],
      ]);
      const final = new Set(['succeeded', 'failed', 'timed-out']);
      let last = new Map<number, string>();
      const statuses = await waitFor(async () => {
        last = new Map(await Promise.all([...expected].map(async ([id, [deviceId]]) => [id, await statusOf(id, deviceId)] as const)));
        return [...last.values()].every((s) => final.has(s)) ? last : null;
      }, 'every command in a final state', 20_000).catch((err: Error) => {
        throw new Error(`${err.message}; id → status: ${JSON.stringify(Object.fromEntries(last))}`);
      });
      expect(Object.fromEntries(statuses!)).toEqual(Object.fromEntries([...expected].map(([id, [, status]]) => [id, status])));
    } finally {
      await Promise.all([away, mover, late].map((d) => d.close()));
      // the killed hub comes back for the cases after this one
      if (!a.running) await a.start();
    }
  }, 60_000);

  it('SIGTERM drains a hub: its devices are closed with 1001 and move to the others', async () => {
    const ids = Array.from({ length: 12 }, (_, i) => `drain-${i}`);
    const devices: DeviceClient[] = [];
    for (const id of ids) {
      const token = ((await (await api(proxy.url, '/api/devices', { method: 'POST', body: JSON.stringify({ id }) })).json()) as { token: string }).token;
      devices.push(new DeviceClient({ hubUrl: proxy.url, deviceId: id, token, channels: TEST_CHANNELS }));
    }
    const codes: number[] = [];
    for (const d of devices) d.on('close', (code: number) => codes.push(code));
    const stops = devices.map(keepConnected);
    const t0 = Date.now() - 180_000;
    let n = 0;
    const stream = setInterval(() => {
      for (const d of devices) d.sendReadings([{ channel: 3, type: 'i32', offset: 0, value: n }], t0 + n);
      n++;
    }, 20);
    try {
      await waitFor(() => devices.every((d) => d.acked > 5), 'every device streaming');
      const drained = hubs[1];
      expect(await drained.stop()).toBe(0);
      const ackedAtStop = devices.map((d) => d.acked);
      await waitFor(() => devices.every((d, i) => d.acked > ackedAtStop[i] + 20), 'every device acknowledged again after the drain', 30_000);
      expect(codes.length).toBeGreaterThan(0);
      expect(codes.every((c) => c === 1001)).toBe(true);
    } finally {
      clearInterval(stream);
    }
    await Promise.all(devices.map((d) => d.waitAcked(undefined, 30_000)));
    stops.forEach((stop) => stop());
    for (const [i, id] of ids.entries()) {
      const res = await api(hubs[2].url, `/api/devices/${id}/readings?channel=count&from=${t0}&to=${t0 + 180_000}`);
      expect(((await res.json()).points as { value: number }[]).map((p) => p.value), id).toEqual(Array.from({ length: n }, (_, k) => k));
      await devices[i].close();
    }
    await hubs[1].start();
  }, 120_000);

  it('a NATS node killed and PostgreSQL restarted: connected devices keep streaming and being acknowledged; /healthz says degraded meanwhile', async () => {
    const token = ((await (await api(hubs[2].url, '/api/devices', { method: 'POST', body: JSON.stringify({ id: 'steady-c' }) })).json()) as { token: string }).token;
    const device = new DeviceClient({ hubUrl: hubs[2].url, deviceId: 'steady-c', token, channels: TEST_CHANNELS });
    await device.connect();
    const t0 = Date.now() - 240_000;
    let n = 0;
    const stream = setInterval(() => device.sendReadings([{ channel: 3, type: 'i32', offset: 0, value: n }], t0 + n++), 20);
    try {
      await nats.nodes[0].kill();
      let acked = device.acked;
      await waitFor(() => device.acked > acked + 20, 'acknowledged with a NATS node gone');
      pg.kill();
      await waitFor(async () => ((await (await fetch(`${hubs[2].url}/healthz`)).json()) as { status: string }).status === 'degraded', 'degraded without PostgreSQL');
      // REST calls that need PostgreSQL say so, and may be retried
      const refused = await api(hubs[2].url, '/api/devices');
      expect({ status: refused.status, code: ((await refused.json()) as { error: { code: string } }).error.code }).toEqual({ status: 503, code: 'HUB_ERR_UNAVAILABLE' });
      acked = device.acked;
      await waitFor(() => device.acked > acked + 20, 'acknowledged with PostgreSQL down');
      await pg.start();
      await nats.nodes[0].start();
      await waitFor(async () => ((await (await fetch(`${hubs[2].url}/healthz`)).json()) as { status: string }).status === 'ok', 'ok again', 30_000);
    } finally {
      clearInterval(stream);
    }
    await device.waitAcked(undefined, 30_000);
    expect(device.connected).toBe(true);
    const res = await api(hubs[2].url, `/api/devices/steady-c/readings?channel=count&from=${t0}&to=${t0 + 240_000}`);
    expect(((await res.json()).points as { value: number }[]).map((p) => p.value)).toEqual(Array.from({ length: n }, (_, k) => k));
    await device.close();
  }, 120_000);
});
