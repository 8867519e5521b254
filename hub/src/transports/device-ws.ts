// WebSocket transport for devices: authenticates the upgrade, then moves bytes between the
// socket and the codec. Protocol decisions live in DeviceSession and Ingest.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { hashToken, tokenFromRequest, tokenMatches } from '../auth/tokens.ts';
import type { DeviceLink } from '../ingest/device-link.ts';
import type { LogLimiter } from '../log-limiter.ts';
import { DeviceSession, type SessionHandlers } from '../ingest/device-session.ts';
import type { Metrics } from '../metrics.ts';
import { closeCodeFor, decodeFrameInto, encodeFrame, ErrorCode, MAX_FRAME, ProtocolError, ReadingsColumns, type ErrorName, type Frame } from '../protocol/index.ts';
import type { DeviceRegistry } from '../registry/registry.ts';
import type { ConnectionGuard } from './connection-guard.ts';
import { DeviceBudget, type BudgetLimits } from './device-budget.ts';
import { rejectUpgrade } from './reject-upgrade.ts';

export interface DeviceEndpointOptions {
  registry: DeviceRegistry;
  metrics: Metrics;
  log: Logger;
  session: Omit<SessionHandlers, 'admit'>;
  /** [FP-6.3] ping period and silence limit */
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  guard: ConnectionGuard;
  /** frames, readings (samples) and bytes per second one device may send; above any, the hub stops reading its socket */
  maxFramesPerSecond: number;
  maxReadingsPerSecond: number;
  maxBytesPerSecond: number;
  /** a device throttled this long without a break is closed with 4026 */
  rateLimitCloseMs: number;
  /** bytes waiting to be sent to a device that does not read before it is closed with 4031 */
  maxSendBacklogBytes: number;
}

/**
 * One device's WebSocket: its link for ingest, and what the endpoint's shared listeners need of it.
 * A class, not closures: what an idle connection holds is paid for by every connected device, and
 * a closure per listener (with its context) cost more than all the rest of the hub's own state.
 */
class DeviceConnection implements DeviceLink {
  readonly transport = 'ws';
  maxFrame: number | undefined = undefined;
  readonly session: DeviceSession;
  readonly budget: DeviceBudget;
  readonly connectedAt: number;
  lastHeard: number;
  /** the hub stopped reading this device's socket for a while (over budget) */
  throttled = false;
  /** the close code and reason the hub sent, when the hub ended the connection */
  hubClose: { code: number; reason: string } | null = null;

  constructor(
    readonly ws: WebSocket,
    readonly deviceId: string,
    readonly ip: string,
    private readonly endpoint: EndpointShared,
  ) {
    this.connectedAt = this.lastHeard = Date.now();
    // the connection is its own session's peer: it has the token's device id and the address
    this.session = new DeviceSession(this, endpoint.handlers, this);
    this.budget = new DeviceBudget(endpoint.limits, this.lastHeard);
  }

  send(frame: Frame): void {
    if (this.writable()) this.ws.send(encodeFrame(frame));
  }

  /** Answers a WebSocket ping from the device, as the hub answers frames: not to one that never reads. */
  pong(data: Buffer): void {
    if (this.writable()) this.ws.pong(data);
  }

  /** Open, and reading what it is sent; a device that is not is cut off. */
  private writable(): boolean {
    const { ws } = this;
    if (ws.readyState !== ws.OPEN) return false;
    if (ws.bufferedAmount > this.endpoint.maxSendBacklogBytes) {
      // ACKs, commands and pongs pile up for a device that never reads: cut it off before they grow further
      this.endpoint.metrics.rejected.inc({ code: 'FP_ERR_NOT_READING' });
      this.endpoint.limitedLog.warn(this.deviceId, { deviceId: this.deviceId, transport: 'ws', ip: this.ip, backlog: ws.bufferedAmount }, 'device does not read its socket; closing');
      this.closeWith('FP_ERR_NOT_READING');
      setTimeout(() => ws.terminate(), 1000).unref();
      return false;
    }
    return true;
  }

  end(reason: ErrorName): void {
    this.closeWith(reason);
  }

  closeWith(reason: Parameters<typeof closeCodeFor>[0]): void {
    const code = closeCodeFor(reason);
    this.hubClose ??= { code, reason };
    this.ws.close(code, reason);
  }

  /** Stops reading until the budget has room again: TCP pushes back on the device. */
  throttle(pauseMs: number): void {
    if (this.throttled) return;
    this.throttled = true;
    this.ws.pause();
    setTimeout(() => {
      this.throttled = false;
      // the hub chose not to read: that time is not the device's silence [FP-6.3]
      this.lastHeard = Date.now();
      this.ws.resume();
    }, pauseMs).unref();
  }

