// Rows of the ceilings, ingest, latency and memory scenarios, each beside its target. The hub's
// cost is compared as CPU, not rate: on 2 cores a rate ceiling is whatever the load generators
// leave, while µs of CPU per message is what the server itself spends.
import { DEFAULTS } from '../hub/src/config.ts';
import type { BenchOptions } from './bench-options.ts';
import { frameSamples } from './bench-options.ts';
import { machineNote, type MachineLoad } from './machine-load.ts';
import { bytes, errorRow, latencyText, latencyValues, percent, si, skippedRow, type Row } from './report.ts';
import { influxCeiling, influxShapeText, INFLUX_RAW_SHAPES, rawWsCeiling, sqliteCeiling, type InfluxWriteShape, type MeasuredCeiling, type RawWsResult } from './scenario-ceilings.ts';
import { runIngest, type IngestRun } from './scenario-ingest.ts';
import { runLatency, type OpenLoopMax } from './scenario-latency.ts';
import { runMemory } from './scenario-memory.ts';
import { nodeRedPeer } from './node-red-peer.ts';
import type { BenchContext } from './scenario-support.ts';

export const THROUGHPUT_TARGETS = {
  /** hub CPU per frame over a bare `ws` server's CPU per message, by readings per frame */
  hubCpuRatio: new Map([[1, 2.5], [10, 2.5], [40, 3]]),
  /** hub → InfluxDB over the best raw line-protocol shape measured */
  influxRatio: 0.75,
  /** hub → embedded store over the store written directly */
  embeddedRatio: 0.9,
  /** device → /ws/live p99 at 50 % of the open-loop maximum */
  dashboardP99Ms: 10,
  dashboardAtLoad: 0.5,
  /** device → ACK p99 at 10 % of the open-loop maximum */
  ackP99Ms: 30,
  ackAtLoad: 0.1,
  /** hub RSS per idle device connection at the largest count */
  rssPerConnectionBytes: 6 * 1024,
};

const HUB_BATCH_SIZE = 5000;

export const loadKey = (load: number) => `${Math.round(load * 100)}pct`;
const influxKey = (shape: InfluxWriteShape) => `ceiling.raw-influx.${shape.inFlight}${shape.gzip ? '-gzip' : ''}`;
const perFrame = (n: number) => `${n} reading${n === 1 ? '' : 's'}/frame`;

export function throughputRowKeys(options: BenchOptions): string[] {
  const keys: string[] = [];
  const has = (s: BenchOptions['scenarios'][number]) => options.scenarios.includes(s);
  if (has('ceilings') || has('ingest')) {
    keys.push(...options.samples.map((n) => `ceiling.raw-ws.${n}`), ...INFLUX_RAW_SHAPES.map(influxKey), 'ceiling.raw-sqlite', 'ceiling.raw-sqlite-interleaved');
    if (options.nodeRed) keys.push(...options.samples.map((n) => `peer.node-red.${n}`));
  }
  if (has('ingest')) keys.push(...options.samples.map((n) => `ingest.decode-only.${n}`), 'ingest.embedded', 'ingest.influx');
  if (has('latency')) {
    keys.push('latency.open-loop-max');
    for (const load of options.latencyLoads) keys.push(`latency.dashboard.${loadKey(load)}`, `latency.ack.${loadKey(load)}`);
  }
  if (has('memory')) keys.push(...options.memorySizes.map((n) => `memory.${n}`), 'memory.connect-rate');
  return keys;
}

const cores = (list: readonly number[]) => list.map(percent).join(', ');
const us = (value: number) => `${value >= 10 ? value.toFixed(1) : value.toFixed(2)} µs`;
const machineValues = (m: MachineLoad) => ({ loadBefore: m.loadBefore, busyCoresDuring: m.busyDuring });

export interface ThroughputState {
  rawWs: Map<number, RawWsResult>;
  /** the fastest raw InfluxDB shape, and the one the hub writes in */
  rawInflux: { best: MeasuredCeiling & { shape: InfluxWriteShape }; hubShape?: MeasuredCeiling } | null;
  rawSqlite: MeasuredCeiling | null;
  /** the closed-loop embedded run, where the open-loop search starts */
  embedded: IngestRun | null;
}

export function newThroughputState(): ThroughputState {
  return { rawWs: new Map(), rawInflux: null, rawSqlite: null, embedded: null };
}

