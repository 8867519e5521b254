// Devices → WebSocket → ingest → store → history API, on both stores, with real ws clients.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { encodeFrame, type Sample } from '../src/protocol/index.ts';
import { startTestHub, waitFor, type TestHub } from './support/hub-fixture.ts';
import { hasRealPart } from './support/real-parts.ts';
import { startInfluxd } from './support/influxd.ts';
import { openRawWs } from './support/raw-ws.ts';

interface Point { channel: string; time: number; value: number }

async function readings(hub: TestHub, id: string, query = ''): Promise<Point[]> {
  const res = await hub.api(`/api/devices/${id}/readings?from=0&to=${Date.now() + 60_000}${query}`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { points: Point[] }).points;
}

function temps(count: number, base: number): Sample[] {
  return Array.from({ length: count }, (_, i) => ({ channel: 1, type: 'f32' as const, offset: i * 10, value: base + i }));
}

const influxAvailable = hasRealPart('influxd');
const stores = [{ name: 'embedded store', influx: false }, ...(influxAvailable ? [{ name: 'InfluxDB', influx: true }] : [])];

describe.each(stores)('device ingest on the $name', ({ influx }) => {
  let hub: TestHub;
  let stopInflux: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    let influxUrl: string | undefined;
    if (influx) {
      let base = process.env.TEST_INFLUX_URL;
      if (!base) {
        const server = await startInfluxd();
        base = server.url;
        stopInflux = server.stop;
      }
      influxUrl = `${base}/ingest_${process.pid}_${Date.now()}`;
    }
    hub = await startTestHub({ influxUrl });
  });
  afterAll(async () => {
    await hub?.stop();
    await stopInflux?.();
  });

  it('stores readings from an authenticated device and returns them from the history API', async () => {
    const token = await hub.provision('roundtrip-1');
    const device = hub.device('roundtrip-1', token);
    await device.connect();
    const t0 = Date.now() - 10_000;
    device.sendReadings(temps(50, 20), t0);
    device.sendReadings([
      { channel: 2, type: 'f64', offset: 0, value: 55.125 },
      { channel: 3, type: 'i32', offset: 0, value: -7 },
      { channel: 4, type: 'bool', offset: 0, value: true },
    ], t0);
    await device.waitAcked();
    const points = await readings(hub, 'roundtrip-1');
    expect(points.filter((p) => p.channel === 'temperature').map((p) => p.value)).toEqual(Array.from({ length: 50 }, (_, i) => 20 + i));
    expect(points.find((p) => p.channel === 'humidity')).toEqual({ channel: 'humidity', time: t0, value: 55.125 });
    expect(points.find((p) => p.channel === 'count')?.value).toBe(-7);
    expect(points.find((p) => p.channel === 'door')?.value).toBe(1);

    const info = await (await hub.api('/api/devices/roundtrip-1')).json();
    expect(info).toMatchObject({ id: 'roundtrip-1', online: true, firmware: 'sim-1.0', counters: { readings: 53, rejected: 0 } });
    expect(info.channels.map((c: { name: string }) => c.name)).toEqual(['temperature', 'humidity', 'count', 'door']);
  });

  it('stamps on arrival when the device has no clock [FP-4.2.2]', async () => {
    const token = await hub.provision('noclock-1');
    const device = hub.device('noclock-1', token, { absoluteTime: false });
    await device.connect();
    const before = Date.now();
    device.sendReadings([{ channel: 1, type: 'f32', offset: -1000, value: 1.5 }]);
    await device.waitAcked();
    const [point] = await readings(hub, 'noclock-1');
    expect(point.value).toBe(1.5);
    expect(point.time).toBeGreaterThanOrEqual(before - 1000);
    expect(point.time).toBeLessThanOrEqual(Date.now() - 1000);
  });

  it('drops a resent frame after reconnect instead of storing it twice [FP-5.2]', async () => {
    const token = await hub.provision('dedup-1');
    const device = hub.device('dedup-1', token);
    await device.connect();
    const t0 = Date.now() - 5000;
    for (let i = 0; i < 20; i++) device.sendReadings([{ channel: 3, type: 'i32', offset: 0, value: i }], t0 + i);
    await device.waitAcked();
    // Resend an already-acknowledged frame byte for byte, as a device that missed the ACK would.
    const again = encodeFrame({ type: 'readings', seq: 5, baseTime: t0 + 100, samples: [{ channel: 3, type: 'i32', offset: 0, value: 999 }] });
    device.sendFrame(again);
    // And reconnect with the same session: the resume ACK says nothing needs resending.
    device.drop();
    await waitFor(async () => !(await (await hub.api('/api/devices/dedup-1')).json()).online, 'device offline');
    await device.connect();
    expect(device.acked).toBe(20);
    const info = await (await hub.api('/api/devices/dedup-1')).json();
    expect(info.counters.duplicates).toBe(1);
    const values = (await readings(hub, 'dedup-1')).map((p) => p.value);
    expect(values).toHaveLength(20);
    expect(values).not.toContain(999);
  });

  it('stores a frame that arrives after the hub counted it skipped, instead of dropping it as a duplicate [FP-5.2]', async () => {
    const token = await hub.provision('late-1');
    const device = hub.device('late-1', token);
    await device.connect();
    const t0 = Date.now() - 5000;
    const frame = (seq: number) => encodeFrame({ type: 'readings', seq, baseTime: t0 + seq, samples: [{ channel: 3, type: 'i32', offset: 0, value: seq }] });
    // out of order: 1, 2, then 5 (3 and 4 counted skipped), then 3 and 4 after all, then a real resend of 2
    for (const seq of [1, 2, 5, 3, 4, 2]) device.sendFrame(frame(seq));
    await waitFor(async () => (await readings(hub, 'late-1')).length === 5, 'five readings stored');
    expect((await readings(hub, 'late-1')).map((p) => p.value)).toEqual([1, 2, 3, 4, 5]);
    const info = await (await hub.api('/api/devices/late-1')).json();
    expect(info.counters).toMatchObject({ sequenceGaps: 0, duplicates: 1 });
  });

  it('keeps unacknowledged frames and resends them after a dropped connection, with no loss and no duplicates', async () => {
    const token = await hub.provision('resend-1');
    const device = hub.device('resend-1', token);
    await device.connect();
    const t0 = Date.now() - 60_000;
    let sent = 0;
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 20; i++, sent++) device.sendReadings([{ channel: 3, type: 'i32', offset: 0, value: sent }], t0 + sent);
      device.drop(); // some of those frames were in flight and never acknowledged
      await device.connect();
    }
    await device.waitAcked();
    expect(device.pending).toBe(0);
    const values = (await readings(hub, 'resend-1')).map((p) => p.value).sort((a, b) => a - b);
    expect(values).toEqual(Array.from({ length: sent }, (_, i) => i));
  });

  it('rejects bad samples with counted codes and keeps the rest of the frame [FP-4.2.4]', async () => {
    const token = await hub.provision('validate-1');
    const device = hub.device('validate-1', token);
    const errors: number[] = [];
    device.on('hub-error', (code) => errors.push(code));
    await device.connect();
    const now = device.now();
    device.sendReadings([
      { channel: 1, type: 'f32', offset: 0, value: 1 },
      { channel: 9, type: 'f32', offset: 0, value: 2 },             // undeclared channel
      { channel: 1, type: 'f32', offset: 1, value: NaN },           // not a number
      { channel: 2, type: 'f64', offset: 0, value: Infinity },
      { channel: 1, type: 'f64', offset: 2, value: 3 },             // wrong type for channel 1
      { channel: 1, type: 'f32', offset: 3_600_000, value: 4 },     // an hour in the future
      { channel: 1, type: 'f32', offset: 5, value: 5 },
    ], now);
    device.sendReadings([{ channel: 1, type: 'f32', offset: 0, value: 6 }], Date.UTC(1999, 0, 1)); // clock never set
    await device.waitAcked();
    expect((await readings(hub, 'validate-1')).map((p) => p.value)).toEqual([1, 5]);
    expect(errors).toEqual([23, 25]); // one ERROR per frame, code of its first rejected sample
    const info = await (await hub.api('/api/devices/validate-1')).json();
    expect(info.counters.rejected).toBe(6);
    const metrics = await (await fetch(hub.url + '/metrics')).text();
    expect(metrics).toMatch(/hub_rejected_total\{code="FP_ERR_UNKNOWN_CHANNEL"\} [1-9]/);
    expect(metrics).toMatch(/hub_rejected_total\{code="FP_ERR_BAD_VALUE"\} [3-9]/);
    expect(metrics).toMatch(/hub_rejected_total\{code="FP_ERR_BAD_TIME"\} [2-9]/);
  });
});

