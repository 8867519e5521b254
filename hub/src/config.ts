// The only module that reads the environment. Every option has a documented default (README).
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { DEFAULT_TIER_RETENTION, TIER_RETENTION_PATTERN, type TierRetention } from './store/tier-retention.ts';
import { DEFAULT_QUERY_MAX_SCAN } from './store/store.ts';

export interface SerialPortOption {
  path: string;
  baudRate: number;
}

export interface HubOptions {
  /** HUB_PORT */
  port: number;
  /** HUB_HOST */
  host: string;
  /** HUB_DATA_DIR: embedded store, registry, command log, outage spool, admin token */
  dataDir: string;
  /** INFLUX_URL, e.g. http://127.0.0.1:8086/telemetry; unset means the embedded store */
  influxUrl?: string;
  /** INFLUX_RETENTION: InfluxQL duration of the retention policy, e.g. 30d; INF keeps forever */
  influxRetention: string;
  /**
   * HUB_ROLLUP_MINUTE_RETENTION, HUB_ROLLUP_HOUR_RETENTION: how long the 1-minute and 1-hour history
   * tiers keep their buckets (default 90d and 260w), e.g. 30d, 52w; INF keeps forever
   */
  tierRetention: TierRetention;
  /** HUB_ADMIN_TOKEN; unset means generated on first start and kept in the data dir */
  adminToken?: string;
  /** HUB_TLS_CERT / HUB_TLS_KEY: PEM files; with both set the hub serves https and wss */
  tls?: { certFile: string; keyFile: string };
  /**
   * Cluster mode, on when both are set: HUB_NATS_URL (comma-separated servers) and
   * HUB_POSTGRES_URL; it requires INFLUX_URL. HUB_ID names this hub among the others.
   */
  cluster?: { natsServers: string[]; postgresUrl: string; hubId: string };
  /** HUB_SERIAL, e.g. /dev/ttyUSB0:115200,/dev/ttyACM0 */
  serial: SerialPortOption[];
  /** HUB_SPOOL_MAX_BYTES: outage spool bound */
  spoolMaxBytes: number;
  /** HUB_LOG_LEVEL */
  logLevel: string;
  /** readings per store batch */
  batchSize: number;
  /** HUB_STORE_WRITES_IN_FLIGHT: store writes running at once; ACKs still go out in batch order */
  storeWritesInFlight: number;
  /** longest wait before a partial batch is written (and ACKed) */
  flushIntervalMs: number;
  /** [FP-4.2.4] how far ahead of the hub clock a sample may be */
  maxFutureMs: number;
  /** [FP-6.3] */
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  /** most points one history response returns */
  maxQueryPoints: number;
  /** HUB_QUERY_TIMEOUT_MS: a history query running longer (waiting for a reader included) gets 504 HUB_ERR_QUERY_TIMEOUT */
  queryTimeoutMs: number;
  /** HUB_QUERY_MAX_SCAN: a history query reading more stored rows gets 422 HUB_ERR_QUERY_TOO_LARGE (embedded store) */
  queryMaxScan: number;
  /** a /ws/live client with more bytes than this waiting gets coalesced updates */
  liveCoalesceBytes: number;
  /** a /ws/live client backed up this long is closed (4008) */
  liveStuckMs: number;
  /** how long a command waits for an offline device before it times out */
  commandQueueTtlMs: number;
  /** most open commands (queued, sent or acked) per device, online or offline */
  commandQueueMax: number;
  /** [FP-6.4] a serial device silent this long shows offline */
  serialSilenceMs: number;
  /** first reopen delay after a serial unplug (doubles up to 5 s) */
  serialReopenMs: number;
  /** [FP-8.2] console lines kept, shown live and logged per serial port per second; more are dropped and counted */
  serialConsoleLinesPerSecond: number;
  /** [FP-8.2] a serial console line longer than this many bytes is cut there and counted */
  serialConsoleMaxLineBytes: number;
  /** HUB_MAX_FRAMES_PER_SECOND: per device; above it the hub stops reading the socket */
  maxFramesPerSecond: number;
  /** HUB_MAX_READINGS_PER_SECOND: samples per device; above it the hub stops reading the socket */
  maxReadingsPerSecond: number;
  /** HUB_MAX_BYTES_PER_SECOND: frame bytes per device; above it the hub stops reading the socket */
  maxBytesPerSecond: number;
  /** a device over the frame rate this long without a break is closed (4026) */
  rateLimitCloseMs: number;
  /** HUB_MAX_CONNECTIONS_PER_IP: open WebSockets (device and live) from one address */
  maxConnectionsPerIp: number;
  /** wrong tokens from one address within 10 s before it is refused for a while (429) */
  maxAuthFailures: number;
  /** HUB_MAX_DEVICES: provisioned devices */
  maxDevices: number;
  /** bytes queued to a device that does not read before it is closed (4031) */
  maxSendBacklogBytes: number;
  /** [FP-4.1.4] distinct channel names one device may declare over its lifetime */
  maxChannelNamesPerDevice: number;
  /** HUB_METRICS_TOKEN: when set, GET /metrics needs it (or the operator token) as a Bearer token */
  metricsToken?: string;
  /** how long a dashboard session lasts from login */
  sessionTtlMs: number;
  /** most dashboard sessions kept; the oldest end first */
  maxSessions: number;
  /** HUB_MAX_HTTP_CONNECTIONS_PER_IP: open connections from one address that are not WebSockets */
  maxHttpConnectionsPerIp: number;
  /** time to send a request's headers (an upgrade's too) before 408 */
  headersTimeoutMs: number;
  /** time to send a whole request before 408 */
  requestTimeoutMs: number;
  /** time from an upgrade request to an open WebSocket */
  upgradeTimeoutMs: number;
}