  /** [FP-7.3] an undecodable frame ends the connection; the device resends after reconnecting */
  refuse(err: ProtocolError): void {
    this.session.rejectFrame(err);
    this.closeWith(err.code);
  }
}

/** What every connection of one endpoint shares. */
interface EndpointShared {
  handlers: SessionHandlers;
  limits: BudgetLimits;
  maxSendBacklogBytes: number;
  metrics: Metrics;
  limitedLog: LogLimiter;
}

export function createDeviceEndpoint(options: DeviceEndpointOptions) {
  const { registry, metrics, log } = options;
  // [FP-7.2] ws refuses bigger messages with 1009 before buffering them
  // Pings are answered by a listener shared by every connection: ws's own answering keeps a closure
  // per connection, paid for by every idle device.
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME, perMessageDeflate: false, clientTracking: false, autoPong: false });
  const connections = new Map<WebSocket, DeviceConnection>();
  // every connection's READINGS decode into these: a session reads them before the next message
  const columns = new ReadingsColumns();
  const budgetText = `${options.maxFramesPerSecond} frames/s, ${options.maxReadingsPerSecond} readings/s, ${options.maxBytesPerSecond} bytes/s`;
  // Lines a device can repeat (reconnecting in a loop, erring) go through the limiter, per device.
  const limitedLog = options.session.logLimiter;
  const shared: EndpointShared = {
    handlers: {
      ...options.session,
      async admit(helloId, peer) {
        if (helloId !== peer?.deviceId) return 'FP_ERR_DEVICE_MISMATCH'; // [FP-6.1]
        return (await registry.get(helloId)) ? null : 'FP_ERR_UNKNOWN_DEVICE';
      },
    },
    limits: {
      framesPerSecond: options.maxFramesPerSecond, readingsPerSecond: options.maxReadingsPerSecond,
      bytesPerSecond: options.maxBytesPerSecond, closeAfterMs: options.rateLimitCloseMs,
    },
    maxSendBacklogBytes: options.maxSendBacklogBytes,
    metrics,
    limitedLog,
  };

  const heartbeat = setInterval(() => {
    const now = Date.now();
    options.guard.prune();
    for (const conn of connections.values()) {
      if (!conn.throttled && now - conn.lastHeard > options.heartbeatTimeoutMs) {
        const deviceId = conn.session.deviceId;
        limitedLog.info(deviceId ?? 'ws', { deviceId, transport: 'ws', silentMs: now - conn.lastHeard }, 'device silent; closing');
        conn.ws.terminate();
      } else {
        conn.ws.ping();
      }
    }
  }, options.heartbeatIntervalMs);
  heartbeat.unref();

  // One listener of each kind for every connection: ws calls them with `this` set to the socket.
  function onDeviceMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
    const conn = connections.get(this);
    // [FP-7.3] once the hub has closed a connection, what was already in flight is not read
    if (!conn || this.readyState !== this.OPEN) return;
    const now = Date.now();
    conn.lastHeard = now;
    if (!isBinary) return conn.refuse(new ProtocolError('FP_ERR_BAD_TYPE', 'text message; frames are binary')); // [FP-7.1]
    let frame: ReturnType<typeof decodeFrameInto>;
    try {
      frame = decodeFrameInto(data as Buffer, columns);
    } catch (err) {
      if (err instanceof ProtocolError) return conn.refuse(err);
      limitedLog.error(conn.deviceId, { deviceId: conn.deviceId, err }, 'frame decoder failed');
      return conn.refuse(new ProtocolError('FP_ERR_BAD_PAYLOAD', 'undecodable frame'));
    }
    // [FP-9 FP_ERR_RATE_LIMIT]
    const verdict = conn.budget.charge(now, (data as Buffer).length, frame.type === 'readings' ? frame.count : 0);
    if (verdict.kind === 'close') {
      metrics.deviceThrottled.inc({ budget: verdict.budget });
      conn.session.fail('FP_ERR_RATE_LIMIT', `over the ${verdict.budget} budget (${budgetText}) for ${options.rateLimitCloseMs} ms`);
      // read the peer's close frame, and do not wait long for a device that is busy writing
      this.resume();
      const ws = this;
      setTimeout(() => ws.terminate(), 1000).unref();
      return;
    }
    if (verdict.kind === 'pause') {
      metrics.deviceThrottled.inc({ budget: verdict.budget });
      conn.throttle(verdict.pauseMs);
    }
    conn.session.onFrame(frame);
  }

  function onDevicePing(this: WebSocket, data: Buffer): void {
    connections.get(this)?.pong(data);
  }

  function onDevicePong(this: WebSocket): void {
    const conn = connections.get(this);
    if (conn) conn.lastHeard = Date.now();
  }

  function onDeviceSocketError(this: WebSocket, err: Error): void {
    // ws emits this for protocol violations (e.g. 1009) before closing; the close handler cleans up
    const conn = connections.get(this);
    metrics.rejected.inc({ code: (err as { code?: string }).code ?? 'WS_ERROR' });
    limitedLog.warn(conn?.deviceId ?? 'ws', { deviceId: conn?.deviceId, transport: 'ws', ip: conn?.ip, err: err.message }, 'device socket error');
  }

  function onDeviceClose(this: WebSocket, code: number, reason: Buffer): void {
    const conn = connections.get(this);
    if (!conn) return;
    connections.delete(this);
    options.guard.connectionClosed(conn.ip);
    conn.session.closed();
    // 1006: no close frame; after a heartbeat timeout that is the hub's doing [FP-6.3]
    const silent = Date.now() - conn.lastHeard > options.heartbeatTimeoutMs;
    limitedLog.info(conn.deviceId, {
      deviceId: conn.deviceId, transport: 'ws', ip: conn.ip,
      closeCode: conn.hubClose?.code ?? code,
      reason: conn.hubClose?.reason ?? (reason.toString() || (code === 1006 ? (silent ? 'silent' : 'connection lost') : '')),
      connectedMs: Date.now() - conn.connectedAt,
    }, 'device disconnected');
  }

  function accept(ws: WebSocket, deviceId: string, ip: string): void {
    options.guard.connectionOpened(ip);
    limitedLog.info(deviceId, { deviceId, transport: 'ws', ip }, 'device connected');
    connections.set(ws, new DeviceConnection(ws, deviceId, ip, shared));
    ws.on('message', onDeviceMessage);
    ws.on('ping', onDevicePing);
    ws.on('pong', onDevicePong);
    ws.on('error', onDeviceSocketError);
    ws.on('close', onDeviceClose);
  }

  return {
    async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL): Promise<void> {
      const ip = req.socket.remoteAddress ?? 'unknown';
      if (options.guard.tooManyConnections(ip)) {
        metrics.rejected.inc({ code: 'HUB_ERR_TOO_MANY_CONNECTIONS' });
        return rejectUpgrade(socket, 'HUB_ERR_TOO_MANY_CONNECTIONS', 'too many connections from this address');
      }
      // The token is checked before the address's failure backoff: a good device behind the same
      // NAT as a misbehaving one still connects; only failures are throttled.
      const token = tokenFromRequest(req.headers.authorization, url);
      const device = token ? await registry.findByTokenHash(hashToken(token)) : undefined;
      if (!token || !device?.tokenHash || !tokenMatches(token, device.tokenHash)) {
        const refusal = options.guard.authFailed(ip);
        metrics.authFailures.inc({ endpoint: 'device' });
        if (refusal === 'HUB_ERR_TOO_MANY_ATTEMPTS') {
          metrics.rejected.inc({ code: refusal });
          return rejectUpgrade(socket, refusal, 'too many failed attempts; back off');
        }
        options.session.logLimiter.warn(ip, { ip }, 'device upgrade refused: bad token');
        return rejectUpgrade(socket, refusal, 'missing or wrong device token');
      }
      // Counted only once upgraded: ws answers a malformed handshake itself and never calls back.
      wss.handleUpgrade(req, socket, head, (ws) => accept(ws, device.id, ip));
    },

    /** Ends every device connection [FP-9: FP_ERR_SHUTDOWN → 1001]. */
    async close(): Promise<void> {
      clearInterval(heartbeat);
      const closing = [...connections.values()].map(
        (conn) =>
          new Promise<void>((resolve) => {
            conn.ws.once('close', () => resolve());
            if (conn.ws.readyState === conn.ws.OPEN) {
              conn.ws.send(encodeFrame({ type: 'error', code: ErrorCode.FP_ERR_SHUTDOWN, text: 'hub stopping' }));
            }
            conn.ws.close(closeCodeFor('FP_ERR_SHUTDOWN'), 'FP_ERR_SHUTDOWN');
            setTimeout(() => conn.ws.terminate(), 1000).unref();
          }),
      );
      await Promise.all(closing);
      wss.close();
    },

    get connectionCount(): number {
      return connections.size;
    },
  };
}

export type DeviceEndpoint = ReturnType<typeof createDeviceEndpoint>;