describe('device endpoint', () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startTestHub({ heartbeatIntervalMs: 200, heartbeatTimeoutMs: 600 });
  });
  afterAll(() => hub?.stop());

  function upgradeStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers });
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => {
        ws.terminate();
        reject(new Error('got a WebSocket'));
      });
      ws.on('error', () => undefined);
    });
  }

  it('refuses missing and wrong tokens with HTTP 401, never a WebSocket [FP-6.1]', async () => {
    const token = await hub.provision('auth-1');
    const ws = hub.url.replace('http', 'ws');
    expect(await upgradeStatus(`${ws}/ws/device`)).toBe(401);
    expect(await upgradeStatus(`${ws}/ws/device`, { authorization: 'Bearer nope' })).toBe(401);
    expect(await upgradeStatus(`${ws}/ws/device?token=${token.replace(/.$/, (c) => (c === '0' ? '1' : '0'))}`)).toBe(401);
    expect(await upgradeStatus(`${ws}/ws/elsewhere?token=${token}`)).toBe(404);
    const metrics = await (await fetch(hub.url + '/metrics')).text();
    expect(metrics).toMatch(/hub_auth_failures_total\{endpoint="device"\} [3-9]/);
    // ?token= works as well as the header
    const viaQuery = new WebSocket(`${ws}/ws/device?token=${token}`);
    await new Promise((resolve, reject) => { viaQuery.on('open', resolve); viaQuery.on('error', reject); });
    viaQuery.close();
  });

  it('refuses READINGS numbered 0 with 4007 instead of dropping them as duplicates [FP-5.1]', async () => {
    const token = await hub.provision('seqzero-1');
    const device = hub.device('seqzero-1', token);
    await device.connect();
    const closed = new Promise<number>((r) => device.once('close', (code) => r(code)));
    device.sendFrame({ type: 'readings', seq: 0, samples: temps(1, 0) });
    expect(await closed).toBe(4007);
  });

  it('closes a device whose HELLO names another device with 4022', async () => {
    const token = await hub.provision('mismatch-1');
    const device = hub.device('someone-else', token);
    await expect(device.connect()).rejects.toMatchObject({ code: 4022 });
  });

  it('closes a device that sends readings before HELLO with 4021 [FP-4.1.1]', async () => {
    const token = await hub.provision('nohello-1');
    const ws = new WebSocket(hub.url.replace('http', 'ws') + '/ws/device', { headers: { authorization: `Bearer ${token}` } });
    await new Promise((r) => ws.on('open', r));
    const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
    ws.send(encodeFrame({ type: 'readings', seq: 1, samples: temps(1, 0) }));
    expect(await closed).toBe(4021);
  });

  it('a device sending malformed frames is closed with the documented code while another keeps streaming', async () => {
    const goodToken = await hub.provision('good-1');
    const badToken = await hub.provision('bad-1');
    const good = hub.device('good-1', goodToken);
    await good.connect();
    const codes: number[] = [];
    const garbage = [
      Buffer.from('01070000000000000000d73e', 'hex'),                 // bad checksum
      Buffer.from('02070000000000000000d73f', 'hex'),                 // bad version
      Buffer.from('0107000000', 'hex'),                               // truncated
    ];
    const t0 = Date.now() - 30_000;
    for (let i = 0; i < garbage.length; i++) {
      const bad = hub.device('bad-1', badToken);
      await bad.connect();
      const closed = new Promise<number>((r) => bad.once('close', (code) => r(code)));
      good.sendReadings(temps(10, i * 10), t0 + i * 1000);
      bad.sendFrame(new Uint8Array(garbage[i]));
      codes.push(await closed);
    }
    const text = new WebSocket(hub.url.replace('http', 'ws') + '/ws/device', { headers: { authorization: `Bearer ${badToken}` } });
    await new Promise((r) => text.on('open', r));
    const textClosed = new Promise<number>((r) => text.on('close', (code) => r(code)));
    text.send('hello as text');
    codes.push(await textClosed);
    expect(codes).toEqual([4006, 4002, 4001, 4003]);
    await good.waitAcked();
    expect(good.connected).toBe(true);
    expect(await readings(hub, 'good-1')).toHaveLength(30);
  });

  it('closes an oversized message with 1009 [FP-7.2]', async () => {
    const token = await hub.provision('big-1');
    const device = hub.device('big-1', token);
    await device.connect();
    const closed = new Promise<number>((r) => device.once('close', (code) => r(code)));
    device.sendFrame(new Uint8Array(16397));
    expect(await closed).toBe(1009);
  });

  it('a second connection replaces the first with 4027 [FP-6.5]', async () => {
    const token = await hub.provision('twice-1');
    const first = hub.device('twice-1', token);
    await first.connect();
    const closed = new Promise<number>((r) => first.once('close', (code) => r(code)));
    const second = hub.device('twice-1', token);
    await second.connect();
    expect(await closed).toBe(4027);
    const info = await (await hub.api('/api/devices/twice-1')).json();
    expect(info.online).toBe(true);
  });

  it('deleting a device closes its session with 4028 and its token stops working', async () => {
    const token = await hub.provision('deleted-1');
    const device = hub.device('deleted-1', token);
    await device.connect();
    const closed = new Promise<number>((r) => device.once('close', (code) => r(code)));
    expect((await hub.api('/api/devices/deleted-1', { method: 'DELETE' })).status).toBe(204);
    expect(await closed).toBe(4028);
    await expect(device.connect()).rejects.toMatchObject({ status: 401 });
  });

  it('marks a silent device offline within the heartbeat timeout [FP-6.3]', async () => {
    const token = await hub.provision('silent-1');
    const raw = await openRawWs(hub.url, '/ws/device', token);
    raw.sendBinary(encodeFrame({ type: 'hello', session: 1, deviceId: 'silent-1', firmware: '', channels: [] }));
    await waitFor(async () => (await (await hub.api('/api/devices/silent-1')).json()).online, 'device online');
    // it never answers the hub's pings
    await waitFor(async () => !(await (await hub.api('/api/devices/silent-1')).json()).online, 'silent device offline', 5000);
    raw.close();
  });
});