export async function ceilingRows(ctx: BenchContext, state: ThroughputState): Promise<Row[]> {
  const { options, log } = ctx;
  const scenario = 'ceilings';
  const rows: Row[] = [];
  for (const n of options.samples) {
    const key = `ceiling.raw-ws.${n}`;
    const measure = `bare ws server that only counts, ${perFrame(n)}`;
    log(`ceiling: raw ws, ${perFrame(n)}`);
    try {
      const r = await rawWsCeiling(ctx, n);
      state.rawWs.set(n, r);
      rows.push({
        key, scenario, measure,
        values: { serverUsPerMessage: r.serverUsPerMessage, messagesPerSecond: r.messagesPerSecond, serverCpu: r.serverCpu, loadCpuMax: Math.max(...r.loadCpu), ...machineValues(r.machine) },
        result: `${us(r.serverUsPerMessage)} server CPU/msg`,
        note: [
          `${si(r.messagesPerSecond)} msg/s of ${r.messageBytes} bytes at server CPU ${percent(r.serverCpu)}`,
          `${r.loadCpu.length} generators at ${cores(r.loadCpu)} CPU, ${r.connections} conns, each with up to 4 bursts of ${r.pipeline} pre-framed msgs in flight (a PING closes each burst; its PONG frees the slot)`,
          machineNote(r.machine),
        ].join('; '),
      });
    } catch (err) {
      rows.push(errorRow(key, scenario, measure, err));
    }
  }

  for (const shape of INFLUX_RAW_SHAPES) {
    const key = influxKey(shape);
    const measure = `raw InfluxDB line protocol, ${influxShapeText(shape)}`;
    if (!ctx.influxUrl) {
      rows.push(skippedRow(key, scenario, measure, ctx.influxSkip!));
      continue;
    }
    log(`ceiling: raw InfluxDB, ${influxShapeText(shape)}`);
    try {
      const r = await influxCeiling(ctx, ctx.influxUrl, shape);
      const hub = shape.inFlight === 1 && !shape.gzip;
      if (!state.rawInflux || r.perSecond > state.rawInflux.best.perSecond) state.rawInflux = { ...state.rawInflux, best: { ...r, shape } };
      if (hub) state.rawInflux!.hubShape = r;
      rows.push({
        key, scenario, measure,
        values: { pointsPerSecond: r.perSecond, ...machineValues(r.machine) },
        result: `${si(r.perSecond)} points/s`,
        note: [
          hub ? 'how the hub writes (influx-store.ts)' : '',
          `${perFrame(frameSamples(options))}, ${options.devices} devices interleaved`,
          `${si(r.verified ?? 0)} of ${si(r.written ?? 0)} read back`,
          machineNote(r.machine),
        ].filter(Boolean).join('; '),
      });
    } catch (err) {
      rows.push(errorRow(key, scenario, measure, err));
    }
  }

  log('ceiling: embedded store');
  try {
    const r = await sqliteCeiling(ctx, HUB_BATCH_SIZE, options.window);
    state.rawSqlite = r;
    rows.push({
      key: 'ceiling.raw-sqlite', scenario, measure: 'embedded store, direct',
      values: { readingsPerSecond: r.perSecond, ...machineValues(r.machine) },
      result: `${si(r.perSecond)} readings/s`,
      note: `createSqliteStore, ${HUB_BATCH_SIZE}-reading batches of ${perFrame(frameSamples(options))} in runs of ${options.window} per device, as a saturated hub batches them; ${machineNote(r.machine)}`,
    });
  } catch (err) {
    rows.push(errorRow('ceiling.raw-sqlite', scenario, 'embedded store, direct', err));
  }
  try {
    const r = await sqliteCeiling(ctx, HUB_BATCH_SIZE, 1);
    rows.push({
      key: 'ceiling.raw-sqlite-interleaved', scenario, measure: 'embedded store, direct, interleaved',
      values: { readingsPerSecond: r.perSecond, ...machineValues(r.machine) },
      result: `${si(r.perSecond)} readings/s`,
      note: `reference: one frame per device in turn, as a fleet arrives at a hub that keeps up; more pages per commit; ${machineNote(r.machine)}`,
    });
  } catch (err) {
    rows.push(errorRow('ceiling.raw-sqlite-interleaved', scenario, 'embedded store, direct, interleaved', err));
  }
  if (options.nodeRed) rows.push(...(await nodeRedRows(ctx, state)));
  return rows;
}

