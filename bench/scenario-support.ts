// What every scenario needs: the run's context, and starting hubs and load generators as children.
import { join } from 'node:path';
import { frameSamples, type BenchOptions } from './bench-options.ts';
import type { DeviceRange } from './bench-devices.ts';
import { startChild, type Child } from './children.ts';
import type { HubChildConfig, HubReady, HubStats } from './hub-child.ts';
import type { LoadChildConfig, LoadSnapshot } from './load-child.ts';

export interface BenchContext {
  options: BenchOptions;
  logDir: string;
  profileDir: string;
  /** influxd base URL, or null with the reason in influxSkip */
  influxUrl: string | null;
  influxSkip: string | null;
  log(line: string): void;
}

export interface RunningHub {
  child: Child;
  url: string;
  /** how long the hub child took to preload its seed series, ms */
  seedMs?: number;
  stats(gc?: boolean): Promise<HubStats>;
}

let hubs = 0;

export async function startHubChild(ctx: BenchContext, name: string, config: Omit<HubChildConfig, 'dataRoot'>, nodeFlags: string[] = [], startTimeoutMs?: number): Promise<RunningHub> {
  const label = `hub-${++hubs}-${name}`;
  const flags = [...nodeFlags];
  // one directory per hub: the loader's worker thread writes a profile of its own next to the main one
  if (ctx.options.profile) flags.push('--cpu-prof', `--cpu-prof-dir=${join(ctx.profileDir, label)}`);
  const { child, ready } = await startChild<HubReady>(label, 'hub-child.ts', {
    config: { ...config, dataRoot: ctx.options.dataRoot, batchSize: ctx.options.hubBatchSize, writesInFlight: ctx.options.hubWritesInFlight, ...(ctx.options.hubFlushMs ? { flushIntervalMs: ctx.options.hubFlushMs } : {}) } satisfies HubChildConfig,
    nodeFlags: flags,
    logDir: ctx.logDir,
    startTimeoutMs,
  });
  return { child, url: ready.url, seedMs: ready.seedMs, stats: (gc = false) => child.call<HubStats>('stats', { gc }) };
}

/** How long the machine is sampled before a row: a second, less in runs with short warm-ups. */
export function machineBeforeMs(ctx: BenchContext): number {
  return Math.min(1000, ctx.options.warmSeconds * 1000);
}

/** Splits `range` over `procs` ranges as evenly as possible. */
export function splitRange(range: DeviceRange, procs: number): DeviceRange[] {
  const out: DeviceRange[] = [];
  let from = range.from;
  for (let p = 0; p < procs; p++) {
    const count = Math.floor(range.count / procs) + (p < range.count % procs ? 1 : 0);
    out.push({ prefix: range.prefix, from, count });
    from += count;
  }
  return out;
}

// The hub allows a bounded number of connections per source address, and one address has a
// bounded number of ephemeral ports: spread the sockets over 127.0.0.2 and up.
const CONNECTIONS_PER_ADDRESS = 1000;
let nextAddress = 2;

export function sourceAddresses(count: number): string[] {
  const needed = Math.max(1, Math.ceil(count / CONNECTIONS_PER_ADDRESS));
  const out: string[] = [];
  for (let i = 0; i < needed; i++) {
    out.push(`127.0.0.${nextAddress}`);
    nextAddress = nextAddress >= 250 ? 2 : nextAddress + 1;
  }
  return out;
}

export interface LoadReady {
  pid: number;
  devices: number;
  frameBytes: number;
  samplesPerFrame: number;
}

export async function startLoadChildren(
  ctx: BenchContext,
  name: string,
  hubUrl: string,
  range: DeviceRange,
  procs: number,
  extra: Partial<Pick<LoadChildConfig, 'channels' | 'samples'>> & { connections?: number } = {},
): Promise<{ children: Child[]; ready: LoadReady[] }> {
  const ranges = splitRange(range, procs);
  const started = await Promise.all(
    ranges.map((r, i) =>
      startChild<LoadReady>(`${name}-load-${i}`, 'load-child.ts', {
        config: {
          hubUrl, range: r,
          channels: extra.channels ?? 'bench',
          samples: extra.samples ?? frameSamples(ctx.options),
          sourceAddresses: sourceAddresses(extra.connections !== undefined ? Math.ceil(extra.connections / procs) : r.count),
        } satisfies LoadChildConfig,
        logDir: ctx.logDir,
      }),
    ),
  );
  return { children: started.map((s) => s.child), ready: started.map((s) => s.ready) };
}

export async function stopAll(children: readonly (Child | RunningHub | null | undefined)[]): Promise<void> {
  await Promise.all(children.map((c) => (c ? ('child' in c ? c.child : c).stop(10_000) : undefined)));
}

/** CPU time of several children over a window, as a fraction of one core (summed over them). */
export async function cpuOver(children: readonly Child[], window: () => Promise<void>): Promise<number> {
  return (await cpuEach(children, window)).reduce((sum, x) => sum + x, 0);
}

/** CPU time of each child over a window, as a fraction of one core: which one, if any, was saturated. */
export async function cpuEach(children: readonly Child[], window: () => Promise<void>): Promise<number[]> {
  const read = () => Promise.all(children.map((c) => c.call<{ at: number; ms: number }>('cpu')));
  const a = await read();
  await window();
  const b = await read();
  return b.map((x, i) => (x.ms - a[i].ms) / (x.at - a[i].at));
}

/** Frames each ACK acknowledged on average, over what the load generators saw. */
export function framesPerAck(stops: readonly LoadSnapshot[]): number {
  return stops.reduce((n, s) => n + s.framesAcked, 0) / Math.max(1, stops.reduce((n, s) => n + s.acks, 0));
}