export const DEFAULTS: HubOptions = {
  port: 8080,
  host: '0.0.0.0',
  dataDir: './data',
  serial: [],
  influxRetention: 'INF',
  tierRetention: DEFAULT_TIER_RETENTION,
  spoolMaxBytes: 1024 ** 3,
  logLevel: 'info',
  batchSize: 5000,
  // measured (README, Performance): a store given its next batch while it writes one idles less
  storeWritesInFlight: 2,
  // measured (README, Performance): 15 ms keeps ACK p99 at light load under 30 ms; 10 ms cost a
  // quarter of the open-loop maximum in batches too small for the store
  flushIntervalMs: 15,
  maxFutureMs: 5 * 60_000,
  heartbeatIntervalMs: 2000,
  heartbeatTimeoutMs: 6000,
  maxQueryPoints: 100_000,
  queryTimeoutMs: 10_000,
  queryMaxScan: DEFAULT_QUERY_MAX_SCAN,
  liveCoalesceBytes: 1024 * 1024,
  liveStuckMs: 10_000,
  commandQueueTtlMs: 60 * 60_000,
  commandQueueMax: 100,
  serialSilenceMs: 15_000,
  serialReopenMs: 250,
  serialConsoleLinesPerSecond: 100,
  serialConsoleMaxLineBytes: 1024,
  maxFramesPerSecond: 1000,
  maxReadingsPerSecond: 20_000,
  maxBytesPerSecond: 1024 * 1024,
  rateLimitCloseMs: 5000,
  maxConnectionsPerIp: 2000,
  maxAuthFailures: 20,
  maxDevices: 100_000,
  maxSendBacklogBytes: 1024 * 1024,
  maxChannelNamesPerDevice: 256,
  sessionTtlMs: 7 * 24 * 3600_000,
  maxSessions: 1000,
  maxHttpConnectionsPerIp: 2000,
  headersTimeoutMs: 5000,
  requestTimeoutMs: 15_000,
  upgradeTimeoutMs: 5000,
};

export class ConfigError extends Error {}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) throw new ConfigError(`${name}=${raw}: expected an integer from ${min} to ${max}`);
  return value;
}

export function parseSerial(spec: string): SerialPortOption[] {
  return spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry) => {
      const match = /^(.+?)(?::(\d+))?$/.exec(entry)!;
      const baudRate = match[2] ? Number(match[2]) : 115200; // [FP-8.5]
      if (!match[1].startsWith('/')) throw new ConfigError(`HUB_SERIAL entry ${entry}: expected /dev/...[:baud]`);
      return { path: match[1], baudRate };
    });
}

