// The one place that picks the reading store from the configuration and says how to check it:
// the embedded store by default, InfluxDB behind the outage spool when INFLUX_URL is set, or a
// store the caller injects (benchmarks use a counting sink).
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { HubOptions } from '../config.ts';
import type { Metrics } from '../metrics.ts';
import { dataDirError } from '../start-error.ts';
import type { ReadingStore } from './store.ts';
import { createThreadedSqliteStore } from './threaded-sqlite-store.ts';

export interface StoreHealth {
  status: 'ok' | 'degraded' | 'down';
  store: { kind: string; reachable: boolean };
  spool?: { bytes: number; readings: number; dropped: number };
}

export interface OpenedStore {
  store: ReadingStore;
  health(): Promise<StoreHealth>;
}

const reachable = (store: { ping(): Promise<void> }) => store.ping().then(() => true, () => false);

export async function openStore(
  options: Pick<HubOptions, 'dataDir' | 'influxUrl' | 'influxRetention' | 'spoolMaxBytes'> & Partial<Pick<HubOptions, 'tierRetention' | 'queryMaxScan'>>,
  parts: { log: Logger; metrics: Metrics; injected?: ReadingStore },
): Promise<OpenedStore> {
  const { log, metrics, injected } = parts;
  if (injected) {
    return {
      store: injected,
      async health() {
        const up = await reachable(injected);
        return { status: up ? 'ok' : 'down', store: { kind: 'custom', reachable: up } };
      },
    };
  }
  if (options.influxUrl) {
    // Loaded only when configured: the embedded default does not pay for the InfluxDB client.
    const { createInfluxStore } = await import('./influx-store.ts');
    const { createSpoolingStore } = await import('./spool.ts');
    const influx = createInfluxStore({ url: options.influxUrl, retention: options.influxRetention, tierRetention: options.tierRetention });
    // Create the database and retention policy now; if InfluxDB is down the hub starts anyway,
    // spools, and the store creates them on its first successful request.
    await influx.open().catch((err) => log.warn({ err: (err as Error).message }, 'InfluxDB not reachable at start; spooling until it is'));
    const spoolDir = join(options.dataDir, 'spool');
    let spooled: ReturnType<typeof createSpoolingStore>;
    try {
      spooled = createSpoolingStore({
        primary: influx,
        dir: spoolDir,
        maxBytes: options.spoolMaxBytes,
        // Replayed readings are late for the continuous queries, so each replayed write also
        // computes its span of the history tiers (influx-rollups.ts), ~100 ms a write on a busy
        // 2-core machine: in 5,000-reading writes a replay ran at 25-30k readings/s, in 20,000 at 90-100k.
        replayChunk: 20_000,
        onDrop: (count, reason) => {
          metrics.spoolDropped.inc(count);
          log.error({ dropped: count, reason }, reason === 'full' ? 'outage spool full: readings refused' : 'InfluxDB refused spooled readings: dropped');
        },
      });
    } catch (err) {
      throw dataDirError(options.dataDir, spoolDir, err, 'directory');
    }
    metrics.beforeScrape.push(() => metrics.spoolBytes.set(spooled.spoolBytes));
    return {
      store: spooled,
      async health() {
        const up = await reachable(influx);
        const spool = { bytes: spooled.spoolBytes, readings: spooled.spooledReadings, dropped: spooled.droppedReadings };
        return { status: up && spool.bytes === 0 ? 'ok' : 'degraded', store: { kind: 'influxdb', reachable: up }, spool };
      },
    };
  }
  const path = join(options.dataDir, 'readings.db');
  const sqlite = createThreadedSqliteStore({ path, tierRetention: options.tierRetention, maxScan: options.queryMaxScan });
  // Opened now, so a database that cannot be opened stops the start rather than failing every
  // write and query later (503).
  await sqlite.open().catch((err: unknown) => {
    throw dataDirError(options.dataDir, path, err);
  });
  return {
    store: sqlite,
    async health() {
      const up = await reachable(sqlite);
      return { status: up ? 'ok' : 'down', store: { kind: 'embedded', reachable: up } };
    },
  };
}
