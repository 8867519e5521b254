// /ws/live with real WebSocket clients: auth, subscriptions, status, and a subscriber that stops reading.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startTestHub, waitFor, type TestHub } from './support/hub-fixture.ts';
import { openRawWs } from './support/raw-ws.ts';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { createLocalLiveBus } from '../src/live/live-bus.ts';
import { createLiveEndpoint, LIVE_MAX_HELD_EVENTS } from '../src/live/live-endpoint.ts';
import { createMetrics } from '../src/metrics.ts';
import { testOperatorAuth } from './support/operator-auth.ts';

interface LiveMessage {
  type: string;
  deviceId?: string;
  online?: boolean;
  readings?: { channel: string; time: number; value: number }[];
  total?: number;
}

function liveClient(hub: TestHub, headers: Record<string, string> = { authorization: `Bearer ${hub.adminToken}` }) {
  const ws = new WebSocket(hub.url.replace('http', 'ws') + '/ws/live', { headers });
  const messages: LiveMessage[] = [];
  ws.on('message', (data) => messages.push(JSON.parse(data.toString())));
  const opened = new Promise<void>((resolve, reject) => {
    ws.on('open', () => resolve());
    ws.on('unexpected-response', (_req, res) => reject(Object.assign(new Error('refused'), { status: res.statusCode })));
  });
  return { ws, messages, opened };
}

describe('live channel /ws/live', () => {
  let hub: TestHub;
  beforeAll(async () => {
    // the threshold is well above what a reading client falls behind by on a busy test machine;
    // the firehose device streams far past a device's default budget: this is about the live side
    hub = await startTestHub({ liveCoalesceBytes: 512 * 1024, liveStuckMs: 1500, maxReadingsPerSecond: 1_000_000_000, maxBytesPerSecond: 1_000_000_000_000 });
  });
  afterAll(() => hub?.stop());

  it('refuses missing or wrong operator tokens and cross-origin pages', async () => {
    await expect(liveClient(hub, {}).opened).rejects.toMatchObject({ status: 401 });
    await expect(liveClient(hub, { authorization: 'Bearer wrong' }).opened).rejects.toMatchObject({ status: 401 });
    const login = await fetch(`${hub.url}/login`, { method: 'POST', body: JSON.stringify({ token: hub.adminToken }), headers: { 'content-type': 'application/json' } });
    const cookie = login.headers.get('set-cookie')!.split(';')[0];
    await expect(liveClient(hub, { cookie, origin: 'http://evil.example' }).opened).rejects.toMatchObject({ status: 403 });
    // the operator token is not a cookie credential; only a session is
    await expect(liveClient(hub, { cookie: `hub_session=${hub.adminToken}` }).opened).rejects.toMatchObject({ status: 401 });
    const viaCookie = liveClient(hub, { cookie });
    await viaCookie.opened;
    viaCookie.ws.close();
  });

  it('pushes readings of subscribed devices and status changes', async () => {
    const token = await hub.provision('live-1');
    const other = await hub.provision('live-2');
    const client = liveClient(hub);
    await client.opened;
    client.ws.send(JSON.stringify({ type: 'subscribe', devices: ['live-1'] }));
    await waitFor(() => client.messages.some((m) => m.type === 'subscribed'), 'subscribed');

    const device = hub.device('live-1', token);
    const quiet = hub.device('live-2', other);
    await device.connect();
    await quiet.connect();
    const t0 = Date.now() - 1000;
    device.sendReadings([{ channel: 1, type: 'f32', offset: 0, value: 21.5 }, { channel: 4, type: 'bool', offset: 5, value: true }], t0);
    quiet.sendReadings([{ channel: 1, type: 'f32', offset: 0, value: 99 }], t0);
    await waitFor(() => client.messages.some((m) => m.type === 'readings'), 'readings');
    const readings = client.messages.filter((m) => m.type === 'readings');
    expect(readings).toEqual([{ type: 'readings', deviceId: 'live-1', readings: [{ channel: 'temperature', time: t0, value: 21.5 }, { channel: 'door', time: t0 + 5, value: 1 }] }]);
    // status of every device, subscribed or not
    expect(client.messages.filter((m) => m.type === 'status').map((m) => [m.deviceId, m.online])).toEqual([['live-1', true], ['live-2', true]]);

    await device.close();
    await waitFor(() => client.messages.some((m) => m.type === 'status' && m.deviceId === 'live-1' && m.online === false), 'offline status', 1000);
    client.ws.close();
  });

  it('closes a client that sends something other than a subscription with 4000', async () => {
    const client = liveClient(hub);
    await client.opened;
    const closed = new Promise<number>((r) => client.ws.on('close', (code) => r(code)));
    client.ws.send('{"type":"subscribe","devices":42}');
    expect(await closed).toBe(4000);
  });

  it('treats any JSON value and any non-JSON as a bad subscription (4000), and stays up', async () => {
    const bad: (string | Buffer)[] = [
      'null', 'true', '0', '"subscribe"', '[]', '[{"type":"subscribe","devices":"*"}]', '{}', '{"type":null}',
      '{"type":"subscribe","devices":null}', '{"type":"subscribe","devices":[1]}', '{"type":"subscribe","devices":"*","channels":{}}',
      '{"type":"subscribe","devices":{"length":1}}', '{"__proto__":{"type":"subscribe"},"devices":"*"}', 'not json', '',
      Buffer.from('{"type":"subscribe","devices":"*"}'),
    ];
    for (const message of bad) {
      const client = liveClient(hub);
      await client.opened;
      const closed = new Promise<number>((r) => client.ws.on('close', (code) => r(code)));
      client.ws.send(message);
      expect(await closed, String(message)).toBe(4000);
    }
    const good = liveClient(hub);
    await good.opened;
    good.ws.send(JSON.stringify({ type: 'subscribe', devices: '*', channels: ['temperature'] }));
    await waitFor(() => good.messages.some((m) => m.type === 'subscribed'), 'subscribed after the bad ones');
    good.ws.close();
  });

  it('a subscriber that stops reading neither slows ingest nor other subscribers, gets coalesced, then closed', async () => {
    const token = await hub.provision('firehose-1');
    const fast = liveClient(hub);
    await fast.opened;
    fast.ws.send(JSON.stringify({ type: 'subscribe', devices: '*' }));
    const slow = await openRawWs(hub.url, '/ws/live', hub.adminToken);
    slow.sendText(JSON.stringify({ type: 'subscribe', devices: '*' }));
    await waitFor(() => fast.messages.some((m) => m.type === 'subscribed'), 'subscribed');
    slow.socket.pause(); // never reads again

    const device = hub.device('firehose-1', token);
    await device.connect();
    const t0 = Date.now() - 600_000;
    const frames = 1000;
    const perFrame = 200;
    // Closed loop, 20 frames per round trip: a device streams, it does not dump everything in one
    // tick, and the reading client (in this same process) gets turns to read.
    for (let f = 0; f < frames; f++) {
      device.sendReadings(Array.from({ length: perFrame }, (_, i) => ({ channel: 2, type: 'f64' as const, offset: i, value: f * perFrame + i })), t0 + f * perFrame);
      if (f % 20 === 19) await device.waitAcked(f + 1, 20_000);
    }
    await device.waitAcked(frames, 20_000);
    const received = () => fast.messages.filter((m) => m.deviceId === 'firehose-1' && m.type === 'readings').reduce((n, m) => n + m.readings!.length, 0);
    await waitFor(() => received() === frames * perFrame, 'fast client got every reading', 20_000).catch((err) => {
      throw new Error(`${err.message}: ${received()} of ${frames * perFrame}, ${JSON.stringify(fast.messages.filter((m) => m.type === 'dropped'))}`);
    });

    const liveClients = async () => Number(/hub_live_clients (\d+)/.exec(await (await fetch(hub.url + '/metrics')).text())?.[1]);
    await waitFor(async () => (await liveClients()) === 1, 'hub closed the stuck client', 10_000);
    slow.close();
    const metrics = await (await fetch(hub.url + '/metrics')).text();
    const dropped = Number(/hub_live_dropped_total (\d+)/.exec(metrics)?.[1]);
    expect(dropped).toBeGreaterThan(0);
    expect(fast.messages.some((m) => m.type === 'dropped')).toBe(false);
    fast.ws.close();
  });
});