const DURATION_UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** An INFLUX_RETENTION value in milliseconds; Infinity for INF. */
export function retentionMs(retention: string): number {
  const match = /^(\d+)([smhdw])$/i.exec(retention);
  return match ? Number(match[1]) * DURATION_UNIT_MS[match[2].toLowerCase()] : Infinity;
}

function retention(raw: string | undefined): string {
  if (!raw) return DEFAULTS.influxRetention;
  if (!/^(INF|\d+[smhdw])$/i.test(raw)) throw new ConfigError(`INFLUX_RETENTION=${raw}: expected INF or a duration like 30d, 12h, 4w`);
  return raw;
}

function tierRetention(env: NodeJS.ProcessEnv): TierRetention {
  const one = (name: string, fallback: string) => {
    const raw = env[name];
    if (!raw) return fallback;
    if (!TIER_RETENTION_PATTERN.test(raw) || /^0+[smhdw]$/i.test(raw)) throw new ConfigError(`${name}=${raw}: expected INF or a duration like 90d, 12h, 52w`);
    return raw;
  };
  return {
    minute: one('HUB_ROLLUP_MINUTE_RETENTION', DEFAULTS.tierRetention.minute),
    hour: one('HUB_ROLLUP_HOUR_RETENTION', DEFAULTS.tierRetention.hour),
  };
}

/** Shortest operator token accepted: the token is all that guards the REST API and the dashboard. */
export const MIN_ADMIN_TOKEN_LENGTH = 16;

function adminToken(raw: string | undefined): string | undefined {
  if (!raw) return undefined;
  if (raw.length < MIN_ADMIN_TOKEN_LENGTH) throw new ConfigError(`HUB_ADMIN_TOKEN is ${raw.length} characters long: use at least ${MIN_ADMIN_TOKEN_LENGTH} (or unset it and the hub generates one)`);
  if (/\s/.test(raw)) throw new ConfigError('HUB_ADMIN_TOKEN contains white space: it could not be sent as `Authorization: Bearer <token>`');
  return raw;
}

function metricsToken(raw: string | undefined): string | undefined {
  if (!raw) return undefined;
  if (raw.length < MIN_ADMIN_TOKEN_LENGTH || /\s/.test(raw)) throw new ConfigError(`HUB_METRICS_TOKEN: use at least ${MIN_ADMIN_TOKEN_LENGTH} characters without white space`);
  return raw;
}

