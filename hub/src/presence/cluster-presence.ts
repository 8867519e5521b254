// Presence shared by the hubs of a cluster. PostgreSQL holds who owns each device (one row per
// device: owning hub, connection, online, last seen, HELLO) and which hubs are alive; NATS carries
// what one hub asks of another. A device's link lives on the hub it is connected to; every other
// hub reaches it through that hub.
//
// Tables: `presence` and `hubs` (cluster migration 4).
//
// Ownership. A HELLO takes the device's row in one transaction (the row locked, the previous owner
// read, the new one written), so concurrent HELLOs on any number of hubs are ordered by PostgreSQL
// and every one of them learns exactly whom it replaced: never two owners. A replaced link on the
// same hub is returned to the caller as `replaced`; one on another hub is ended there: the new
// owner publishes `hub.<old hub>.end` {deviceId, connId, reason: FP_ERR_REPLACED}, and the old hub
// ends that connection if it still holds it [FP-6.5].
//
// NATS subjects (JSON messages):
//   hub.<hubId>.send    {deviceId, connId, frame: base64 of the encoded frame}   a frame for a device there
//   hub.<hubId>.end     {deviceId, connId, reason}                               end that connection
//   presence.owners     {deviceId, hubId, connId, transport, online, version}    ownership changed
//
// Every hub keeps a copy of who owns what, from presence.owners and from reading the table at start,
// every refreshMs and after its NATS client reconnects; `version` (one sequence for every change)
// lets a late message lose to a newer one. `linkOf` reads that copy: the local link when the device
// is here, a link that forwards over NATS when it is online on another hub, null when it is offline.
//
// Core NATS may lose a message (a node dying, a client reconnecting: see nats-live-bus.ts), so no
// decision rests on one. Each hub heartbeats every heartbeatMs and then compares the devices it
// holds with the table: a connection that lost its row to another hub is ended (FP_ERR_REPLACED),
// one whose device was deleted is ended (FP_ERR_UNKNOWN_DEVICE), and one marked offline while this
// hub was slow to heartbeat is marked online again. A lost owners message is healed by the next
// refresh; a lost frame for a device is a command that is resent at the device's next HELLO or
// times out, as when a device drops. A lost status event leaves a live client behind until the
// next change; the table, which /api/devices reads, is right.
//
// A hub that dies. Heartbeats are stamped with PostgreSQL's clock (hub clocks may differ); every
// hub sweeps, each heartbeat, the devices of hubs not heard from for deadAfterMs and marks them
// offline, each row once however many hubs sweep. With the defaults (2 s, 10 s) a dead hub's
// devices are offline within 12 s; until then they look online and linkOf leads to the dead hub,
// so a command sent there is resent at the device's next HELLO. A hub that stops cleanly (close) marks its devices offline at
// once. A hub that starts marks offline what its id still owned from before (a restart): HUB_ID
// must name one running hub.
//
// Status events (online, offline) go on the live bus once per change, from the hub that made it:
// a device moving between hubs stays online and makes none. Counters are this hub's, since it
// started (what it received from the device), as in single-node mode; lastSeen is the latest of
// every hub's. seen() is a map write; last_seen is written in one statement per seenFlushMs.
import { randomUUID } from 'node:crypto';
import type { NatsConnection, Status, Subscription } from '@nats-io/transport-node';
import type { JSONValue, Sql } from 'postgres';
import type { Logger } from 'pino';
import type { DeviceLink } from '../ingest/device-link.ts';
import type { LiveBus } from '../live/live-bus.ts';
import { decodeFrame, encodeFrame, ErrorCode, type ChannelDescriptor, type ErrorName, type Frame } from '../protocol/index.ts';
import { emptyCounters, type DeviceCounters, type DeviceStatus, type Presence } from './presence.ts';

/** A hub id is part of NATS subjects: letters, digits, `_` and `-`. */
export const HUB_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const OWNERS_SUBJECT = 'presence.owners';
export const HEARTBEAT_MS = 2_000;
export const DEAD_AFTER_MS = 10_000;
export const SEEN_FLUSH_MS = 1_000;
export const REFRESH_MS = 30_000;

