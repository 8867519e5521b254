// Cluster mode on one machine: what it costs and how it fails over, not how it scales (2 cores
// cannot show that). A private PostgreSQL, a nats-server and HAProxy, beside the bench's influxd.
//
//   ingest    one cluster-mode hub against one single-node hub, both on InfluxDB, the same
//             closed-loop load (scenario-ingest.ts), one after the other
//   live      two cluster hubs A and B; devices on A stream open loop; one /ws/live client on A and
//             one on B time device → dashboard at once (on every hub live updates go through NATS)
//   commands  a device on A answers every command at once; commands are POSTed in turn to A and to
//             B and timed until a /ws/live client on the hub that took the POST sees the result,
//             which the hub publishes after recording it in PostgreSQL
//   failover  a fleet streams through HAProxy to A and B; A gets SIGKILL; the time until every
//             device has had a frame made after the kill acknowledged
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import WebSocket from 'ws';
import { startHaproxy, type Haproxy } from '../hub/test/support/haproxy.ts';
import { startNats, type NatsCluster } from '../hub/test/support/nats.ts';
import { PG_BIN, startPostgres, type Postgres } from '../hub/test/support/postgres.ts';
import { BENCH_ADMIN_TOKEN, type DeviceRange } from './bench-devices.ts';
import { startChild, type Child } from './children.ts';
import { hubCounters } from './hub-api.ts';
import type { LoadStopResult } from './load-child.ts';
import { foreignCpuDuring } from './machine-load.ts';
import { runIngest, type IngestResult } from './scenario-ingest.ts';
import { sourceAddresses, splitRange, startHubChild, startLoadChildren, stopAll, type BenchContext, type RunningHub } from './scenario-support.ts';
import type { SoakChildConfig } from './soak-child.ts';
import { distribution, preciseNow, sleep, type Distribution } from './stats.ts';

export const CLUSTER_ROW_KEYS = [
  'cluster.ingest.single', 'cluster.ingest.cluster',
  'cluster.live.same', 'cluster.live.cross',
  'cluster.command.same', 'cluster.command.cross',
  'cluster.failover',
] as const;

/** failover devices per soak-child process */
const FAILOVER_DEVICES_PER_PROC = 1000;
/** samples per failover frame (one channel), and frames per second per failover device */
const FAILOVER_SAMPLES = 4;
export const FAILOVER_RATE = 4;
/** devices the timed commands go to, in turn */
const COMMAND_DEVICES = 10;
/** how long the scenario waits for every device to stream again before it reports the rest as not recovered */
const FAILOVER_GIVE_UP_MS = 60_000;
/** file descriptors per failover device in the busiest process (HAProxy: one each side) */
const FDS_PER_DEVICE = 2;

