// A hub process for the bench: provisions its devices straight into the registry (provisioning is
// not what is measured), starts the hub on 127.0.0.1:0 with a temp data dir, and answers the
// parent's requests for memory figures. It can preload one long series into the embedded store
// before the hub opens it, and keep the hub's default per-device budgets. Modes: the embedded store, InfluxDB, or decode-only with a
// counting store handed to startHub in place of a database. With `cluster` the hub runs in cluster
// mode (PostgreSQL + NATS, with InfluxDB) and its devices are provisioned into PostgreSQL.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { hashToken } from '../hub/src/auth/tokens.ts';
import type { HubOptions } from '../hub/src/config.ts';
import { connectPostgres, migrate } from '../hub/src/cluster/postgres.ts';
import { createSqliteRegistry } from '../hub/src/registry/sqlite-registry.ts';
import { startHub } from '../hub/src/start-hub.ts';
import type { Reading } from '../hub/src/store/store.ts';
import { createSqliteStore } from '../hub/src/store/sqlite-store.ts';
import { BENCH_ADMIN_TOKEN, deviceId, deviceToken, type DeviceRange } from './bench-devices.ts';
import { announce, failStart, serveRpc } from './child-rpc.ts';
import { createCountingStore } from './counting-store.ts';

export type HubMode = 'decode-only' | 'embedded' | 'influx';

export interface HubChildConfig {
  mode: HubMode;
  /** InfluxDB base URL with the database in the path; for mode influx */
  influxUrl?: string;
  devices: DeviceRange[];
  /** parent directory for the temp data dir (the disk the embedded store is measured on) */
  dataRoot?: string;
  batchSize?: number;
  /** store writes running at once (default: the hub's own) */
  writesInFlight?: number;
  flushIntervalMs?: number;
  /**
   * Keep the hub's default per-device budgets (frames, readings and bytes per second) instead of
   * raising them out of the way: for the isolation scenario, where a device over them is the point.
   */
  defaultBudgets?: boolean;
  /**
   * Cluster mode: the hub takes its registry, commands, sessions, live bus and presence from
   * PostgreSQL and NATS (mode influx). Devices go into PostgreSQL; hubs sharing it may list the
   * same ranges (ids there already are left alone). Connection limits per address are raised: in
   * a cluster every device comes through the load balancer's one address.
   */
  cluster?: { natsServers: string[]; postgresUrl: string; hubId: string };
  /** embedded: `points` readings at 1 Hz from `startTime`, written into readings.db before the hub starts */
  seed?: { deviceId: string; channel: string; points: number; startTime: number };
}

export interface HubReady {
  url: string;
  adminToken: string;
  pid: number;
  dataDir: string;
  /** how long writing the seed took, ms */
  seedMs?: number;
}

export interface HubStats {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  cpuUserMs: number;
  cpuSystemMs: number;
  /** decode-only: readings the counting store was given */
  counted?: number;
}

const config = JSON.parse(process.argv[2] ?? '{}') as HubChildConfig;
const dataDir = mkdtempSync(join(config.dataRoot ?? tmpdir(), `bench-hub-${config.mode}-`));
const log = pino({ level: process.env.BENCH_HUB_LOG ?? 'warn' });

