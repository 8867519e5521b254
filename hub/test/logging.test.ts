// What an operator reads in the hub's log: device and command lifecycle at info with structured
// fields, and bounded output from a device that repeats itself.
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { builtInCommand } from '../../device-sim/src/device-client.ts';
import { encodeFrame, ErrorCode, type CommandFrame } from '../src/protocol/index.ts';
import { startTestHub, waitFor, type TestHub } from './support/hub-fixture.ts';

interface Line {
  level: number;
  msg: string;
  [field: string]: unknown;
}

/** A pino logger writing JSON lines into an array. */
function memoryLog() {
  const lines: Line[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const text of chunk.toString().split('\n')) if (text) lines.push(JSON.parse(text));
      done();
    },
  });
  return { log: pino({ level: 'info' }, stream), lines };
}

const find = (lines: Line[], msg: string, fields: Record<string, unknown> = {}) =>
  lines.filter((l) => l.msg === msg && Object.entries(fields).every(([k, v]) => l[k] === v));

describe('logging', () => {
  const hubs: TestHub[] = [];
  afterEach(async () => {
    await Promise.all(hubs.splice(0).map((h) => h.stop()));
  });

  it('logs device connect, HELLO, command lifecycle and disconnect at info with their fields', async () => {
    const { log, lines } = memoryLog();
    const hub = await startTestHub({ log, commandQueueTtlMs: 300 });
    hubs.push(hub);
    const token = await hub.provision('log-1');
    const onCommand = (c: CommandFrame) => (c.name === 'calibrate' ? { status: 'accepted' as const, payload: '' } : c.name === 'mute' ? null : builtInCommand(c));
    const device = hub.device('log-1', token, { firmware: 'fw-3.1.4', onCommand });
    await device.connect();

    const connected = await waitFor(() => find(lines, 'device connected', { deviceId: 'log-1' })[0], 'connect line');
    expect(connected).toMatchObject({ level: 30, transport: 'ws', ip: expect.stringContaining('127.0.0.1') });
    const hello = await waitFor(() => find(lines, 'device hello', { deviceId: 'log-1' })[0], 'HELLO line');
    expect(hello).toMatchObject({ level: 30, transport: 'ws', firmware: 'fw-3.1.4', channels: ['temperature', 'humidity', 'count', 'door'] });

    const submit = async (body: unknown) =>
      (await (await hub.api('/api/devices/log-1/commands', { method: 'POST', body: JSON.stringify(body) })).json()) as { id: number };
    const statusOf = async (id: number) => ((await (await hub.api(`/api/devices/log-1/commands/${id}`)).json()) as { status: string }).status;

    // submitted → sent → succeeded
    const ping = await submit({ name: 'ping', args: { n: 1 } });
    await waitFor(() => find(lines, 'command succeeded', { commandId: ping.id }).length, 'ping succeeded line');
    // submitted → sent → acked → succeeded
    const calibrate = await submit({ name: 'calibrate', timeoutMs: 60_000 });
    await waitFor(async () => (await statusOf(calibrate.id)) === 'acked', 'calibrate acked');
    device.sendFrame({ type: 'command_result', id: calibrate.id, status: 'succeeded', payload: '"done"' });
    await waitFor(() => find(lines, 'command succeeded', { commandId: calibrate.id }).length, 'calibrate succeeded line');
    // failed (the device does not know it), timed out (no answer)
    const unknown = await submit({ name: 'self-destruct' });
    const mute = await submit({ name: 'mute', timeoutMs: 200 });
    await waitFor(() => find(lines, 'command failed', { commandId: unknown.id }).length, 'failed line');
    await waitFor(() => find(lines, 'command timed out', { commandId: mute.id }).length, 'timed-out line');

    const lifecycle = (id: number) => lines.filter((l) => l.commandId === id).map((l) => [l.msg, l.status, l.name, l.deviceId, l.level]);
    expect(lifecycle(ping.id)).toEqual([
      ['command submitted', 'queued', 'ping', 'log-1', 30],
      ['command sent', 'sent', 'ping', 'log-1', 30],
      ['command succeeded', 'succeeded', 'ping', 'log-1', 30],
    ]);
    expect(lifecycle(calibrate.id)).toEqual([
      ['command submitted', 'queued', 'calibrate', 'log-1', 30],
      ['command sent', 'sent', 'calibrate', 'log-1', 30],
      ['command acked', 'acked', 'calibrate', 'log-1', 30],
      ['command succeeded', 'succeeded', 'calibrate', 'log-1', 30],
    ]);
    expect(lifecycle(unknown.id).map((l) => l[0])).toEqual(['command submitted', 'command sent', 'command failed']);
    expect(find(lines, 'command failed', { commandId: unknown.id })[0]).toMatchObject({ status: 'failed', level: 30 });
    expect(lifecycle(mute.id).map((l) => l[0])).toEqual(['command submitted', 'command sent', 'command timed out']);
    expect(find(lines, 'command timed out', { commandId: mute.id })[0]).toMatchObject({ status: 'timed-out', level: 30 });

    // a command for an offline device that is never delivered expires
    await hub.provision('log-offline');
    const expiring = (await (await hub.api('/api/devices/log-offline/commands', { method: 'POST', body: JSON.stringify({ name: 'ping' }) })).json()) as { id: number };
    const expired = await waitFor(() => find(lines, 'command expired', { commandId: expiring.id })[0], 'expired line');
    expect(expired).toMatchObject({ level: 30, deviceId: 'log-offline', name: 'ping', status: 'timed-out', reason: 'not delivered: device stayed offline' });
    expect(find(lines, 'command submitted', { commandId: expiring.id })[0]).toMatchObject({ online: false, status: 'queued' });

    // a second connection replaces the first (closed by the hub), then the device closes normally
    const second = hub.device('log-1', token);
    await second.connect();
    const replaced = await waitFor(() => find(lines, 'device disconnected', { deviceId: 'log-1' })[0], 'replaced line');
    expect(replaced).toMatchObject({ level: 30, transport: 'ws', ip: expect.stringContaining('127.0.0.1'), closeCode: 4027, reason: 'FP_ERR_REPLACED' });
    await second.close(1000);
    const closed = await waitFor(() => find(lines, 'device disconnected', { deviceId: 'log-1' })[1], 'close line');
    expect(closed).toMatchObject({ level: 30, closeCode: 1000, reason: '' });
  });

  it('a device sending ERROR frames and unknown command results in a loop gets a bounded number of lines; the hub keeps serving', async () => {
    const { log, lines } = memoryLog();
    const hub = await startTestHub({ log, maxFramesPerSecond: 100_000, maxBytesPerSecond: 100_000_000 });
    hubs.push(hub);
    const device = hub.device('log-loud', await hub.provision('log-loud'));
    await device.connect();
    for (let i = 0; i < 2000; i++) {
      device.sendFrame({ type: 'error', code: ErrorCode.FP_ERR_BAD_VALUE, text: `sensor fault ${i}` });
      device.sendFrame({ type: 'command_result', id: 900_000 + i, status: 'succeeded', payload: '{}' });
    }
    // the hub still serves this device and another one
    device.sendReadings([{ channel: 1, type: 'f32', offset: 0, value: 20 }]);
    await device.waitAcked();
    const quiet = hub.device('log-quiet', await hub.provision('log-quiet'));
    await quiet.connect();
    quiet.sendReadings([{ channel: 1, type: 'f32', offset: 0, value: 21 }]);
    await quiet.waitAcked();
    await waitFor(async () => {
      const d = (await (await hub.api('/api/devices/log-loud')).json()) as { counters: { frames: number } };
      return d.counters.frames >= 4001;
    }, 'every frame handled');
    await waitFor(() => find(lines, 'result for an unknown command').length >= 5, 'unknown result lines');

    const loud = lines.filter((l) => l.deviceId === 'log-loud' || l.key === 'log-loud');
    expect(find(loud, 'device reported an error')).toHaveLength(5);
    expect(find(loud, 'device reported an error')[0]).toMatchObject({ level: 40, code: 'FP_ERR_BAD_VALUE', text: 'sensor fault 0' });
    expect(find(loud, 'result for an unknown command')).toHaveLength(5);
    expect(loud.length).toBeLessThanOrEqual(20);
    expect(lines.length).toBeLessThanOrEqual(40);

    // at shutdown the limiter says what it held back
    await hub.stop();
    hubs.splice(hubs.indexOf(hub), 1);
    const summaries = find(lines, 'suppressed 1995 similar lines', { key: 'log-loud' });
    expect(summaries.map((l) => l.message).sort()).toEqual(['device reported an error', 'result for an unknown command']);
  });

  it('a device reconnecting in a loop with a malformed frame gets at most 5 lines of each kind per 10 s, and the rest is counted', async () => {
    const { log, lines } = memoryLog();
    const hub = await startTestHub({ log });
    hubs.push(hub);
    const device = hub.device('log-loop', await hub.provision('log-loop'));
    const corrupt = encodeFrame({ type: 'heartbeat' });
    corrupt[corrupt.length - 1] ^= 0xff; // [FP-3.5] bad CRC: close 4006
    const loops = 30;
    for (let i = 0; i < loops; i++) {
      await device.connect();
      const closed = new Promise<number>((resolve) => device.once('close', (code) => resolve(code)));
      device.sendFrame(corrupt);
      expect(await closed).toBe(4006);
    }
    await waitFor(() => find(lines, 'device disconnected', { deviceId: 'log-loop' }).length >= 5, 'disconnect lines');
    expect(find(lines, 'device disconnected', { deviceId: 'log-loop' })[0]).toMatchObject({ level: 30, closeCode: 4006, reason: 'FP_ERR_BAD_CHECKSUM' });
    await hub.stop();
    hubs.splice(hubs.indexOf(hub), 1);

    // Each kind: 5 lines per 10 s window (one window unless this machine is very slow), and the
    // summaries account for every one held back.
    for (const msg of ['device connected', 'device hello', 'bad frame', 'device disconnected']) {
      const logged = find(lines, msg, { deviceId: 'log-loop' }).length;
      const suppressed = lines.filter((l) => l.key === 'log-loop' && l.message === msg).reduce((sum, l) => sum + (l.suppressed as number), 0);
      expect(logged % 5, msg).toBe(0);
      expect(logged, msg).toBeLessThan(loops / 2);
      expect(logged + suppressed, msg).toBe(loops);
    }
  });
});
