// The behaviour every DeviceRegistry must show, run against each implementation by its own test
// file. Several hub processes may share one registry, so the races that matter are cases here:
// each runs through two handles on the same registry, as two processes would hold.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DeviceExistsError, DeviceLimitError, type DeviceRegistry, type NewDevice } from './registry.ts';

export interface RegistryUnderTest {
  registry: DeviceRegistry;
  /** another handle on the same devices, as a second hub process would hold; closed by cleanup */
  peer(): Promise<DeviceRegistry>;
  cleanup(): Promise<void>;
}

const wsDevice = (id: string, tokenHash: string | null = `hash-${id}`): NewDevice => ({ id, name: `name of ${id}`, tokenHash, transport: 'ws' });

/** Exactly one of `outcomes` fulfilled; the rest rejected with an instance of `error`. */
function expectOneWinner(outcomes: PromiseSettledResult<unknown>[], error: new (...args: never[]) => Error): void {
  expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
  for (const o of outcomes) if (o.status === 'rejected') expect(o.reason).toBeInstanceOf(error);
}

export function describeRegistryContract(name: string, factory: () => Promise<RegistryUnderTest>): void {
  describe(`DeviceRegistry contract: ${name}`, () => {
    let subject: RegistryUnderTest;
    let registry: DeviceRegistry;

    // a registry of its own per case: the device limit counts every device in it
    beforeEach(async () => {
      subject = await factory();
      registry = subject.registry;
    });
    afterEach(async () => {
      await subject?.cleanup();
    });

    it('creates a device and finds it by id, by token hash, in the list and the count', async () => {
      const before = Date.now();
      const created = await registry.create(wsDevice('a-1'));
      expect(created).toMatchObject({
        id: 'a-1', name: 'name of a-1', tokenHash: 'hash-a-1', transport: 'ws', firmware: null, channels: [], lastSeen: null, session: null, ackedSeq: 0,
      });
      expect(created.createdAt).toBeGreaterThanOrEqual(before);
      await registry.create({ id: 's-1', name: 's-1', tokenHash: null, transport: 'serial' });
      expect(await registry.get('a-1')).toEqual(created);
      expect(await registry.findByTokenHash('hash-a-1')).toEqual(created);
      expect(await registry.get('nobody')).toBeUndefined();
      expect(await registry.findByTokenHash('hash-nobody')).toBeUndefined();
      expect((await registry.list()).map((d) => d.id)).toEqual(['a-1', 's-1']);
      expect(await registry.count()).toBe(2);
      expect(await (await subject.peer()).get('a-1')).toEqual(created);
    });

    it('refuses an id that exists with DeviceExistsError and changes nothing', async () => {
      const first = await registry.create(wsDevice('dup'));
      await expect(registry.create({ ...wsDevice('dup', 'other-hash'), name: 'other' })).rejects.toBeInstanceOf(DeviceExistsError);
      await expect(registry.create(wsDevice('dup', null), { maxDevices: 100 })).rejects.toMatchObject({ code: 'REGISTRY_DEVICE_EXISTS', deviceId: 'dup' });
      expect(await registry.get('dup')).toEqual(first);
      expect(await registry.findByTokenHash('other-hash')).toBeUndefined();
      expect(await registry.count()).toBe(1);
    });

    it('of concurrent creates of one id from two processes, exactly one wins; the others report a conflict', async () => {
      const peer = await subject.peer();
      for (let round = 0; round < 10; round++) {
        const id = `race-${round}`;
        const outcomes = await Promise.allSettled([
          registry.create(wsDevice(id, `${id}-a`)),
          peer.create(wsDevice(id, `${id}-b`)),
          registry.create(wsDevice(id, `${id}-c`), { maxDevices: 1000 }),
          peer.create(wsDevice(id, `${id}-d`), { maxDevices: 1000 }),
        ]);
        expectOneWinner(outcomes, DeviceExistsError);
        const winner = (outcomes.find((o) => o.status === 'fulfilled') as PromiseFulfilledResult<{ tokenHash: string }>).value;
        expect((await peer.get(id))?.tokenHash).toBe(winner.tokenHash);
      }
      expect(await registry.count()).toBe(10);
    });

    it('refuses a device past maxDevices with DeviceLimitError; an existing id is a conflict first', async () => {
      await registry.create(wsDevice('l-1'), { maxDevices: 2 });
      await registry.create(wsDevice('l-2'), { maxDevices: 2 });
      await expect(registry.create(wsDevice('l-3'), { maxDevices: 2 })).rejects.toBeInstanceOf(DeviceLimitError);
      await expect(registry.create(wsDevice('l-3'), { maxDevices: 2 })).rejects.toMatchObject({ code: 'REGISTRY_DEVICE_LIMIT', maxDevices: 2 });
      await expect(registry.create(wsDevice('l-1'), { maxDevices: 2 })).rejects.toBeInstanceOf(DeviceExistsError);
      expect(await registry.get('l-3')).toBeUndefined();
      // without a limit there is none
      await registry.create(wsDevice('l-3'));
      expect(await registry.count()).toBe(3);
      // a deletion makes room
      await registry.delete('l-1');
      await expect(registry.create(wsDevice('l-4'), { maxDevices: 3 })).resolves.toMatchObject({ id: 'l-4' });
    });

    it('concurrent creates at the device limit from two processes never take the count past it', async () => {
      const peer = await subject.peer();
      const max = 5;
      for (let i = 0; i < 3; i++) await registry.create(wsDevice(`pre-${i}`));
      const outcomes = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? registry : peer).create(wsDevice(`at-limit-${i}`), { maxDevices: max })),
      );
      expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(2);
      for (const o of outcomes) if (o.status === 'rejected') expect(o.reason).toBeInstanceOf(DeviceLimitError);
      expect(await registry.count()).toBe(max);
      expect(await peer.count()).toBe(max);
    });

    it('delete removes the device and its token; the id can be provisioned again, starting afresh', async () => {
      const peer = await subject.peer();
      await registry.create(wsDevice('del-1', 'old-token'));
      await registry.updateHello('del-1', { firmware: 'fw 1', channels: [{ id: 1, type: 'f32', name: 'temp', unit: 'C' }], session: 7 });
      await registry.saveWatermarks([{ deviceId: 'del-1', session: 7, ackedSeq: 40, lastSeen: 1000 }]);
      expect(await registry.addChannelNames('del-1', ['a', 'b'], 2)).toBe(true);

      expect(await peer.delete('del-1')).toBe(true);
      expect(await registry.get('del-1')).toBeUndefined();
      expect(await registry.findByTokenHash('old-token')).toBeUndefined();
      expect(await registry.count()).toBe(0);
      expect(await registry.delete('del-1')).toBe(false);

      const again = await registry.create(wsDevice('del-1', 'new-token'));
      expect(again).toMatchObject({ tokenHash: 'new-token', firmware: null, channels: [], session: null, ackedSeq: 0, lastSeen: null });
      expect(await registry.findByTokenHash('old-token')).toBeUndefined();
      expect((await peer.findByTokenHash('new-token'))?.id).toBe('del-1');
      // the old device's channel names are gone with it
      expect(await registry.addChannelNames('del-1', ['c', 'd'], 2)).toBe(true);
    });

    it('rename changes the name only, for every process; an unknown id is false', async () => {
      const peer = await subject.peer();
      const created = await registry.create(wsDevice('rn-1', 'rn-token'));
      await registry.updateHello('rn-1', { firmware: 'fw 2', channels: [{ id: 1, type: 'f32', name: 'temp', unit: 'C' }], session: 3 });
      const before = await registry.get('rn-1');
      expect(await peer.rename('rn-1', 'Pump house 2 · ünïcode')).toBe(true);
      expect(await registry.get('rn-1')).toEqual({ ...before, name: 'Pump house 2 · ünïcode' });
      expect((await registry.findByTokenHash('rn-token'))?.name).toBe('Pump house 2 · ünïcode');
      expect(created.createdAt).toBe((await registry.get('rn-1'))!.createdAt);
      expect(await registry.rename('nobody', 'x')).toBe(false);
      expect(await registry.get('nobody')).toBeUndefined();
    });

    it('watermarks are saved and read back, by every process', async () => {
      const peer = await subject.peer();
      await registry.create(wsDevice('wm-1'));
      await registry.create(wsDevice('wm-2'));
      await registry.saveWatermarks([
        { deviceId: 'wm-1', session: 11, ackedSeq: 500, lastSeen: 1_700_000_000_000 },
        { deviceId: 'wm-2', session: 0xffff_ffff, ackedSeq: 0xffff_fffe, lastSeen: 1_700_000_000_001 },
        // a device deleted meanwhile is skipped
        { deviceId: 'wm-gone', session: 1, ackedSeq: 1, lastSeen: 1 },
      ]);
      expect(await peer.get('wm-1')).toMatchObject({ session: 11, ackedSeq: 500, lastSeen: 1_700_000_000_000 });
      expect(await peer.get('wm-2')).toMatchObject({ session: 0xffff_ffff, ackedSeq: 0xffff_fffe, lastSeen: 1_700_000_000_001 });
      expect(await registry.get('wm-gone')).toBeUndefined();
      // another process acknowledged more: the latest save is what everyone reads
      await peer.saveWatermarks([{ deviceId: 'wm-1', session: 11, ackedSeq: 800, lastSeen: 1_700_000_000_500 }]);
      expect(await registry.get('wm-1')).toMatchObject({ session: 11, ackedSeq: 800, lastSeen: 1_700_000_000_500 });
    });

    it('HELLO replaces firmware and channels; a new session starts at 0, the same session keeps its watermark', async () => {
      await registry.create(wsDevice('h-1'));
      const channels = [{ id: 1, type: 'f32' as const, name: 'temp', unit: '°C' }, { id: 2, type: 'bool' as const, name: 'door', unit: '' }];
      await registry.updateHello('h-1', { firmware: 'fw 1', channels, session: 5 });
      expect(await registry.get('h-1')).toMatchObject({ firmware: 'fw 1', channels, session: 5, ackedSeq: 0 });
      await registry.saveWatermarks([{ deviceId: 'h-1', session: 5, ackedSeq: 90, lastSeen: 1 }]);
      await registry.updateHello('h-1', { firmware: 'fw 2', channels: channels.slice(1), session: 5 });
      expect(await registry.get('h-1')).toMatchObject({ firmware: 'fw 2', channels: channels.slice(1), session: 5, ackedSeq: 90 });
      await registry.updateHello('h-1', { firmware: 'fw 2', channels, session: 6 });
      expect(await registry.get('h-1')).toMatchObject({ session: 6, ackedSeq: 0 });
    });

    it('bounds distinct channel names per device over its lifetime, also across processes', async () => {
      const peer = await subject.peer();
      await registry.create(wsDevice('ch-1'));
      expect(await registry.addChannelNames('ch-1', ['a', 'b', 'a'], 4)).toBe(true);
      // names already recorded cost nothing
      expect(await peer.addChannelNames('ch-1', ['a', 'b'], 2)).toBe(true);
      // past the bound nothing is recorded
      expect(await peer.addChannelNames('ch-1', ['c', 'd', 'e'], 4)).toBe(false);
      expect(await registry.addChannelNames('ch-1', ['c', 'd'], 4)).toBe(true);
      expect(await registry.addChannelNames('ch-1', ['e'], 4)).toBe(false);

      // racing from four processes, over several rounds: a race that needs luck to show shows in one of them
      const handles = [registry, peer, await subject.peer(), await subject.peer()];
      for (let round = 0; round < 5; round++) {
        const id = `ch-race-${round}`;
        await registry.create(wsDevice(id));
        const names = Array.from({ length: 12 }, (_, i) => `n-${i}`);
        const outcomes = await Promise.all(names.map((name, i) => handles[i % handles.length].addChannelNames(id, [name], 3)));
        expect(outcomes.filter(Boolean), `round ${round}`).toHaveLength(3);
        expect(await peer.addChannelNames(id, names.filter((_, i) => outcomes[i]), 3)).toBe(true);
        expect(await peer.addChannelNames(id, ['one-more'], 3)).toBe(false);
      }
    });
  });
}