export interface ClusterPresenceOptions {
  sql: Sql;
  nc: NatsConnection;
  hubId: string;
  live: LiveBus;
  /** devices online on this hub (a gauge) */
  onlineGauge?: { inc(): void; dec(): void };
  log?: Logger;
  now?: () => number;
  /** how often this hub heartbeats, sweeps dead hubs and checks its devices; default HEARTBEAT_MS */
  heartbeatMs?: number;
  /** a hub not heard from this long is dead; default DEAD_AFTER_MS */
  deadAfterMs?: number;
  /** how often last_seen is written; default SEEN_FLUSH_MS */
  seenFlushMs?: number;
  /** how often the owner table is read in full; default REFRESH_MS */
  refreshMs?: number;
}

export interface ClusterPresence extends Presence {
  close(): Promise<void>;
}

interface LocalEntry {
  link: DeviceLink;
  connId: string;
}

interface Owner {
  hubId: string | null;
  connId: string | null;
  transport: DeviceLink['transport'];
  online: boolean;
  version: number;
}

interface OwnerMessage extends Owner {
  deviceId: string;
}

interface Row {
  device_id: string;
  hub_id: string | null;
  conn_id: string | null;
  transport: string | null;
  online: boolean;
  last_seen: string | number | null;
  firmware: string | null;
  channels: ChannelDescriptor[];
  version: string | number;
}

const DB_NOW_MS = 'floor(extract(epoch from clock_timestamp()) * 1000)::bigint';

function transportOf(value: unknown): DeviceLink['transport'] {
  return value === 'serial' ? 'serial' : 'ws';
}

