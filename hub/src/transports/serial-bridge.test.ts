// The serial bridge against serialport's mock binding: lines in, frames decoded, answers written back.
import { Writable } from 'node:stream';
import pino from 'pino';
import { SerialPortMock } from 'serialport';
import { afterEach, describe, expect, it } from 'vitest';
import { createLocalLiveBus, type LiveEvent } from '../live/live-bus.ts';
import { decodeLine, encodeLine, ErrorCode, type Frame } from '../protocol/index.ts';
import { startTestHub, TEST_CHANNELS, waitFor, type TestHub } from '../../test/support/hub-fixture.ts';

const MockBinding = SerialPortMock.binding;
type MockPort = Awaited<ReturnType<typeof MockBinding.open>>;

describe('serial bridge (mock binding)', () => {
  let hub: TestHub | undefined;
  afterEach(async () => {
    await hub?.stop();
    MockBinding.reset();
  });

  async function setup(extra: Parameters<typeof startTestHub>[0] = {}) {
    MockBinding.createPort('/dev/mock-mcu', { record: true });
    let port: SerialPortMock | undefined;
    hub = await startTestHub({
      ...extra,
      serial: [{ path: '/dev/mock-mcu', baudRate: 115200 }],
      openSerialPort: (path, baudRate) => (port = new SerialPortMock({ path, baudRate, autoOpen: false })),
    });
    await waitFor(() => port?.isOpen, 'port open');
    const binding = port!.port as unknown as MockPort;
    const written = (): Frame[] =>
      binding.recording.toString().split('\n').filter(Boolean).map((l) => decodeLine(l)).flatMap((l) => (l.kind === 'frame' ? [l.frame] : []));
    const send = (text: string) => binding.emitData(Buffer.from(text));
    return { hub, written, send };
  }

  it('asks for HELLO on open, then ACKs, stores, and keeps console lines [FP-6.2, FP-8.2]', async () => {
    const { hub, written, send } = await setup();
    await waitFor(() => written().some((f) => f.type === 'error' && f.code === ErrorCode.FP_ERR_NO_HELLO), 'NO_HELLO on open');
    send('boot: v2\r\n');
    send(encodeLine({ type: 'hello', session: 5, deviceId: 'mock-mcu', firmware: '2.0', channels: TEST_CHANNELS }));
    const t0 = Date.now() - 1000;
    // one line split over two chunks, as a UART delivers it
    const line = encodeLine({ type: 'readings', seq: 1, baseTime: t0, samples: [{ channel: 3, type: 'i32', offset: 0, value: 42 }] });
    send(line.slice(0, 9));
    send(line.slice(9));
    await waitFor(() => written().some((f) => f.type === 'ack' && f.ackedSeq === 1), 'ACK 1');
    const res = await hub.api(`/api/devices/mock-mcu/readings?from=${t0}&to=${t0 + 1}`);
    expect((await res.json()).points).toEqual([{ channel: 'count', time: t0, value: 42 }]);
    const device = await (await hub.api('/api/devices/mock-mcu')).json();
    expect(device).toMatchObject({ transport: 'serial', firmware: '2.0', online: true });
    expect(await (await hub.api('/api/devices/mock-mcu/console')).json()).toEqual([{ at: expect.any(String), text: 'boot: v2' }]);
  });

  it('answers a bad frame line with ERROR and NO_HELLO until the device says HELLO again [FP-8.3]', async () => {
    const { written, send } = await setup();
    send(encodeLine({ type: 'hello', session: 6, deviceId: 'mock-mcu', firmware: '', channels: TEST_CHANNELS }));
    await waitFor(() => written().some((f) => f.type === 'ack'), 'resume ACK');
    send('@!!not base64\n');
    send(encodeLine({ type: 'readings', seq: 1, samples: [{ channel: 3, type: 'i32', offset: 0, value: 1 }] }));
    await waitFor(() => written().filter((f) => f.type === 'error' && f.code === ErrorCode.FP_ERR_NO_HELLO).length >= 2, 'NO_HELLO after the bad line');
    expect(written().some((f) => f.type === 'error' && f.code === ErrorCode.FP_ERR_BAD_LINE)).toBe(true);
    expect(written().some((f) => f.type === 'ack' && f.ackedSeq === 1)).toBe(false);
    send(encodeLine({ type: 'hello', session: 6, deviceId: 'mock-mcu', firmware: '', channels: TEST_CHANNELS }));
    send(encodeLine({ type: 'readings', seq: 1, samples: [{ channel: 3, type: 'i32', offset: 0, value: 1 }] }));
    await waitFor(() => written().some((f) => f.type === 'ack' && f.ackedSeq === 1), 'ACK after HELLO');
  });

  it('refuses a serial HELLO that claims a WebSocket device, and new devices past HUB_MAX_DEVICES [FP-6.2]', async () => {
    const { hub, written, send } = await setup({ maxDevices: 2 });
    await hub.provision('ws-dev');
    send(encodeLine({ type: 'hello', session: 7, deviceId: 'ws-dev', firmware: '', channels: TEST_CHANNELS }));
    await waitFor(() => written().some((f) => f.type === 'error' && f.code === ErrorCode.FP_ERR_DEVICE_MISMATCH), 'DEVICE_MISMATCH');
    expect((await (await hub.api('/api/devices/ws-dev')).json()).transport).toBe('ws');
    // one slot left: the first new serial id takes it, the next one is refused
    send(encodeLine({ type: 'hello', session: 7, deviceId: 'mcu-a', firmware: '', channels: TEST_CHANNELS }));
    await waitFor(() => written().some((f) => f.type === 'ack'), 'mcu-a registered');
    send(encodeLine({ type: 'hello', session: 8, deviceId: 'mcu-b', firmware: '', channels: TEST_CHANNELS }));
    await waitFor(() => written().some((f) => f.type === 'error' && f.code === ErrorCode.FP_ERR_DEVICE_LIMIT), 'DEVICE_LIMIT');
    expect((await hub.api('/api/devices/mcu-b')).status).toBe(404);
    expect((await (await hub.api('/api/devices')).json()).map((d: { id: string }) => d.id)).toEqual(['mcu-a', 'ws-dev']);
  });
});

