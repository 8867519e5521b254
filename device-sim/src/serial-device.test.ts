// SerialDevice on @serialport/binding-mock: what it writes must decode with the hub's decodeLine,
// and what the hub's side writes to it (ACK, COMMAND, ERROR, console text, noise) drives it.
import { SerialPortMock } from 'serialport';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeLine, encodeLine, ErrorCode, type Frame, type SerialLine } from '../../hub/src/protocol/index.ts';
import { SerialDevice } from './serial-device.ts';

// MockBinding of @serialport/binding-mock, as serialport itself loads it (its ESM build would be a
// second instance with its own ports, and its types do not resolve under NodeNext)
const MockBinding = SerialPortMock.binding;
type MockPortBinding = Awaited<ReturnType<typeof MockBinding.open>>;

const CHANNELS = [{ id: 1, type: 'f32' as const, name: 'temperature', unit: '°C' }];
let path = 0;

async function until<T>(check: () => T, what: string, timeoutMs = 2000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A mock port, a device on it, and the hub's end: the lines the device wrote, and a way to answer. */
function setup(extra: Partial<ConstructorParameters<typeof SerialDevice>[0]> = {}) {
  const portPath = `/dev/mock-${++path}`;
  MockBinding.createPort(portPath, { record: true });
  const device = new SerialDevice({ path: portPath, binding: MockBinding, deviceId: 'serial-1', firmware: 'fw-2', channels: CHANNELS, ...extra });
  const binding = () => device.port.port as unknown as MockPortBinding;
  let read = 0;
  const written = (): SerialLine[] => {
    const text = binding()?.recording.toString('utf8') ?? '';
    return text.split('\n').slice(0, -1).map((line: string) => decodeLine(line));
  };
  const frames = () => written().filter((l) => l.kind === 'frame').map((l) => (l as { frame: Frame }).frame);
  /** frames written since the last call */
  const fresh = () => {
    const all = frames();
    const out = all.slice(read);
    read = all.length;
    return out;
  };
  /** waits until at least `n` new frames were written, and returns them */
  const next = async (n: number, what: string, timeoutMs?: number) => {
    const got: Frame[] = [];
    await until(() => (got.push(...fresh()), got.length >= n), what, timeoutMs);
    return got;
  };
  const hub = (frame: Frame | string) => binding().emitData(typeof frame === 'string' ? frame : encodeLine(frame));
  return { device, written, frames, fresh, next, hub };
}

afterEach(() => {
  MockBinding.reset();
});

describe('SerialDevice [FP-8]', () => {
  it('boots with a console banner and HELLO, keeps readings until the ACK, then resends them', async () => {
    const { device, written, fresh, next, hub } = setup();
    const opened = device.open();
    await next(1, 'HELLO');
    const [banner, hello] = written();
    expect(banner.kind).toBe('console');
    expect((banner as { text: string }).text).toMatch(/^serial-1 booting/);
    expect(hello).toEqual({ kind: 'frame', frame: { type: 'hello', session: device.session, deviceId: 'serial-1', firmware: 'fw-2', channels: CHANNELS } });

    const seq = device.sendReadings([{ channel: 1, type: 'f32', offset: 0, value: 21.5 }], 1_700_000_000_000);
    await new Promise((r) => setTimeout(r, 20));
    expect(fresh()).toEqual([]); // no READINGS before the resume ACK [FP-4.1.1]

    hub({ type: 'ack', ackedSeq: 0, hubTime: Date.now() });
    await opened;
    expect(device.connected).toBe(true);
    expect(await next(1, 'resend')).toEqual([
      { type: 'readings', seq, baseTime: 1_700_000_000_000, samples: [{ channel: 1, type: 'f32', offset: 0, value: 21.5 }] },
    ]);
    hub({ type: 'ack', ackedSeq: seq, hubTime: Date.now() });
    await device.waitAcked(seq, 1000);
    expect(device.pending).toBe(0);
    await device.close();
  });

  it('says HELLO again on FP_ERR_NO_HELLO and resends what the hub does not hold [FP-6.2] [FP-5.5]', async () => {
    const { device, next, hub } = setup();
    const opened = device.open();
    await next(1, 'HELLO');
    hub({ type: 'ack', ackedSeq: 0, hubTime: Date.now() });
    await opened;
    const t = Date.now() - 1000;
    const first = device.sendReadings([{ channel: 1, type: 'f32', offset: 0, value: 1 }], t);
    const second = device.sendReadings([{ channel: 1, type: 'f32', offset: 0, value: 2 }], t + 1);
    await next(2, 'two READINGS');
    hub({ type: 'ack', ackedSeq: first, hubTime: Date.now() });
    // the hub restarted the port (or could not store): it no longer knows the session
    hub({ type: 'error', code: ErrorCode.FP_ERR_NO_HELLO, text: 'send HELLO first' });
    const again = await next(1, 'HELLO again');
    expect(again).toEqual([expect.objectContaining({ type: 'hello', session: device.session })]);
    expect(device.connected).toBe(false);
    hub({ type: 'ack', ackedSeq: first, hubTime: Date.now() });
    expect(await next(1, 'resend')).toEqual([expect.objectContaining({ type: 'readings', seq: second })]);
    await device.close();
  });

  it('answers COMMAND with COMMAND_RESULT, a repeated id from memory [FP-4.5.1]', async () => {
    let runs = 0;
    const { device, next, hub } = setup({ onCommand: (c) => ({ status: 'succeeded', payload: JSON.stringify({ run: ++runs, args: c.args }) }) });
    const opened = device.open();
    await next(1, 'HELLO');
    hub({ type: 'ack', ackedSeq: 0, hubTime: Date.now() });
    await opened;
    hub({ type: 'command', id: 9, timeoutMs: 5000, name: 'ping', args: '{"n":1}' });
    hub({ type: 'command', id: 9, timeoutMs: 5000, name: 'ping', args: '{"n":1}' });
    expect(await next(2, 'results')).toEqual([
      { type: 'command_result', id: 9, status: 'succeeded', payload: '{"run":1,"args":"{\\"n\\":1}"}' },
      { type: 'command_result', id: 9, status: 'succeeded', payload: '{"run":1,"args":"{\\"n\\":1}"}' },
    ]);
    await device.close();
  });

  it('sends HEARTBEAT when idle, and HELLO instead while no ACK has come [FP-6.4]', async () => {
    const { device, fresh, next, hub } = setup({ heartbeatMs: 60 });
    const opened = device.open();
    const hellos = await next(3, 'HELLO, repeated');
    expect(hellos.every((f) => f.type === 'hello')).toBe(true);
    hub({ type: 'ack', ackedSeq: 0, hubTime: Date.now() });
    await opened;
    fresh();
    const beats = await next(2, 'heartbeats');
    expect(beats.every((f) => f.type === 'heartbeat')).toBe(true);
    await device.close();
  });

  it('tolerates console text and noise from the other side, and reports hub errors', async () => {
    const { device, next, hub } = setup();
    const consoles: string[] = [];
    const errors: number[] = [];
    device.on('console', (text) => consoles.push(text));
    device.on('hub-error', (code) => errors.push(code));
    const opened = device.open();
    await next(1, 'HELLO');
    hub('hub says hi\r\n@not base64!\n@AQcAAAAAAAAAANc+\n'); // text, a bad line, a bad checksum
    hub({ type: 'ack', ackedSeq: 0, hubTime: Date.now() });
    await opened;
    hub({ type: 'error', code: ErrorCode.FP_ERR_UNKNOWN_CHANNEL, text: 'channel 9' });
    await until(() => errors.length === 1, 'hub error');
    expect(consoles).toEqual(['hub says hi']);
    expect(device.badLines).toBe(2);
    expect(errors).toEqual([ErrorCode.FP_ERR_UNKNOWN_CHANNEL]);
    await device.close();
  });

  it('writes damaged frame lines when tampered, and the hub\'s decodeLine refuses them [FP-8.3]', async () => {
    const { device, written, next, hub } = setup({ tamper: (bytes) => new Uint8Array([...bytes.subarray(0, -1), bytes.at(-1)! ^ 0x80]) });
    const opened = device.open();
    await next(1, 'HELLO');
    hub({ type: 'ack', ackedSeq: 0, hubTime: Date.now() });
    await opened;
    device.sendReadings([{ channel: 1, type: 'f32', offset: 0, value: 3 }], Date.now());
    await expect(until(() => written().length > 2, 'damaged line', 300)).rejects.toThrow(expect.objectContaining({ code: 'FP_ERR_BAD_CHECKSUM' }));
    // [FP-8.3] the hub answers with an ERROR and ends the session: the device says HELLO again and,
    // after the resume ACK, resends the intact frame
    hub({ type: 'error', code: ErrorCode.FP_ERR_BAD_CHECKSUM, text: 'CRC-16 mismatch' });
    const binding = device.port.port as unknown as MockPortBinding;
    const lastFrameType = () => {
      try {
        const line = decodeLine(binding.recording.toString().split('\n').filter(Boolean).at(-1)!);
        return line.kind === 'frame' ? line.frame.type : undefined;
      } catch {
        return undefined; // the damaged line
      }
    };
    const lines = () => binding.recording.toString().split('\n').filter(Boolean);
    await until(() => lastFrameType() === 'hello', 'HELLO again');
    hub({ type: 'ack', ackedSeq: 0, hubTime: Date.now() });
    await until(() => lastFrameType() === 'readings', 'resend');
    expect(decodeLine(lines().at(-1)!)).toMatchObject({ kind: 'frame', frame: { type: 'readings', seq: 1 } });
    await device.close();
  });

  it('reboots into a new session with a banner and HELLO, and emits close when the port closes', async () => {
    const { device, written, fresh, next, hub } = setup();
    const opened = device.open();
    await next(1, 'HELLO');
    hub({ type: 'ack', ackedSeq: 0, hubTime: Date.now() });
    await opened;
    const old = device.session;
    device.sendReadings([{ channel: 1, type: 'f32', offset: 0, value: 3 }], Date.now());
    device.reboot();
    expect(device.session).not.toBe(old);
    expect(device.pending).toBe(0);
    await until(() => written().some((l) => l.kind === 'console' && l.text.includes('rebooting')), 'reboot banner');
    const hello = (await next(1, 'HELLO after reboot')).find((f) => f.type === 'hello');
    expect(hello).toMatchObject({ session: device.session });
    const closed = new Promise<number>((r) => device.once('close', (code) => r(code)));
    await device.close();
    expect(await closed).toBe(0);
    expect(device.connected).toBe(false);
  });

  it('rejects open() on a port that does not exist', async () => {
    const device = new SerialDevice({ path: '/dev/mock-missing', binding: MockBinding, deviceId: 'x', channels: [] });
    await expect(device.open()).rejects.toThrow(/does not exist/);
  });
});
