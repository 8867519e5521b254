// Cluster presence on a real PostgreSQL and a real three-node nats-server cluster: the contract on
// one hub, then several hubs sharing one database: one owner per device, status seen from every
// hub, frames carried to the owning hub, dead hubs swept, and lost NATS messages healed.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { connectPostgres, migrate, type Sql } from '../cluster/postgres.ts';
import type { DeviceLink } from '../ingest/device-link.ts';
import type { LiveEvent } from '../live/live-bus.ts';
import { createNatsLiveBus, type NatsLiveBus } from '../live/nats-live-bus.ts';
import type { ErrorName, Frame } from '../protocol/index.ts';
import { startNats, type NatsCluster } from '../../test/support/nats.ts';
import { startPostgres, type Postgres } from '../../test/support/postgres.ts';
import { hasRealPart } from '../../test/support/real-parts.ts';
import { createClusterPresence, type ClusterPresence } from './cluster-presence.ts';
import { presenceContract } from './presence-contract.ts';

const hasParts = hasRealPart('nats-server') && hasRealPart('/usr/lib/postgresql/15/bin/initdb');

const TIMING = { heartbeatMs: 100, deadAfterMs: 600, seenFlushMs: 50, refreshMs: 60_000 };

interface FakeLink extends DeviceLink {
  ended: ErrorName[];
  frames: Frame[];
}

function fakeLink(transport: DeviceLink['transport'] = 'ws'): FakeLink {
  const ended: ErrorName[] = [];
  const frames: Frame[] = [];
  return { transport, ended, frames, send(frame) { frames.push(frame); }, end(reason) { ended.push(reason); } };
}

const hello = { firmware: '2.0', channels: [{ id: 1, type: 'f32' as const, name: 't', unit: 'C' }] };

describe('cluster presence options', () => {
  it('refuses a hub id that cannot be part of a NATS subject', async () => {
    const unused = {} as never;
    for (const hubId of ['', 'a.b', 'a*', 'a>', 'a b', 'x'.repeat(65)]) {
      await expect(createClusterPresence({ sql: unused, nc: unused, live: unused, hubId })).rejects.toThrow(/hub id/);
    }
  });
});

