// /ws/live: pushes readings, device status and command results to dashboards and scripts.
// A subscriber that cannot keep up gets coalesced updates (latest value per series) instead of
// a growing buffer, and is closed if it stays stuck; ingest never waits for it.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { OperatorAuth } from '../auth/operator-auth.ts';
import type { Metrics } from '../metrics.ts';
import type { ConnectionGuard } from '../transports/connection-guard.ts';
import { rejectUpgrade } from '../transports/reject-upgrade.ts';
import type { LiveBus, LiveEvent, LiveReading } from './live-bus.ts';

export interface LiveEndpointOptions {
  bus: LiveBus;
  metrics: Metrics;
  log: Logger;
  auth: OperatorAuth;
  /** past this many buffered bytes a client gets coalesced updates */
  coalesceAboveBytes: number;
  /** a client above the threshold this long is closed with 4008 */
  stuckCloseMs: number;
  /** how often a coalescing client is checked for room */
  retryMs: number;
  guard: ConnectionGuard;
}

/** Close code for a live client that stopped reading. */
export const LIVE_CLOSE_STUCK = 4008;
/** Close code for a live client message that is not a valid subscription. */
export const LIVE_CLOSE_BAD_MESSAGE = 4000;

interface Subscription {
  all: boolean;
  devices: Set<string>;
  channels: Set<string> | null;
}

class LiveClient {
  subscription: Subscription = { all: false, devices: new Set(), channels: null };
  /** latest reading per device/channel while the socket is backed up */
  private coalesced = new Map<string, { deviceId: string; reading: LiveReading }>();
  /** status and command events are few and each matters: kept in order, not coalesced */
  private held: LiveEvent[] = [];
  private stuckSince = 0;
  private timer: NodeJS.Timeout | null = null;
  dropped = 0;
  /** what this client missed per device since it connected, for its data-loss meter */
  private readonly droppedByDevice = new Map<string, number>();

  constructor(readonly ws: WebSocket, private readonly options: LiveEndpointOptions) {}

  wants(deviceId: string): boolean {
    return this.subscription.all || this.subscription.devices.has(deviceId);
  }

  deliver(event: LiveEvent): void {
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
    } else {
      this.held.push(event);
    }
    this.scheduleRetry();
  }

  private backedUp(): boolean {
    return this.ws.bufferedAmount > this.options.coalesceAboveBytes || this.coalesced.size > 0 || this.held.length > 0;
  }

  private drop(deviceId: string, count: number): void {
    this.dropped += count;
    this.droppedByDevice.set(deviceId, (this.droppedByDevice.get(deviceId) ?? 0) + count);
    this.options.metrics.liveDropped.inc(count);
  }

  private send(message: unknown): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(message));
  }

  private scheduleRetry(): void {
    if (this.timer || (this.coalesced.size === 0 && this.held.length === 0)) return;
    this.stuckSince ||= Date.now();
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flushHeld();
    }, this.options.retryMs);
  }

  private flushHeld(): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    if (this.ws.bufferedAmount > this.options.coalesceAboveBytes) {
      if (Date.now() - this.stuckSince > this.options.stuckCloseMs) {
        this.options.log.warn({ dropped: this.dropped }, 'live client stuck; closing');
        this.ws.close(LIVE_CLOSE_STUCK, 'not reading');
        // a peer that stopped reading will not finish the close handshake either
        setTimeout(() => this.ws.terminate(), 1000).unref();
        return;
      }
      return this.scheduleRetry();
    }
    this.stuckSince = 0;
    const byDevice = new Map<string, LiveReading[]>();
    for (const { deviceId, reading } of this.coalesced.values()) {
      const list = byDevice.get(deviceId) ?? byDevice.set(deviceId, []).get(deviceId)!;
      list.push(reading);
    }
    this.coalesced.clear();
    const held = this.held;
    this.held = [];
    for (const event of held) this.send(event);
    for (const [deviceId, readings] of byDevice) this.send({ type: 'readings', deviceId, readings });
    this.send({ type: 'dropped', total: this.dropped, devices: Object.fromEntries(this.droppedByDevice) });
  }

  onMessage(data: RawData, isBinary: boolean): void {
    const message = isBinary ? undefined : parseSubscription(data.toString());
    if (!message) return void this.ws.close(LIVE_CLOSE_BAD_MESSAGE, 'expected {"type":"subscribe","devices":[...]|"*"}');
    this.subscription = {
      all: message.devices === '*',
      devices: new Set(message.devices === '*' ? [] : message.devices),
      channels: message.channels ? new Set(message.channels) : null,
    };
    this.send({ type: 'subscribed', devices: message.devices, channels: message.channels ?? null });
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
  }
}

interface SubscribeMessage {
  type: 'subscribe';
  devices: string[] | '*';
  channels?: string[];
}

/** A subscription, or undefined for anything else: any JSON value, or no JSON at all, may arrive. */
export function parseSubscription(text: string): SubscribeMessage | undefined {
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
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024, perMessageDeflate: false, clientTracking: false });
  const clients = new Set<LiveClient>();
  // Subscribed only while a client is connected, so ingest builds no live events for nobody.
  let unsubscribe: (() => void) | null = null;
  function onLiveEvent(event: LiveEvent): void {
    for (const client of clients) client.deliver(event);
  }

  return {
    async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
      const ip = req.socket.remoteAddress ?? 'unknown';
      if (options.guard.tooManyConnections(ip)) {
        options.metrics.rejected.inc({ code: 'HUB_ERR_TOO_MANY_CONNECTIONS' });
        return rejectUpgrade(socket, 429, 'HUB_ERR_TOO_MANY_CONNECTIONS', 'too many connections from this address');
      }
      // The dashboard authenticates with a cookie, which a browser also sends for other sites' pages:
      // only same-origin pages may open the live channel.
      const origin = req.headers.origin;
      if (origin && safeHost(origin) !== req.headers.host) {
        options.metrics.authFailures.inc({ endpoint: 'live' });
        return rejectUpgrade(socket, 403, 'HUB_ERR_FORBIDDEN', 'cross-origin live connection');
      }
      const auth = await options.auth.verify(req.headers, ip);
      if (!auth.ok) {
        options.metrics.authFailures.inc({ endpoint: 'live' });
        if (auth.code === 'HUB_ERR_TOO_MANY_ATTEMPTS') {
          options.metrics.rejected.inc({ code: auth.code });
          return rejectUpgrade(socket, 429, auth.code, 'too many failed attempts from this address; back off');
        }
        return rejectUpgrade(socket, 401, auth.code, 'missing or wrong operator token');
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        // Counted only once upgraded: ws answers a malformed handshake itself and never calls back.
        const release = options.guard.opened(ip);
        const client = new LiveClient(ws, options);
        clients.add(client);
        unsubscribe ??= options.bus.subscribe(onLiveEvent);
        options.metrics.liveClients.inc();
        ws.on('message', (data, isBinary) => client.onMessage(data, isBinary));
        ws.on('error', (err) => options.log.debug({ err: err.message }, 'live socket error'));
        ws.on('close', () => {
          release();
          clients.delete(client);
          if (clients.size === 0) {
            unsubscribe?.();
            unsubscribe = null;
          }
          client.stop();
          options.metrics.liveClients.dec();
        });
      });
    },
    close(): void {
      unsubscribe?.();
      unsubscribe = null;
      for (const client of clients) {
        client.stop();
        client.ws.close(1001, 'hub stopping');
      }
      wss.close();
    },
  };
}

function safeHost(origin: string): string | undefined {
  try {
    return new URL(origin).host;
  } catch {
    return undefined;
  }
}