export async function createClusterPresence(options: ClusterPresenceOptions): Promise<ClusterPresence> {
  const { sql, nc, hubId, live, log } = options;
  if (!HUB_ID_PATTERN.test(hubId)) throw new Error(`hub id ${JSON.stringify(hubId)}: use 1 to 64 letters, digits, '_' or '-'`);
  const now = options.now ?? Date.now;
  const heartbeatMs = options.heartbeatMs ?? HEARTBEAT_MS;
  const deadAfterMs = options.deadAfterMs ?? DEAD_AFTER_MS;
  const seenFlushMs = options.seenFlushMs ?? SEEN_FLUSH_MS;
  const refreshMs = options.refreshMs ?? REFRESH_MS;
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();

  /** devices connected to this hub */
  const local = new Map<string, LocalEntry>();
  /** who owns each device, as far as this hub knows */
  const owners = new Map<string, Owner>();
  const remoteLinks = new Map<string, DeviceLink & { hubId: string; connId: string }>();
  const counters = new Map<string, DeviceCounters>();
  /** when this hub last heard each device; `dirty` ones are not written yet */
  const heard = new Map<string, number>();
  const dirty = new Set<string>();
  /** connections whose offline mark failed to reach PostgreSQL, retried each heartbeat */
  const offlinePending = new Map<string, string>();
  const chains = new Map<string, Promise<unknown>>();
  let closed = false;

  /** One change at a time per device on this hub, so local state follows PostgreSQL's order. */
  function serially<T>(deviceId: string, work: () => Promise<T>): Promise<T> {
    const next = (chains.get(deviceId) ?? Promise.resolve()).then(work, work);
    const tail = next.catch(() => undefined);
    chains.set(deviceId, tail);
    void tail.then(() => {
      if (chains.get(deviceId) === tail) chains.delete(deviceId);
    });
    return next;
  }

  function publishJson(subject: string, message: unknown): void {
    if (nc.isClosed()) return;
    try {
      nc.publish(subject, encoder.encode(JSON.stringify(message)));
    } catch (err) {
      log?.warn({ err, subject }, 'presence message not published');
    }
  }

  function learn(deviceId: string, owner: Owner): void {
    const known = owners.get(deviceId);
    if (known && known.version >= owner.version) return;
    owners.set(deviceId, owner);
  }

  /** Records an ownership change here and tells the other hubs. */
  function changed(deviceId: string, owner: Owner): void {
    learn(deviceId, owner);
    publishJson(OWNERS_SUBJECT, { deviceId, ...owner } satisfies OwnerMessage);
  }

  function status(deviceId: string, online: boolean): void {
    live.publish({ type: 'status', deviceId, online, at: now() });
  }

  function dropLocal(deviceId: string): LocalEntry | undefined {
    const entry = local.get(deviceId);
    if (!entry) return undefined;
    local.delete(deviceId);
    options.onlineGauge?.dec();
    return entry;
  }

  function remoteLink(deviceId: string, owner: Owner & { hubId: string; connId: string }): DeviceLink {
    const cached = remoteLinks.get(deviceId);
    if (cached && cached.hubId === owner.hubId && cached.connId === owner.connId) return cached;
    const link = {
      hubId: owner.hubId,
      connId: owner.connId,
      transport: owner.transport,
      send(frame: Frame) {
        // An ACK answers frames the hub sending it received. Once the device is on another hub it
        // resumes there from the registry's watermark [FP-4.1.2]; a late ACK from here could speak
        // of another session's sequence numbers, so it is never forwarded.
        if (frame.type === 'ack') return;
        publishJson(`hub.${owner.hubId}.send`, { deviceId, connId: owner.connId, frame: Buffer.from(encodeFrame(frame)).toString('base64') });
      },
      end(reason: ErrorName) {
        publishJson(`hub.${owner.hubId}.end`, { deviceId, connId: owner.connId, reason });
      },
    };
    remoteLinks.set(deviceId, link);
    return link;
  }

  function toStatus(row: Row): DeviceStatus {
    const stored = row.last_seen === null ? null : Number(row.last_seen);
    const mine = heard.get(row.device_id) ?? null;
    return {
      online: row.online,
      lastSeen: stored === null ? mine : mine === null ? stored : Math.max(stored, mine),
      firmware: row.firmware,
      channels: row.channels ?? [],
      counters: { ...(counters.get(row.device_id) ?? emptyCounters()) },
    };
  }

  /** Marks these rows offline (they were online) and says so once each. */
  function wentOffline(rows: readonly Pick<Row, 'device_id' | 'hub_id' | 'conn_id' | 'transport' | 'version'>[]): void {
    for (const row of rows) {
      changed(row.device_id, { hubId: row.hub_id, connId: row.conn_id, transport: transportOf(row.transport), online: false, version: Number(row.version) });
      status(row.device_id, false);
    }
  }

  // --- messages from other hubs ---

  function parse<T>(data: Uint8Array): T | null {
    try {
      const value = JSON.parse(decoder.decode(data)) as T;
      return typeof value === 'object' && value !== null ? value : null;
    } catch {
      return null;
    }
  }

  function onSend(message: { deviceId?: unknown; connId?: unknown; frame?: unknown } | null): void {
    if (!message || typeof message.deviceId !== 'string' || typeof message.frame !== 'string') return;
    const entry = local.get(message.deviceId);
    if (!entry) return;
    let frame: Frame;
    try {
      frame = decodeFrame(Buffer.from(message.frame, 'base64'));
    } catch (err) {
      return void log?.warn({ err, deviceId: message.deviceId }, 'undecodable frame from another hub; dropped');
    }
    // A command goes to the device's current connection whichever one the sender knew: a command
    // id is answered once [FP-4.5.1]. Anything else was about one connection and goes to it only.
    if (frame.type !== 'command' && entry.connId !== message.connId) return;
    entry.link.send(frame);
  }

  function onEnd(message: { deviceId?: unknown; connId?: unknown; reason?: unknown } | null): void {
    if (!message || typeof message.deviceId !== 'string' || typeof message.reason !== 'string' || !(message.reason in ErrorCode)) return;
    const entry = local.get(message.deviceId);
    if (!entry || entry.connId !== message.connId) return;
    const reason = message.reason as ErrorName;
    // replaced: the row is another hub's already, so the link goes now, before its transport
    // reports it closed; any other reason ends it the usual way (the transport calls disconnect)
    if (reason === 'FP_ERR_REPLACED') dropLocal(message.deviceId);
    entry.link.end(reason);
  }

  function onOwner(message: Partial<OwnerMessage> | null): void {
    if (!message || typeof message.deviceId !== 'string' || typeof message.version !== 'number') return;
    learn(message.deviceId, {
      hubId: typeof message.hubId === 'string' ? message.hubId : null,
      connId: typeof message.connId === 'string' ? message.connId : null,
      transport: transportOf(message.transport),
      online: message.online === true,
      version: message.version,
    });
  }

  // --- PostgreSQL work on timers ---

  async function beat(): Promise<void> {
    await sql.unsafe(`INSERT INTO hubs (hub_id, last_beat) VALUES ($1, ${DB_NOW_MS})
      ON CONFLICT (hub_id) DO UPDATE SET last_beat = EXCLUDED.last_beat`, [hubId]);
  }

  /** Marks offline the devices of hubs not heard from for deadAfterMs. */
  async function sweep(): Promise<void> {
    const rows = await sql.unsafe<Row[]>(`UPDATE presence SET online = false, version = nextval('presence_version')
      WHERE online AND hub_id IS DISTINCT FROM $1
        AND hub_id NOT IN (SELECT hub_id FROM hubs WHERE last_beat > ${DB_NOW_MS} - $2)
      RETURNING device_id, hub_id, conn_id, transport, version`, [hubId, deadAfterMs]);
    if (rows.length > 0) log?.info({ devices: rows.length, hubs: [...new Set(rows.map((r) => r.hub_id))] }, 'devices of silent hubs marked offline');
    wentOffline(rows);
  }

  /** Compares the devices held here with the table, in case a message from another hub was lost. */
  async function reconcile(): Promise<void> {
    const held = [...local].map(([id, e]) => ({ id, connId: e.connId }));
    if (held.length === 0) return;
    const rows = await sql<Row[]>`SELECT p.device_id, p.conn_id, p.online FROM presence p
      JOIN jsonb_to_recordset(${sql.json(held)}) AS v(id text) ON p.device_id = v.id`;
    const byId = new Map(rows.map((r) => [r.device_id, r]));
    for (const { id, connId } of held) {
      if (local.get(id)?.connId !== connId) continue; // changed meanwhile: that change decided
      const row = byId.get(id);
      if (!row) {
        const entry = dropLocal(id)!;
        log?.info({ deviceId: id }, 'device deleted on another hub; ending its session');
        entry.link.send({ type: 'error', code: ErrorCode.FP_ERR_UNKNOWN_DEVICE, text: 'device deleted' });
        entry.link.end('FP_ERR_UNKNOWN_DEVICE');
      } else if (row.conn_id !== connId) {
        log?.info({ deviceId: id }, 'device connected to another hub; ending this session');
        dropLocal(id)!.link.end('FP_ERR_REPLACED'); // [FP-6.5]
      } else if (!row.online) {
        // swept while this hub was slow to heartbeat: it is here, so it is online
        await serially(id, async () => {
          if (local.get(id)?.connId !== connId) return;
          const [back] = await sql<Row[]>`UPDATE presence SET online = true, version = nextval('presence_version')
            WHERE device_id = ${id} AND conn_id = ${connId} AND NOT online RETURNING transport, version`;
          if (!back) return;
          changed(id, { hubId, connId, transport: transportOf(back.transport), online: true, version: Number(back.version) });
          status(id, true);
        });
      }
    }
  }

  async function retryOffline(): Promise<void> {
    for (const [deviceId, connId] of [...offlinePending]) {
      await serially(deviceId, () => markOffline(deviceId, connId));
    }
  }

  /** The connection went away: offline, unless the device moved on since. */
  async function markOffline(deviceId: string, connId: string): Promise<void> {
    try {
      const rows = await sql<Row[]>`UPDATE presence SET online = false, version = nextval('presence_version'),
          last_seen = GREATEST(last_seen, ${heard.get(deviceId) ?? null}::bigint)
        WHERE device_id = ${deviceId} AND conn_id = ${connId} AND online
        RETURNING device_id, hub_id, conn_id, transport, version`;
      offlinePending.delete(deviceId);
      wentOffline(rows);
    } catch (err) {
      // kept and retried each heartbeat: until then the device looks online
      if (offlinePending.get(deviceId) !== connId) offlinePending.set(deviceId, connId);
      log?.warn({ err, deviceId }, 'could not mark device offline; will retry');
    }
  }

  async function flushSeen(): Promise<void> {
    if (dirty.size === 0) return;
    const batch = [...dirty].map((id) => ({ id, t: heard.get(id) ?? 0 }));
    dirty.clear();
    try {
      await sql`UPDATE presence p SET last_seen = GREATEST(p.last_seen, v.t)
        FROM jsonb_to_recordset(${sql.json(batch)}) AS v(id text, t bigint) WHERE p.device_id = v.id`;
    } catch (err) {
      for (const { id } of batch) if (heard.has(id)) dirty.add(id);
      log?.warn({ err, devices: batch.length }, 'could not write last seen; will retry');
    }
  }

  async function refresh(): Promise<void> {
    const rows = await sql<Row[]>`SELECT device_id, hub_id, conn_id, transport, online, version FROM presence`;
    let top = 0;
    const present = new Set<string>();
    for (const row of rows) {
      const version = Number(row.version);
      top = Math.max(top, version);
      present.add(row.device_id);
      learn(row.device_id, { hubId: row.hub_id, connId: row.conn_id, transport: transportOf(row.transport), online: row.online, version });
    }
    // deleted meanwhile (a lost presence.owners message); younger entries were learnt after the read
    for (const [id, owner] of owners) if (!present.has(id) && owner.online && owner.version <= top) owners.set(id, { ...owner, online: false });
  }

  /** Runs `work` every `ms` (never two at once) until close; failures are logged and retried. */
  const timers = new Set<NodeJS.Timeout>();
  function every(ms: number, name: string, work: () => Promise<void>): void {
    const run = () => {
      const timer = setTimeout(async () => {
        timers.delete(timer);
        if (closed) return;
        try {
          await work();
        } catch (err) {
          if (!closed) log?.warn({ err }, `presence ${name} failed; will retry`)
        }
        if (!closed) run();
      }, ms);
      timer.unref();
      timers.add(timer);
    };
    run();
  }

  // --- start ---

  await beat();
  // a restart: nothing of the previous run is connected here any more
  wentOffline(await sql<Row[]>`UPDATE presence SET online = false, version = nextval('presence_version')
    WHERE online AND hub_id = ${hubId} RETURNING device_id, hub_id, conn_id, transport, version`);
  const subscriptions: Subscription[] = [
    nc.subscribe(`hub.${hubId}.send`, { callback: (err, msg) => void (err || onSend(parse(msg.data))) }),
    nc.subscribe(`hub.${hubId}.end`, { callback: (err, msg) => void (err || onEnd(parse(msg.data))) }),
    nc.subscribe(OWNERS_SUBJECT, { callback: (err, msg) => void (err || onOwner(parse(msg.data))) }),
  ];
  await refresh();
  every(heartbeatMs, 'heartbeat', async () => {
    await beat();
    await sweep();
    await reconcile();
    await retryOffline();
  });
  every(seenFlushMs, 'last-seen write', flushSeen);
  every(refreshMs, 'owner refresh', refresh);
  // what was published while the client was away is lost: read the table again once it is back
  const statuses = nc.status() as AsyncIterable<Status> & { stop?(): void };
  void (async () => {
    for await (const s of statuses) {
      if (s.type === 'reconnect' && !closed) refresh().catch((err) => log?.warn({ err }, 'presence owner refresh failed'));
    }
  })().catch(() => undefined);

  return {
    connect(deviceId, link, hello) {
      return serially(deviceId, async () => {
        const connId = randomUUID();
        const at = now();
        const { previous, version } = await sql.begin(async (tx) => {
          await tx`INSERT INTO presence (device_id) VALUES (${deviceId}) ON CONFLICT (device_id) DO NOTHING`;
          const [previous] = await tx<Row[]>`SELECT hub_id, conn_id, online FROM presence WHERE device_id = ${deviceId} FOR UPDATE`;
          const [row] = await tx<Row[]>`UPDATE presence SET hub_id = ${hubId}, conn_id = ${connId}, transport = ${link.transport}, online = true,
              last_seen = ${at}, firmware = ${hello.firmware}, channels = ${tx.json(hello.channels as unknown as JSONValue)},
              version = nextval('presence_version')
            WHERE device_id = ${deviceId} RETURNING version`;
          return { previous, version: Number(row.version) };
        });
        heard.set(deviceId, Math.max(heard.get(deviceId) ?? 0, at));
        const mine = local.get(deviceId);
        // a link held here is replaced whatever the table said of it (another hub may have taken
        // the device meanwhile, its message still on the way): the caller ends it [FP-6.5]
        const replaced = mine && mine.link !== link ? mine.link : null;
        if (previous.online && previous.hub_id !== hubId && previous.hub_id !== null) {
          publishJson(`hub.${previous.hub_id}.end`, { deviceId, connId: previous.conn_id, reason: 'FP_ERR_REPLACED' });
        }
        if (!mine) options.onlineGauge?.inc();
        local.set(deviceId, { link, connId });
        offlinePending.delete(deviceId);
        changed(deviceId, { hubId, connId, transport: link.transport, online: true, version });
        if (!previous.online) status(deviceId, true);
        let deviceCounters = counters.get(deviceId);
        if (!deviceCounters) counters.set(deviceId, (deviceCounters = emptyCounters()));
        return { replaced, counters: deviceCounters };
      });
    },

    async disconnect(deviceId, link) {
      await serially(deviceId, async () => {
        const mine = local.get(deviceId);
        let connId: string;
        if (mine?.link === link) {
          dropLocal(deviceId);
          connId = mine.connId;
        } else {
          // a link on another hub (deleting a device ends it from here), or an old link: only the
          // current connection takes the device offline
          const remote = remoteLinks.get(deviceId);
          if (remote !== link) return;
          connId = remote.connId;
        }
        await markOffline(deviceId, connId);
      });
    },

    seen(deviceId) {
      heard.set(deviceId, now());
      dirty.add(deviceId);
    },

    linkOf(deviceId) {
      const mine = local.get(deviceId);
      if (mine) return mine.link;
      const owner = owners.get(deviceId);
      if (!owner?.online || owner.hubId === null || owner.hubId === hubId || owner.connId === null) return null;
      return remoteLink(deviceId, owner as Owner & { hubId: string; connId: string });
    },

    async get(deviceId) {
      const [row] = await sql<Row[]>`SELECT device_id, online, last_seen, firmware, channels FROM presence WHERE device_id = ${deviceId}`;
      return row && toStatus(row);
    },

    async list() {
      const rows = await sql<Row[]>`SELECT device_id, online, last_seen, firmware, channels FROM presence`;
      return new Map(rows.map((row) => [row.device_id, toStatus(row)]));
    },

    forget(deviceId) {
      return serially(deviceId, async () => {
        dropLocal(deviceId);
        const [row] = await sql<Row[]>`DELETE FROM presence WHERE device_id = ${deviceId} RETURNING nextval('presence_version') AS version`;
        counters.delete(deviceId);
        heard.delete(deviceId);
        dirty.delete(deviceId);
        offlinePending.delete(deviceId);
        if (row) changed(deviceId, { hubId: null, connId: null, transport: 'ws', online: false, version: Number(row.version) });
      });
    },

    async close() {
      if (closed) return;
      closed = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      statuses.stop?.();
      for (const sub of subscriptions) if (!nc.isClosed()) sub.unsubscribe();
      try {
        await flushSeen();
        for (const id of [...local.keys()]) dropLocal(id);
        wentOffline(await sql<Row[]>`UPDATE presence SET online = false, version = nextval('presence_version')
          WHERE online AND hub_id = ${hubId} RETURNING device_id, hub_id, conn_id, transport, version`);
        await sql`DELETE FROM hubs WHERE hub_id = ${hubId}`;
      } catch (err) {
        // the others sweep this hub's devices once its heartbeat is old enough
        log?.warn({ err }, 'could not mark this hub\'s devices offline at stop');
      }
    },
  };
}
