// Commands from REST to real simulated devices and back, including queueing, timeouts and restarts.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import WebSocket from 'ws';
import { encodeFrame, type CommandFrame } from '../src/protocol/index.ts';
import { startTestHub, waitFor, type TestHub } from './support/hub-fixture.ts';

interface CommandView { id: number; status: string; result: unknown; name: string; args: unknown }

async function submit(hub: TestHub, deviceId: string, body: unknown): Promise<Response> {
  return hub.api(`/api/devices/${deviceId}/commands`, { method: 'POST', body: JSON.stringify(body) });
}
async function status(hub: TestHub, deviceId: string, id: number): Promise<CommandView> {
  return (await hub.api(`/api/devices/${deviceId}/commands/${id}`)).json();
}

describe('commands', () => {
  const hubs: TestHub[] = [];
  afterEach(async () => {
    await Promise.all(hubs.splice(0).map((h) => h.stop()));
  });
  afterAll(async () => {
    await Promise.all(hubs.map((h) => h.stop()));
  });

  it('reaches the device; its result comes back to REST and /ws/live', async () => {
    const hub = await startTestHub();
    hubs.push(hub);
    const token = await hub.provision('cmd-1');
    const device = hub.device('cmd-1', token);
    const seen: CommandFrame[] = [];
    device.on('command', (c) => seen.push(c));
    await device.connect();
    const live = new WebSocket(hub.url.replace('http', 'ws') + '/ws/live', { headers: { authorization: `Bearer ${hub.adminToken}` } });
    const events: { type: string; command?: CommandView }[] = [];
    live.on('message', (d) => events.push(JSON.parse(d.toString())));
    await new Promise((r) => live.on('open', r));

    const res = await submit(hub, 'cmd-1', { name: 'ping', args: { n: 42 }, timeoutMs: 5000 });
    expect(res.status).toBe(202);
    const { id } = await res.json();
    await waitFor(async () => (await status(hub, 'cmd-1', id)).status === 'succeeded', 'command succeeded');
    expect(await status(hub, 'cmd-1', id)).toMatchObject({ id, name: 'ping', args: { n: 42 }, status: 'succeeded', result: { n: 42 } });
    expect(seen).toEqual([{ type: 'command', id, timeoutMs: 5000, name: 'ping', args: '{"n":42}' }]);
    await waitFor(() => events.some((e) => e.type === 'command' && e.command?.status === 'succeeded'), 'live command result');
    expect(events.filter((e) => e.type === 'command').map((e) => e.command!.status)).toEqual(['queued', 'sent', 'succeeded']);
    live.close();

    // an unknown command fails with a reason
    const unknown = await (await submit(hub, 'cmd-1', { name: 'self-destruct' })).json();
    await waitFor(async () => (await status(hub, 'cmd-1', unknown.id)).status === 'failed', 'unknown command failed');
  });

  it('waits for an offline device and is delivered when it connects, also across a hub restart', async () => {
    const hub = await startTestHub({ keepDataDir: true });
    const token = await hub.provision('cmd-2');
    const { id } = await (await submit(hub, 'cmd-2', { name: 'set-rate', args: { hz: 2 } })).json();
    expect((await status(hub, 'cmd-2', id)).status).toBe('queued');
    await hub.stop();

    const again = await startTestHub({ dataDir: hub.dataDir });
    hubs.push(again);
    expect((await status(again, 'cmd-2', id)).status).toBe('queued');
    const device = again.device('cmd-2', token);
    await device.connect();
    await waitFor(async () => (await status(again, 'cmd-2', id)).status === 'succeeded', 'delivered after reconnect');
    expect((await status(again, 'cmd-2', id)).result).toEqual({ hz: 2 });
  });

  it('times out when the device never answers, and a queued command expires', async () => {
    const hub = await startTestHub({ commandQueueTtlMs: 300 });
    hubs.push(hub);
    const token = await hub.provision('cmd-3');
    const queued = await (await submit(hub, 'cmd-3', { name: 'ping' })).json();
    await waitFor(async () => (await status(hub, 'cmd-3', queued.id)).status === 'timed-out', 'queue expiry');
    expect((await status(hub, 'cmd-3', queued.id)).result).toEqual({ error: 'not delivered: device stayed offline' });

    const device = hub.device('cmd-3', token, { onCommand: () => null });
    await device.connect();
    const sent = await (await submit(hub, 'cmd-3', { name: 'ping', timeoutMs: 300 })).json();
    expect(sent.status).toBe('sent');
    await waitFor(async () => (await status(hub, 'cmd-3', sent.id)).status === 'timed-out', 'result timeout');
  });

  it('resends an unanswered command with the same id after a hub restart, and the device answers it once', async () => {
    const hub = await startTestHub({ keepDataDir: true });
    const token = await hub.provision('cmd-4');
    let answer = false;
    const seen: number[] = [];
    const onCommand = (c: CommandFrame) => {
      seen.push(c.id);
      return answer ? { status: 'succeeded' as const, payload: '"done"' } : { status: 'accepted' as const, payload: '' };
    };
    const device = hub.device('cmd-4', token, { onCommand });
    await device.connect();
    const { id } = await (await submit(hub, 'cmd-4', { name: 'reboot', timeoutMs: 60_000 })).json();
    await waitFor(async () => (await status(hub, 'cmd-4', id)).status === 'acked', 'acked');
    await hub.stop();

    const again = await startTestHub({ dataDir: hub.dataDir, port: hub.port });
    hubs.push(again);
    answer = true;
    // the device's memory of "accepted" would answer from cache; a fresh client models a device that kept working
    const fresh = again.device('cmd-4', token, { onCommand });
    await fresh.connect();
    await waitFor(async () => (await status(again, 'cmd-4', id)).status === 'succeeded', 'succeeded after restart');
    expect(seen).toEqual([id, id]);
  });

  it('a device cannot answer another device\'s command', async () => {
    const hub = await startTestHub();
    hubs.push(hub);
    const a = hub.device('cmd-a', await hub.provision('cmd-a'), { onCommand: () => null });
    const b = hub.device('cmd-b', await hub.provision('cmd-b'));
    await a.connect();
    await b.connect();
    const { id } = await (await submit(hub, 'cmd-a', { name: 'ping', timeoutMs: 60_000 })).json();
    b.sendFrame({ type: 'command_result', id, status: 'succeeded', payload: '"forged"' });
    // a READINGS round trip after it, so the forged result has surely been handled
    b.sendReadings([{ channel: 1, type: 'f32', offset: 0, value: 1 }]);
    await b.waitAcked();
    expect((await status(hub, 'cmd-a', id)).status).toBe('sent');
    expect((await hub.api(`/api/devices/cmd-b/commands/${id}`)).status).toBe(404);
  });

  it('answers bad command requests with 400, unknown devices with 404 and a full queue with 429', async () => {
    const hub = await startTestHub({ commandQueueMax: 2 });
    hubs.push(hub);
    await hub.provision('cmd-5');
    for (const body of [{}, { name: '' }, { name: 'x', args: [1] }, { name: 'x', args: { big: 'y'.repeat(5000) } }, { name: 'x', timeoutMs: 0 }, { name: 'x'.repeat(65) }]) {
      const res = await submit(hub, 'cmd-5', body);
      expect(res.status, JSON.stringify(body).slice(0, 40)).toBe(400);
      expect((await res.json()).error.code).toBe('HUB_ERR_BAD_REQUEST');
    }
    expect((await submit(hub, 'nobody', { name: 'ping' })).status).toBe(404);
    expect((await submit(hub, 'cmd-5', { name: 'ping' })).status).toBe(202);
    expect((await submit(hub, 'cmd-5', { name: 'ping' })).status).toBe(202);
    const full = await submit(hub, 'cmd-5', { name: 'ping' });
    expect(full.status).toBe(429);
    expect((await full.json()).error.code).toBe('HUB_ERR_QUEUE_FULL');
  });
});

