// Ceilings, measured in the same run as the hub figures they are compared with: raw `ws` (client
// processes → a server that only counts), raw InfluxDB line protocol, and the embedded SQLite store
// driven directly.
import { frameSamples } from './bench-options.ts';
import { startChild, type Child } from './children.ts';
import type { CeilingResult } from './store-ceiling-child.ts';
import { cpuEach, cpuOver, machineBeforeMs, startLoadChildren, stopAll, type BenchContext } from './scenario-support.ts';
import { sleep } from './stats.ts';
import { machineBefore, machineDuring, type MachineBefore, type MachineDuring, type MachineLoad } from './machine-load.ts';

export interface RawWsResult {
  messagesPerSecond: number;
  messageBytes: number;
  samplesPerMessage: number;
  connections: number;
  /** the server's CPU over the window, 1 = one core */
  serverCpu: number;
  /** µs of server CPU per message counted: the ceiling the hub's CPU per frame is compared with */
  serverUsPerMessage: number;
  /** each load generator's CPU over the window, 1 = one core */
  loadCpu: number[];
  /** messages each socket writes at a time */
  pipeline: number;
  machine: MachineLoad;
}

/**
 * A `ws` server that only counts, fed by `loadProcs` generators writing pre-framed messages
 * `window` at a time: what `ws` itself costs per message, in CPU, when the server has all the
 * messages it can take.
 */
export async function rawWsCeiling(ctx: BenchContext, samples: number): Promise<RawWsResult> {
  const before = await machineBefore(machineBeforeMs(ctx));
  const server = await startChild<{ url: string }>(`raw-ws-server-${samples}`, 'raw-ws-server.ts', { logDir: ctx.logDir });
  try {
    return await pipelinedLoad(ctx, samples, `raw-ws-${samples}`, server.child, server.ready.url, before);
  } finally {
    await server.child.stop();
  }
}

/**
 * Drives `server` (a child answering `count` with its messages so far and `cpu`) with the
 * pipelined generators and measures its CPU per message; the raw ceiling and the peers share it.
 */
export async function pipelinedLoad(ctx: BenchContext, samples: number, name: string, server: Child, url: string, before: MachineBefore): Promise<RawWsResult> {
  const { options } = ctx;
  let load: Awaited<ReturnType<typeof startLoadChildren>> | null = null;
  try {
    load = await startLoadChildren(ctx, name, '', { prefix: 'raw-', from: 0, count: 0 }, options.loadProcs, { connections: options.devices, samples });
    const perProc = Math.ceil(options.devices / options.loadProcs);
    const { frameBytes, samplesPerFrame } = load.ready[0];
    await Promise.all(load.children.map((c) => c.call('rawConnect', { url, connections: perProc })));
    await Promise.all(load.children.map((c) => c.call('rawStart', { bytes: frameBytes, window: options.window })));
    await sleep(options.warmSeconds * 1000);
    const a = await server.call<{ messages: number }>('count');
    const t0 = performance.now();
    let serverCpu = 0;
    let during: MachineDuring | undefined;
    const loadCpu = await cpuEach(load.children, async () => {
      serverCpu = await cpuOver([server], async () => {
        during = await machineDuring(() => sleep(options.seconds * 1000));
      });
    });
    const b = await server.call<{ messages: number }>('count');
    const seconds = (performance.now() - t0) / 1000;
    await Promise.all(load.children.map((c) => c.call('rawStop')));
    const messagesPerSecond = (b.messages - a.messages) / seconds;
    return {
      messagesPerSecond, messageBytes: frameBytes, samplesPerMessage: samplesPerFrame,
      connections: perProc * options.loadProcs, serverCpu, serverUsPerMessage: (serverCpu * 1e6) / messagesPerSecond,
      loadCpu, pipeline: options.window, machine: { ...before, ...during! },
    };
  } finally {
    await stopAll(load?.children ?? []);
  }
}

/** How the raw InfluxDB ceiling writes: points per request, requests in flight, gzip bodies. */
export interface InfluxWriteShape {
  batch: number;
  inFlight: number;
  gzip: boolean;
}

/**
 * The shapes the raw ceiling is measured in: the hub's own (5,000-point requests, one after
 * another, plain; see influx-store.ts) and two with more in flight, plain and gzipped. The best is
 * the ceiling; the others show what the hub would gain from writing that way.
 */
export const INFLUX_RAW_SHAPES: readonly InfluxWriteShape[] = [
  { batch: 5000, inFlight: 1, gzip: false },
  { batch: 5000, inFlight: 3, gzip: false },
  { batch: 5000, inFlight: 3, gzip: true },
];

export function influxShapeText(shape: InfluxWriteShape): string {
  return `${shape.batch}-point requests, ${shape.inFlight} in flight${shape.gzip ? ', gzip' : ''}`;
}

export type MeasuredCeiling = CeilingResult & { machine: MachineLoad };

export async function influxCeiling(ctx: BenchContext, influxUrl: string, shape: InfluxWriteShape): Promise<MeasuredCeiling> {
  const before = await machineBefore(machineBeforeMs(ctx));
  const { child } = await startChild('influx-ceiling', 'store-ceiling-child.ts', { logDir: ctx.logDir });
  try {
    return await withMachine(before, () => child.call<CeilingResult>('influx', {
      url: influxUrl, batchPoints: shape.batch, inFlight: shape.inFlight, gzip: shape.gzip,
      devices: ctx.options.devices, samples: frameSamples(ctx.options), burst: 1, warmSeconds: ctx.options.warmSeconds, seconds: ctx.options.seconds,
    }, 300_000));
  } finally {
    await child.stop();
  }
}

/** `burst`: frames of one device in a row in each batch, see ReadingSource. */
export async function sqliteCeiling(ctx: BenchContext, batchSize: number, burst: number): Promise<MeasuredCeiling> {
  const before = await machineBefore(machineBeforeMs(ctx));
  const { child } = await startChild('sqlite-ceiling', 'store-ceiling-child.ts', { logDir: ctx.logDir });
  try {
    return await withMachine(before, () => child.call<CeilingResult>('sqlite', {
      batchSize, burst, devices: ctx.options.devices, samples: frameSamples(ctx.options), dataRoot: ctx.options.dataRoot,
      warmSeconds: ctx.options.warmSeconds, seconds: ctx.options.seconds,
    }, 300_000));
  } finally {
    await child.stop();
  }
}

async function withMachine(before: MachineBefore, run: () => Promise<CeilingResult>): Promise<MeasuredCeiling> {
  let result: CeilingResult | undefined;
  const during = await machineDuring(async () => {
    result = await run();
  });
  return { ...result!, machine: { ...before, ...during } };
}
