// The simulator's fleet against a real in-process hub: store-and-forward across faults with no
// loss, the built-in commands doing what they say, and the bad-token fault.
import { afterEach, describe, expect, it } from 'vitest';
import { startTestHub, waitFor, type TestHub } from '../../hub/test/support/hub-fixture.ts';
import { Fleet, type FleetOptions } from '../src/fleet.ts';
import type { Faults } from '../src/faults.ts';
import { deviceIds } from '../src/cli-args.ts';

interface DeviceView { id: string; online: boolean; counters: { frames: number; readings: number; rejected: number; duplicates: number; sequenceGaps: number } }

const hubs: TestHub[] = [];
const fleets: Fleet[] = [];
afterEach(async () => {
  await Promise.all(fleets.splice(0).map((f) => f.stop(0)));
  await Promise.all(hubs.splice(0).map((h) => h.stop()));
});

async function setup(count: number, faults: Partial<Faults> = {}, extra: Partial<FleetOptions> = {}, hubOptions = {}) {
  const hub = await startTestHub(hubOptions);
  hubs.push(hub);
  const ids = deviceIds('fleet-', count);
  const devices = await Promise.all(ids.map(async (id) => ({ id, token: await hub.provision(id), kinds: ['temperature', 'counter', 'door'] as const })));
  const log: string[] = [];
  const fleet = new Fleet({
    hubUrl: hub.url, devices, rate: 10, batch: 2, absoluteTime: true, seed: 1, dayLengthMs: 86_400_000,
    connectRate: 200, sourceAddresses: ['127.0.0.1', '127.0.0.2'], maxUnacked: 10_000,
    faults: { badToken: false, ...faults }, log: (line) => log.push(line), ...extra,
  });
  fleets.push(fleet);
  const list = async () => (await (await hub.api('/api/devices')).json()) as DeviceView[];
  return { hub, fleet, log, list };
}

function sum(devices: DeviceView[], key: keyof DeviceView['counters']): number {
  return devices.reduce((n, d) => n + d.counters[key], 0);
}

describe('Fleet', () => {
  it('streams from every device and loses nothing across dropped connections and stalls [FP-5]', async () => {
    const { fleet, list } = await setup(30, { drop: { everyMs: 1500 }, stall: { forMs: 1200, everyMs: 2500 } }, {}, { heartbeatIntervalMs: 200, heartbeatTimeoutMs: 600 });
    fleet.start();
    // with drops and stalls some device is nearly always offline; what matters is that each one streams
    await waitFor(async () => (await list()).every((d) => d.counters.frames > 0), 'every device streaming', 15_000);
    // ...and keeps streaming until the faults have struck many times, some stall lasted until the
    // hub gave up on the device (an abnormal close, 1006, that no drop made), and frames were resent
    await waitFor(() => {
      const s = fleet.snapshot();
      return s.faults.drops > 10 && s.faults.stalls > 10 && (s.closes[1006] ?? 0) > s.faults.drops && s.resent > 0;
    }, 'drops, stalls, a stalled device closed by the hub, and resent frames', 15_000);
    await fleet.stop(5000);
    const s = fleet.snapshot();
    expect(s.pending).toBe(0);
    const devices = await list();
    // every reading made was stored exactly once: the hub saw no gap, and dropped resends as duplicates
    expect(sum(devices, 'readings')).toBe(s.readings);
    expect(sum(devices, 'sequenceGaps')).toBe(0);
    expect(sum(devices, 'rejected')).toBe(0);
  }, 45_000);

  it('runs set-rate, ping and reboot as commands from the hub [FP-4.5.2]', async () => {
    const { hub, fleet, list } = await setup(3);
    fleet.start();
    await waitFor(async () => (await list()).every((d) => d.online), 'all online', 15_000);
    const command = async (id: string, name: string, args: unknown) => {
      const res = await hub.api(`/api/devices/${id}/commands`, { method: 'POST', body: JSON.stringify({ name, args, timeoutMs: 5000 }) });
      const { id: cid } = await res.json();
      return waitFor(async () => {
        const view = await (await hub.api(`/api/devices/${id}/commands/${cid}`)).json();
        return view.status === 'succeeded' || view.status === 'failed' ? view : null;
      }, `${name} result`);
    };
    expect(await command('fleet-0001', 'ping', { n: 7 })).toMatchObject({ status: 'succeeded', result: { n: 7 } });
    expect(await command('fleet-0001', 'set-rate', { hz: -1 })).toMatchObject({ status: 'failed' });

    // set-rate: five times the rate, five times the frames
    const framesOf = async (id: string) => (await list()).find((d) => d.id === id)!.counters.frames;
    expect(await command('fleet-0002', 'set-rate', { hz: 50 })).toMatchObject({ status: 'succeeded', result: { hz: 50, previous: 10 } });
    const [fast0, slow0] = [await framesOf('fleet-0002'), await framesOf('fleet-0003')];
    await new Promise((r) => setTimeout(r, 1500));
    const [fast, slow] = [(await framesOf('fleet-0002')) - fast0, (await framesOf('fleet-0003')) - slow0];
    expect(fast / slow).toBeGreaterThan(3);

    // reboot: back with a new session whose frames start at seq 1 again (not taken for duplicates)
    const before = (await list()).find((d) => d.id === 'fleet-0001')!;
    expect(await command('fleet-0001', 'reboot', {})).toMatchObject({ status: 'succeeded' });
    await waitFor(async () => {
      const after = (await list()).find((d) => d.id === 'fleet-0001')!;
      return after.online && after.counters.readings > before.counters.readings + 20;
    }, 'streaming again after reboot', 15_000);
    const after = (await list()).find((d) => d.id === 'fleet-0001')!;
    expect(after.counters.duplicates).toBe(0); // a new session: seq 1 is new, not a duplicate
    expect(fleet.snapshot().commands).toMatchObject({ ping: 1, 'set-rate': 2, reboot: 1 });
  }, 30_000);

  it('reports the bad-token fault\'s HTTP 401 and keeps the other devices streaming', async () => {
    const { fleet, list, log } = await setup(5, { badToken: true });
    fleet.start();
    await waitFor(async () => (await list()).filter((d) => d.online).length === 4, 'four online', 15_000);
    await waitFor(() => fleet.snapshot().refusedExpected > 0, 'refusal counted');
    expect(log).toContain('fleet-0005: hub refused the wrong token with HTTP 401, as the bad-token fault intends');
    expect((await list()).find((d) => d.id === 'fleet-0005')!.online).toBe(false);
    expect(fleet.snapshot().refused).toBe(0);
  });

  it('has devices with a skewed clock send skewed times; beyond 5 minutes the hub rejects them [FP-4.2.4]', async () => {
    const { fleet, list } = await setup(2, { skewMs: 10 * 60_000 });
    fleet.start();
    await waitFor(async () => sum(await list(), 'rejected') > 10, 'rejections');
    await fleet.stop(2000);
    const devices = await list();
    expect(sum(devices, 'readings')).toBe(0);
    expect(fleet.snapshot().hubErrors[25]).toBeGreaterThan(0); // FP_ERR_BAD_TIME
  });
});