describe('commands: bounded backlog per device', () => {
  const hubs: TestHub[] = [];
  afterEach(async () => {
    await Promise.all(hubs.splice(0).map((h) => h.stop()));
  });

  it('2,000 submits to one online device that does not answer: the first 100 open, the rest 429, and the event loop keeps turning', async () => {
    const hub = await startTestHub();
    hubs.push(hub);
    const token = await hub.provision('flood-1');
    const seen: CommandFrame[] = [];
    const device = hub.device('flood-1', token, { onCommand: () => null });
    device.on('command', (c) => seen.push(c));
    await device.connect();

    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const total = 2000;
    const concurrency = 20;
    const answers: { index: number; status: number; code?: string; id?: number }[] = [];
    let next = 0;
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const index = next++;
        const res = await submit(hub, 'flood-1', { name: 'ping', args: { index }, timeoutMs: 600_000 });
        const body = await res.json();
        answers.push({ index, status: res.status, code: body.error?.code, id: body.id });
      }
    }));
    loop.disable();
    const maxDelayMs = loop.max / 1e6;

    const accepted = answers.filter((a) => a.status === 202);
    expect(accepted).toHaveLength(100);
    expect(answers.filter((a) => a.status === 429 && a.code === 'HUB_ERR_QUEUE_FULL')).toHaveLength(total - 100);
    // the ones accepted are the first ones asked (give or take the requests in flight)
    expect(Math.max(...accepted.map((a) => a.index))).toBeLessThan(100 + concurrency);
    await waitFor(() => seen.length === 100, 'the device got the 100 open commands');
    expect(new Set(seen.map((c) => c.id))).toEqual(new Set(accepted.map((a) => a.id)));
    // generous: before the bound, each submit scanned the device's whole backlog
    expect(maxDelayMs, `event loop delay max ${maxDelayMs.toFixed(1)} ms`).toBeLessThan(1000);

    // the bound is on open commands: once one finishes, there is room for one more
    device.sendFrame({ type: 'command_result', id: seen[0].id, status: 'succeeded', payload: '{}' });
    await waitFor(async () => (await status(hub, 'flood-1', seen[0].id)).status === 'succeeded', 'first command succeeded');
    expect((await submit(hub, 'flood-1', { name: 'ping' })).status).toBe(202);
    expect((await submit(hub, 'flood-1', { name: 'ping' })).status).toBe(429);
  });

  it('deleting a device fails its open commands, and a device provisioned later under the same id gets none of them', async () => {
    const hub = await startTestHub();
    hubs.push(hub);
    const live = new WebSocket(hub.url.replace('http', 'ws') + '/ws/live', { headers: { authorization: `Bearer ${hub.adminToken}` } });
    const events: { type: string; command?: CommandView & { deviceId: string } }[] = [];
    live.on('message', (d) => events.push(JSON.parse(d.toString())));
    await new Promise((r) => live.on('open', r));

    const oldToken = await hub.provision('dev-b');
    const old = hub.device('dev-b', oldToken, { onCommand: () => null });
    await old.connect();
    // one sent and waiting for its result (its timer must not fire later), two queued while offline
    const sent = await (await submit(hub, 'dev-b', { name: 'ping', timeoutMs: 60_000 })).json();
    expect(sent.status).toBe('sent');
    await old.close();
    await waitFor(async () => !(await (await hub.api('/api/devices/dev-b')).json()).online, 'dev-b offline');
    const queued = [];
    for (let i = 0; i < 2; i++) queued.push(await (await submit(hub, 'dev-b', { name: 'set-rate', args: { hz: i + 1 } })).json());
    expect(queued.map((c) => c.status)).toEqual(['queued', 'queued']);
    const oldIds = [sent.id, ...queued.map((c) => c.id)];

    expect((await hub.api('/api/devices/dev-b', { method: 'DELETE' })).status).toBe(204);
    for (const id of oldIds) {
      expect(await status(hub, 'dev-b', id)).toMatchObject({ id, status: 'failed', result: { error: 'device deleted' } });
    }
    await waitFor(() => oldIds.every((id) => events.some((e) => e.type === 'command' && e.command!.id === id && e.command!.status === 'failed')), 'failures pushed live');
    expect((await submit(hub, 'dev-b', { name: 'ping' })).status).toBe(404);

    // the same id again, a new device: it gets only what is submitted for it
    const newToken = await hub.provision('dev-b');
    const seen: number[] = [];
    const fresh = hub.device('dev-b', newToken, { onCommand: (c) => (seen.push(c.id), { status: 'succeeded', payload: c.args }) });
    await fresh.connect();
    const mine = await (await submit(hub, 'dev-b', { name: 'ping', args: { n: 1 } })).json();
    await waitFor(async () => (await status(hub, 'dev-b', mine.id)).status === 'succeeded', 'the new device answered its own command');
    expect(seen).toEqual([mine.id]);
    for (const id of oldIds) expect((await status(hub, 'dev-b', id)).status).toBe('failed');
    live.close();
  });
});

