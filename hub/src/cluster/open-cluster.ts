// Cluster mode's parts: the registry, command log, alerts and dashboard sessions in PostgreSQL, the live
// bus on NATS, presence in both. startHub takes them in place of the single-node defaults.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { AlertStore } from '../alerts/alert-store.ts';
import { createPgAlertStore } from '../alerts/pg-alert-store.ts';
import type { SessionStore } from '../auth/session-store.ts';
import { createPgSessionStore } from '../auth/pg-session-store.ts';
import type { CommandLog } from '../commands/command-log.ts';
import { createPgCommandLog } from '../commands/pg-command-log.ts';
import type { HubOptions } from '../config.ts';
import { createNatsLiveBus } from '../live/nats-live-bus.ts';
import type { LiveBus } from '../live/live-bus.ts';
import type { Metrics } from '../metrics.ts';
import { createClusterPresence } from '../presence/cluster-presence.ts';
import type { Presence } from '../presence/presence.ts';
import type { DeviceRegistry } from '../registry/registry.ts';
import { createPgRegistry } from '../registry/pg-registry.ts';
import { StartError } from '../start-error.ts';
import { connectPostgres, migrate } from './postgres.ts';

export interface ClusterParts {
  registry: DeviceRegistry;
  commandLog: CommandLog;
  alertStore: AlertStore;
  sessions: SessionStore;
  live: LiveBus;
  presence: Presence;
  /** whether PostgreSQL and NATS answer right now, for /healthz */
  health(): Promise<{ postgres: boolean; nats: boolean }>;
  close(): Promise<void>;
}

const message = (err: unknown) => (err as Error)?.message ?? String(err);

export async function openCluster(
  cluster: NonNullable<HubOptions['cluster']>,
  parts: { log: Logger; metrics: Metrics; maxSessions: number },
): Promise<ClusterParts> {
  const { log, metrics } = parts;
  const sql = connectPostgres(cluster.postgresUrl, { applicationName: `telemetry-hub ${cluster.hubId}` });
  try {
    // several hubs starting at once bring the schema up to date once (migrate takes a lock)
    await migrate(sql);
  } catch (err) {
    await sql.end({ timeout: 1 }).catch(() => undefined);
    throw new StartError(`cannot use PostgreSQL at HUB_POSTGRES_URL: ${message(err)}`);
  }
  let nc: NatsConnection;
  try {
    // once connected, the client reconnects by itself for as long as the hub runs
    nc = await connect({ servers: cluster.natsServers, name: cluster.hubId, maxReconnectAttempts: -1, reconnectTimeWait: 250, pingInterval: 5000 });
  } catch (err) {
    await sql.end({ timeout: 1 }).catch(() => undefined);
    throw new StartError(`cannot reach NATS at HUB_NATS_URL: ${message(err)}`);
  }
  let natsUp = true;
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type !== 'disconnect' && status.type !== 'reconnect') continue;
      natsUp = status.type === 'reconnect';
      log.warn({ nats: status.type }, natsUp ? 'NATS connection back' : 'NATS connection lost; reconnecting');
    }
  })().catch(() => undefined);

  const live = createNatsLiveBus(nc, { hubId: cluster.hubId, log });
  const presence = await createClusterPresence({ sql, nc, hubId: cluster.hubId, live, onlineGauge: metrics.devicesConnected, log });
  return {
    registry: createPgRegistry(sql),
    commandLog: createPgCommandLog(sql),
    alertStore: createPgAlertStore(sql),
    sessions: createPgSessionStore(sql, { maxSessions: parts.maxSessions }),
    live,
    presence,
    async health() {
      const postgres = await Promise.race([
        sql`SELECT 1`.then(() => true, () => false),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 2000).unref()),
      ]);
      return { postgres, nats: natsUp && !nc.isClosed() };
    },
    async close() {
      await presence.close();
      await live.close();
      await nc.drain().catch(() => undefined);
      await sql.end({ timeout: 5 }).catch(() => undefined);
    },
  };
}