try {
  if (config.cluster) await provisionInPostgres(config.cluster.postgresUrl, config.devices);
  else {
    const registry = createSqliteRegistry({ path: join(dataDir, 'registry.db') });
    for (const range of config.devices) {
      for (let i = range.from; i < range.from + range.count; i++) {
        const id = deviceId(range.prefix, i);
        await registry.create({ id, name: id, tokenHash: hashToken(deviceToken(id)), transport: 'ws' });
      }
    }
    await registry.close();
  }

  let seedMs: number | undefined;
  if (config.seed) {
    if (config.mode !== 'embedded') throw new Error('seed: embedded store only');
    const started = performance.now();
    const { deviceId: id, channel, points, startTime } = config.seed;
    const store = createSqliteStore({ path: join(dataDir, 'readings.db') });
    for (let first = 0; first < points; first += 50_000) {
      const batch: Reading[] = [];
      for (let i = first; i < Math.min(points, first + 50_000); i++) batch.push({ deviceId: id, channel, time: startTime + i * 1000, value: 20 + 5 * Math.sin(i / 3600) });
      await store.write(batch);
    }
    await store.close();
    seedMs = performance.now() - started;
  }

  const options: Partial<HubOptions> = {
    port: 0,
    host: '127.0.0.1',
    dataDir,
    adminToken: BENCH_ADMIN_TOKEN,
    // The per-device budgets are policy, not cost: closed-loop devices would be throttled by them
    // long before the hub runs out of CPU. Their check still runs on every frame.
    ...(config.defaultBudgets ? {} : {
      maxFramesPerSecond: 10_000_000,
      maxReadingsPerSecond: 1_000_000_000,
      maxBytesPerSecond: 1_000_000_000_000,
    }),
    ...(config.cluster ? { cluster: config.cluster, maxConnectionsPerIp: 1_000_000, maxHttpConnectionsPerIp: 1_000_000 } : {}),
    ...(config.batchSize ? { batchSize: config.batchSize } : {}),
    ...(config.writesInFlight ? { storeWritesInFlight: config.writesInFlight } : {}),
    ...(config.flushIntervalMs ? { flushIntervalMs: config.flushIntervalMs } : {}),
  };
  const counting = config.mode === 'decode-only' ? createCountingStore() : null;
  const hub = await startHub({
    ...options,
    influxUrl: config.mode === 'influx' || config.cluster ? config.influxUrl : undefined,
    log,
    ...(counting ? { store: counting } : {}),
  });

  let stopping: Promise<void> | null = null;
  const stop = () =>
    (stopping ??= hub
      .close()
      .catch((err) => log.error({ err }, 'hub did not stop cleanly'))
      .finally(() => rmSync(dataDir, { recursive: true, force: true })));
  // SIGTERM from the bench: close cleanly, so a --cpu-prof profile is written on the way out.
  process.once('SIGTERM', () => void stop().finally(() => process.exit(0)));
  process.once('SIGINT', () => void stop().finally(() => process.exit(0)));

  serveRpc({
    stats(params: { gc?: boolean }): HubStats {
      const gc = (globalThis as { gc?: () => void }).gc;
      if (params.gc && gc) {
        gc();
        gc();
      }
      const m = process.memoryUsage();
      const cpu = process.cpuUsage();
      return {
        rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers,
        cpuUserMs: cpu.user / 1000, cpuSystemMs: cpu.system / 1000,
        counted: counting?.readings,
      };
    },
  });
  announce({ url: hub.url, adminToken: BENCH_ADMIN_TOKEN, pid: process.pid, dataDir, seedMs } satisfies HubReady);
} catch (err) {
  rmSync(dataDir, { recursive: true, force: true });
  failStart(err);
}

/** The schema first (as a hub would at start), then every device in one statement per 1,000. */
async function provisionInPostgres(url: string, ranges: DeviceRange[]): Promise<void> {
  const sql = connectPostgres(url, { max: 1, applicationName: 'telemetry-hub bench' });
  try {
    await migrate(sql);
    const ids = ranges.flatMap((r) => Array.from({ length: r.count }, (_, i) => deviceId(r.prefix, r.from + i)));
    const now = String(Date.now());
    for (let i = 0; i < ids.length; i += 1000) {
      const batch = ids.slice(i, i + 1000);
      await sql`
        INSERT INTO devices (id, name, token_hash, transport, created_at)
        SELECT id, id, token_hash, 'ws', ${now}::bigint FROM unnest(${batch}::text[], ${batch.map((id) => hashToken(deviceToken(id)))}::text[]) AS t(id, token_hash)
        ON CONFLICT DO NOTHING`;
    }
  } finally {
    await sql.end({ timeout: 5 });
  }
}