describe('live channel: every message is bounded per client', () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startTestHub({ liveCoalesceBytes: 512 * 1024, liveStuckMs: 1500 });
  });
  afterAll(() => hub?.stop());

  const liveClients = async () => Number(/hub_live_clients (\d+)/.exec(await (await fetch(hub.url + '/metrics')).text())?.[1]);

  it('closes a client that floods subscriptions without reading (4009), and the hub does not grow', async () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    const before = process.memoryUsage();
    const flood = await openRawWs(hub.url, '/ws/live', hub.adminToken);
    flood.socket.pause(); // never reads: every `subscribed` echo would pile up in the hub
    let closed = false;
    const socketClosed = new Promise((r) => flood.socket.once('close', r)).then(() => (closed = true));
    flood.socket.on('error', () => undefined);
    await waitFor(async () => (await liveClients()) === 1, 'the flooding client counted');
    // ~54 KiB each, echoed back in full: before the limit, 5,000 of them were 270 MB held by the hub
    const message = JSON.stringify({ type: 'subscribe', devices: Array.from({ length: 2000 }, (_, i) => `device-number-${String(i).padStart(10, '0')}`) });
    let sent = 0;
    for (; sent < 5000 && !closed; sent++) {
      flood.sendText(message);
      if (flood.socket.writableNeedDrain) await Promise.race([new Promise((r) => flood.socket.once('drain', r)), socketClosed]);
    }
    // the client does not read, so it never sees the close frame: the hub's count says it is gone
    await waitFor(async () => (await liveClients()) === 0, 'the hub closed the flooding client', 10_000);
    flood.close();
    gc?.();
    const after = process.memoryUsage();
    const growthMiB = (after.rss - before.rss) / 2 ** 20;
    expect(growthMiB, `rss grew ${growthMiB.toFixed(1)} MiB after ${sent} subscriptions`).toBeLessThan(100);
    expect((after.heapUsed - before.heapUsed) / 2 ** 20).toBeLessThan(100);

    // a client that reads sees the code: a burst past the limit is answered with 4009
    const fast = liveClient(hub);
    await fast.opened;
    const code = new Promise<number>((r) => fast.ws.on('close', (c) => r(c)));
    for (let i = 0; i < 100; i++) fast.ws.send(JSON.stringify({ type: 'subscribe', devices: [`d-${i}`] }));
    expect(await code).toBe(4009);
    const echoes = fast.messages.filter((m) => m.type === 'subscribed').length;
    expect(echoes).toBeGreaterThanOrEqual(20);
    expect(echoes).toBeLessThan(100);

    // subscribing at a normal pace is fine
    const calm = liveClient(hub);
    await calm.opened;
    for (let i = 0; i < 15; i++) calm.ws.send(JSON.stringify({ type: 'subscribe', devices: '*' }));
    await waitFor(() => calm.messages.filter((m) => m.type === 'subscribed').length === 15, 'all 15 echoes');
    expect(calm.ws.readyState).toBe(WebSocket.OPEN);
    calm.ws.close();
  });

  it('closes a backed-up client with 4008 although no readings flow to it; held events are bounded; a good client gets its readings', async () => {
    // An endpoint of its own, so the test can publish what no device could: one huge command
    // event (the socket is over the threshold, nothing is held, nothing else is ever sent to it)
    // and a burst of command events.
    const bus = createLocalLiveBus();
    const metrics = createMetrics();
    const lines: { msg: string; code?: number }[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const token = 'live-test-operator-token';
    const { auth, guard, close: closeAuth } = testOperatorAuth(token);
    const endpoint = createLiveEndpoint({ bus, metrics, log, auth, guard, coalesceAboveBytes: 64 * 1024, stuckCloseMs: 500, retryMs: 20 });
    const server = createServer();
    server.on('upgrade', (req, socket, head) => void endpoint.handleUpgrade(req, socket, head));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const clientsOpen = async () => (await metrics.registry.getSingleMetric('hub_live_clients')!.get()).values[0].value;
    try {
      const slow = await openRawWs(url, '/ws/live', token);
      slow.socket.pause();
      slow.socket.on('error', () => undefined);
      await waitFor(async () => (await clientsOpen()) === 1, 'the slow client counted');

      bus.publish({ type: 'command', deviceId: 'big-1', command: { id: 1, status: 'succeeded', result: 'x'.repeat(24 * 1024 * 1024) } });
      for (let i = 0; i < 2000; i++) bus.publish({ type: 'command', deviceId: 'cmd-1', command: { id: i + 2, status: 'queued' } });
      for (let i = 0; i < 100; i++) bus.publish({ type: 'status', deviceId: `dev-${i % 10}`, online: i % 2 === 0, at: i });
      // the slow client holds at most LIVE_MAX_HELD_EVENTS command events and counts the rest
      const dropped = (await metrics.registry.getSingleMetric('hub_live_dropped_total')!.get()).values[0].value;
      expect(dropped).toBeGreaterThanOrEqual(2000 - LIVE_MAX_HELD_EVENTS);

      // a good client meanwhile
      const good = liveClient({ url, adminToken: token } as TestHub);
      await good.opened;
      good.ws.send(JSON.stringify({ type: 'subscribe', devices: ['good-1'] }));
      await waitFor(() => good.messages.some((m) => m.type === 'subscribed'), 'subscribed');

      // readings flow to the good client only; the slow one is subscribed to nothing
      let sent = 0;
      const feed = setInterval(() => {
        bus.publish({ type: 'readings', deviceId: 'good-1', readings: [{ channel: 'temperature', time: sent, value: sent }] });
        sent++;
      }, 10);
      try {
        await waitFor(async () => (await clientsOpen()) === 1, 'the stuck client closed', 15_000);
        expect(lines.some((l) => l.msg === 'live client stuck; closing' && l.code === 4008)).toBe(true);
      } finally {
        clearInterval(feed);
      }
      const received = () => good.messages.filter((m) => m.type === 'readings').reduce((n, m) => n + m.readings!.length, 0);
      await waitFor(() => received() === sent, 'the good client got every reading', 10_000);
      expect(good.messages.some((m) => m.type === 'dropped')).toBe(false);
      good.ws.close();
      slow.close();
    } finally {
      endpoint.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await closeAuth();
    }
  });
});