describe('serial bridge: console lines are bounded (mock binding)', () => {
  let hub: TestHub | undefined;
  afterEach(async () => {
    await hub?.stop();
    hub = undefined;
    MockBinding.reset();
  });

  async function setup(extra: Parameters<typeof startTestHub>[0] = {}) {
    MockBinding.createPort('/dev/mock-mcu', { record: true });
    let port: SerialPortMock | undefined;
    hub = await startTestHub({
      ...extra,
      serial: [{ path: '/dev/mock-mcu', baudRate: 115200 }],
      openSerialPort: (path, baudRate) => (port = new SerialPortMock({ path, baudRate, autoOpen: false })),
    });
    await waitFor(() => port?.isOpen, 'port open');
    const binding = port!.port as unknown as MockPort;
    const written = (): Frame[] =>
      binding.recording.toString().split('\n').filter(Boolean).map((l) => decodeLine(l)).flatMap((l) => (l.kind === 'frame' ? [l.frame] : []));
    const send = (text: string) => binding.emitData(Buffer.from(text));
    send(encodeLine({ type: 'hello', session: 9, deviceId: 'mock-mcu', firmware: '', channels: TEST_CHANNELS }));
    await waitFor(() => written().some((f) => f.type === 'ack'), 'resume ACK');
    return { hub: hub!, send };
  }

  const metric = async (name: string): Promise<number> => {
    const text = await (await hub!.api('/metrics')).text();
    return Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  };
  const consoleLines = async (): Promise<{ text: string }[]> => (await hub!.api('/api/devices/mock-mcu/console')).json();

  it('cuts long lines at the limit (counted) and keeps the last 200 lines', async () => {
    const { send } = await setup({ serialConsoleMaxLineBytes: 64, serialConsoleLinesPerSecond: 100_000 });
    send('y'.repeat(20_000) + '\r\n');
    await waitFor(async () => (await consoleLines()).length === 1, 'the long line');
    expect((await consoleLines())[0].text).toBe('y'.repeat(64) + ' [truncated]');
    expect(await metric('hub_console_lines_truncated_total')).toBe(1);
    send(Array.from({ length: 500 }, (_, i) => `line ${i}\n`).join(''));
    await waitFor(async () => (await consoleLines()).at(-1)?.text === 'line 499', 'the last line');
    const kept = await consoleLines();
    expect(kept).toHaveLength(200);
    expect(kept[0].text).toBe('line 300');
    expect(await metric('hub_console_lines_dropped_total')).toBe(0);
  });

  it('drops lines over the per-port rate, counts them, and the log and /ws/live get only a bounded share', async () => {
    const live = createLocalLiveBus();
    const events: LiveEvent[] = [];
    live.subscribe((event) => events.push(event));
    const logged: { msg: string }[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) logged.push(JSON.parse(line));
        done();
      },
    });
    const started = performance.now();
    const { send } = await setup({ serialConsoleLinesPerSecond: 20, live, log: pino({ level: 'info' }, sink) });
    for (let i = 0; i < 10; i++) send(Array.from({ length: 500 }, (_, j) => `chatty firmware ${i * 500 + j}\n`).join(''));
    let kept = 0;
    await waitFor(async () => {
      kept = (await consoleLines()).length;
      return kept + (await metric('hub_console_lines_dropped_total')) === 5000;
    }, 'every line kept or counted');
    const seconds = (performance.now() - started) / 1000;
    // 20 per started second of this test, whatever the machine's speed
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThanOrEqual(20 * Math.ceil(seconds + 1));
    expect(events.filter((e) => e.type === 'console')).toHaveLength(kept);
    // the log limiter's policy: 5 lines per port and message per 10 s, then one summary
    expect(logged.filter((l) => l.msg === 'device console').length).toBeLessThanOrEqual(5);
    expect(logged.filter((l) => l.msg === 'device console over its rate, lines dropped').length).toBeLessThanOrEqual(5);
  });

  it('a port whose stream ends (a hang-up reported as end of file) is closed and reopened', async () => {
    MockBinding.createPort('/dev/mock-mcu', { record: true });
    const ports: SerialPortMock[] = [];
    hub = await startTestHub({
      serial: [{ path: '/dev/mock-mcu', baudRate: 115200 }], serialReopenMs: 20,
      openSerialPort: (path, baudRate) => {
        const port = new SerialPortMock({ path, baudRate, autoOpen: false });
        ports.push(port);
        return port;
      },
    });
    await waitFor(() => ports[0]?.isOpen, 'port open');
    ports[0].push(null);
    await waitFor(() => ports.length === 2 && ports[1].isOpen, 'port reopened');
    expect(ports[0].isOpen).toBe(false);
    expect(await metric('hub_serial_disconnects_total')).toBe(1);
  });
});
