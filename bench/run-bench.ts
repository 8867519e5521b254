// Runs the selected scenarios in order and turns their figures into report rows. One scenario's
// failure becomes an error row; the others still run. Every process started here is stopped here.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { MAX_CHANNELS } from '../hub/src/protocol/index.ts';
import { startInfluxd, type Influxd } from '../hub/test/support/influxd.ts';
import type { BenchOptions, Scenario } from './bench-options.ts';
import { stopAllChildren } from './children.ts';
import { errorRow, latencyText, latencyValues, ms, percent, si, skippedRow, type Report, type Row } from './report.ts';
import { closeDashboardBrowser, DASHBOARD_ROW_KEYS, dashboardRows } from './scenario-dashboard.ts';
import { runHistory } from './scenario-history.ts';
import type { IngestResult } from './scenario-ingest.ts';
import { CHURN_PER_SECOND, FAT_SAMPLES, HISTORY_CONCURRENCY, ISOLATION_ABUSERS, runIsolation, type IsolationPhase, type IsolationResult } from './scenario-isolation.ts';
import { CLUSTER_ROW_KEYS, clusterSkipReason, FAILOVER_RATE, runCluster, type ClusterResult } from './scenario-cluster.ts';
import { runAlerts, type AlertsResult } from './scenario-alerts.ts';
import { ROLLUP_ROW_KEYS, rollupRows } from './scenario-rollups.ts';
import type { BenchContext } from './scenario-support.ts';
import { loadAverage } from './machine-load.ts';
import { ceilingRows, ingestRows, latencyRows, memoryRows, newThroughputState, throughputRowKeys } from './throughput-rows.ts';

/** Targets of the other scenarios; those of ceilings, ingest, latency and memory are in throughput-rows.ts. */
export const TARGETS = {
  historyMs: 50,
  /** good devices' ACK p99 beside an abuser, over their p99 alone */
  isolationP99Ratio: 2,
  /** a cluster-mode hub's ingest over a single-node hub's, both on InfluxDB */
  clusterIngestRatio: 0.8,
  /** kill -9 of one hub → every device streaming again */
  failoverMs: 10_000,
  /** ingest with one alert rule per device over ingest without rules */
  alertsRatio: 0.9,
};

