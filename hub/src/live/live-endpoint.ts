// /ws/live: pushes readings, device status and command results to dashboards and scripts.
// Every message to a client goes through one backpressure path: while its socket is backed up the
// hub holds a bounded summary (the latest reading per series, the latest status per device, a
// bounded list of command and console events, the latest subscription echo) instead of a growing
// buffer, and closes a client that stays behind, whatever it is sent. Ingest never waits for it.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { OperatorAuth } from '../auth/operator-auth.ts';
import type { Metrics } from '../metrics.ts';
import type { ConnectionGuard } from '../transports/connection-guard.ts';
import { rejectUpgrade } from '../transports/reject-upgrade.ts';
import type { LiveCounters, LiveCountersRow, LiveMessage, LiveSubscribe, LiveSubscribed } from '../http/wire.ts';
import type { DeviceStatus } from '../presence/presence.ts';
import type { LiveBus, LiveEvent, LiveFilter, LiveReading, LiveSubscription } from './live-bus.ts';

export interface LiveEndpointOptions {
  bus: LiveBus;
  metrics: Metrics;
  log: Logger;
  auth: OperatorAuth;
  /** past this many buffered bytes a client gets coalesced updates */
  coalesceAboveBytes: number;
  /** a client above the threshold this long is closed with 4008 */
  stuckCloseMs: number;
  /** how often a backed-up client is checked for room */
  retryMs: number;
  guard: ConnectionGuard;
  /**
   * Where `counters` messages come from, for clients that connect with `?counters=1`: the status
   * of every device, read every `intervalMs` while such a client is connected.
   */
  counters?: {
    list(): Promise<Map<string, DeviceStatus>>;
    intervalMs: number;
    /** every device's id and name, read every `registryEveryMs`, for the `changed` ids and deletions */
    names?(): Promise<Map<string, string>>;
    registryEveryMs?: number;
  };
}

/** Readings per second are counted over about this long, so a device sending every few seconds reads steady. */
export const COUNTERS_RATE_WINDOW_MS = 10_000;
/** A client's first `counters` message also carries devices that changed this recently. */
const COUNTERS_PRIME_MS = 15_000;

/** Close code for a live client that stopped reading. */
export const LIVE_CLOSE_STUCK = 4008;
/** Close code for a live client message that is not a valid subscription. */
export const LIVE_CLOSE_BAD_MESSAGE = 4000;
/** Close code for a live client that sends subscriptions faster than LIVE_SUBSCRIBE_PER_SECOND. */
export const LIVE_CLOSE_TOO_FAST = 4009;
/** Subscriptions a client may send per second, after a burst of LIVE_SUBSCRIBE_BURST. */
export const LIVE_SUBSCRIBE_PER_SECOND = 10;
export const LIVE_SUBSCRIBE_BURST = 20;
/** Command and console events held for a backed-up client; past it they are counted as dropped. */
export const LIVE_MAX_HELD_EVENTS = 500;

/**
 * permessage-deflate for what a client asks compressed (counters), when it offers it. A 8 KiB
 * window and memLevel 7 hold a deflate context to ~100 KiB per client, a quarter of zlib's default,
 * and still find the ids and rows repeated from one counters message to the next.
 */
const LIVE_DEFLATE = {
  threshold: 1024,
  serverMaxWindowBits: 13,
  clientMaxWindowBits: 13,
  zlibDeflateOptions: { memLevel: 7, level: 6 },
} as const;

interface Subscription {
  all: boolean;
  devices: Set<string>;
  channels: Set<string> | null;
}

class LiveClient {
  subscription: Subscription = { all: false, devices: new Set(), channels: null };
  /** latest reading per device/channel while the socket is backed up */
  private coalesced = new Map<string, { deviceId: string; reading: LiveReading }>();
  /** latest status per device while backed up: only the current state matters */
  private statuses = new Map<string, LiveEvent>();
  /** command and console events while backed up, in order, at most LIVE_MAX_HELD_EVENTS */
  private events: LiveEvent[] = [];
  /** the echo of the latest subscription while backed up */
  private subscribed: LiveSubscribed | null = null;
  /** counters while backed up, merged: the latest row per device */
  private counters: LiveCounters | null = null;
  /** connected with ?counters=1 */
  wantsCounters = false;
  /** has had its first counters message */
  countersPrimed = false;
  /** since when the socket has been over the threshold (0: it is not) */
  private stuckSince = 0;
  private timer: NodeJS.Timeout | null = null;
  private closing = false;
  /** token bucket for subscribe messages */
  private tokens = LIVE_SUBSCRIBE_BURST;
  private tokensAt = Date.now();
  dropped = 0;
  /** what this client missed per device since it connected, for its data-loss meter */
  private readonly droppedByDevice = new Map<string, number>();

