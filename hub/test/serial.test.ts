// The serial bridge on real pseudo-terminal pairs from socat: a device streams frame lines,
// prints console output, executes a command, and survives an unplug/replug without loss.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SerialDevice } from '../../device-sim/src/serial-device.ts';
import { encodeLine } from '../src/protocol/index.ts';
import { randomInt, seededRandom } from './support/random.ts';
import { startTestHub, TEST_CHANNELS, waitFor, type TestHub } from './support/hub-fixture.ts';
import { hasRealPart } from './support/real-parts.ts';
import { startSerialPair, type SerialPair } from './support/socat.ts';

interface DeviceInfo { online: boolean; transport: string; counters: { rejected: number } }

describe.runIf(hasRealPart('socat'))('serial bridge over a socat pair', () => {
  let pair: SerialPair;
  let hub: TestHub;
  let device: SerialDevice;
  let damageNext = false;
  const info = async (): Promise<DeviceInfo> => (await hub.api('/api/devices/mcu-1')).json();
  const values = async (): Promise<number[]> => {
    const res = await hub.api('/api/devices/mcu-1/readings?channel=count&from=0&to=' + (Date.now() + 60_000));
    return ((await res.json()).points as { value: number }[]).map((p) => p.value);
  };

  beforeAll(async () => {
    pair = await startSerialPair();
    hub = await startTestHub({ serial: [{ path: pair.hubPath, baudRate: 115200 }], serialSilenceMs: 3000, serialReopenMs: 100 });
    device = new SerialDevice({
      path: pair.devicePath, deviceId: 'mcu-1', channels: TEST_CHANNELS, banner: 'mcu-1 boot: sensors ok', heartbeatMs: 500,
      // line noise on the next READINGS frame only; the device keeps the intact copy
      tamper: (bytes) => {
        if (!damageNext) return bytes;
        damageNext = false;
        const damaged = bytes.slice();
        damaged[damaged.length - 3] ^= 0x10;
        return damaged;
      },
    });
  });
  afterAll(async () => {
    await device?.close().catch(() => undefined);
    await hub?.stop();
    await pair?.stop();
  });

  it('registers the device on HELLO, stores its readings and keeps its console output', async () => {
    await device.open();
    const t0 = Date.now() - 60_000;
    for (let i = 0; i < 10; i++) device.sendReadings([{ channel: 3, type: 'i32', offset: 0, value: i }], t0 + i);
    await device.waitAcked();
    expect(await values()).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(await info()).toMatchObject({ online: true, transport: 'serial' });
    device.console('temperature sensor warming up');
    await waitFor(async () => {
      const lines = (await (await hub.api('/api/devices/mcu-1/console')).json()) as { text: string }[];
      return lines.some((l) => l.text === 'temperature sensor warming up');
    }, 'console line on the device page');
  });

  it('executes a command sent over the serial line', async () => {
    const res = await hub.api('/api/devices/mcu-1/commands', { method: 'POST', body: JSON.stringify({ name: 'ping', args: { via: 'serial' } }) });
    const { id } = await res.json();
    await waitFor(async () => (await (await hub.api(`/api/devices/mcu-1/commands/${id}`)).json()).status === 'succeeded', 'command result over serial');
    expect((await (await hub.api(`/api/devices/mcu-1/commands/${id}`)).json()).result).toEqual({ via: 'serial' });
  });

  it('tolerates noise, bad lines and over-long lines, counting the bad ones', async () => {
    const before = (await info()).counters.rejected;
    device.writeRaw('\u0000\u0001\u00ff binary noise\n');
    device.writeRaw('@this is not base64!\n');
    device.writeRaw('@' + Buffer.from('not a frame at all').toString('base64') + '\n');
    device.writeRaw('@' + 'A'.repeat(40_000) + '\n'); // longer than any frame line
    device.writeRaw(encodeLine({ type: 'heartbeat' }).slice(0, 5) + '\n'); // a torn line
    const t0 = Date.now() - 30_000;
    device.sendReadings([{ channel: 3, type: 'i32', offset: 0, value: 100 }], t0);
    await device.waitAcked();
    expect(await values()).toContain(100);
    await waitFor(async () => (await info()).counters.rejected >= before + 4, 'bad lines counted');
    const metrics = await (await fetch(hub.url + '/metrics')).text();
    expect(metrics).toMatch(/hub_rejected_total\{code="FP_ERR_BAD_LINE"\} [1-9]/);
    expect(metrics).toMatch(/hub_rejected_total\{code="FP_ERR_TOO_LARGE"\} [1-9]/);
  });

  it('a READINGS line damaged on the wire is not covered by the ACK of the next frame: both arrive', async () => {
    const t0 = Date.now() - 10_000;
    damageNext = true;
    device.sendReadings([{ channel: 3, type: 'i32', offset: 0, value: 300 }], t0); // lost to noise
    device.sendReadings([{ channel: 3, type: 'i32', offset: 0, value: 301 }], t0 + 1); // arrives intact
    await device.waitAcked();
    expect((await values()).filter((v) => v >= 300 && v < 400).sort()).toEqual([300, 301]);
    expect((await info()).online).toBe(true);
  });

  it('fuzz: thousands of random, mutated and endless lines between real frames lose nothing', async () => {
    const rand = seededRandom(99);
    const t0 = Date.now() - 5000;
    const good = encodeLine({ type: 'readings', seq: 1, samples: [{ channel: 1, type: 'f32', offset: 0, value: 1 }] }).trimEnd();
    for (let i = 0; i < 3000; i++) {
      // Let the port drain now and then, as a UART paces a device: node-serialport's poller can
      // stall a port that queues megabytes of writes while it also reads.
      if (i % 50 === 0) await waitFor(() => device.port.writableLength === 0, 'device port drained');
      switch (randomInt(rand, 0, 4)) {
        case 0: device.writeRaw(Buffer.from(Array.from({ length: randomInt(rand, 1, 300) }, () => randomInt(rand, 0, 255))).toString('latin1')); break;
        case 1: device.writeRaw('@' + Buffer.from(Array.from({ length: randomInt(rand, 1, 200) }, () => randomInt(rand, 0, 255))).toString('base64') + '\n'); break;
        case 2: { // a real frame line with one character changed
          const at = randomInt(rand, 1, good.length - 1);
          device.writeRaw(good.slice(0, at) + String.fromCharCode(randomInt(rand, 33, 126)) + good.slice(at + 1) + '\n');
          break;
        }
        // no newline yet; a few pass the line limit
        case 3: device.writeRaw('x'.repeat(i % 200 === 3 ? 25_000 : randomInt(rand, 10, 2000))); break;
        default: device.sendReadings([{ channel: 3, type: 'i32', offset: 0, value: 500 + i }], t0 + i);
      }
    }
    device.writeRaw('\n');
    await device.waitAcked(undefined, 30_000);
    const sent = device.stats;
    const stored = (await values()).filter((v) => v >= 500 && v < 4000);
    expect(new Set(stored).size).toBe(stored.length);
    expect(stored.length).toBeGreaterThan(400);
    expect(device.pending).toBe(0);
    expect((await info()).online).toBe(true);
    expect(sent.sent).toBeGreaterThan(0);
  }, 60_000);

  it('survives an unplug and replug: offline meanwhile, then every kept reading arrives once', async () => {
    await pair.unplug();
    await waitFor(async () => !(await info()).online, 'offline after unplug', 8000);
    const t0 = Date.now() - 20_000;
    for (let i = 0; i < 5; i++) device.sendReadings([{ channel: 3, type: 'i32', offset: 0, value: 200 + i }], t0 + i); // kept while unplugged
    await pair.replug();
    await device.open();
    for (let i = 5; i < 10; i++) device.sendReadings([{ channel: 3, type: 'i32', offset: 0, value: 200 + i }], t0 + i);
    await device.waitAcked();
    expect((await info()).online).toBe(true);
    const stored = await values();
    expect(stored.filter((v) => v >= 200 && v < 300).sort((a, b) => a - b)).toEqual([200, 201, 202, 203, 204, 205, 206, 207, 208, 209]);
  });
});