async function nodeRedRows(ctx: BenchContext, state: ThroughputState): Promise<Row[]> {
  const scenario = 'peer (Node-RED)';
  const rows: Row[] = [];
  for (const n of ctx.options.samples) {
    const key = `peer.node-red.${n}`;
    const measure = `Node-RED: websocket in → function decoding the frame → count, ${perFrame(n)}`;
    try {
      ctx.log(`peer: Node-RED, ${perFrame(n)}`);
      const r = await nodeRedPeer(ctx, n);
      const ws = state.rawWs.get(n);
      rows.push({
        key, scenario, measure,
        values: { serverUsPerMessage: r.serverUsPerMessage, messagesPerSecond: r.messagesPerSecond, serverCpu: r.serverCpu, ...machineValues(r.machine) },
        result: `${us(r.serverUsPerMessage)} Node-RED CPU/msg`,
        reference: ws ? `bare ws ${us(ws.serverUsPerMessage)}/msg` : undefined,
        ratio: ws ? r.serverUsPerMessage / ws.serverUsPerMessage : undefined, ratioStyle: 'times',
        note: [
          `Node-RED ${r.install.version}${r.install.installMs ? `, installed from npm in ${(r.install.installMs / 1000).toFixed(0)} s` : ''}`,
          `${si(r.messagesPerSecond)} msg/s at its CPU ${percent(r.serverCpu)}; ${si(r.stats.readings)} readings decoded, ${r.stats.refused} frames refused`,
          `same generators as the bare ws rows (${r.loadCpu.length} at ${cores(r.loadCpu)} CPU)`,
          machineNote(r.machine),
        ].join('; '),
      });
    } catch (err) {
      const message = (err as Error).message;
      // no registry, no peer: that is a fact about the machine, not a failure of the bench
      if (message.startsWith('npm install')) rows.push(skippedRow(key, scenario, measure, message));
      else rows.push(errorRow(key, scenario, measure, err));
    }
  }
  return rows;
}

function ingestNote(r: IngestRun, extra: string[] = []): string {
  const decodeOnly = r.storeCounted !== undefined;
  const check = decodeOnly
    ? r.countedBack === r.stored && r.storeCounted === r.stored
      ? `ACKed back ${si(r.countedBack)} readings = stored`
      : `COUNT MISMATCH: stored ${r.stored}, ACKed ${r.countedBack}, counting store ${r.storeCounted}`
    : r.countedBack === r.stored && r.acked <= r.stored
      ? `counted back ${si(r.countedBack)} = stored`
      : `COUNT MISMATCH: stored ${r.stored}, counted back ${r.countedBack}, acked ${r.acked}`;
  return [
    `${si(r.framesPerSecond)} frames/s = ${si(r.readingsPerSecond)} readings/s at hub CPU ${percent(r.hubCpu)}`,
    `${r.loadCpuEach.length} generators at ${cores(r.loadCpuEach)} CPU`,
    ...extra,
    `${r.framesPerAck.toFixed(1)} frames per ACK`,
    decodeOnly ? '' : `${si(r.batchReadings)}-reading batches, store write time ${percent(r.storeBusy)} of the window (summed over the writes in flight, up to 2 at once by default)`,
    check,
    r.drained ? '' : 'not all frames acked after stop',
    r.deviceErrors || r.closedConnections ? `${r.deviceErrors} ERROR frames, ${r.closedConnections} closed` : '',
    machineNote(r.machine),
  ].filter(Boolean).join('; ');
}

const ingestValues = (r: IngestRun) => ({
  hubUsPerFrame: r.hubUsPerFrame, readingsPerSecond: r.readingsPerSecond, framesPerSecond: r.framesPerSecond,
  hubCpu: r.hubCpu, loadCpu: r.loadCpu, ...machineValues(r.machine),
});

/** With a real store the hub's CPU includes the store's (its writer thread, the database client). */
const cpuPerFrame = (r: IngestRun) => `hub CPU ${us(r.hubUsPerFrame)}/frame, store included`;