function installed(binary: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${binary}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The programs the scenario needs beside influxd that are not installed. */
export function clusterPartsMissing(): string[] {
  return ['nats-server', 'haproxy', join(PG_BIN, 'initdb')].filter((b) => !(b.startsWith('/') ? installedPath(b) : installed(b)));
}

/** Why the scenario cannot run here, or null. */
export function clusterSkipReason(ctx: Pick<BenchContext, 'influxUrl' | 'influxSkip'>): string | null {
  const missing = clusterPartsMissing();
  if (missing.length) return `not installed: ${missing.join(', ')}`;
  if (!ctx.influxUrl) return `needs InfluxDB: ${ctx.influxSkip ?? 'not started'}`;
  return null;
}

function installedPath(path: string): boolean {
  try {
    execFileSync('test', ['-x', path]);
    return true;
  } catch {
    return false;
  }
}

/** The failover fleet that fits this process's file descriptor limit (HAProxy holds two per device). */
export function failoverDevicesThatFit(requested: number): { devices: number; fdLimit: number } {
  let fdLimit = Infinity;
  try {
    fdLimit = Number(execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim()) || Infinity;
  } catch {
    // unknown: take the request
  }
  return { devices: Math.max(1, Math.min(requested, Math.floor((fdLimit - 500) / FDS_PER_DEVICE))), fdLimit };
}

export interface ClusterResult {
  single: IngestResult;
  cluster: IngestResult;
  live: {
    devices: number;
    framesPerSecond: number;
    readingsPerSecond: number;
    same: Distribution;
    cross: Distribution;
    sameDropped: number;
    crossDropped: number;
    hubCpuA: number;
    hubCpuB: number;
    foreignCpu: number;
    ack: Distribution;
  };
  commands: { same: Distribution; cross: Distribution };
  failover: {
    devices: number;
    requested: number;
    fdLimit: number;
    /** devices on the killed hub just before the kill (its connected gauge) */
    onVictim: number;
    /** devices whose connection ended after the kill */
    dropped: number;
    /** kill → every device streaming again, ms (NaN: some never did within the wait) */
    allMs: number;
    /** kill → streaming again, of the devices that dropped */
    droppedMs: Distribution;
    /** kill → HELLO answered on a new connection, of the devices that dropped */
    resumedMs: Distribution;
    notRecovered: number;
    /** devices connected to the surviving hub at the end */
    survivorConnected: number;
  };
}

function hubPort(hub: RunningHub): number {
  return Number(new URL(hub.url).port);
}

const hubCpu = async (hub: RunningHub, window: () => Promise<void>): Promise<number> => {
  const a = await hub.stats();
  const t0 = performance.now();
  await window();
  const b = await hub.stats();
  return (b.cpuUserMs + b.cpuSystemMs - a.cpuUserMs - a.cpuSystemMs) / (performance.now() - t0);
};

/** A /ws/live client in this process that notes when each command result event arrives. */
async function commandWatcher(hubUrl: string, deviceIds: string[]): Promise<{ waitFor(id: number): Promise<number>; close(): void }> {
  const seen = new Map<number, number>();
  const waiters = new Map<number, (at: number) => void>();
  const ws = new WebSocket(`${hubUrl.replace(/^http/, 'ws')}/ws/live`, { headers: { authorization: `Bearer ${BENCH_ADMIN_TOKEN}` }, perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    ws.once('error', reject);
    ws.once('open', () => ws.send(JSON.stringify({ type: 'subscribe', devices: deviceIds })));
    ws.on('message', (data: Buffer) => {
      const at = preciseNow();
      const m = JSON.parse(data.toString()) as { type: string; command?: { id: number; status: string } };
      if (m.type === 'subscribed') return resolve();
      if (m.type !== 'command' || !m.command || m.command.status !== 'succeeded') return;
      const wake = waiters.get(m.command.id);
      if (wake) {
        waiters.delete(m.command.id);
        wake(at);
      } else seen.set(m.command.id, at);
    });
  });
  return {
    waitFor(id) {
      const at = seen.get(id);
      if (at !== undefined) {
        seen.delete(id);
        return Promise.resolve(at);
      }
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(id);
          reject(new Error(`no result event for command ${id} on ${hubUrl} within 30 s`));
        }, 30_000);
        waiters.set(id, (t) => {
          clearTimeout(timer);
          resolve(t);
        });
      });
    },
    close: () => ws.terminate(),
  };
}