  constructor(readonly ws: WebSocket, private readonly options: LiveEndpointOptions) {}

  wants(deviceId: string): boolean {
    return this.subscription.all || this.subscription.devices.has(deviceId);
  }

  deliver(event: LiveEvent): void {
    if (this.closing) return;
    if (event.type === 'readings') {
      if (!this.wants(event.deviceId)) return;
      const channels = this.subscription.channels;
      const readings = channels ? event.readings.filter((r) => channels.has(r.channel)) : event.readings;
      if (readings.length === 0) return;
      if (!this.backedUp()) return this.send({ type: 'readings', deviceId: event.deviceId, readings });
      for (const reading of readings) {
        const key = `${event.deviceId}\u0000${reading.channel}`;
        if (this.coalesced.has(key)) this.drop(event.deviceId, 1);
        this.coalesced.set(key, { deviceId: event.deviceId, reading });
      }
    } else if (!this.backedUp()) {
      this.send(event);
    } else if (event.type === 'status') {
      this.statuses.set(event.deviceId, event);
    } else if (this.events.length < LIVE_MAX_HELD_EVENTS) {
      this.events.push(event);
    } else {
      this.drop(event.deviceId, 1);
    }
    this.watch();
  }

  /** Counters carry absolute numbers, so held ones merge into one message of the latest rows. */
  deliverCounters(message: LiveCounters): void {
    if (this.closing) return;
    if (!this.backedUp()) return this.send(message);
    if (this.counters) {
      this.counters.at = message.at;
      Object.assign(this.counters.devices, message.devices);
      if (message.changed) this.counters.changed = [...new Set([...(this.counters.changed ?? []), ...message.changed])];
    } else {
      this.counters = { ...message, devices: { ...message.devices } };
    }
    this.watch();
  }

  private holding(): boolean {
    return this.coalesced.size > 0 || this.statuses.size > 0 || this.events.length > 0 || this.subscribed !== null || this.counters !== null;
  }

  private overThreshold(): boolean {
    return this.ws.bufferedAmount > this.options.coalesceAboveBytes;
  }

  private backedUp(): boolean {
    return this.overThreshold() || this.holding();
  }

  private drop(deviceId: string, count: number): void {
    this.dropped += count;
    this.droppedByDevice.set(deviceId, (this.droppedByDevice.get(deviceId) ?? 0) + count);
    this.options.metrics.liveDropped.inc(count);
  }

