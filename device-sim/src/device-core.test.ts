import { describe, expect, it } from 'vitest';
import { decodeFrame, type CommandFrame, type Frame, type ReadingsFrame, type Sample } from '../../hub/src/protocol/index.ts';
import { builtInCommand, DeviceCore, type DeviceOptions } from './device-core.ts';

/** The shared device logic over an in-memory link: what would go on the wire is kept in `wire`. */
class MemoryDevice extends DeviceCore {
  wire: Uint8Array[] = [];
  open = true;
  restarts = 0;
  protected get linkOpen(): boolean {
    return this.open;
  }
  protected transmit(bytes: Uint8Array): void {
    this.wire.push(bytes);
  }
  protected restartLink(): void {
    this.restarts++;
  }
  hello(): void {
    this.transmit(this.helloBytes());
  }
  receive(frame: Frame): void {
    this.handleFrame(frame);
  }
  lose(): void {
    this.open = false;
    this.linkLost();
  }
  reconnect(): void {
    this.open = true;
    this.hello();
  }
  skipTo(seq: number): void {
    this.nextSeq = seq;
  }
  reboot(): void {
    this.resetSession();
  }
  frames(): Frame[] {
    return this.wire.map((b) => decodeFrame(b));
  }
}

const sample = (value: number): Sample[] => [{ channel: 1, type: 'i32', offset: 0, value }];
const options: DeviceOptions = { deviceId: 'core-1', channels: [{ id: 1, type: 'i32', name: 'n', unit: '' }] };
const ack = (ackedSeq: number, hubTime = Date.now()): Frame => ({ type: 'ack', ackedSeq, hubTime });
const command = (id: number, name: string, args = ''): CommandFrame => ({ type: 'command', id, timeoutMs: 1000, name, args });

describe('DeviceCore: store-and-forward [FP-5]', () => {
  it('keeps frames made before the resume ACK and sends them after it, in order, byte for byte', () => {
    const device = new MemoryDevice(options);
    device.hello();
    const kept = [device.sendReadings(sample(1), 1000), device.sendReadings(sample(2), 2000)];
    expect(kept).toEqual([1, 2]);
    expect(device.frames().map((f) => f.type)).toEqual(['hello']);
    expect(device.connected).toBe(false);
    const opened: number[] = [];
    device.on('open', () => opened.push(device.pending));
    device.receive(ack(0));
    expect(opened).toEqual([2]);
    expect(device.connected).toBe(true);
    expect(device.frames().slice(1)).toEqual([
      { type: 'readings', seq: 1, baseTime: 1000, samples: sample(1) },
      { type: 'readings', seq: 2, baseTime: 2000, samples: sample(2) },
    ]);
    expect(device.stats).toMatchObject({ frames: 2, readings: 2, sent: 0, resent: 2 });
  });

  it('forgets what a cumulative ACK covers, and resends only the rest after a reconnect [FP-5.3]', () => {
    const device = new MemoryDevice(options);
    device.hello();
    device.receive(ack(0));
    for (let i = 1; i <= 5; i++) device.sendReadings(sample(i), 1000 + i);
    device.receive(ack(3));
    expect(device.pending).toBe(2);
    expect(device.acked).toBe(3);
    const first = device.wire.slice(-2);
    device.lose();
    device.sendReadings(sample(6), 1006); // made while offline: kept, not sent
    device.wire = [];
    device.reconnect();
    device.receive(ack(4)); // the hub held 4 after all
    const resent = device.wire.slice(1);
    expect(resent.map((b) => (decodeFrame(b) as ReadingsFrame).seq)).toEqual([5, 6]);
    expect(resent[0]).toEqual(first[1]);
    expect(device.stats).toMatchObject({ sent: 5, resent: 2, acked: 4 });
  });

  it('drops the oldest frame when its buffer is full', () => {
    const device = new MemoryDevice({ ...options, maxUnacked: 3 });
    for (let i = 1; i <= 5; i++) device.sendReadings(sample(i), 1000);
    expect(device.pending).toBe(3);
    expect(device.stats.dropped).toBe(2);
    device.receive(ack(0));
    expect(device.frames().map((f) => (f as ReadingsFrame).seq)).toEqual([3, 4, 5]);
  });

  it('sends a tampered copy the first time and the intact frame on resend', () => {
    const device = new MemoryDevice({ ...options, tamper: (bytes) => new Uint8Array([...bytes.subarray(0, -1), bytes.at(-1)! ^ 1]) });
    device.receive(ack(0));
    device.sendReadings(sample(1), 1000);
    expect(() => decodeFrame(device.wire[0])).toThrow(expect.objectContaining({ code: 'FP_ERR_BAD_CHECKSUM' }));
    expect(device.stats.tampered).toBe(1);
    device.lose();
    device.wire = [];
    device.reconnect();
    device.receive(ack(0));
    expect(decodeFrame(device.wire[1])).toMatchObject({ type: 'readings', seq: 1 });
  });

  it('starts a new session before seq passes 0xFFFFFFFF, renumbering what it still holds [FP-5.4]', () => {
    const device = new MemoryDevice(options);
    device.receive(ack(0));
    device.skipTo(0xfffffffe);
    device.sendReadings(sample(1), 1000);
    device.sendReadings(sample(2), 2000);
    device.receive(ack(0xfffffffe));
    const old = device.session;
    device.wire = [];
    expect(device.sendReadings(sample(3), 3000)).toBe(2);
    expect(device.session).not.toBe(old);
    expect(device.restarts).toBe(1);
    expect(device.connected).toBe(false);
    device.receive(ack(0));
    expect(device.frames()).toEqual([
      { type: 'readings', seq: 1, baseTime: 2000, samples: sample(2) },
      { type: 'readings', seq: 2, baseTime: 3000, samples: sample(3) },
    ]);
  });

  it('loses its buffer and session on reboot, as RAM would', () => {
    const device = new MemoryDevice(options);
    device.sendReadings(sample(1), 1000);
    const old = device.session;
    device.reboot();
    expect(device.session).not.toBe(old);
    expect(device.pending).toBe(0);
    expect(device.stats.dropped).toBe(1);
    expect(device.sendReadings(sample(2), 2000)).toBe(1);
  });
});