async function timeCommand(postTo: string, watcher: Awaited<ReturnType<typeof commandWatcher>>, deviceId: string): Promise<number> {
  const started = preciseNow();
  const res = await fetch(`${postTo}/api/devices/${encodeURIComponent(deviceId)}/commands`, {
    method: 'POST',
    headers: { authorization: `Bearer ${BENCH_ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'ping', args: {} }),
  });
  const body = await res.text();
  if (res.status !== 201 && res.status !== 200 && res.status !== 202) throw new Error(`POST command to ${postTo}: HTTP ${res.status} ${body.slice(0, 200)}`);
  const { id } = JSON.parse(body) as { id: number };
  return (await watcher.waitFor(id)) - started;
}

export async function runCluster(ctx: BenchContext): Promise<ClusterResult> {
  const { options, log } = ctx;
  let pg: Postgres | null = null;
  let nats: NatsCluster | null = null;
  let proxy: Haproxy | null = null;
  const children: (Child | RunningHub | null)[] = [];
  const watchers: { close(): void }[] = [];
  try {
    log('cluster: starting PostgreSQL and nats-server');
    [pg, nats] = await Promise.all([startPostgres(), startNats(1)]);
    const natsServers = [nats.urls];

    // — ingest: single node, then cluster mode, at the same closed-loop load —
    log('cluster: ingest, single-node hub on InfluxDB');
    const single = await runIngest(ctx, 'influx', { label: 'cluster-single' });
    log('cluster: ingest, cluster-mode hub on InfluxDB');
    const clustered = await runIngest(ctx, 'influx', {
      label: 'cluster-ingest',
      cluster: { natsServers, postgresUrl: await pg.database('bench_ingest'), hubId: 'bench-ingest' },
    });

    // — two hubs —
    const postgresUrl = await pg.database('bench_cluster');
    const influxUrl = `${ctx.influxUrl}/bench_cluster_${Date.now()}`;
    const liveRange: DeviceRange = { prefix: 'cl-', from: 0, count: options.devices };
    const fit = failoverDevicesThatFit(options.failoverDevices);
    const failoverRange: DeviceRange = { prefix: 'fo-', from: 0, count: fit.devices };
    log(`cluster: two hubs (${options.devices} + ${fit.devices} devices provisioned in PostgreSQL)`);
    // B provisions nothing: the registry is shared
    const [hubA, hubB] = await Promise.all([
      startHubChild(ctx, 'cluster-a', { mode: 'influx', influxUrl, devices: [liveRange, failoverRange], cluster: { natsServers, postgresUrl, hubId: 'bench-a' } }),
      startHubChild(ctx, 'cluster-b', { mode: 'influx', influxUrl, devices: [], cluster: { natsServers, postgresUrl, hubId: 'bench-b' } }),
    ]);
    children.push(hubA, hubB);

    // — live —
    const framesPerSecond = options.clusterRate;
    log(`cluster: live, ${options.devices} devices on hub A at ${framesPerSecond} frames/s; /ws/live on A and on B`);
    const [liveSame, liveCross, started] = await Promise.all([
      startChild('cluster-live-a', 'live-child.ts', { logDir: ctx.logDir }).then((c) => c.child),
      startChild('cluster-live-b', 'live-child.ts', { logDir: ctx.logDir }).then((c) => c.child),
      startLoadChildren(ctx, 'cluster-live', hubA.url, liveRange, options.loadProcs),
    ]);
    children.push(liveSame, liveCross);
    const loads = started.children;
    children.push(...loads);
    const connected = await Promise.all(loads.map((c) => c.call<{ failed: number; firstError?: string }>('connect', { concurrency: 100 })));
    if (connected.some((c) => c.failed)) throw new Error(`live devices did not connect: ${connected.find((c) => c.firstError)?.firstError}`);
    await liveSame.call('connect', { hubUrl: hubA.url, token: BENCH_ADMIN_TOKEN });
    await liveCross.call('connect', { hubUrl: hubB.url, token: BENCH_ADMIN_TOKEN });
    await Promise.all(loads.map((c) => c.call('openLoop', { framesPerSecond: framesPerSecond / loads.length })));
    await sleep(options.warmSeconds * 1000);
    await Promise.all([liveSame.call('record', { on: true }), liveCross.call('record', { on: true }), ...loads.map((c) => c.call('record', { on: true }))]);
    let foreignCpu = 0;
    let hubCpuB = 0;
    const hubCpuA = await hubCpu(hubA, async () => {
      hubCpuB = await hubCpu(hubB, async () => {
        foreignCpu = await foreignCpuDuring(() => sleep(options.seconds * 1000));
      });
    });
    await Promise.all([liveSame.call('record', { on: false }), liveCross.call('record', { on: false })]);
    const stops = await Promise.all(loads.map((c) => c.call<LoadStopResult>('stop', { drainMs: 30_000 })));
    const same = await liveSame.call<{ latency: Distribution; dropped: number }>('result');
    const cross = await liveCross.call<{ latency: Distribution; dropped: number }>('result');
    await stopAll([liveSame, liveCross]);

    // — commands: the live devices are still connected to hub A, idle now —
    // Spread over several devices: a hub counts a command it took as open (against the 100 per
    // device) until it sees it finish itself, which one answered through another hub may never show it.
    const targets = Array.from({ length: Math.min(COMMAND_DEVICES, options.devices) }, (_, i) => `${liveRange.prefix}${i}`);
    log(`cluster: ${options.clusterCommands} commands to ${targets.length} devices on hub A, POSTed to A and to B in turn`);
    const watchA = await commandWatcher(hubA.url, targets);
    watchers.push(watchA);
    const watchB = await commandWatcher(hubB.url, targets);
    watchers.push(watchB);
    // warm-up: connections, prepared statements, NATS subscriptions
    for (let i = 0; i < 10; i++) await timeCommand(i % 2 ? hubB.url : hubA.url, i % 2 ? watchB : watchA, targets[(i >> 1) % targets.length]);
    const sameMs: number[] = [];
    const crossMs: number[] = [];
    for (let i = 0; i < options.clusterCommands; i++) {
      const target = targets[(i >> 1) % targets.length];
      if (i % 2) crossMs.push(await timeCommand(hubB.url, watchB, target));
      else sameMs.push(await timeCommand(hubA.url, watchA, target));
    }
    watchA.close();
    watchB.close();
    await stopAll(loads);

    // — failover —
    log(`cluster: failover, ${fit.devices} devices through HAProxy on hubs A and B${fit.devices < options.failoverDevices ? ` (of ${options.failoverDevices} asked: file descriptor limit ${fit.fdLimit})` : ''}`);
    proxy = await startHaproxy([{ name: 'bench-a', port: hubPort(hubA) }, { name: 'bench-b', port: hubPort(hubB) }]);
    const deadline = Date.now() + 20_000;
    while (!(await fetch(`${proxy.url}/healthz`).then((r) => r.status === 200, () => false))) {
      if (Date.now() > deadline) throw new Error(`HAProxy passed no request within 20 s:\n${proxy.output()}`);
      await sleep(100);
    }
    const procs = Math.max(1, Math.ceil(fit.devices / FAILOVER_DEVICES_PER_PROC));
    const fleet = await Promise.all(splitRange(failoverRange, procs).map(async (range, i) => {
      const { child } = await startChild(`cluster-failover-${i}`, 'soak-child.ts', {
        config: { hubUrl: proxy!.url, range, samplesPerFrame: FAILOVER_SAMPLES, sourceAddresses: sourceAddresses(range.count) } satisfies SoakChildConfig,
        logDir: ctx.logDir,
      });
      children.push(child);
      return child;
    }));
    const online = await Promise.all(fleet.map((c) => c.call<{ failed: number }>('connect', { concurrency: 100, timeoutMs: 60_000 })));
    const offline = online.reduce((n, o) => n + o.failed, 0);
    if (offline) throw new Error(`${offline} failover devices did not connect through HAProxy`);
    await Promise.all(fleet.map((c) => c.call('start', { framesPerSecond: FAILOVER_RATE, reconnectEveryMs: 0, outageMs: 0 })));
    await sleep(Math.max(1000, options.warmSeconds * 1000));
    const onVictim = (await hubCounters(hubA.url)).connected;
    await Promise.all(fleet.map((c) => c.call('watch')));
    const killedAt = Date.now();
    hubA.child.proc.kill('SIGKILL');
    type Recovery = { at: number | null; resumedAt: number | null; dropped: boolean; online: boolean }[];
    let recovery: Recovery = [];
    const giveUp = Date.now() + FAILOVER_GIVE_UP_MS;
    for (;;) {
      recovery = (await Promise.all(fleet.map((c) => c.call<Recovery>('recovery')))).flat();
      if (recovery.every((r) => r.at !== null) || Date.now() > giveUp) break;
      await sleep(100);
    }
    const notRecovered = recovery.filter((r) => r.at === null).length;
    const survivorConnected = (await hubCounters(hubB.url)).connected;
    await stopAll(fleet);
    return {
      single,
      cluster: clustered,
      live: {
        devices: options.devices, framesPerSecond, readingsPerSecond: framesPerSecond * started.ready[0].samplesPerFrame,
        same: same.latency, cross: cross.latency, sameDropped: same.dropped, crossDropped: cross.dropped,
        hubCpuA, hubCpuB, foreignCpu, ack: distribution(stops.flatMap((s) => s.ackLatencies)),
      },
      commands: { same: distribution(sameMs), cross: distribution(crossMs) },
      failover: {
        devices: fit.devices, requested: options.failoverDevices, fdLimit: fit.fdLimit, onVictim,
        dropped: recovery.filter((r) => r.dropped).length,
        allMs: notRecovered ? NaN : Math.max(...recovery.map((r) => r.at! - killedAt)),
        droppedMs: distribution(recovery.filter((r) => r.dropped && r.at !== null).map((r) => r.at! - killedAt)),
        resumedMs: distribution(recovery.filter((r) => r.dropped && r.resumedAt !== null).map((r) => r.resumedAt! - killedAt)),
        notRecovered,
        survivorConnected,
      },
    };
  } finally {
    for (const w of watchers) w.close();
    await stopAll(children);
    await proxy?.stop();
    await nats?.stop();
    await pg?.stop();
  }
}