  /** Writes to the socket; only called when the client is not backed up, or to flush what is held. */
  private send(message: LiveMessage | LiveEvent): void {
    // Only counters are compressed: they repeat every device's id and row every few seconds and
    // shrink several times over, while readings must leave without a trip through zlib.
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(message), { compress: message.type === 'counters' });
  }

  /**
   * Keeps a timer running while the client is backed up — over the threshold or holding anything —
   * whether or not more events arrive, so a client that stays behind is closed even when nothing
   * else is sent to it.
   */
  private watch(): void {
    if (this.timer || this.closing || !this.backedUp()) return;
    if (this.overThreshold()) this.stuckSince ||= Date.now();
    this.timer = setTimeout(() => {
      this.timer = null;
      this.check();
    }, this.options.retryMs);
  }

  private check(): void {
    if (this.closing || this.ws.readyState !== this.ws.OPEN) return;
    if (this.overThreshold()) {
      this.stuckSince ||= Date.now();
      if (Date.now() - this.stuckSince > this.options.stuckCloseMs) {
        this.options.log.warn({ code: LIVE_CLOSE_STUCK, dropped: this.dropped, buffered: this.ws.bufferedAmount }, 'live client stuck; closing');
        return this.closeWith(LIVE_CLOSE_STUCK, 'not reading');
      }
      return this.watch();
    }
    this.stuckSince = 0;
    this.flushHeld();
    this.watch();
  }

  private flushHeld(): void {
    if (!this.holding()) return;
    const byDevice = new Map<string, LiveReading[]>();
    for (const { deviceId, reading } of this.coalesced.values()) {
      const list = byDevice.get(deviceId) ?? byDevice.set(deviceId, []).get(deviceId)!;
      list.push(reading);
    }
    const { subscribed, statuses, events, counters } = this;
    this.coalesced.clear();
    this.statuses = new Map();
    this.events = [];
    this.subscribed = null;
    this.counters = null;
    if (subscribed) this.send(subscribed);
    for (const event of statuses.values()) this.send(event);
    for (const event of events) this.send(event);
    if (counters) this.send(counters);
    for (const [deviceId, readings] of byDevice) this.send({ type: 'readings', deviceId, readings });
    if (this.dropped > 0) this.send({ type: 'dropped', total: this.dropped, devices: Object.fromEntries(this.droppedByDevice) });
  }

  private takeToken(): boolean {
    const now = Date.now();
    this.tokens = Math.min(LIVE_SUBSCRIBE_BURST, this.tokens + ((now - this.tokensAt) / 1000) * LIVE_SUBSCRIBE_PER_SECOND);
    this.tokensAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  onMessage(data: RawData, isBinary: boolean): void {
    if (this.closing) return; // what a closed client still sends is read and ignored until the socket ends
    if (!this.takeToken()) {
      this.options.log.warn({ code: LIVE_CLOSE_TOO_FAST }, 'live client sends subscriptions too fast; closing');
      return this.closeWith(LIVE_CLOSE_TOO_FAST, `more than ${LIVE_SUBSCRIBE_PER_SECOND} subscriptions per second`);
    }
    const message = isBinary ? undefined : parseSubscription(data.toString());
    if (!message) return this.closeWith(LIVE_CLOSE_BAD_MESSAGE, 'expected {"type":"subscribe","devices":[...]|"*"}');
    this.subscription = {
      all: message.devices === '*',
      devices: new Set(message.devices === '*' ? [] : message.devices),
      channels: message.channels ? new Set(message.channels) : null,
    };
    // held readings the new subscription does not want are not sent (nor counted as missed)
    const channels = this.subscription.channels;
    for (const [key, { deviceId, reading }] of this.coalesced) {
      if (!this.wants(deviceId) || (channels && !channels.has(reading.channel))) this.coalesced.delete(key);
    }
    const echo: LiveSubscribed = { type: 'subscribed', devices: message.devices, channels: message.channels ?? null };
    if (this.backedUp()) this.subscribed = echo;
    else this.send(echo);
    this.watch();
  }

  /** Closes with a code and lets go of what is held; a peer that does not read is cut off after 1 s. */
  private closeWith(code: number, reason: string): void {
    if (this.closing) return;
    this.closing = true;
    this.stop();
    this.ws.close(code, reason);
    // a peer that stopped reading will not finish the close handshake either
    setTimeout(() => this.ws.terminate(), 1000).unref();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.coalesced.clear();
    this.statuses.clear();
    this.events = [];
    this.subscribed = null;
    this.counters = null;
  }
}

interface DeviceTrack {
  /** the row last sent, joined, to see whether anything changed */
  key: string;
  changedAt: number;
  /** (time, readings) samples over the rate window, oldest first */
  samples: { at: number; readings: number }[];
}

/**
 * Reads every device's status on a timer while a client wants counters, and hands each client
 * the rows that changed since the previous read (a client's first message: also what is online or
 * changed recently, so a page that just loaded the device list gets the rates it lacks).
 */
class CountersFeed {
  private readonly tracks = new Map<string, DeviceTrack>();
  private timer: NodeJS.Timeout | null = null;
  private reading = false;
  /** id → name as last read from the registry; null before the first read */
  private names: Map<string, string> | null = null;
  private namesAt = 0;

  constructor(
    private readonly source: NonNullable<LiveEndpointOptions['counters']>,
    private readonly clients: () => Iterable<LiveClient>,
    private readonly log: Logger,
  ) {}