export async function ingestRows(ctx: BenchContext, state: ThroughputState): Promise<Row[]> {
  const { options, log } = ctx;
  const scenario = 'hub ingest (closed loop)';
  const rows: Row[] = [];
  for (const n of options.samples) {
    const key = `ingest.decode-only.${n}`;
    const measure = `hub, counting store (decode-only), ${perFrame(n)}`;
    const limit = THROUGHPUT_TARGETS.hubCpuRatio.get(n);
    const target = limit === undefined ? undefined : `≤ ${limit}× bare ws CPU/msg`;
    // Small frames need a wider window: with fewer frames in flight than two batches hold, batches
    // wait for the flush timer, the hub idles, and its CPU per frame is that of a hub half asleep.
    const window = Math.max(options.window, Math.ceil((2 * (options.hubBatchSize ?? HUB_BATCH_SIZE)) / (n * options.devices)));
    log(`ingest: decode-only, ${perFrame(n)}, window ${window}`);
    try {
      const r = await runIngest(ctx, 'decode-only', { samples: n, window });
      const ws = state.rawWs.get(n);
      const ratio = ws ? r.hubUsPerFrame / ws.serverUsPerMessage : undefined;
      rows.push({
        key, scenario, measure,
        values: ingestValues(r),
        result: `${us(r.hubUsPerFrame)} hub CPU/frame`,
        reference: ws ? `bare ws ${us(ws.serverUsPerMessage)}/msg` : 'bare ws: not measured',
        ratio, ratioStyle: 'times', target,
        met: ratio === undefined || limit === undefined ? undefined : ratio <= limit,
        note: ingestNote(r, [`window ${window} frames per device`]),
      });
    } catch (err) {
      rows.push(errorRow(key, scenario, measure, err, target));
    }
  }

  const embeddedTarget = `≥ ${percent(THROUGHPUT_TARGETS.embeddedRatio)} of direct`;
  log('ingest: embedded store');
  try {
    const r = await runIngest(ctx, 'embedded');
    state.embedded = r;
    const ratio = state.rawSqlite ? r.readingsPerSecond / state.rawSqlite.perSecond : undefined;
    rows.push({
      key: 'ingest.embedded', scenario, measure: `hub → embedded store, ${perFrame(r.samplesPerFrame)}`,
      values: ingestValues(r),
      result: `${si(r.readingsPerSecond)} readings/s`,
      reference: state.rawSqlite ? `direct ${si(state.rawSqlite.perSecond)}/s` : 'direct: not measured',
      ratio, target: embeddedTarget, met: ratio === undefined ? undefined : ratio >= THROUGHPUT_TARGETS.embeddedRatio,
      note: ingestNote(r, [cpuPerFrame(r)]),
    });
  } catch (err) {
    rows.push(errorRow('ingest.embedded', scenario, 'hub → embedded store', err, embeddedTarget));
  }

  const influxTarget = `≥ ${percent(THROUGHPUT_TARGETS.influxRatio)} of raw`;
  if (!ctx.influxUrl) rows.push(skippedRow('ingest.influx', scenario, 'hub → InfluxDB', ctx.influxSkip!, influxTarget));
  else {
    log('ingest: InfluxDB');
    try {
      const r = await runIngest(ctx, 'influx');
      const raw = state.rawInflux;
      const ratio = raw ? r.readingsPerSecond / raw.best.perSecond : undefined;
      rows.push({
        key: 'ingest.influx', scenario, measure: `hub → InfluxDB, ${perFrame(r.samplesPerFrame)}`,
        values: ingestValues(r),
        result: `${si(r.readingsPerSecond)} readings/s`,
        reference: raw ? `raw ${si(raw.best.perSecond)}/s (${influxShapeText(raw.best.shape)})` : 'raw InfluxDB: not measured',
        ratio, target: influxTarget, met: ratio === undefined ? undefined : ratio >= THROUGHPUT_TARGETS.influxRatio,
        note: ingestNote(r, [
          cpuPerFrame(r),
          raw?.hubShape ? `${percent(r.readingsPerSecond / raw.hubShape.perSecond)} of raw written as the hub writes (${si(raw.hubShape.perSecond)}/s)` : '',
        ].filter(Boolean)),
      });
    } catch (err) {
      rows.push(errorRow('ingest.influx', scenario, 'hub → InfluxDB', err, influxTarget));
    }
  }
  return rows;
}

function openLoopNote(max: OpenLoopMax): string {
  const probes = max.probes.map((p) => `${si(p.framesPerSecond)}${p.sustained ? ' ok' : ` no (acked ${si(p.ackedPerSecond)}/s, ${si(p.pending)} waiting)`}`).join(', ');
  return [
    `probes in order, frames/s: ${probes}`,
    `sustained = ≥ 95 % sent and ACKed, ≤ 0.25 s of frames waiting`,
    max.generatorBound ? 'THE GENERATORS COULD NOT SEND THE NEXT RATE: this maximum is theirs' : `generators at most ${percent(Math.max(...max.probes.map((p) => p.loadCpuMax)))} CPU`,
  ].join('; ');
}

