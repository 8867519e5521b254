// The serial bridge against serialport's mock binding: lines in, frames decoded, answers written back.
import { SerialPortMock } from 'serialport';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeLine, encodeLine, ErrorCode, type Frame } from '../protocol/index.ts';
import { startTestHub, TEST_CHANNELS, waitFor, type TestHub } from '../test-support/hub-fixture.ts';

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