  /** A counters client connected: start reading (at once, so rates have a first sample). */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.tick(), this.source.intervalMs);
    this.timer.unref?.();
    void this.tick();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.tracks.clear();
    this.names = null;
    this.namesAt = 0;
  }

  /** Ids added or renamed, and ids deleted, since the registry was read last (read at most every registryEveryMs). */
  private async registryChanges(now: number): Promise<{ changed: string[]; removed: string[] }> {
    const none = { changed: [], removed: [] };
    const read = this.source.names;
    if (!read || now - this.namesAt < (this.source.registryEveryMs ?? 10_000)) return none;
    this.namesAt = now;
    const before = this.names;
    this.names = await read();
    if (!before) return none;
    const changed: string[] = [];
    const removed: string[] = [];
    for (const [id, name] of this.names) if (before.get(id) !== name) changed.push(id);
    for (const id of before.keys()) if (!this.names.has(id)) removed.push(id);
    return { changed, removed };
  }

  private async tick(): Promise<void> {
    if (this.reading) return;
    this.reading = true;
    let statuses: Map<string, DeviceStatus>;
    let registry: { changed: string[]; removed: string[] };
    try {
      statuses = await this.source.list();
      registry = await this.registryChanges(Date.now());
    } catch (err) {
      this.log.debug({ err }, 'device statuses unavailable for live counters');
      return;
    } finally {
      this.reading = false;
    }
    if (!this.timer) return;
    const now = Date.now();
    const changed: Record<string, LiveCountersRow | null> = {};
    let anyChanged = false;
    const rows = new Map<string, LiveCountersRow>();
    for (const [id, status] of statuses) {
      let track = this.tracks.get(id);
      if (!track) {
        track = { key: '', changedAt: now, samples: [] };
        this.tracks.set(id, track);
      }
      const c = status.counters;
      const samples = track.samples;
      // counters are this hub's since it started: one that went down started over
      if (samples.length > 0 && c.readings < samples[samples.length - 1].readings) samples.length = 0;
      samples.push({ at: now, readings: c.readings });
      while (samples.length > 2 && now - samples[1].at >= COUNTERS_RATE_WINDOW_MS) samples.shift();
      const first = samples[0];
      const rate = now > first.at ? roundRate(((c.readings - first.readings) * 1000) / (now - first.at)) : 0;
      const row: LiveCountersRow = [status.online ? 1 : 0, status.lastSeen, c.frames, c.readings, c.rejected, c.duplicates, c.sequenceGaps, rate];
      rows.set(id, row);
      const key = row.join(',');
      if (key !== track.key) {
        track.key = key;
        track.changedAt = now;
        changed[id] = row;
        anyChanged = true;
      }
    }
    for (const id of this.tracks.keys()) {
      if (statuses.has(id)) continue;
      this.tracks.delete(id);
      changed[id] = null;
      anyChanged = true;
    }
    for (const id of registry.removed) {
      changed[id] = null;
      anyChanged = true;
    }
    const extra = registry.changed.length ? { changed: registry.changed } : {};
    if (registry.changed.length) anyChanged = true;
    let primer: LiveCounters | null = null;
    for (const client of this.clients()) {
      if (!client.wantsCounters) continue;
      if (!client.countersPrimed) {
        client.countersPrimed = true;
        primer ??= { type: 'counters', at: now, devices: { ...changed, ...recent(rows, this.tracks, now) }, ...extra };
        client.deliverCounters(primer);
      } else if (anyChanged) {
        client.deliverCounters({ type: 'counters', at: now, devices: changed, ...extra });
      }
    }
  }
}

function recent(rows: Map<string, LiveCountersRow>, tracks: Map<string, DeviceTrack>, now: number): Record<string, LiveCountersRow> {
  const out: Record<string, LiveCountersRow> = {};
  for (const [id, row] of rows) if (row[0] === 1 || row[7] !== 0 || now - tracks.get(id)!.changedAt < COUNTERS_PRIME_MS) out[id] = row;
  return out;
}

/** One decimal below 100/s, whole numbers above: enough for a table, and stable between reads. */
function roundRate(perSecond: number): number {
  return perSecond >= 100 ? Math.round(perSecond) : Math.round(perSecond * 10) / 10;
}

