// What alert rules cost ingest: the closed-loop ingest of scenario-ingest.ts (embedded store) on a
// hub without rules and on a hub with one rule per device on the channel the devices send. Most thresholds are never crossed (every reading is checked and nothing happens, the common
// case); every tenth is crossed by every reading, so its alert fires once and every later reading
// finds it firing already. The window must then hold exactly one firing alert per crossed rule.
import { BENCH_ADMIN_TOKEN, deviceId, type DeviceRange } from './bench-devices.ts';
import { api, countBack, hubCounters } from './hub-api.ts';
import type { LoadStopResult } from './load-child.ts';
import { foreignCpuDuring } from './machine-load.ts';
import { cpuOver, framesPerAck, startHubChild, startLoadChildren, stopAll, type BenchContext, type RunningHub } from './scenario-support.ts';
import type { IngestResult } from './scenario-ingest.ts';
import { sleep } from './stats.ts';
import type { Child } from './children.ts';

/** The bench devices send temperature as 20 … 21.1 (frame-template.ts). */
const CHANNEL = 'temperature';
const NEVER_CROSSED = 1000;
const ALWAYS_CROSSED = 10;
const CROSSED_EVERY = 10;

export interface AlertsIngestResult extends IngestResult {
  rules: number;
  /** rules whose threshold every reading crosses */
  crossedRules: number;
  /** alerts the hub holds after the run, by state */
  alerts: Record<string, number>;
}

export interface AlertsResult {
  devices: number;
  /** in the order they ran: without, with, with, without */
  none: [AlertsIngestResult, AlertsIngestResult];
  rules: [AlertsIngestResult, AlertsIngestResult];
}

/**
 * Without, with, with, without: on a shared 2-core machine the load of other processes drifts over
 * minutes (two back-to-back runs of the same hub differed by up to half), so each figure is the
 * mean of an early and a late run. The row also gives the hub's CPU per reading, which moves less.
 */
export async function runAlerts(ctx: BenchContext): Promise<AlertsResult> {
  const devices = ctx.options.alertDevices;
  const run = (withRules: boolean, n: number) => {
    ctx.log(`alerts: ${devices} devices, ${withRules ? 'one rule each' : 'no rules'} (${n} of 2)`);
    return runWithRules(ctx, devices, withRules);
  };
  const none1 = await run(false, 1);
  const rules1 = await run(true, 1);
  const rules2 = await run(true, 2);
  const none2 = await run(false, 2);
  return { devices, none: [none1, none2], rules: [rules1, rules2] };
}

async function createRules(hubUrl: string, range: DeviceRange): Promise<number> {
  let next = 0;
  let crossed = 0;
  const worker = async () => {
    while (next < range.count) {
      const i = next++;
      const id = deviceId(range.prefix, range.from + i);
      const crosses = i % CROSSED_EVERY === 0;
      if (crosses) crossed++;
      const res = await fetch(`${hubUrl}/api/rules`, {
        method: 'POST',
        headers: { authorization: `Bearer ${BENCH_ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: `hot ${id}`, devices: [id], channel: CHANNEL, above: crosses ? ALWAYS_CROSSED : NEVER_CROSSED, severity: 'warning' }),
      });
      if (res.status !== 201) throw new Error(`POST /api/rules: HTTP ${res.status} ${(await res.text()).slice(0, 300)}`);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return crossed;
}

/** Alerts the hub holds, by state, paging through the list. */
async function alertCounts(hubUrl: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  let before: number | null = null;
  do {
    const page: { alerts: { state: string }[]; next: number | null } = await api(hubUrl, `/api/alerts?state=all&limit=1000${before ? `&before=${before}` : ''}`);
    for (const a of page.alerts) counts[a.state] = (counts[a.state] ?? 0) + 1;
    before = page.next;
  } while (before !== null);
  return counts;
}

async function runWithRules(ctx: BenchContext, devices: number, withRules: boolean): Promise<AlertsIngestResult> {
  const { options } = ctx;
  const range = { prefix: 'dev-', from: 0, count: devices };
  const label = withRules ? 'alerts-rules' : 'alerts-none';
  let hub: RunningHub | null = null;
  let loads: Child[] = [];
  try {
    hub = await startHubChild(ctx, label, { mode: 'embedded', devices: [range] });
    const crossedRules = withRules ? await createRules(hub.url, range) : 0;
    loads = (await startLoadChildren(ctx, label, hub.url, range, options.loadProcs)).children;
    const connected = await Promise.all(loads.map((c) => c.call<{ connected: number; failed: number; firstError?: string }>('connect', { concurrency: 100 })));
    const failed = connected.reduce((n, c) => n + c.failed, 0);
    if (failed) throw new Error(`${failed} devices did not connect: ${connected.find((c) => c.firstError)?.firstError}`);

    await Promise.all(loads.map((c) => c.call('closedLoop', { window: options.window })));
    await sleep(options.warmSeconds * 1000);
    const [a, cpuA] = [await hubCounters(hub.url), await hub.stats()];
    let foreignCpu = 0;
    const loadCpu = await cpuOver(loads, async () => {
      foreignCpu = await foreignCpuDuring(() => sleep(options.seconds * 1000));
    });
    const [b, cpuB] = [await hubCounters(hub.url), await hub.stats()];
    const elapsedMs = b.at - a.at;
    const stops = await Promise.all(loads.map((c) => c.call<LoadStopResult>('stop', { drainMs: 30_000 })));
    const final = await hubCounters(hub.url);
    const ids = Array.from({ length: devices }, (_, i) => deviceId(range.prefix, i));
    const countedBack = await countBack(hub.url, ids, Math.min(...stops.map((s) => s.timeFrom)), Math.max(...stops.map((s) => s.timeTo)));
    return {
      readingsPerSecond: ((b.stored - a.stored) * 1000) / elapsedMs,
      framesPerSecond: ((b.frames - a.frames) * 1000) / elapsedMs,
      loadCpu,
      foreignCpu,
      batchReadings: (b.stored - a.stored) / Math.max(1, b.batches - a.batches),
      storeBusy: ((b.storeSeconds - a.storeSeconds) * 1000) / elapsedMs,
      hubCpu: (cpuB.cpuUserMs + cpuB.cpuSystemMs - cpuA.cpuUserMs - cpuA.cpuSystemMs) / elapsedMs,
      stored: final.stored,
      countedBack,
      acked: stops.reduce((n, s) => n + s.readingsAcked, 0),
      framesPerAck: framesPerAck(stops),
      drained: stops.every((s) => s.drained),
      deviceErrors: stops.reduce((n, s) => n + s.errors, 0),
      closedConnections: stops.reduce((n, s) => n + s.closed, 0),
      rules: withRules ? devices : 0,
      crossedRules,
      alerts: await alertCounts(hub.url),
    };
  } finally {
    await stopAll([...loads, hub]);
  }
}