function shell(command: string): string {
  try {
    return execFileSync('sh', ['-c', command], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

export function machineFacts(): Report['machine'] {
  const cpuinfo = (() => {
    try {
      return readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      return '';
    }
  })();
  return {
    nproc: Number(shell('nproc')) || cpus().length,
    cpu: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? cpus()[0]?.model ?? 'unknown',
    memory: `${(totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    node: process.version,
    fdLimit: shell('ulimit -n'),
    loadAverageAtStart: loadAverage(),
    influxd: shell('influxd version') || 'not installed',
  };
}

/** Rows the report has for these options, in order: the smoke test checks that each is there. */
export function expectedRowKeys(options: BenchOptions): string[] {
  const keys: string[] = [];
  const has = (s: Scenario) => options.scenarios.includes(s);
  keys.push(...throughputRowKeys(options));
  if (has('history')) keys.push('history.embedded', 'history.influx');
  if (has('isolation')) keys.push('isolation.alone', ...ISOLATION_ABUSERS.map((a) => `isolation.${a}`));
  if (has('cluster')) keys.push(...CLUSTER_ROW_KEYS);
  if (has('dashboard')) keys.push(...DASHBOARD_ROW_KEYS);
  if (has('alerts')) keys.push('alerts.none', 'alerts.rules');
  if (has('rollups')) keys.push(...ROLLUP_ROW_KEYS);
  return keys;
}

/** A warning when other processes took CPU during a window (more than a tenth of a core). */
function busy(foreignCpu: number, separator = '; '): string {
  return foreignCpu > 0.1 ? `OTHER PROCESSES USED ${foreignCpu.toFixed(1)} CORES${separator}` : '';
}

function influxdInstalled(): boolean {
  return shell('command -v influxd') !== '';
}

/** influxd and the children of a run in progress, for Ctrl-C. */
let activeInfluxd: Influxd | null = null;

export async function abortBench(): Promise<void> {
  const influxd = activeInfluxd;
  activeInfluxd = null;
  await Promise.all([stopAllChildren(2000), influxd?.stop().catch(() => undefined), closeDashboardBrowser()]);
}

export async function runBench(options: BenchOptions, log: (line: string) => void = () => undefined): Promise<Report> {
  const startedAt = new Date().toISOString();
  // before anything runs: the load the run started in, not the one it left
  const machine = machineFacts();
  const runDir = options.resultsDir;
  const ctx: BenchContext = {
    options,
    logDir: join(runDir, 'logs'),
    profileDir: join(runDir, 'profiles'),
    influxUrl: null,
    influxSkip: null,
    log,
  };
  mkdirSync(ctx.logDir, { recursive: true });
  if (options.profile) mkdirSync(ctx.profileDir, { recursive: true });
  const rows: Row[] = [];
  const has = (s: Scenario) => options.scenarios.includes(s);
  const needsInflux = has('ceilings') || has('ingest') || has('history') || has('cluster') || has('rollups');

  try {
    if (needsInflux) {
      if (!options.influx) ctx.influxSkip = 'disabled (--no-influx)';
      else if (!influxdInstalled()) ctx.influxSkip = 'influxd not installed';
      else {
        log('starting a private influxd');
        try {
          activeInfluxd = await startInfluxd();
          ctx.influxUrl = activeInfluxd.url;
        } catch (err) {
          ctx.influxSkip = `influxd did not start: ${(err as Error).message.split('\n')[0]}`;
        }
      }
    }

    // — ceilings, ingest, latency, memory —
    const throughput = newThroughputState();
    if (has('ceilings') || has('ingest')) rows.push(...(await ceilingRows(ctx, throughput)));
    if (has('ingest')) rows.push(...(await ingestRows(ctx, throughput)));
    if (has('latency')) rows.push(...(await latencyRows(ctx, throughput)));
    if (has('memory')) rows.push(...(await memoryRows(ctx)));

    // — history —
    if (has('history')) {
      const scenario = 'history query';
      const target = `≤ ${TARGETS.historyMs} ms`;
      for (const mode of ['embedded', 'influx'] as const) {
        const key = `history.${mode}`;
        const measure = `${si(options.historyPoints)} pts @ 1 Hz, every=1m mean, ${mode === 'embedded' ? 'embedded' : 'InfluxDB'}`;
        if (mode === 'influx' && !ctx.influxUrl) {
          rows.push(skippedRow(key, scenario, measure, ctx.influxSkip!, target));
          continue;
        }
        log(`history: ${mode}`);
        try {
          const r = await runHistory(ctx, mode);
          rows.push({
            key, scenario, measure,
            values: { medianMs: r.medianMs, minMs: r.minMs, maxMs: r.maxMs },
            result: `median ${ms(r.medianMs)} (min ${ms(r.minMs)}, max ${ms(r.maxMs)})`,
            target, met: r.medianMs <= TARGETS.historyMs,
            note: `${r.windows} windows, ${r.runs} runs over HTTP; upload took ${ms(r.uploadMs)}`,
          });
        } catch (err) {
          rows.push(errorRow(key, scenario, measure, err, target));
        }
      }
    }

    // — isolation —
    if (has('isolation')) {
      const scenario = 'isolation (open loop, embedded, default budgets)';
      log(`isolation: ${options.devices} devices at ${options.isolationRate} frames/s each, alone and beside ${ISOLATION_ABUSERS.length} abusers`);
      try {
        rows.push(...isolationRows(scenario, await runIsolation(ctx)));
      } catch (err) {
        for (const kind of ['alone', ...ISOLATION_ABUSERS]) rows.push(errorRow(`isolation.${kind}`, scenario, kind, err));
      }
    }

    // — cluster —
    if (has('cluster')) {
      const scenario = 'cluster (PostgreSQL + NATS + InfluxDB)';
      const skip = clusterSkipReason(ctx);
      if (skip) {
        log(`cluster: skipped: ${skip}`);
        for (const key of CLUSTER_ROW_KEYS) rows.push(skippedRow(key, scenario, CLUSTER_MEASURES[key], skip));
      } else {
        try {
          rows.push(...clusterRows(scenario, await runCluster(ctx)));
        } catch (err) {
          for (const key of CLUSTER_ROW_KEYS) rows.push(errorRow(key, scenario, CLUSTER_MEASURES[key], err));
        }
      }
    }

    // — dashboard —
    if (has('dashboard')) rows.push(...(await dashboardRows(ctx)));

    // — alerts —
    if (has('alerts')) {
      const scenario = 'alert rules (closed loop, embedded)';
      try {
        rows.push(...alertsRows(scenario, await runAlerts(ctx)));
      } catch (err) {
        rows.push(errorRow('alerts.none', scenario, ALERTS_MEASURES.none(options.alertDevices), err));
        rows.push(errorRow('alerts.rules', scenario, ALERTS_MEASURES.rules(options.alertDevices), err, ALERTS_TARGET));
      }
    }

    // — history tiers —
    if (has('rollups')) rows.push(...(await rollupRows(ctx)));
  } finally {
    const influxd = activeInfluxd;
    activeInfluxd = null;
    await stopAllChildren();
    await influxd?.stop();
  }

  return {
    startedAt,
    finishedAt: new Date().toISOString(),
    machine: { ...machine, loadAverageAtEnd: loadAverage() },
    options: { ...options, resultsDir: undefined },
    rows,
  };
}

function isolationRows(scenario: string, r: IsolationResult): Row[] {
  const n = (value: number) => (Math.abs(value) < 1e4 ? Math.round(value).toLocaleString('en-US') : si(value));
  const codes = (c: Record<string, number>) => Object.entries(c).map(([code, k]) => `${code} ×${k}`).join(', ') || 'none';
  const total = (f: (p: IsolationPhase) => number) => r.phases.reduce((sum, p) => sum + f(p), 0);
  const measures: Record<IsolationPhase['abuser'], string> = {
    'fat-frames': `… beside 1 device writing ${n(FAT_SAMPLES)}-sample frames flat out`,
    'channel-churn': `… beside 1 device reconnecting ${CHURN_PER_SECOND}/s with new channel names`,
    history: `… beside ${HISTORY_CONCURRENCY} clients looping 1-min means over ${si(r.seedPoints)} pts`,
    'stuck-live': '… beside a /ws/live client on * that never reads',
  };
  const abuserNote = (p: IsolationPhase): string => {
    const a = p.abuserStats;
    const c = a.counts;
    const cpu = `abuser CPU ${percent(p.beside.abuserCpu)}`;
    switch (a.kind) {
      case 'fat-frames':
        return `${cpu}; it wrote ${n(c.framesWritten ?? 0)} frames of ${n(c.frameBytes ?? 0)} bytes, ${n(c.readingsAcked ?? 0)} readings acked, ${n(c.connections ?? 0)} connection(s), closed by the hub: ${codes(a.closeCodes)}; hub budget pauses ${n(p.throttled)}`;
      case 'channel-churn':
        return `${cpu}; ${n(c.attempts ?? 0)} HELLOs of ${MAX_CHANNELS} new names, ${n(c.helloAccepted ?? 0)} admitted, refused: ${codes(a.closeCodes)}`;
      case 'history':
        return `${cpu}; ${n(a.queryMs?.count ?? 0)} queries (HTTP ${codes(a.statuses ?? {})}), ${n(c.windows ?? 0)} windows each, median ${ms(a.queryMs?.p50 ?? NaN)}, max ${ms(a.queryMs?.max ?? NaN)}; ${n(r.seedPoints)} pts preloaded into the store in ${ms(r.seedMs)}`;
      case 'stuck-live':
        return `${cpu}; ${n(c.clients ?? 0)} client(s); hub coalesced away ${n(p.liveDropped)} updates; live clients open at window end: ${p.liveClientsAtEnd}`;
      default:
        return '';
    }
  };
  const delivery = (sent: number, acked: number, pending: number, countedBack: number, drained: boolean, errors: number, closed: number, scope: string) => [
    `lost ${n(sent - acked - pending)} of ${n(sent)} readings ${scope}`,
    countedBack === acked ? `counted back ${n(countedBack)} = acked` : `COUNTED BACK ${countedBack}, acked ${acked}, pending ${pending}`,
    drained ? '' : 'NOT DRAINED',
    errors || closed ? `${errors} ERROR frames, ${closed} closed` : '',
  ].filter(Boolean).join(', ');

  const first = r.phases[0].alone;
  const rows: Row[] = [{
    key: 'isolation.alone', scenario,
    measure: `good devices → ACK, alone: ${r.devices} devices, ${si(r.framesPerSecond)} frames/s = ${si(r.readingsPerSecond)} readings/s`,
    values: {
      ...latencyValues(first.ack), hubCpu: first.hubCpu,
      sent: total((p) => p.sent), lost: total((p) => p.lost), countedBack: total((p) => p.countedBack),
    },
    result: latencyText(first.ack),
    note: [
      busy(first.foreignCpu, ''), `hub CPU ${percent(first.hubCpu)}`,
      `the alone windows around the abusers: p99 ${[...r.phases.map((p) => p.alone), r.finalAlone].map((w) => ms(w.ack.p99)).join(', ')}`,
      delivery(total((p) => p.sent), total((p) => p.acked), total((p) => p.pending), total((p) => p.countedBack), r.phases.every((p) => p.drained),
        total((p) => p.deviceErrors), Math.max(...r.phases.map((p) => p.closedConnections)), 'in the whole run'),
      `load avg ${first.loadAverage.toFixed(1)}`,
    ].filter(Boolean).join('; '),
  }];
  r.phases.forEach((p, i) => {
    // the baseline around the abuser: the alone windows just before and just after it
    const after = (r.phases[i + 1]?.alone ?? r.finalAlone).ack.p99;
    const baseline = (p.alone.ack.p99 + after) / 2;
    const ratio = p.beside.ack.p99 / baseline;
    rows.push({
      key: `isolation.${p.abuser}`, scenario, measure: measures[p.abuser],
      values: {
        ...latencyValues(p.beside.ack), p99Alone: p.alone.ack.p99, p99AloneAfter: after, p99Ratio: ratio, hubCpu: p.beside.hubCpu,
        sent: p.sent, lost: p.lost, countedBack: p.countedBack,
      },
      result: latencyText(p.beside.ack),
      reference: `alone before and after (p99 ${ms(p.alone.ack.p99)}, ${ms(after)})`,
      ratio, ratioStyle: 'times', target: `p99 ≤ ${TARGETS.isolationP99Ratio}× alone`,
      met: ratio <= TARGETS.isolationP99Ratio,
      note: [
        busy(Math.max(p.alone.foreignCpu, p.beside.foreignCpu), ''),
        `hub CPU ${percent(p.beside.hubCpu)} (alone ${percent(p.alone.hubCpu)})`,
        delivery(p.sent, p.acked, p.pending, p.countedBack, p.drained, p.deviceErrors, p.closedConnections, 'over both windows'),
        abuserNote(p),
        `load avg ${p.beside.loadAverage.toFixed(1)}`,
      ].filter(Boolean).join('; '),
    });
  });
  return rows;
}

const CLUSTER_MEASURES: Record<(typeof CLUSTER_ROW_KEYS)[number], string> = {
  'cluster.ingest.single': 'hub → InfluxDB, single node (reference)',
  'cluster.ingest.cluster': 'hub → InfluxDB in cluster mode, same load',
  'cluster.live.same': 'device on hub A → /ws/live on hub A',
  'cluster.live.cross': 'device on hub A → /ws/live on hub B',
  'cluster.command.same': 'command POSTed to hub A, device on A → result recorded',
  'cluster.command.cross': 'command POSTed to hub B, device on A → result recorded',
  'cluster.failover': 'kill -9 of 1 of 2 hubs behind HAProxy → every device streaming again',
};

function clusterRows(scenario: string, r: ClusterResult): Row[] {
  const seconds = (value: number) => (Number.isFinite(value) ? `${(value / 1000).toFixed(1)} s` : 'never');
  const ingestValues = (x: IngestResult) => ({ readingsPerSecond: x.readingsPerSecond, framesPerSecond: x.framesPerSecond, hubCpu: x.hubCpu });
  const ingestNote = (x: IngestResult, extra = '') => [
    `hub CPU ${percent(x.hubCpu)}, load gen ${percent(x.loadCpu)}`,
    x.countedBack === x.stored ? `counted back ${si(x.countedBack)} = stored` : `COUNT MISMATCH: stored ${x.stored}, counted back ${x.countedBack}`,
    x.deviceErrors || x.closedConnections ? `${x.deviceErrors} ERROR frames, ${x.closedConnections} closed` : '',
    x.foreignCpu > 0.1 ? `processes outside the bench's tree${extra} used ${x.foreignCpu.toFixed(1)} cores` : '',
  ].filter(Boolean).join('; ');
  const ingestRatio = r.cluster.readingsPerSecond / r.single.readingsPerSecond;
  const { live, commands, failover: f } = r;
  const at = `@ ${si(live.framesPerSecond)} frames/s (${si(live.readingsPerSecond)} readings/s, ${live.devices} devices)`;
  const liveRatio = live.cross.p99 / live.same.p99;
  const commandRatio = commands.cross.p99 / commands.same.p99;
  return [
    {
      key: 'cluster.ingest.single', scenario, measure: CLUSTER_MEASURES['cluster.ingest.single'],
      values: ingestValues(r.single), result: `${si(r.single.readingsPerSecond)} readings/s`, note: ingestNote(r.single),
    },
    {
      key: 'cluster.ingest.cluster', scenario, measure: CLUSTER_MEASURES['cluster.ingest.cluster'],
      values: { ...ingestValues(r.cluster), ratio: ingestRatio }, result: `${si(r.cluster.readingsPerSecond)} readings/s`,
      reference: 'single node', ratio: ingestRatio, target: `≥ ${percent(TARGETS.clusterIngestRatio)} of single node`,
      met: ingestRatio >= TARGETS.clusterIngestRatio, note: ingestNote(r.cluster, ' (PostgreSQL among them)'),
    },
    {
      key: 'cluster.live.same', scenario, measure: `${CLUSTER_MEASURES['cluster.live.same']} ${at}`,
      values: latencyValues(live.same), result: latencyText(live.same),
      note: [
        `both clients at once; on every hub live updates go through NATS`,
        `hub A CPU ${percent(live.hubCpuA)}, hub B ${percent(live.hubCpuB)}`,
        `device → ACK p99 ${ms(live.ack.p99)}`,
        live.sameDropped ? `${live.sameDropped} coalesced` : '',
        live.foreignCpu > 0.1 ? `processes outside the bench's tree (PostgreSQL among them) used ${live.foreignCpu.toFixed(1)} cores` : '',
      ].filter(Boolean).join('; '),
    },
    {
      key: 'cluster.live.cross', scenario, measure: `${CLUSTER_MEASURES['cluster.live.cross']} ${at}`,
      values: latencyValues(live.cross), result: latencyText(live.cross),
      reference: `same hub (p99 ${ms(live.same.p99)})`, ratio: liveRatio, ratioStyle: 'times',
      note: live.crossDropped ? `${live.crossDropped} coalesced` : undefined,
    },
    {
      key: 'cluster.command.same', scenario, measure: CLUSTER_MEASURES['cluster.command.same'],
      values: latencyValues(commands.same), result: latencyText(commands.same),
      note: `${commands.same.count} commands, one at a time; until the hub that took the POST publishes the result it recorded (seen on its /ws/live); the device answers at once`,
    },
    {
      key: 'cluster.command.cross', scenario, measure: CLUSTER_MEASURES['cluster.command.cross'],
      values: latencyValues(commands.cross), result: latencyText(commands.cross),
      reference: `same hub (p99 ${ms(commands.same.p99)})`, ratio: commandRatio, ratioStyle: 'times',
      note: `${commands.cross.count} commands; B records it, A sends it (hub.<id>.send on NATS), A records the result, B sees it on live.events`,
    },
    {
      key: 'cluster.failover', scenario, measure: `${CLUSTER_MEASURES['cluster.failover']} (${f.devices} devices)`,
      values: { devices: f.devices, dropped: f.dropped, allMs: f.allMs, droppedP50: f.droppedMs.p50, droppedP99: f.droppedMs.p99, resumedP50: f.resumedMs.p50, notRecovered: f.notRecovered },
      result: f.notRecovered ? `${f.notRecovered} of ${f.devices} devices not streaming after ${seconds(60_000)}` : `every device streaming again after ${seconds(f.allMs)}`,
      target: `≤ ${seconds(TARGETS.failoverMs)}`, met: f.notRecovered === 0 && f.allMs <= TARGETS.failoverMs,
      note: [
        f.devices < f.requested ? `${f.requested} asked, ${f.devices} fit the file descriptor limit ${f.fdLimit}` : '',
        `${f.onVictim} connected to the killed hub, ${f.dropped} connections ended`,
        f.droppedMs.count ? `those streamed again after p50 ${seconds(f.droppedMs.p50)} · p99 ${seconds(f.droppedMs.p99)} · max ${seconds(f.droppedMs.max)}` : '',
        f.resumedMs.count ? `their HELLO was answered on the new connection after p50 ${seconds(f.resumedMs.p50)} · max ${seconds(f.resumedMs.max)}` : '',
        `${FAILOVER_RATE} frames/s per device; "streaming again": a frame made after the kill acknowledged`,
        `survivor holds ${f.survivorConnected}`,
      ].filter(Boolean).join('; '),
    },
  ];
}

const ALERTS_MEASURES = {
  none: (devices: number) => `hub → embedded store, ${devices.toLocaleString('en-US')} devices, no rules`,
  rules: (devices: number) => `… the same with ${devices.toLocaleString('en-US')} rules, one per device`,
};
const ALERTS_TARGET = `≥ ${percent(TARGETS.alertsRatio)} of no rules`;

function alertsRows(scenario: string, r: AlertsResult): Row[] {
  const mean = (runs: readonly IngestResult[], f: (x: IngestResult) => number) => runs.reduce((sum, x) => sum + f(x), 0) / runs.length;
  const values = (runs: readonly IngestResult[]) => ({
    readingsPerSecond: mean(runs, (x) => x.readingsPerSecond), framesPerSecond: mean(runs, (x) => x.framesPerSecond), hubCpu: mean(runs, (x) => x.hubCpu),
  });
  // the hub's CPU per reading: what rules cost even while the store, not the hub, sets the pace
  const cpuPerMillion = (runs: readonly IngestResult[]) => mean(runs, (x) => x.hubCpu / (x.readingsPerSecond / 1e6));
  const note = (runs: readonly IngestResult[]) => [
    busy(Math.max(...runs.map((x) => x.foreignCpu)), ''),
    `runs ${runs.map((x) => si(x.readingsPerSecond)).join(' and ')} readings/s`,
    `hub CPU ${runs.map((x) => percent(x.hubCpu)).join(', ')} = ${cpuPerMillion(runs).toFixed(2)} core per 1M readings/s`,
    `store busy ${runs.map((x) => percent(x.storeBusy)).join(', ')}`,
    runs.every((x) => x.countedBack === x.stored && x.acked <= x.stored) ? 'counted back = stored' : `COUNT MISMATCH: ${runs.map((x) => `stored ${x.stored}, counted back ${x.countedBack}, acked ${x.acked}`).join('; ')}`,
    runs.every((x) => x.drained) ? '' : 'not all frames acked after stop',
    runs.some((x) => x.deviceErrors || x.closedConnections) ? `${runs.map((x) => `${x.deviceErrors} ERROR frames, ${x.closedConnections} closed`).join('; ')}` : '',
  ].filter(Boolean);
  const states = (counts: Record<string, number>) => Object.entries(counts).map(([state, n]) => `${n} ${state}`).join(', ') || 'none';
  const none = values(r.none);
  const rules = values(r.rules);
  const ratio = rules.readingsPerSecond / none.readingsPerSecond;
  const [first] = r.rules;
  const alertsRight = r.rules.every((x) => x.alerts.firing === x.crossedRules && Object.keys(x.alerts).length === 1);
  return [
    {
      key: 'alerts.none', scenario, measure: ALERTS_MEASURES.none(r.devices),
      values: none, result: `${si(none.readingsPerSecond)} readings/s (${si(none.framesPerSecond)} frames/s)`,
      note: note(r.none).join('; '),
    },
    {
      key: 'alerts.rules', scenario, measure: ALERTS_MEASURES.rules(r.devices),
      values: { ...rules, ratio, firing: Math.min(...r.rules.map((x) => x.alerts.firing ?? 0)) },
      result: `${si(rules.readingsPerSecond)} readings/s (${si(rules.framesPerSecond)} frames/s)`,
      reference: 'no rules', ratio, target: ALERTS_TARGET, met: ratio >= TARGETS.alertsRatio,
      note: [
        ...note(r.rules),
        `CPU per reading ${percent(cpuPerMillion(r.rules) / cpuPerMillion(r.none))} of no rules`,
        `${first.rules - first.crossedRules} thresholds never crossed, ${first.crossedRules} crossed by every reading`,
        `alerts after each run: ${r.rules.map((x) => states(x.alerts)).join('; ')}${alertsRight ? '' : ` — EXPECTED ${first.crossedRules} firing and nothing else`}`,
      ].join('; '),
    },
  ];
}
