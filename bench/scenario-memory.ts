// Memory per idle device connection: the hub's RSS and heap (after GC) before and after N devices
// said HELLO and went quiet, with the devices spread over several generator processes and source
// addresses. The step to the largest N also gives the connection rate.
import type { Child } from './children.ts';
import { hubCounters } from './hub-api.ts';
import type { HubStats } from './hub-child.ts';
import { machineBeforeMs, startHubChild, startLoadChildren, stopAll, type BenchContext, type RunningHub } from './scenario-support.ts';
import { sleep } from './stats.ts';
import { machineBefore, machineDuring, type MachineLoad } from './machine-load.ts';

export interface MemoryStep {
  devices: number;
  rssPerConnection: number;
  heapPerConnection: number;
  rss: number;
  heapUsed: number;
  /** during: connecting this step's devices and letting them settle */
  machine: MachineLoad;
}

export interface MemoryResult {
  baseline: HubStats;
  steps: MemoryStep[];
  /** devices/s from upgrade request to resume ACK, over the last step */
  connectRate: number;
  connectStepDevices: number;
  procs: number;
}

export async function runMemory(ctx: BenchContext): Promise<MemoryResult> {
  const { options } = ctx;
  const sizes = options.memorySizes;
  const total = sizes[sizes.length - 1];
  const procs = Math.max(1, Math.ceil(total / options.connectionsPerProc));
  const range = { prefix: 'idle-', from: 0, count: total };
  let hub: RunningHub | null = null;
  let loads: Child[] = [];
  const before = await machineBefore(machineBeforeMs(ctx));
  try {
    hub = await startHubChild(ctx, 'memory-embedded', { mode: 'embedded', devices: [range] }, ['--expose-gc']);
    loads = (await startLoadChildren(ctx, 'memory', hub.url, range, procs)).children;
    await sleep(500);
    const baseline = await hub.stats(true);
    const steps: MemoryStep[] = [];
    let connected = 0;
    let connectRate = 0;
    let connectStepDevices = 0;
    for (const size of sizes) {
      // each generator takes its share of the step
      const step = size - connected;
      const shares = Array.from({ length: procs }, (_, p) => Math.floor(step / procs) + (p < step % procs ? 1 : 0));
      const t0 = performance.now();
      let answers: { connected: number; failed: number; firstError?: string }[] = [];
      let seconds = 0;
      const during = await machineDuring(async () => {
        answers = await Promise.all(loads.map((c, p) => c.call<{ connected: number; failed: number; firstError?: string }>('connect', { concurrency: 200, count: shares[p] }, 300_000)));
        seconds = (performance.now() - t0) / 1000;
        await sleep(1500);
      });
      const failed = answers.reduce((n, a) => n + a.failed, 0);
      if (failed) throw new Error(`${failed} of ${step} idle devices did not connect: ${answers.find((a) => a.firstError)?.firstError}`);
      connected = size;
      connectRate = step / seconds;
      connectStepDevices = step;
      const online = (await hubCounters(hub.url)).connected;
      if (online !== size) throw new Error(`hub shows ${online} devices online, expected ${size}`);
      const stats = await hub.stats(true);
      steps.push({
        devices: size,
        rssPerConnection: (stats.rss - baseline.rss) / size,
        heapPerConnection: (stats.heapUsed - baseline.heapUsed) / size,
        rss: stats.rss,
        heapUsed: stats.heapUsed,
        machine: { ...before, ...during },
      });
    }
    await Promise.all(loads.map((c) => c.call('closeAll', {}, 120_000)));
    return { baseline, steps, connectRate, connectStepDevices, procs };
  } finally {
    await stopAll([...loads, hub]);
  }
}
