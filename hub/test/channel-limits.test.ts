// [FP-4.1.4] Channel names: unique per HELLO, bounded per device over its lifetime, so a device
// that invents names cannot grow the store's series without end.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { decodeFrame, encodeFrame, ErrorCode, type ChannelDescriptor, type Frame } from '../src/protocol/index.ts';
import { startTestHub, TEST_CHANNELS, waitFor, type TestHub } from './support/hub-fixture.ts';

/** Connects, says HELLO with `channels`, and reports what came back and how the connection ended. */
async function hello(hub: TestHub, deviceId: string, token: string, channels: ChannelDescriptor[]) {
  const ws = new WebSocket(hub.url.replace('http', 'ws') + '/ws/device', { headers: { authorization: `Bearer ${token}` } });
  const frames: Frame[] = [];
  let closeCode: number | null = null;
  ws.on('message', (data: Buffer) => frames.push(decodeFrame(data)));
  ws.on('close', (code) => (closeCode = code));
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  ws.send(encodeFrame({ type: 'hello', session: 1, deviceId, firmware: 't', channels }));
  await waitFor(() => closeCode !== null || frames.some((f) => f.type === 'ack'), 'an answer to HELLO');
  return { ws, frames, closeCode: () => closeCode };
}

const named = (names: string[]): ChannelDescriptor[] => names.map((name, i) => ({ id: i + 1, type: 'f32', name, unit: '' }));

describe('channel names', () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startTestHub({ maxChannelNamesPerDevice: 8 });
  });
  afterAll(() => hub?.stop());

  it('refuses a HELLO that declares a name twice as a malformed HELLO (4007)', async () => {
    const token = await hub.provision('dup-names');
    const answer = await hello(hub, 'dup-names', token, named(['temp', 'hum', 'temp']));
    await waitFor(() => answer.closeCode() !== null, 'close');
    expect(answer.closeCode()).toBe(4007);
    expect(answer.frames.some((f) => f.type === 'error' && f.code === ErrorCode.FP_ERR_BAD_PAYLOAD)).toBe(true);
  });

  it('bounds the distinct names a device declares over time (4032); repeating known names stays free; others are not affected', async () => {
    const token = await hub.provision('churn');
    // 3 HELLOs of 3 new names each: 6 fit the bound of 8, the third would make 9
    const first = await hello(hub, 'churn', token, named(['a1', 'a2', 'a3']));
    expect(first.frames.some((f) => f.type === 'ack')).toBe(true);
    first.ws.close();
    const second = await hello(hub, 'churn', token, named(['b1', 'b2', 'b3']));
    expect(second.frames.some((f) => f.type === 'ack')).toBe(true);
    second.ws.close();
    const third = await hello(hub, 'churn', token, named(['c1', 'c2', 'c3']));
    await waitFor(() => third.closeCode() !== null, 'close');
    expect(third.closeCode()).toBe(4032);
    expect(third.frames.some((f) => f.type === 'error' && f.code === ErrorCode.FP_ERR_TOO_MANY_CHANNELS)).toBe(true);
    // names it already has cost nothing, and two more new ones still fit
    const known = await hello(hub, 'churn', token, named(['a1', 'b2', 'c1', 'c2']));
    expect(known.frames.some((f) => f.type === 'ack')).toBe(true);
    known.ws.close();
    // another device is untouched
    const other = await hub.provision('steady');
    const device = hub.device('steady', other, { channels: TEST_CHANNELS });
    await device.connect();
    device.sendReadings([{ channel: 1, type: 'f32', offset: 0, value: 20 }], Date.now() - 1000);
    await device.waitAcked();
    const metrics = await (await hub.api('/metrics')).text();
    expect(metrics).toMatch(/hub_rejected_total\{code="FP_ERR_TOO_MANY_CHANNELS"\} 1/);
  });
});