describe('commands: the device\'s max receive frame [FP-4.1.5, FP-4.4.1]', () => {
  const hubs: TestHub[] = [];
  afterEach(async () => {
    await Promise.all(hubs.splice(0).map((h) => h.stop()));
  });

  /** Bytes of the COMMAND frame the hub would send for this request. */
  const frameBytes = (name: string, args: object) => encodeFrame({ type: 'command', id: 1, timeoutMs: 1, name, args: JSON.stringify(args) }).length;
  /** args that make a `ping` COMMAND frame exactly `bytes` long */
  const argsOfSize = (bytes: number) => ({ p: 'x'.repeat(bytes - frameBytes('ping', { p: '' })) });

  it('a device stating 64 bytes gets commands up to 64; a larger one fails at once, never sent; a device without the field gets it', async () => {
    const hub = await startTestHub();
    hubs.push(hub);
    const live = new WebSocket(hub.url.replace('http', 'ws') + '/ws/live', { headers: { authorization: `Bearer ${hub.adminToken}` } });
    const events: { type: string; command?: CommandView }[] = [];
    live.on('message', (d) => events.push(JSON.parse(d.toString())));
    await new Promise((r) => live.on('open', r));

    const seen: number[] = [];
    const onCommand = (c: CommandFrame) => (seen.push(c.id), { status: 'succeeded' as const, payload: c.args });
    const small = hub.device('mf-small', await hub.provision('mf-small'), { maxFrame: 64, onCommand });
    await small.connect();

    const fits = await (await submit(hub, 'mf-small', { name: 'ping', args: argsOfSize(64) })).json();
    await waitFor(async () => (await status(hub, 'mf-small', fits.id)).status === 'succeeded', 'a 64-byte command delivered');

    const big = argsOfSize(65);
    const res = await submit(hub, 'mf-small', { name: 'ping', args: big, timeoutMs: 60_000 });
    expect(res.status).toBe(202);
    const tooLarge = { status: 'failed', result: { error: 'command too large for the device', maxFrame: 64, frameBytes: 65 } };
    const refused = await res.json();
    expect(refused).toMatchObject(tooLarge); // at once, not after its timeout
    expect(await status(hub, 'mf-small', refused.id)).toMatchObject(tooLarge);
    const statuses = () => events.filter((e) => e.type === 'command' && e.command!.id === refused.id).map((e) => e.command!.status);
    await waitFor(() => statuses().includes('failed'), 'failure pushed live');
    expect(statuses()).toEqual(['queued', 'failed']);

    // a small command after it still goes through; the large one never reached the device
    const after = await (await submit(hub, 'mf-small', { name: 'ping', args: { n: 1 } })).json();
    await waitFor(async () => (await status(hub, 'mf-small', after.id)).status === 'succeeded', 'a small command after the refused one');
    expect(seen).toEqual([fits.id, after.id]);

    // the same command to a device whose HELLO leaves the field out
    const plain = hub.device('mf-plain', await hub.provision('mf-plain'));
    await plain.connect();
    const delivered = await (await submit(hub, 'mf-plain', { name: 'ping', args: { p: 'x'.repeat(4000) } })).json();
    await waitFor(async () => (await status(hub, 'mf-plain', delivered.id)).status === 'succeeded', 'a large command to a device without a limit');
    live.close();
  });

  it('commands queued while the device was offline are checked when its HELLO comes; the limit is per HELLO', async () => {
    const hub = await startTestHub();
    hubs.push(hub);
    const token = await hub.provision('mf-queued');
    const large = await (await submit(hub, 'mf-queued', { name: 'ping', args: argsOfSize(200) })).json();
    const fits = await (await submit(hub, 'mf-queued', { name: 'ping', args: argsOfSize(100) })).json();
    expect([large.status, fits.status]).toEqual(['queued', 'queued']);

    const seen: number[] = [];
    const onCommand = (c: CommandFrame) => (seen.push(c.id), { status: 'succeeded' as const, payload: '' });
    const device = hub.device('mf-queued', token, { maxFrame: 100, onCommand });
    await device.connect();
    await waitFor(async () => (await status(hub, 'mf-queued', fits.id)).status === 'succeeded', 'the command that fits');
    expect(await status(hub, 'mf-queued', large.id)).toMatchObject({
      status: 'failed', result: { error: 'command too large for the device', maxFrame: 100, frameBytes: 200 },
    });
    expect(seen).toEqual([fits.id]);
    await device.close();

    // a new HELLO without the field lifts the limit
    const unlimited = hub.device('mf-queued', token, { onCommand });
    await unlimited.connect();
    const later = await (await submit(hub, 'mf-queued', { name: 'ping', args: argsOfSize(200) })).json();
    await waitFor(async () => (await status(hub, 'mf-queued', later.id)).status === 'succeeded', 'delivered after a HELLO without a limit');
    expect(seen).toEqual([fits.id, later.id]);
  });
});