/** HUB_NATS_URL, HUB_POSTGRES_URL, HUB_ID: both URLs or neither, and a shared store. */
function clusterConfig(env: NodeJS.ProcessEnv, influxUrl: string | undefined, port: number): HubOptions['cluster'] {
  const nats = env.HUB_NATS_URL || undefined;
  const postgresUrl = env.HUB_POSTGRES_URL || undefined;
  if (!nats && !postgresUrl) {
    if (env.HUB_ID) throw new ConfigError('HUB_ID is set, but cluster mode needs HUB_NATS_URL and HUB_POSTGRES_URL too');
    return undefined;
  }
  if (!nats || !postgresUrl) {
    throw new ConfigError(`cluster mode needs both HUB_NATS_URL and HUB_POSTGRES_URL; only ${nats ? 'HUB_NATS_URL' : 'HUB_POSTGRES_URL'} is set`);
  }
  if (!influxUrl) throw new ConfigError('cluster mode needs INFLUX_URL: every hub writes readings to the same InfluxDB');
  // a token generated into one hub's data dir would not open the others
  if (!env.HUB_ADMIN_TOKEN) throw new ConfigError('cluster mode needs HUB_ADMIN_TOKEN, the same on every hub');
  const natsServers = nats.split(',').map((s) => s.trim()).filter(Boolean);
  for (const server of natsServers) {
    if (!/^(nats|tls):\/\/[^/\s]+$|^[^:/\s]+:\d+$/.test(server)) throw new ConfigError(`HUB_NATS_URL entry ${server}: expected nats://host:port`);
  }
  let pg: URL;
  try {
    pg = new URL(postgresUrl);
  } catch {
    throw new ConfigError('HUB_POSTGRES_URL: not a URL (expected postgres://user:password@host:port/database)');
  }
  if (pg.protocol !== 'postgres:' && pg.protocol !== 'postgresql:') throw new ConfigError('HUB_POSTGRES_URL: expected postgres://user:password@host:port/database');
  // a hub id is a NATS subject token: no dots
  const hubId = env.HUB_ID || `${hostname().replace(/[^A-Za-z0-9_-]/g, '-')}-${port}`.slice(-64);
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(hubId)) throw new ConfigError(`HUB_ID=${hubId}: 1-64 characters of A-Z a-z 0-9 _ -`);
  return { natsServers, postgresUrl, hubId };
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): HubOptions {
  const influxUrl = env.INFLUX_URL || undefined;
  if (influxUrl) {
    let url: URL;
    try {
      url = new URL(influxUrl);
    } catch {
      throw new ConfigError(`INFLUX_URL=${influxUrl}: not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`INFLUX_URL=${influxUrl}: expected http:// or https://`);
  }
  const certFile = env.HUB_TLS_CERT || undefined;
  const keyFile = env.HUB_TLS_KEY || undefined;
  if (!certFile !== !keyFile) throw new ConfigError('HUB_TLS_CERT and HUB_TLS_KEY go together: set both or neither');
  return {
    ...DEFAULTS,
    tls: certFile && keyFile ? { certFile: resolve(certFile), keyFile: resolve(keyFile) } : undefined,
    cluster: clusterConfig(env, influxUrl, integer(env, 'HUB_PORT', DEFAULTS.port, 0, 65535)),
    port: integer(env, 'HUB_PORT', DEFAULTS.port, 0, 65535),
    host: env.HUB_HOST || DEFAULTS.host,
    dataDir: resolve(env.HUB_DATA_DIR || DEFAULTS.dataDir),
    influxUrl,
    influxRetention: retention(env.INFLUX_RETENTION),
    tierRetention: tierRetention(env),
    adminToken: adminToken(env.HUB_ADMIN_TOKEN),
    serial: parseSerial(env.HUB_SERIAL ?? ''),
    queryTimeoutMs: integer(env, 'HUB_QUERY_TIMEOUT_MS', DEFAULTS.queryTimeoutMs, 100, 600_000),
    queryMaxScan: integer(env, 'HUB_QUERY_MAX_SCAN', DEFAULTS.queryMaxScan, 1000, Number.MAX_SAFE_INTEGER),
    spoolMaxBytes: integer(env, 'HUB_SPOOL_MAX_BYTES', DEFAULTS.spoolMaxBytes, 0, Number.MAX_SAFE_INTEGER),
    storeWritesInFlight: integer(env, 'HUB_STORE_WRITES_IN_FLIGHT', DEFAULTS.storeWritesInFlight, 1, 64),
    logLevel: env.HUB_LOG_LEVEL || DEFAULTS.logLevel,
    maxFramesPerSecond: integer(env, 'HUB_MAX_FRAMES_PER_SECOND', DEFAULTS.maxFramesPerSecond, 1, 10_000_000),
    maxReadingsPerSecond: integer(env, 'HUB_MAX_READINGS_PER_SECOND', DEFAULTS.maxReadingsPerSecond, 1, 1_000_000_000),
    maxBytesPerSecond: integer(env, 'HUB_MAX_BYTES_PER_SECOND', DEFAULTS.maxBytesPerSecond, 16 * 1024, 1_000_000_000_000),
    maxConnectionsPerIp: integer(env, 'HUB_MAX_CONNECTIONS_PER_IP', DEFAULTS.maxConnectionsPerIp, 1, 10_000_000),
    maxDevices: integer(env, 'HUB_MAX_DEVICES', DEFAULTS.maxDevices, 1, 100_000_000),
    maxChannelNamesPerDevice: integer(env, 'HUB_MAX_CHANNEL_NAMES_PER_DEVICE', DEFAULTS.maxChannelNamesPerDevice, 1, 1_000_000),
    maxHttpConnectionsPerIp: integer(env, 'HUB_MAX_HTTP_CONNECTIONS_PER_IP', DEFAULTS.maxHttpConnectionsPerIp, 1, 10_000_000),
    metricsToken: metricsToken(env.HUB_METRICS_TOKEN),
  };
}