export async function latencyRows(ctx: BenchContext, state: ThroughputState): Promise<Row[]> {
  const { options, log } = ctx;
  const scenario = 'latency (open loop, embedded)';
  const T = THROUGHPUT_TARGETS;
  const dashboardTarget = (load: number) => (load === T.dashboardAtLoad ? `p99 ≤ ${T.dashboardP99Ms} ms` : undefined);
  const ackTarget = (load: number) => (load === T.ackAtLoad ? `p99 ≤ ${T.ackP99Ms} ms` : undefined);
  const rows: Row[] = [];
  try {
    // a quarter of the closed-loop rate is a start below the open-loop maximum on any store
    const start = state.embedded ? state.embedded.framesPerSecond / 4 : options.devices * 20;
    log(`latency: open-loop maximum, starting at ${si(start)} frames/s`);
    const { max, results } = await runLatency(ctx, start);
    rows.push({
      key: 'latency.open-loop-max', scenario, measure: `open-loop maximum, ${options.devices} devices interleaved, ${perFrame(frameSamples(options))}`,
      values: { framesPerSecond: max.framesPerSecond, readingsPerSecond: max.readingsPerSecond, probes: max.probes.length },
      result: `${si(max.framesPerSecond)} frames/s = ${si(max.readingsPerSecond)} readings/s`,
      note: openLoopNote(max),
    });
    for (const r of results) {
      const at = `${percent(r.load)} of open-loop max (${si(r.readingsPerSecond)} readings/s)`;
      const dTarget = dashboardTarget(r.load);
      const aTarget = ackTarget(r.load);
      rows.push({
        key: `latency.dashboard.${loadKey(r.load)}`, scenario, measure: `device → /ws/live @ ${at}`,
        values: { ...latencyValues(r.dashboard), hubCpu: r.hubCpu },
        result: latencyText(r.dashboard), target: dTarget,
        met: dTarget ? r.dashboard.p99 <= T.dashboardP99Ms : undefined,
        note: [`ms-resolution stamps (+0–1 ms); hub CPU ${percent(r.hubCpu)}`, r.liveDropped ? `${r.liveDropped} coalesced` : '', machineNote(r.machine)].filter(Boolean).join('; '),
      });
      rows.push({
        key: `latency.ack.${loadKey(r.load)}`, scenario, measure: `device → ACK @ ${at}`,
        values: latencyValues(r.ack), result: latencyText(r.ack), target: aTarget,
        met: aTarget ? r.ack.p99 <= T.ackP99Ms : undefined,
        note: `an ACK waits for its batch (flushIntervalMs ${options.hubFlushMs ?? DEFAULTS.flushIntervalMs}) and the store's write of it`,
      });
    }
  } catch (err) {
    rows.push(errorRow('latency.open-loop-max', scenario, 'open-loop maximum', err));
    for (const load of options.latencyLoads) {
      rows.push(errorRow(`latency.dashboard.${loadKey(load)}`, scenario, 'device → /ws/live', err, dashboardTarget(load)));
      rows.push(errorRow(`latency.ack.${loadKey(load)}`, scenario, 'device → ACK', err, ackTarget(load)));
    }
  }
  return rows;
}

export async function memoryRows(ctx: BenchContext): Promise<Row[]> {
  const { options, log } = ctx;
  const scenario = 'idle connections (embedded)';
  const target = `≤ ${bytes(THROUGHPUT_TARGETS.rssPerConnectionBytes)} RSS/conn`;
  const largest = options.memorySizes[options.memorySizes.length - 1];
  const rows: Row[] = [];
  log(`memory: ${options.memorySizes.join(', ')} idle devices`);
  try {
    const r = await runMemory(ctx);
    for (const step of r.steps) {
      const targeted = step.devices === largest;
      rows.push({
        key: `memory.${step.devices}`, scenario, measure: `per idle device @ ${si(step.devices)}`,
        values: { rssPerConnection: step.rssPerConnection, heapPerConnection: step.heapPerConnection, rss: step.rss, ...machineValues(step.machine) },
        result: `RSS ${bytes(step.rssPerConnection)} · heap ${bytes(step.heapPerConnection)}`,
        target: targeted ? target : undefined, met: targeted ? step.rssPerConnection <= THROUGHPUT_TARGETS.rssPerConnectionBytes : undefined,
        note: `hub RSS ${bytes(r.baseline.rss)} → ${bytes(step.rss)}, after GC; ${machineNote(step.machine)}`,
      });
    }
    rows.push({
      key: 'memory.connect-rate', scenario, measure: 'connection rate',
      values: { devicesPerSecond: r.connectRate },
      result: `${si(r.connectRate)} devices/s`,
      note: `${si(r.connectStepDevices)} devices from ${r.procs} procs, upgrade → HELLO → resume ACK`,
    });
  } catch (err) {
    for (const n of options.memorySizes) rows.push(errorRow(`memory.${n}`, scenario, `per idle device @ ${si(n)}`, err, n === largest ? target : undefined));
    rows.push(errorRow('memory.connect-rate', scenario, 'connection rate', err));
  }
  return rows;
}