describe.runIf(hasParts)('cluster presence', () => {
  let pg: Postgres;
  let nats: NatsCluster;
  let databases = 0;
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    [pg, nats] = await Promise.all([startPostgres(), startNats(3)]);
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  });
  afterAll(async () => {
    await Promise.all([pg?.stop(), nats?.stop()]);
  });

  /** A fresh database with the cluster schema, for one test. */
  async function database(): Promise<{ url: string; sql: Sql }> {
    const url = await pg.database(`presence_${++databases}`);
    const sql = connectPostgres(url, { max: 2 });
    cleanups.push(() => sql.end({ timeout: 1 }));
    await migrate(sql);
    return { url, sql };
  }

  async function natsConnection(servers = [nats.nodes[0].url]): Promise<NatsConnection> {
    // only the nodes named: a client cut off from them stays cut off, as the NATS cases need
    const nc = await connect({ servers, noRandomize: true, ignoreClusterUpdates: true, maxReconnectAttempts: -1, reconnectTimeWait: 50, pingInterval: 1000 });
    cleanups.push(() => nc.close());
    return nc;
  }

  presenceContract('cluster, one hub', async (live) => {
    const { sql } = await database();
    const nc = await natsConnection();
    const presence = await createClusterPresence({ sql, nc, hubId: 'contract', live, ...TIMING });
    return { presence, close: () => presence.close() };
  });

  interface Hub {
    hubId: string;
    presence: ClusterPresence;
    bus: NatsLiveBus;
    nc: NatsConnection;
    sql: Sql;
    /** status events this hub's live clients got */
    statuses: () => string[];
    /** waits until every event published before now on `from`'s bus reached this hub's client */
    settled(from: Hub): Promise<void>;
  }

  let markers = 0;

  /** A hub: its own PostgreSQL pool and NATS connection, a NATS live bus, a live client on it. */
  async function hub(url: string, hubId: string, servers = [nats.nodes[0].url]): Promise<Hub> {
    const sql = connectPostgres(url, { max: 4 });
    cleanups.push(() => sql.end({ timeout: 1 }));
    const nc = await natsConnection(servers);
    const bus = createNatsLiveBus(nc, { hubId });
    cleanups.push(() => bus.close());
    const events: LiveEvent[] = [];
    bus.subscribe((e) => events.push(e), { devices: new Set() });
    const presence = await createClusterPresence({ sql, nc, hubId, live: bus, ...TIMING });
    cleanups.push(() => presence.close());
    return {
      hubId, presence, bus, nc, sql,
      statuses: () => events.filter((e) => e.type === 'status').map((e) => `${e.deviceId}:${(e as { online: boolean }).online ? 'online' : 'offline'}`),
      async settled(from) {
        const text = `marker-${++markers}`;
        await vi.waitFor(() => {
          // until the routes carry this client's subscription, a marker may go nowhere: repeat it
          from.bus.publish({ type: 'console', deviceId: 'marker', at: 0, text });
          expect(events.some((e) => e.type === 'console' && e.text === text)).toBe(true);
        }, { timeout: 5000, interval: 10 });
      },
    };
  }

  async function cluster(count: number, servers?: (i: number) => string[]): Promise<{ url: string; hubs: Hub[] }> {
    const { url } = await database();
    const hubs: Hub[] = [];
    for (let i = 0; i < count; i++) hubs.push(await hub(url, `hub-${String.fromCharCode(97 + i)}`, servers?.(i) ?? [nats.nodes[i % 3].url]));
    for (const a of hubs) for (const b of hubs) await b.settled(a);
    return { url, hubs };
  }

  describe('across hubs', () => {
    it('a device moving to another hub: the new hub replaces nothing of its own, the old one ends its link (FP_ERR_REPLACED), and the device stays online', async () => {
      const { hubs: [a, b] } = await cluster(2);
      const first = fakeLink();
      expect((await a.presence.connect('d-1', first, hello)).replaced).toBeNull();
      const second = fakeLink();
      expect((await b.presence.connect('d-1', second, { ...hello, firmware: '2.1' })).replaced).toBeNull();
      await vi.waitFor(() => expect(first.ended).toEqual(['FP_ERR_REPLACED']), { timeout: 5000, interval: 5 });
      expect(b.presence.linkOf('d-1')).toBe(second);
      // hub A now reaches the device through hub B
      await vi.waitFor(() => expect(a.presence.linkOf('d-1')).not.toBeNull(), { timeout: 5000, interval: 5 });
      expect(a.presence.linkOf('d-1')).not.toBe(first);
      // the old transport reports its close: nothing changes
      await a.presence.disconnect('d-1', first);
      for (const h of [a, b]) expect(await h.presence.get('d-1')).toMatchObject({ online: true, firmware: '2.1' });
      await a.settled(b);
      await b.settled(a);
      expect(a.statuses()).toEqual(['d-1:online']);
      expect(b.statuses()).toEqual(['d-1:online']);
      expect(second.ended).toEqual([]);
    });

    it('of links connecting at once on three hubs, one owns the device and every other is ended exactly once', async () => {
      const { hubs } = await cluster(3);
      const links = hubs.flatMap((h) => Array.from({ length: 4 }, () => ({ hub: h, link: fakeLink() })));
      const results = await Promise.all(links.map(({ hub: h, link }) => h.presence.connect('d-2', link, hello)));
      // as ingest does with what connect reports replaced [FP-6.5]
      for (const r of results) r.replaced?.end('FP_ERR_REPLACED');
      await vi.waitFor(() => expect(links.filter((l) => l.link.ended.length > 0)).toHaveLength(links.length - 1), { timeout: 5000, interval: 5 });
      const [owner] = links.filter((l) => l.link.ended.length === 0);
      for (const { link } of links) expect(link.ended.length).toBeLessThanOrEqual(1);
      expect(owner.hub.presence.linkOf('d-2')).toBe(owner.link);
      const [row] = await owner.hub.sql`SELECT hub_id, online FROM presence WHERE device_id = 'd-2'`;
      expect(row).toEqual({ hub_id: owner.hub.hubId, online: true });
      for (const h of hubs) if (h !== owner.hub) await vi.waitFor(() => expect(h.presence.linkOf('d-2')).toMatchObject({ hubId: owner.hub.hubId }), { timeout: 5000, interval: 5 });
      for (const h of hubs) await h.settled(hubs[0]);
      for (const h of hubs) expect(h.statuses()).toEqual(['d-2:online']);
    });

    it('every hub sees every device\'s status and last seen; counters are the receiving hub\'s', async () => {
      const { hubs: [a, b] } = await cluster(2);
      const { counters } = await a.presence.connect('d-3', fakeLink(), hello);
      counters.frames += 5;
      await b.presence.connect('d-4', fakeLink('serial'), hello);
      for (const h of [a, b]) expect([...(await h.presence.list()).keys()].sort()).toEqual(['d-3', 'd-4']);
      expect((await a.presence.get('d-3'))!.counters.frames).toBe(5);
      expect(await b.presence.get('d-3')).toMatchObject({ online: true, firmware: '2.0', channels: [{ name: 't' }], counters: { frames: 0 } });
      const before = (await b.presence.get('d-3'))!.lastSeen!;
      await vi.waitFor(() => expect(Date.now()).toBeGreaterThan(before));
      a.presence.seen('d-3');
      // written within seenFlushMs, then read by the other hub
      await vi.waitFor(async () => expect((await b.presence.get('d-3'))!.lastSeen).toBeGreaterThan(before), { timeout: 5000, interval: 20 });
    });

    it('a link from another hub carries commands and errors to the device, never ACKs, and ends it there', async () => {
      const { hubs: [a, b] } = await cluster(2);
      const device = fakeLink();
      await a.presence.connect('d-5', device, hello);
      expect(b.presence.linkOf('nobody')).toBeNull();
      await vi.waitFor(() => expect(b.presence.linkOf('d-5')).not.toBeNull(), { timeout: 5000, interval: 5 });
      const remote = b.presence.linkOf('d-5')!;
      expect(remote.transport).toBe('ws');
      remote.send({ type: 'ack', ackedSeq: 3, hubTime: 1 });
      const command: Frame = { type: 'command', id: 42, timeoutMs: 5000, name: 'reboot', args: '{"now":true}' };
      remote.send(command);
      remote.send({ type: 'error', code: 28, text: 'device deleted' });
      await vi.waitFor(() => expect(device.frames).toHaveLength(2), { timeout: 5000, interval: 5 });
      expect(device.frames).toEqual([command, { type: 'error', code: 28, text: 'device deleted' }]);
      remote.end('FP_ERR_UNKNOWN_DEVICE');
      await vi.waitFor(() => expect(device.ended).toEqual(['FP_ERR_UNKNOWN_DEVICE']), { timeout: 5000, interval: 5 });
      // offline: no link anywhere
      await a.presence.disconnect('d-5', device);
      await vi.waitFor(() => expect(b.presence.linkOf('d-5')).toBeNull(), { timeout: 5000, interval: 5 });
      expect(a.presence.linkOf('d-5')).toBeNull();
    });

    it('deleting a device on another hub than its own (as ingest does) ends it there, with one offline event', async () => {
      const { hubs: [a, b] } = await cluster(2);
      const device = fakeLink();
      await a.presence.connect('d-6', device, hello);
      await vi.waitFor(() => expect(b.presence.linkOf('d-6')).not.toBeNull(), { timeout: 5000, interval: 5 });
      const link = b.presence.linkOf('d-6')!;
      link.send({ type: 'error', code: 28, text: 'device deleted' });
      link.end('FP_ERR_UNKNOWN_DEVICE');
      await b.presence.disconnect('d-6', link);
      await b.presence.forget('d-6');
      await vi.waitFor(() => expect(device.ended).toEqual(['FP_ERR_UNKNOWN_DEVICE']), { timeout: 5000, interval: 5 });
      await a.presence.disconnect('d-6', device);
      expect(await a.presence.get('d-6')).toBeUndefined();
      expect(a.presence.linkOf('d-6')).toBeNull();
      await a.settled(b);
      await b.settled(a);
      for (const h of [a, b]) expect(h.statuses()).toEqual(['d-6:online', 'd-6:offline']);
    });

    it('a hub that dies: its devices are offline within the bound, with one offline event however many hubs sweep', async () => {
      const { hubs: [a, b, c] } = await cluster(3);
      await a.presence.connect('d-7', fakeLink(), hello);
      await a.presence.connect('d-8', fakeLink(), hello);
      // hub A goes silent: its connections drop, it neither heartbeats nor says goodbye
      const died = Date.now();
      await a.nc.close();
      await a.sql.end({ timeout: 0 });
      await vi.waitFor(async () => expect((await b.presence.get('d-8'))!.online).toBe(false), { timeout: TIMING.deadAfterMs + 10 * TIMING.heartbeatMs, interval: 20 });
      expect(Date.now() - died).toBeGreaterThanOrEqual(TIMING.deadAfterMs - TIMING.heartbeatMs);
      expect((await c.presence.get('d-7'))!.online).toBe(false);
      expect(b.presence.linkOf('d-7')).toBeNull();
      await b.settled(c);
      await c.settled(b);
      for (const h of [b, c]) expect(h.statuses().sort()).toEqual(['d-7:offline', 'd-7:online', 'd-8:offline', 'd-8:online']);
    });

    it('a hub that stops cleanly marks its devices offline at once', async () => {
      const { hubs: [a, b] } = await cluster(2);
      await a.presence.connect('d-9', fakeLink(), hello);
      await a.presence.close();
      expect((await b.presence.get('d-9'))!.online).toBe(false);
      await b.settled(b);
      expect(b.statuses()).toEqual(['d-9:online', 'd-9:offline']);
    });

    it('a hub restarting under the same id marks offline what it held before, without waiting for the bound', async () => {
      const { url, hubs: [a, b] } = await cluster(2);
      await a.presence.connect('d-10', fakeLink(), hello);
      await a.nc.close();
      await a.sql.end({ timeout: 0 });
      const again = await hub(url, a.hubId);
      expect((await b.presence.get('d-10'))!.online).toBe(false);
      expect(again.presence.linkOf('d-10')).toBeNull();
    });

    it('a device marked offline while its hub was slow to heartbeat is marked online again', async () => {
      const { hubs: [a, b] } = await cluster(2);
      await a.presence.connect('d-11', fakeLink(), hello);
      await b.sql`UPDATE presence SET online = false WHERE device_id = 'd-11'`;
      await vi.waitFor(async () => expect((await b.presence.get('d-11'))!.online).toBe(true), { timeout: 5000, interval: 20 });
    });
  });

  describe('NATS messages lost while a node is down', () => {
    it('an eviction that never arrived is done from PostgreSQL, and the hub learns the new owner once its client is back', async () => {
      // hub A knows one node only, so while it is down A is cut off from NATS
      const { hubs: [a, b] } = await cluster(2, (i) => (i === 0 ? [nats.nodes[0].url] : [nats.nodes[1].url, nats.nodes[2].url]));
      const first = fakeLink();
      await a.presence.connect('d-12', first, hello);
      await nats.nodes[0].kill();
      try {
        const second = fakeLink();
        expect((await b.presence.connect('d-12', second, hello)).replaced).toBeNull();
        await vi.waitFor(() => expect(first.ended).toEqual(['FP_ERR_REPLACED']), { timeout: 5000, interval: 10 });
        expect(a.presence.linkOf('d-12')).toBeNull();
      } finally {
        await nats.nodes[0].start();
      }
      // the owners message A missed is read from the table after it reconnects
      await vi.waitFor(() => expect(a.presence.linkOf('d-12')).toMatchObject({ hubId: b.hubId }), { timeout: 10_000, interval: 20 });
      expect((await a.presence.get('d-12'))!.online).toBe(true);
    });
  });
});