/** A subscription, or undefined for anything else: any JSON value, or no JSON at all, may arrive. */
export function parseSubscription(text: string): LiveSubscribe | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const { type, devices, channels } = value as Record<string, unknown>;
  const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
  if (type !== 'subscribe' || !(devices === '*' || strings(devices)) || !(channels === undefined || strings(channels))) return undefined;
  return { type, devices, channels };
}

export function createLiveEndpoint(options: LiveEndpointOptions) {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024, perMessageDeflate: LIVE_DEFLATE, clientTracking: false });
  const clients = new Set<LiveClient>();
  // Subscribed only while a client is connected, so ingest builds no live events for nobody.
  let subscription: LiveSubscription | null = null;
  function onLiveEvent(event: LiveEvent): void {
    for (const client of clients) client.deliver(event);
  }
  /** The readings the bus must bring: every device's once any client wants all, else the union. */
  function wanted(): LiveFilter {
    const devices = new Set<string>();
    for (const { subscription: s } of clients) {
      if (s.all) return { devices: '*' };
      for (const id of s.devices) devices.add(id);
    }
    return { devices };
  }
  function unsubscribe(): void {
    subscription?.unsubscribe();
    subscription = null;
  }
  const feed = options.counters ? new CountersFeed(options.counters, () => clients, options.log) : null;
  const countersClients = () => [...clients].some((c) => c.wantsCounters);

  return {
    async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
      const ip = req.socket.remoteAddress ?? 'unknown';
      if (options.guard.tooManyConnections(ip)) {
        options.metrics.rejected.inc({ code: 'HUB_ERR_TOO_MANY_CONNECTIONS' });
        return rejectUpgrade(socket, 'HUB_ERR_TOO_MANY_CONNECTIONS', 'too many connections from this address');
      }
      // The dashboard authenticates with a cookie, which a browser also sends for other sites' pages:
      // only same-origin pages may open the live channel.
      const origin = req.headers.origin;
      if (origin && safeHost(origin) !== req.headers.host) {
        options.metrics.authFailures.inc({ endpoint: 'live' });
        return rejectUpgrade(socket, 'HUB_ERR_FORBIDDEN', 'cross-origin live connection');
      }
      const auth = await options.auth.verify(req.headers, ip);
      if (!auth.ok) {
        options.metrics.authFailures.inc({ endpoint: 'live' });
        if (auth.code === 'HUB_ERR_TOO_MANY_ATTEMPTS') {
          options.metrics.rejected.inc({ code: auth.code });
          return rejectUpgrade(socket, auth.code, 'too many failed attempts from this address; back off');
        }
        return rejectUpgrade(socket, auth.code, 'missing or wrong operator token');
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        // Counted only once upgraded: ws answers a malformed handshake itself and never calls back.
        const release = options.guard.opened(ip);
        const client = new LiveClient(ws, options);
        client.wantsCounters = !!feed && wantsCounters(req.url);
        clients.add(client);
        if (client.wantsCounters) feed!.start();
        subscription ??= options.bus.subscribe(onLiveEvent, wanted());
        options.metrics.liveClients.inc();
        ws.on('message', (data, isBinary) => {
          const before = client.subscription;
          client.onMessage(data, isBinary);
          if (client.subscription !== before) subscription?.setFilter(wanted());
        });
        ws.on('error', (err) => options.log.debug({ err: err.message }, 'live socket error'));
        ws.on('close', () => {
          release();
          clients.delete(client);
          if (clients.size === 0) unsubscribe();
          else subscription?.setFilter(wanted());
          if (client.wantsCounters && !countersClients()) feed!.stop();
          client.stop();
          options.metrics.liveClients.dec();
        });
      });
    },
    close(): void {
      unsubscribe();
      feed?.stop();
      for (const client of clients) {
        client.stop();
        client.ws.close(1001, 'hub stopping');
      }
      wss.close();
    },
  };
}

/** `/ws/live?counters=1` asks for `counters` messages. */
function wantsCounters(url: string | undefined): boolean {
  const query = url?.indexOf('?') ?? -1;
  if (query < 0) return false;
  const value = new URLSearchParams(url!.slice(query + 1)).get('counters');
  return value === '1' || value === 'true';
}

function safeHost(origin: string): string | undefined {
  try {
    return new URL(origin).host;
  } catch {
    return undefined;
  }
}