describe('DeviceCore: clock [FP-4.2.3]', () => {
  it('follows the hub clock from ACKs', () => {
    const device = new MemoryDevice(options);
    device.receive(ack(0, Date.now() + 60_000));
    expect(device.now() - Date.now()).toBeGreaterThan(59_000);
    device.sendReadings(sample(1));
    expect((device.frames()[0] as ReadingsFrame).baseTime! - Date.now()).toBeGreaterThan(59_000);
  });

  it('keeps its own clock when skewed, whatever the hub says', () => {
    const device = new MemoryDevice({ ...options, clockSkewMs: -120_000 });
    device.receive(ack(0, Date.now() + 60_000));
    expect(device.now() - Date.now()).toBeLessThan(-119_000);
    expect(device.now() - Date.now()).toBeGreaterThan(-121_000);
  });

  it('sends no base time without a clock [FP-4.2.2]', () => {
    const device = new MemoryDevice({ ...options, absoluteTime: false });
    device.receive(ack(0));
    device.sendReadings([{ channel: 1, type: 'i32', offset: -500, value: 1 }]);
    expect(device.frames()[0]).toEqual({ type: 'readings', seq: 1, samples: [{ channel: 1, type: 'i32', offset: -500, value: 1 }] });
  });
});

describe('DeviceCore: commands [FP-4.5]', () => {
  it('answers the built-in commands', () => {
    expect(builtInCommand(command(1, 'ping', '{"n":1}'))).toEqual({ status: 'succeeded', payload: '{"n":1}' });
    expect(builtInCommand(command(2, 'set-rate', '{"hz":2}'))).toEqual({ status: 'succeeded', payload: '{"hz":2}' });
    expect(builtInCommand(command(3, 'set-rate', '{"hz":-2}')).status).toBe('failed');
    expect(builtInCommand(command(4, 'set-rate', 'nope')).status).toBe('failed');
    expect(builtInCommand(command(5, 'reboot'))).toEqual({ status: 'succeeded', payload: '{}' });
    expect(builtInCommand(command(6, 'self-destruct'))).toEqual({ status: 'unknown', payload: '' });
  });

  it('answers a repeated command id from memory instead of running it twice [FP-4.5.1]', () => {
    let runs = 0;
    const device = new MemoryDevice({ ...options, onCommand: () => ({ status: 'succeeded', payload: String(++runs) }) });
    device.receive(ack(0));
    device.receive(command(7, 'x'));
    device.receive(command(7, 'x'));
    device.receive(command(8, 'x'));
    expect(runs).toBe(2);
    expect(device.frames()).toEqual([
      { type: 'command_result', id: 7, status: 'succeeded', payload: '1' },
      { type: 'command_result', id: 7, status: 'succeeded', payload: '1' },
      { type: 'command_result', id: 8, status: 'succeeded', payload: '2' },
    ]);
  });

  it('sends nothing when the handler answers null, and reports hub errors', () => {
    const device = new MemoryDevice({ ...options, onCommand: () => null });
    const errors: number[] = [];
    device.on('hub-error', (code) => errors.push(code));
    device.receive(command(1, 'ping'));
    device.receive({ type: 'error', code: 23, text: 'channel 9' });
    expect(device.wire).toEqual([]);
    expect(errors).toEqual([23]);
    expect(device.stats).toMatchObject({ errors: 1, commands: 1 });
  });
});
