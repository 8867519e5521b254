// Wires the hub's components together. main.ts calls this with the loaded config; tests call it
// with their own options (port 0, temp data dir).
import { mkdirSync, readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { join } from 'node:path';
import { createAdaptorServer } from '@hono/node-server';
import type { Logger } from 'pino';
import { loadAdminToken } from './auth/admin-token.ts';
import { hashToken } from './auth/tokens.ts';
import { DEFAULTS, type HubOptions } from './config.ts';
import { createSqliteCommandLog } from './commands/command-log.ts';
import { CommandService } from './commands/command-service.ts';
import { createApp, type Health } from './http/app.ts';
import { mountDashboard } from './http/dashboard-routes.ts';
import type { CommandResultFrame } from './protocol/index.ts';
import { Ingest } from './ingest/ingest.ts';
import { createLocalLiveBus } from './live/live-bus.ts';
import { createLiveEndpoint } from './live/live-endpoint.ts';
import { createLogger } from './log.ts';
import { LogLimiter } from './log-limiter.ts';
import { createMetrics } from './metrics.ts';
import { createSqliteRegistry } from './registry/sqlite-registry.ts';
import { createThreadedSqliteStore } from './store/threaded-sqlite-store.ts';
import type { ReadingStore } from './store/store.ts';
import { ConnectionGuard } from './transports/connection-guard.ts';
import { createDeviceEndpoint } from './transports/device-ws.ts';
import { rejectUpgrade } from './transports/reject-upgrade.ts';
import { createSerialBridge, type SerialPortLike } from './transports/serial-bridge.ts';

export interface Hub {
  /** e.g. http://127.0.0.1:8080 */
  url: string;
  port: number;
  adminToken: string;
  log: Logger;
  close(): Promise<void>;
}

export interface HubParts {
  log?: Logger;
  /** a store to use instead of the configured one (benchmarks use a counting sink) */
  store?: ReadingStore;
  /** opens serial ports; tests pass serialport's SerialPortMock */
  openSerialPort?: (path: string, baudRate: number) => SerialPortLike;
}

export async function startHub(overrides: Partial<HubOptions> & HubParts = {}): Promise<Hub> {
  const options: HubOptions = { ...DEFAULTS, ...overrides };
  const log = overrides.log ?? createLogger(options.logLevel);
  mkdirSync(options.dataDir, { recursive: true });
  const metrics = createMetrics();
  const registry = createSqliteRegistry({ path: join(options.dataDir, 'registry.db') });
  const admin = loadAdminToken(options.dataDir, options.adminToken);
  if (admin.created) log.info({ adminToken: admin.token, file: join(options.dataDir, 'admin-token') }, 'generated the operator token; it is shown only this once');

  let store: ReadingStore;
  let health: () => Promise<Health>;
  if (overrides.store) {
    const injected = overrides.store;
    store = injected;
    health = async () => {
      const reachable = await injected.ping().then(() => true, () => false);
      return { status: reachable ? 'ok' : 'down', store: { kind: 'custom', reachable } };
    };
  } else if (options.influxUrl) {
    // Loaded only when configured: the embedded default does not pay for the InfluxDB client.
    const { createInfluxStore } = await import('./store/influx-store.ts');
    const { createSpoolingStore } = await import('./store/spool.ts');
    const influx = createInfluxStore({ url: options.influxUrl, retention: options.influxRetention });
    // Create the database and retention policy now; if InfluxDB is down the hub starts anyway,
    // spools, and the store creates them on its first successful request.
    await influx.open().catch((err) => log.warn({ err: (err as Error).message }, 'InfluxDB not reachable at start; spooling until it is'));
    const spooled = createSpoolingStore({
      primary: influx,
      dir: join(options.dataDir, 'spool'),
      maxBytes: options.spoolMaxBytes,
      onDrop: (count, reason) => {
        metrics.spoolDropped.inc(count);
        log.error({ dropped: count, reason }, reason === 'full' ? 'outage spool full: readings refused' : 'InfluxDB refused spooled readings: dropped');
      },
    });
    store = spooled;
    metrics.beforeScrape.push(() => metrics.spoolBytes.set(spooled.spoolBytes));
    health = async () => {
      const reachable = await influx.ping().then(() => true, () => false);
      const spool = { bytes: spooled.spoolBytes, readings: spooled.spooledReadings, dropped: spooled.droppedReadings };
      return { status: reachable && spool.bytes === 0 ? 'ok' : 'degraded', store: { kind: 'influxdb', reachable }, spool };
    };
  } else {
    store = createThreadedSqliteStore({ path: join(options.dataDir, 'readings.db') });
    health = async () => {
      const reachable = await store.ping().then(() => true, () => false);
      return { status: reachable ? 'ok' : 'down', store: { kind: 'embedded', reachable } };
    };
  }

  const live = createLocalLiveBus();
  // one limiter for every line a device can make the hub repeat
  const logLimiter = new LogLimiter(log);
  const ingest = new Ingest({
    store, registry, live, metrics, log, logLimiter,
    batchSize: options.batchSize, flushIntervalMs: options.flushIntervalMs, maxFutureMs: options.maxFutureMs,
  });
  const commandLog = createSqliteCommandLog({ path: join(options.dataDir, 'commands.db') });
  const commands = new CommandService({
    log: commandLog, live, logger: log, logLimiter,
    linkOf: (id) => ingest.device(id)?.link ?? null,
    queueTtlMs: options.commandQueueTtlMs, maxQueuedPerDevice: options.commandQueueMax,
    defaultTimeoutMs: 10_000, maxTimeoutMs: 10 * 60_000,
  });
  await commands.start();
  const session = {
    ingest, metrics, log, logLimiter,
    onCommandResult: (deviceId: string, frame: CommandResultFrame) => void commands.result(deviceId, frame).catch((err) => log.error({ err }, 'command result not recorded')),
    onDeviceReady: (deviceId: string) => void commands.deviceReady(deviceId).catch((err) => log.error({ err }, 'queued commands not sent')),
  };
  const guard = new ConnectionGuard({
    maxConnectionsPerIp: options.maxConnectionsPerIp, maxAuthFailures: options.maxAuthFailures,
    failureWindowMs: 10_000, backoffMs: 1000, maxBackoffMs: 60_000,
  });
  const devices = createDeviceEndpoint({
    registry, metrics, log, session, guard,
    maxFramesPerSecond: options.maxFramesPerSecond, rateLimitCloseMs: options.rateLimitCloseMs,
    maxSendBacklogBytes: options.maxSendBacklogBytes,
    heartbeatIntervalMs: options.heartbeatIntervalMs,
    heartbeatTimeoutMs: options.heartbeatTimeoutMs,
  });
  const serial = options.serial.length > 0
    ? createSerialBridge({
        ports: options.serial, registry, metrics, log, live, session,
        silenceMs: options.serialSilenceMs, reopenMs: options.serialReopenMs, maxReopenMs: 5000, openPort: overrides.openSerialPort,
      })
    : null;
  const adminTokenHash = hashToken(admin.token);
  const liveEndpoint = createLiveEndpoint({
    bus: live, metrics, log, adminTokenHash,
    coalesceAboveBytes: options.liveCoalesceBytes, stuckCloseMs: options.liveStuckMs, retryMs: 50, guard,
  });
  const app = createApp({
    registry, ingest, store, metrics, log, health,
    adminTokenHash,
    maxQueryPoints: options.maxQueryPoints,
    maxDevices: options.maxDevices,
    commands: { service: commands, log: commandLog },
    consoleOf: (id) => serial?.consoleOf(id),
    extend: (app) => mountDashboard(app, { adminTokenHash, log }),
  });

  const server = (options.tls
    ? createAdaptorServer({
        fetch: app.fetch,
        createServer: createHttpsServer,
        serverOptions: { cert: readFileSync(options.tls.certFile), key: readFileSync(options.tls.keyFile) },
      })
    : createAdaptorServer({ fetch: app.fetch })) as Server;
  server.on('upgrade', function onUpgrade(req, socket, head) {
    socket.on('error', () => socket.destroy());
    const url = new URL(req.url ?? '/', 'http://hub');
    if (url.pathname === '/ws/device') {
      devices.handleUpgrade(req, socket, head, url).catch((err) => {
        log.error({ err }, 'device upgrade failed');
        rejectUpgrade(socket, 500, 'HUB_ERR_INTERNAL', 'internal error');
      });
    } else if (url.pathname === '/ws/live') {
      liveEndpoint.handleUpgrade(req, socket, head);
    } else {
      rejectUpgrade(socket, 404, 'HUB_ERR_NOT_FOUND', `no WebSocket endpoint at ${url.pathname}`);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  const host = options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host;
  log.info({ port, host: options.host, store: options.influxUrl ? 'influxdb' : 'embedded', dataDir: options.dataDir }, 'hub listening');

  let closing: Promise<void> | null = null;
  return {
    url: `${options.tls ? 'https' : 'http'}://${host}:${port}`,
    port,
    adminToken: admin.token,
    log,
    close() {
      // Stop accepting, write what is pending (so its ACKs go out), then end sessions.
      closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        await ingest.flush();
        await devices.close();
        await serial?.close();
        liveEndpoint.close();
        server.closeAllConnections();
        await stopped;
        await commands.close();
        await store.close();
        await registry.close();
        logLimiter.close();
        log.info('hub stopped');
      })();
      return closing;
    },
  };
}
