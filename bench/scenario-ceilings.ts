// Ceilings, measured in the same run as the hub figures they are compared with: raw `ws` (client
// processes → a server that only counts), raw InfluxDB line protocol, and the embedded SQLite store
// driven directly.
import { startChild } from './children.ts';
import type { CeilingResult } from './store-ceiling-child.ts';
import { cpuOver, startLoadChildren, stopAll, type BenchContext } from './scenario-support.ts';
import { sleep } from './stats.ts';
import { foreignCpuDuring } from './machine-load.ts';

export interface RawWsResult {
  messagesPerSecond: number;
  messageBytes: number;
  samplesPerMessage: number;
  connections: number;
  /** CPU over the window, 1 = one core */
  serverCpu: number;
  clientCpu: number;
  foreignCpu: number;
}

export async function rawWsCeiling(ctx: BenchContext): Promise<RawWsResult> {
  const { options } = ctx;
  const server = await startChild<{ url: string }>('raw-ws-server', 'raw-ws-server.ts', { logDir: ctx.logDir });
  let load: Awaited<ReturnType<typeof startLoadChildren>> | null = null;
  try {
    load = await startLoadChildren(ctx, 'raw-ws', '', { prefix: 'raw-', from: 0, count: 0 }, options.loadProcs, { connections: options.devices });
    const perProc = Math.ceil(options.devices / options.loadProcs);
    const { frameBytes, samplesPerFrame } = load.ready[0];
    await Promise.all(load.children.map((c) => c.call('rawConnect', { url: server.ready.url, connections: perProc })));
    await Promise.all(load.children.map((c) => c.call('rawStart', { bytes: frameBytes, window: options.window })));
    await sleep(options.warmSeconds * 1000);
    const a = await server.child.call<{ at: number; messages: number }>('count');
    const t0 = performance.now();
    let serverCpu = 0;
    let foreignCpu = 0;
    const clientCpu = await cpuOver(load.children, async () => {
      serverCpu = await cpuOver([server.child], async () => {
        foreignCpu = await foreignCpuDuring(() => sleep(options.seconds * 1000));
      });
    });
    const b = await server.child.call<{ at: number; messages: number }>('count');
    const seconds = (performance.now() - t0) / 1000;
    await Promise.all(load.children.map((c) => c.call('rawStop')));
    return {
      messagesPerSecond: (b.messages - a.messages) / seconds, messageBytes: frameBytes, samplesPerMessage: samplesPerFrame,
      connections: perProc * options.loadProcs, serverCpu, clientCpu, foreignCpu,
    };
  } finally {
    await stopAll([server.child, ...(load?.children ?? [])]);
  }
}

export const INFLUX_RAW_BATCH = 5000;
export const INFLUX_RAW_IN_FLIGHT = 3;

export type MeasuredCeiling = CeilingResult & { foreignCpu: number };

export async function influxCeiling(ctx: BenchContext, influxUrl: string): Promise<MeasuredCeiling> {
  const { child } = await startChild('influx-ceiling', 'store-ceiling-child.ts', { logDir: ctx.logDir });
  try {
    return await withForeignCpu(() => child.call<CeilingResult>('influx', {
      url: influxUrl, batchPoints: INFLUX_RAW_BATCH, inFlight: INFLUX_RAW_IN_FLIGHT,
      devices: ctx.options.devices, rounds: ctx.options.rounds, burst: 1, warmSeconds: ctx.options.warmSeconds, seconds: ctx.options.seconds,
    }, 300_000));
  } finally {
    await child.stop();
  }
}

/** `burst`: frames of one device in a row in each batch, see ReadingSource. */
export async function sqliteCeiling(ctx: BenchContext, batchSize: number, burst: number): Promise<MeasuredCeiling> {
  const { child } = await startChild('sqlite-ceiling', 'store-ceiling-child.ts', { logDir: ctx.logDir });
  try {
    return await withForeignCpu(() => child.call<CeilingResult>('sqlite', {
      batchSize, burst, devices: ctx.options.devices, rounds: ctx.options.rounds, dataRoot: ctx.options.dataRoot,
      warmSeconds: ctx.options.warmSeconds, seconds: ctx.options.seconds,
    }, 300_000));
  } finally {
    await child.stop();
  }
}

async function withForeignCpu(run: () => Promise<CeilingResult>): Promise<MeasuredCeiling> {
  let result: CeilingResult | undefined;
  const foreignCpu = await foreignCpuDuring(async () => {
    result = await run();
  });
  return { ...result!, foreignCpu };
}
