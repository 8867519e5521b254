// Limits that keep one device or one address from hurting the rest: frame rate, connections per
// address, wrong-token bursts, devices that never read, and operator-only APIs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { decodeFrame, encodeFrame, ErrorCode, type Frame } from '../src/protocol/index.ts';
import { startTestHub, waitFor, type TestHub } from './support/hub-fixture.ts';
import { openRawWs } from './support/raw-ws.ts';

function upgrade(hub: TestHub, token: string, localAddress = '127.0.0.1'): Promise<{ status: number; code?: string; ws?: WebSocket }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(hub.url.replace('http', 'ws') + '/ws/device', { headers: { authorization: `Bearer ${token}` }, localAddress });
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, code: body ? JSON.parse(body).error.code : undefined }));
    });
    ws.on('open', () => resolve({ status: 101, ws }));
    ws.on('error', () => undefined);
  });
}

describe('limits', () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startTestHub({ maxFramesPerSecond: 200, rateLimitCloseMs: 1000, maxConnectionsPerIp: 3, maxAuthFailures: 20, maxSendBacklogBytes: 64 * 1024 });
  });
  afterAll(() => hub?.stop());

  it('throttles a device over the frame rate, then closes it with 4026, while another keeps streaming', async () => {
    const flood = hub.device('flood-1', await hub.provision('flood-1'));
    const calm = hub.device('calm-1', await hub.provision('calm-1'));
    await flood.connect();
    await calm.connect();
    const closed = new Promise<number>((r) => flood.once('close', (code) => r(code)));
    const t0 = Date.now() - 60_000;
    let i = 0;
    const blast = setInterval(() => {
      for (let k = 0; k < 20; k++, i++) flood.sendReadings([{ channel: 3, type: 'i32', offset: 0, value: i }], t0 + i);
      calm.sendReadings([{ channel: 3, type: 'i32', offset: 0, value: i }], t0 + i);
    }, 10); // ≈ 2000 frames/s against a limit of 200
    try {
      expect(await closed).toBe(4026);
    } finally {
      clearInterval(blast);
    }
    await calm.waitAcked();
    expect(calm.connected).toBe(true);
    const metrics = await (await fetch(hub.url + '/metrics')).text();
    expect(metrics).toMatch(/hub_rejected_total\{code="FP_ERR_RATE_LIMIT"\} 1/);
    await calm.close();
  });

  it('a device writing fat frames flat out is paused, then gets ERROR FP_ERR_RATE_LIMIT and 4026 (not a presence timeout), while another keeps streaming', async () => {
    // presence far shorter than the close delay: the hub must not count its own pauses as silence
    const strict = await startTestHub({ maxReadingsPerSecond: 5000, rateLimitCloseMs: 2000, heartbeatIntervalMs: 200, heartbeatTimeoutMs: 600 });
    try {
      const calm = strict.device('calm-2', await strict.provision('calm-2'));
      await calm.connect();
      const token = await strict.provision('fat-1');
      const ws = new WebSocket(strict.url.replace('http', 'ws') + '/ws/device', { headers: { authorization: `Bearer ${token}` } });
      const frames: Frame[] = [];
      ws.on('message', (data: Buffer) => frames.push(decodeFrame(data)));
      const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
      await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
      ws.send(encodeFrame({ type: 'hello', session: 1, deviceId: 'fat-1', firmware: '', channels: [{ id: 1, type: 'i32', name: 'n', unit: '' }] }));
      const t0 = Date.now() - 60_000;
      const fat = (seq: number) => encodeFrame({ type: 'readings', seq, baseTime: t0, samples: Array.from({ length: 1600 }, (_, i) => ({ channel: 1, type: 'i32' as const, offset: i, value: i })) });
      let seq = 0;
      let open = true;
      void closed.then(() => (open = false));
      let n = 0;
      const calmTimer = setInterval(() => calm.sendReadings([{ channel: 3, type: 'i32', offset: 0, value: n }], t0 + n++), 20);
      try {
        // flat out: as fast as the socket takes it
        while (open) {
          if (ws.bufferedAmount < 1024 * 1024) ws.send(fat(++seq));
          else await new Promise((r) => setTimeout(r, 5));
          if (seq % 20 === 0) await new Promise((r) => setImmediate(r));
        }
        expect(await closed).toBe(4026);
      } finally {
        clearInterval(calmTimer);
      }
      expect(frames.some((f) => f.type === 'error' && f.code === ErrorCode.FP_ERR_RATE_LIMIT)).toBe(true);
      await calm.waitAcked();
      expect(calm.connected).toBe(true);
      const stored = await (await strict.api(`/api/devices/calm-2/readings?channel=count&from=${t0}&to=${t0 + 60_000}`)).json();
      expect(stored.points).toHaveLength(n);
      const metrics = await (await strict.api('/metrics')).text();
      expect(metrics).toMatch(/hub_device_throttled_total\{budget="readings"\} [1-9]/);
      expect(metrics).toMatch(/hub_rejected_total\{code="FP_ERR_RATE_LIMIT"\} 1/);
    } finally {
      await strict.stop();
    }
  });

  it('refuses more connections from one address than allowed with 429', async () => {
    const token = await hub.provision('many-1');
    const open: { status: number; ws?: WebSocket }[] = [];
    for (let i = 0; i < 3; i++) open.push(await upgrade(hub, token, '127.0.0.3'));
    expect(open.map((o) => o.status)).toEqual([101, 101, 101]);
    expect(await upgrade(hub, token, '127.0.0.3')).toEqual({ status: 429, code: 'HUB_ERR_TOO_MANY_CONNECTIONS' });
    expect((await upgrade(hub, token, '127.0.0.4')).status).toBe(101); // another address is not affected
    const closed = new Promise((r) => open[0].ws!.once('close', r));
    open[0].ws!.close();
    await closed;
    await waitFor(async () => (await upgrade(hub, token, '127.0.0.3')).status === 101, 'a slot freed');
  });

  it('a burst of 1000 wrong tokens gets no socket, is counted, backs off, and does not disturb a streaming device', async () => {
    const token = await hub.provision('steady-1');
    const steady = hub.device('steady-1', token);
    await steady.connect();
    const t0 = Date.now() - 30_000;
    let n = 0;
    const stream = setInterval(() => steady.sendReadings([{ channel: 3, type: 'i32', offset: 0, value: n }], t0 + n++), 5);
    const results: { status: number; code?: string }[] = [];
    try {
      for (let batch = 0; batch < 10; batch++) {
        results.push(...(await Promise.all(Array.from({ length: 100 }, (_, i) => upgrade(hub, `wrong-${batch}-${i}`, '127.0.0.5')))));
      }
    } finally {
      clearInterval(stream);
    }
    expect(results.filter((r) => r.status === 101)).toHaveLength(0);
    expect(results.filter((r) => r.status === 401).length).toBeGreaterThanOrEqual(20);
    expect(results.filter((r) => r.status === 429 && r.code === 'HUB_ERR_TOO_MANY_ATTEMPTS').length).toBeGreaterThan(500);
    // only failures are throttled: a device with its right token still gets in from the backed-off address…
    const neighbour = await upgrade(hub, await hub.provision('neighbour-1'), '127.0.0.5');
    expect(neighbour.status).toBe(101);
    neighbour.ws!.close();
    // …and the steady device lost nothing
    await steady.waitAcked();
    expect(steady.connected).toBe(true);
    const res = await hub.api(`/api/devices/steady-1/readings?channel=count&from=${t0}&to=${t0 + 60_000}`);
    expect((await res.json()).points).toHaveLength(n);
    const metrics = await (await fetch(hub.url + '/metrics')).text();
    expect(Number(/hub_auth_failures_total\{endpoint="device"\} (\d+)/.exec(metrics)?.[1])).toBeGreaterThanOrEqual(20);
    await steady.close();
  });

  it('device tokens cannot call operator APIs', async () => {
    const token = await hub.provision('nosy-1');
    for (const [method, path] of [['GET', '/api/devices'], ['GET', '/api/devices/nosy-1/readings'], ['POST', '/api/devices'], ['DELETE', '/api/devices/nosy-1']]) {
      const res = await fetch(hub.url + path, { method, headers: { authorization: `Bearer ${token}` } });
      expect(res.status, `${method} ${path}`).toBe(401);
    }
    const live = new WebSocket(hub.url.replace('http', 'ws') + '/ws/live', { headers: { authorization: `Bearer ${token}` }, localAddress: '127.0.0.6' });
    const status = await new Promise((r) => live.on('unexpected-response', (_q, res) => r(res.statusCode)));
    expect(status).toBe(401);
  });

  it('answers a device\'s WebSocket ping with its data; one that pings and never reads is closed (4031)', async () => {
    const token = await hub.provision('pinger-1');
    const device = new WebSocket(hub.url.replace('http', 'ws') + '/ws/device', { headers: { authorization: `Bearer ${token}` }, localAddress: '127.0.0.7' });
    await new Promise((r) => device.once('open', r));
    const pong = new Promise<Buffer>((r) => device.once('pong', r));
    device.ping(Buffer.from('are you there'));
    expect((await pong).toString()).toBe('are you there');
    device.close();

    const patient = await startTestHub({ heartbeatIntervalMs: 60_000, heartbeatTimeoutMs: 120_000, maxSendBacklogBytes: 64 * 1024 });
    try {
      const raw = await openRawWs(patient.url, '/ws/device', await patient.provision('deaf-pinger-1'));
      raw.sendBinary(encodeFrame({ type: 'hello', session: 1, deviceId: 'deaf-pinger-1', firmware: '', channels: [] }));
      await waitFor(async () => (await (await patient.api('/api/devices/deaf-pinger-1')).json()).online, 'online');
      raw.socket.pause(); // reads nothing from now on, while its pings ask for ever more pongs
      const closed = new Promise<void>((r) => raw.socket.once('close', () => r()));
      const payload = Buffer.alloc(125, 1);
      let pings = 0;
      const flood = setInterval(() => {
        for (let i = 0; i < 2000 && pings < 1_000_000; i++, pings++) raw.sendPing(payload);
      }, 1);
      try {
        await waitFor(async () => /hub_rejected_total\{code="FP_ERR_NOT_READING"\} [1-9]/.test(await (await fetch(patient.url + '/metrics')).text()), 'closed for not reading', 60_000);
      } finally {
        clearInterval(flood);
      }
      expect(pings).toBeLessThan(1_000_000);
      raw.close();
      await closed;
    } finally {
      await patient.stop();
    }
  });

  it('closes a device that never reads its socket once what waits for it passes the bound (4031)', async () => {
    // The raw client answers no pings either: a hub of its own with a long heartbeat, so the
    // backlog bound (not the silence limit) is what closes it, however slowly this machine fills
    // the kernel's socket buffers first; and room for thousands of open commands, so commands
    // (not the open-command bound) are what pile up.
    const patient = await startTestHub({ heartbeatIntervalMs: 60_000, heartbeatTimeoutMs: 120_000, maxSendBacklogBytes: 64 * 1024, commandQueueMax: 100_000 });
    try {
      const token = await patient.provision('deaf-1');
      const raw = await openRawWs(patient.url, '/ws/device', token);
      raw.sendBinary(encodeFrame({ type: 'hello', session: 1, deviceId: 'deaf-1', firmware: '', channels: [] }));
      await waitFor(async () => (await (await patient.api('/api/devices/deaf-1')).json()).online, 'online');
      raw.socket.pause(); // reads nothing from now on
      const args = { blob: 'x'.repeat(4000) };
      let sent = 0;
      while ((await (await patient.api('/api/devices/deaf-1')).json()).online && sent < 10_000) {
        await Promise.all(Array.from({ length: 50 }, () => patient.api('/api/devices/deaf-1/commands', { method: 'POST', body: JSON.stringify({ name: 'ping', args, timeoutMs: 600_000 }) })));
        sent += 50;
      }
      expect(sent).toBeLessThan(10_000);
      const metrics = await (await fetch(patient.url + '/metrics')).text();
      expect(metrics).toMatch(/hub_rejected_total\{code="FP_ERR_NOT_READING"\} [1-9]/);
      raw.close();
    } finally {
      await patient.stop();
    }
  });
});
