// WebSocket transport for devices: authenticates the upgrade, then moves bytes between the
// socket and the codec. Protocol decisions live in DeviceSession and Ingest.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { hashToken, tokenFromRequest, tokenMatches } from '../auth/tokens.ts';
import type { DeviceLink } from '../ingest/device-link.ts';
import { DeviceSession, type SessionHandlers } from '../ingest/device-session.ts';
import type { Metrics } from '../metrics.ts';
import { closeCodeFor, decodeFrameInto, encodeFrame, ErrorCode, MAX_FRAME, ProtocolError, ReadingsColumns, type Frame } from '../protocol/index.ts';
import type { DeviceRegistry } from '../registry/registry.ts';
import type { ConnectionGuard } from './connection-guard.ts';
import { DeviceBudget } from './device-budget.ts';
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

interface Connection {
  ws: WebSocket;
  session: DeviceSession;
  lastHeard: number;
  /** the hub stopped reading this device's socket for a while (over budget) */
  throttled: boolean;
}

export function createDeviceEndpoint(options: DeviceEndpointOptions) {
  const { registry, metrics, log } = options;
  // [FP-7.2] ws refuses bigger messages with 1009 before buffering them
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME, perMessageDeflate: false, clientTracking: false });
  const connections = new Set<Connection>();
  // every connection's READINGS decode into these: a session reads them before the next message
  const columns = new ReadingsColumns();
  const budgetText = `${options.maxFramesPerSecond} frames/s, ${options.maxReadingsPerSecond} readings/s, ${options.maxBytesPerSecond} bytes/s`;

  const heartbeat = setInterval(() => {
    const now = Date.now();
    options.guard.prune();
    for (const conn of connections) {
      if (!conn.throttled && now - conn.lastHeard > options.heartbeatTimeoutMs) {
        const deviceId = conn.session.deviceId;
        options.session.logLimiter.info(deviceId ?? 'ws', { deviceId, transport: 'ws', silentMs: now - conn.lastHeard }, 'device silent; closing');
        conn.ws.terminate();
      } else {
        conn.ws.ping();
      }
    }
  }, options.heartbeatIntervalMs);
  heartbeat.unref();

  function accept(ws: WebSocket, deviceId: string, release: () => void): void {
    // Lines a device can repeat (reconnecting in a loop, erring) go through the limiter, per device.
    const limitedLog = options.session.logLimiter;
    // for log lines only; ws keeps the upgraded socket as `_socket`
    const ip = (ws as unknown as { _socket?: { remoteAddress?: string } })._socket?.remoteAddress ?? 'unknown';
    const connectedAt = Date.now();
    /** the close code and reason the hub sent, when the hub ended the connection */
    let hubClose: { code: number; reason: string } | null = null;
    function closeWith(reason: Parameters<typeof closeCodeFor>[0]): void {
      const code = closeCodeFor(reason);
      hubClose ??= { code, reason };
      ws.close(code, reason);
    }
    limitedLog.info(deviceId, { deviceId, transport: 'ws', ip }, 'device connected');

    const link: DeviceLink = {
      transport: 'ws',
      send(frame: Frame) {
        if (ws.readyState !== ws.OPEN) return;
        if (ws.bufferedAmount > options.maxSendBacklogBytes) {
          // ACKs and commands pile up for a device that never reads: cut it off before they grow further
          metrics.rejected.inc({ code: 'FP_ERR_NOT_READING' });
          limitedLog.warn(deviceId, { deviceId, transport: 'ws', ip, backlog: ws.bufferedAmount }, 'device does not read its socket; closing');
          closeWith('FP_ERR_NOT_READING');
          setTimeout(() => ws.terminate(), 1000).unref();
          return;
        }
        ws.send(encodeFrame(frame));
      },
      end(reason) {
        closeWith(reason);
      },
    };
    const session = new DeviceSession(link, {
      ...options.session,
      peer: { deviceId, ip },
      async admit(helloId) {
        if (helloId !== deviceId) return 'FP_ERR_DEVICE_MISMATCH'; // [FP-6.1]
        return (await registry.get(deviceId)) ? null : 'FP_ERR_UNKNOWN_DEVICE';
      },
    });
    const conn: Connection = { ws, session, lastHeard: Date.now(), throttled: false };
    connections.add(conn);

    const budget = new DeviceBudget({
      framesPerSecond: options.maxFramesPerSecond, readingsPerSecond: options.maxReadingsPerSecond,
      bytesPerSecond: options.maxBytesPerSecond, closeAfterMs: options.rateLimitCloseMs,
    }, conn.lastHeard);
    /** Stops reading until the budget has room again: TCP pushes back on the device. */
    function throttle(pauseMs: number): void {
      if (conn.throttled) return;
      conn.throttled = true;
      ws.pause();
      setTimeout(() => {
        conn.throttled = false;
        // the hub chose not to read: that time is not the device's silence [FP-6.3]
        conn.lastHeard = Date.now();
        ws.resume();
      }, pauseMs).unref();
    }

    ws.on('message', function onDeviceMessage(data: RawData, isBinary: boolean) {
      // [FP-7.3] once the hub has closed a connection, what was already in flight is not read
      if (ws.readyState !== ws.OPEN) return;
      const now = Date.now();
      conn.lastHeard = now;
      if (!isBinary) return refuse(new ProtocolError('FP_ERR_BAD_TYPE', 'text message; frames are binary')); // [FP-7.1]
      let frame: ReturnType<typeof decodeFrameInto>;
      try {
        frame = decodeFrameInto(data as Buffer, columns);
      } catch (err) {
        if (err instanceof ProtocolError) return refuse(err);
        limitedLog.error(deviceId, { deviceId, err }, 'frame decoder failed');
        return refuse(new ProtocolError('FP_ERR_BAD_PAYLOAD', 'undecodable frame'));
      }
      // [FP-9 FP_ERR_RATE_LIMIT]
      const verdict = budget.charge(now, (data as Buffer).length, frame.type === 'readings' ? frame.count : 0);
      if (verdict.kind === 'close') {
        metrics.deviceThrottled.inc({ budget: verdict.budget });
        session.fail('FP_ERR_RATE_LIMIT', `over the ${verdict.budget} budget (${budgetText}) for ${options.rateLimitCloseMs} ms`);
        // read the peer's close frame, and do not wait long for a device that is busy writing
        ws.resume();
        setTimeout(() => ws.terminate(), 1000).unref();
        return;
      }
      if (verdict.kind === 'pause') {
        metrics.deviceThrottled.inc({ budget: verdict.budget });
        throttle(verdict.pauseMs);
      }
      session.onFrame(frame);
    });
    ws.on('pong', function onDevicePong() {
      conn.lastHeard = Date.now();
    });
    ws.on('error', function onDeviceSocketError(err) {
      // ws emits this for protocol violations (e.g. 1009) before closing; the close handler cleans up
      metrics.rejected.inc({ code: (err as { code?: string }).code ?? 'WS_ERROR' });
      limitedLog.warn(deviceId, { deviceId, transport: 'ws', ip, err: err.message }, 'device socket error');
    });
    ws.on('close', function onDeviceClose(code: number, reason: Buffer) {
      release();
      connections.delete(conn);
      session.closed();
      // 1006: no close frame; after a heartbeat timeout that is the hub's doing [FP-6.3]
      const silent = Date.now() - conn.lastHeard > options.heartbeatTimeoutMs;
      limitedLog.info(deviceId, {
        deviceId, transport: 'ws', ip,
        closeCode: hubClose?.code ?? code,
        reason: hubClose?.reason ?? (reason.toString() || (code === 1006 ? (silent ? 'silent' : 'connection lost') : '')),
        connectedMs: Date.now() - connectedAt,
      }, 'device disconnected');
    });

    // [FP-7.3] an undecodable frame ends the connection; the device resends after reconnecting
    function refuse(err: ProtocolError): void {
      session.rejectFrame(err);
      closeWith(err.code);
    }
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
      wss.handleUpgrade(req, socket, head, (ws) => accept(ws, device.id, options.guard.opened(ip)));
    },

    /** Ends every device connection [FP-9: FP_ERR_SHUTDOWN → 1001]. */
    async close(): Promise<void> {
      clearInterval(heartbeat);
      const closing = [...connections].map(
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
