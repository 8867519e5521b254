// Command-line flags of `npm run bench`, with the defaults sized to finish in minutes on 2 cores
// (each scenario in 2 minutes at most, except the ceilings: about 3 with three frame sizes, three
// InfluxDB write shapes and the Node-RED peer; cluster in about 1.5), `--quick` for a first look,
// and the tiny preset the smoke test uses.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_PAYLOAD } from '../hub/src/protocol/index.ts';
import { BENCH_CHANNELS } from './bench-devices.ts';
import { REPO_ROOT } from './children.ts';
import { ReadingsTemplate } from './frame-template.ts';

export const SCENARIOS = ['ceilings', 'ingest', 'latency', 'memory', 'history', 'isolation', 'cluster', 'dashboard', 'alerts', 'rollups'] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface BenchOptions {
  scenarios: Scenario[];
  /** devices (and raw ws connections) in the throughput and latency scenarios */
  devices: number;
  /** load generator processes for throughput and latency */
  loadProcs: number;
  warmSeconds: number;
  seconds: number;
  /**
   * readings per READINGS frame for the CPU rows (raw ws ceiling and decode-only hub), one pair of
   * rows each; the last is also the frame of every other scenario
   */
  samples: number[];
  /** closed loop: unacknowledged frames per device */
  window: number;
  /** open-loop loads for latency, as fractions of the measured maximum */
  latencyLoads: number[];
  /** idle device connection counts for the memory scenario, ascending */
  memorySizes: number[];
  /** most idle connections one load generator process holds */
  connectionsPerProc: number;
  historyPoints: number;
  historyRuns: number;
  /** isolation: READINGS frames per second per good device (open loop) */
  isolationRate: number;
  /** isolation: points preloaded for the device the heavy history queries read */
  isolationPoints: number;
  /** cluster: devices streaming through HAProxy when a hub is killed (fewer if file descriptors run out) */
  failoverDevices: number;
  /** cluster: total READINGS frames per second of the devices timed to /ws/live on both hubs */
  clusterRate: number;
  /** cluster: commands timed, half POSTed to the device's hub and half to the other */
  clusterCommands: number;
  /** dashboard: provisioned devices the browser lists */
  dashboardDevices: number;
  /** dashboard: of those, devices online and streaming at 1 frame/s (0: none) */
  dashboardOnline: number;
  /** dashboard: how long the idle tab's traffic is counted, s */
  dashboardIdleSeconds: number;
  /** alerts: devices streaming closed loop, without rules and then with one rule each */
  alertDevices: number;
  /** false: InfluxDB rows are skipped even when influxd is installed */
  influx: boolean;
  /** false: no Node-RED peer rows (otherwise Node-RED is installed from the npm registry for them) */
  nodeRed: boolean;
  /** write hub CPU profiles (node --cpu-prof) to resultsDir/profiles */
  profile: boolean;
  /** where hubs keep their data (the disk the embedded store is measured on) */
  dataRoot: string;
  resultsDir: string;
  /** soak mode: its length in ms; the other scenarios do not run */
  soak?: number;
  /** soak: mean time between a device's random connection drops, ms (0: never) */
  soakReconnectEveryMs: number;
  /** soak: longest outage after a drop, ms (uniform in 0 … this; half of the drops reconnect at once instead) */
  soakOutageMs: number;
  /** soak: time between two rows of the time series, ms (default: a 30th of the run, at least 1 s) */
  soakIntervalMs?: number;
  /** soak: READINGS frames per second per device */
  soakRate: number;
  /** hub batchSize override (readings per store write), to try a change without editing the hub */
  hubBatchSize?: number;
  /** hub store writes in flight override, to compare settings without editing the hub */
  hubWritesInFlight?: number;
  /** hub flushIntervalMs override */
  hubFlushMs?: number;
}

/** The most readings a bench frame holds within the protocol's payload limit [FP-3.2]. */
export const MAX_BENCH_SAMPLES = largestFrame();

function largestFrame(): number {
  let [fits, tooLarge] = [1, MAX_PAYLOAD];
  while (tooLarge - fits > 1) {
    const n = (fits + tooLarge) >> 1;
    try {
      new ReadingsTemplate(BENCH_CHANNELS, n);
      fits = n;
    } catch {
      tooLarge = n;
    }
  }
  return fits;
}

/** The frame every scenario but the CPU rows uses: the last of --samples. */
export function frameSamples(options: Pick<BenchOptions, 'samples'>): number {
  return options.samples[options.samples.length - 1];
}

export const DEFAULT_OPTIONS: BenchOptions = {
  scenarios: [...SCENARIOS],
  devices: 100,
  loadProcs: 2,
  warmSeconds: 3,
  seconds: 10,
  samples: [1, 10, 40],
  window: 32,
  latencyLoads: [0.1, 0.5],
  memorySizes: [1000, 10_000],
  connectionsPerProc: 2500,
  historyPoints: 86_400,
  historyRuns: 9,
  isolationRate: 20,
  isolationPoints: 3_000_000,
  failoverDevices: 1000,
  clusterRate: 1000,
  clusterCommands: 200,
  dashboardDevices: 10_000,
  dashboardOnline: 100,
  dashboardIdleSeconds: 20,
  alertDevices: 1000,
  influx: true,
  nodeRed: true,
  profile: false,
  dataRoot: tmpdir(),
  resultsDir: join(REPO_ROOT, 'bench', 'results'),
  soakReconnectEveryMs: 60_000,
  soakOutageMs: 2000,
  soakRate: 1,
};

/** Soak defaults that differ from the other scenarios' (when the flag is not given). */
export const SOAK_DEFAULT_DEVICES = 1000;
/** devices per load generator process when --load-procs is not given */
export const SOAK_DEVICES_PER_PROC = 500;

export const QUICK_OPTIONS: Partial<BenchOptions> = {
  devices: 50,
  warmSeconds: 1,
  seconds: 3,
  memorySizes: [500, 2000],
  historyRuns: 5,
  isolationPoints: 1_000_000,
  dashboardDevices: 2000,
  dashboardIdleSeconds: 10,
};

/** What the smoke test runs: every scenario, tiny, a few seconds in all. */
export const SMOKE_OPTIONS: Partial<BenchOptions> = {
  devices: 4,
  warmSeconds: 0.3,
  seconds: 0.7,
  samples: [1, 20],
  window: 4,
  memorySizes: [100, 200],
  connectionsPerProc: 100,
  historyPoints: 3600,
  historyRuns: 3,
  isolationPoints: 20_000,
  failoverDevices: 20,
  clusterRate: 50,
  clusterCommands: 10,
  dashboardDevices: 30,
  dashboardOnline: 3,
  dashboardIdleSeconds: 1,
  alertDevices: 20,
  // the peer needs the npm registry; its flow is tested on its own (node-red-flow.test.ts)
  nodeRed: false,
};

export const USAGE = `npm run bench -- [flags]

  --only LIST          scenarios, comma-separated: ${SCENARIOS.join(', ')} (default: all)
                       (ingest also runs the ceilings its ratios need)
  --quick              short windows and smaller sizes, for a first look
  --devices N          devices / raw ws connections for throughput and latency (default ${DEFAULT_OPTIONS.devices})
  --load-procs N       load generator processes (default ${DEFAULT_OPTIONS.loadProcs})
  --seconds S          measured window per scenario (default ${DEFAULT_OPTIONS.seconds})
  --warmup S           warm-up before each measured window (default ${DEFAULT_OPTIONS.warmSeconds})
  --samples LIST       readings per READINGS frame, any from 1 to ${MAX_BENCH_SAMPLES}, dealt over 4 channels; the CPU
                       rows (raw ws and decode-only) run at each, every other scenario at the
                       last (default ${DEFAULT_OPTIONS.samples.join(',')})
  --window N           closed loop: unacknowledged frames per device (default ${DEFAULT_OPTIONS.window})
  --memory LIST        idle connection counts (default ${DEFAULT_OPTIONS.memorySizes.join(',')})
  --history-points N   points in the history series (default ${DEFAULT_OPTIONS.historyPoints}, one day at 1 Hz)
  --isolation-rate N   isolation: frames/s per good device, open loop (default ${DEFAULT_OPTIONS.isolationRate})
  --isolation-points N isolation: points preloaded for the heavy history queries (default ${DEFAULT_OPTIONS.isolationPoints})
  --failover-devices N cluster: devices behind HAProxy when a hub is killed (default ${DEFAULT_OPTIONS.failoverDevices}; fewer
                       if the file descriptor limit is lower than HAProxy needs)
  --cluster-rate N     cluster: frames/s of the devices timed to /ws/live (default ${DEFAULT_OPTIONS.clusterRate})
  --cluster-commands N cluster: commands timed, half to each hub (default ${DEFAULT_OPTIONS.clusterCommands})
  --dashboard-devices N
                       dashboard: devices the browser lists (default ${DEFAULT_OPTIONS.dashboardDevices})
  --dashboard-online N dashboard: of those, devices streaming 1 frame/s while it is measured (default ${DEFAULT_OPTIONS.dashboardOnline})
  --dashboard-idle S   dashboard: seconds the idle tab's traffic is counted (default ${DEFAULT_OPTIONS.dashboardIdleSeconds})
  --alert-devices N    alerts: devices streaming without rules, then with one rule each (default ${DEFAULT_OPTIONS.alertDevices})
  --no-influx          skip the InfluxDB rows even if influxd is installed
  --no-node-red        skip the Node-RED peer rows (otherwise Node-RED 4 is installed from the npm
                       registry into the temp dir on the first run, about a minute, and reused)
  --profile            write hub CPU profiles (node --cpu-prof) to bench/results/profiles/
  --hub-batch-size N   hubs' readings per store write (default: the hub's own)
  --hub-writes-in-flight N
                       hubs' store writes running at once (default: the hub's own)
  --hub-flush-ms N     hubs' longest wait before a batch goes to the store (default: the hub's own)
  --soak DURATION      soak run instead of the scenarios, e.g. 90s, 10m, 1h: ${SOAK_DEFAULT_DEVICES} devices (--devices)
                       streaming with store-and-forward and random reconnects; RSS, latency
                       and lost/duplicated readings; writes bench/results/soak.json
  --soak-reconnect-every DURATION
                       mean time between a device's random drops (default ${DEFAULT_OPTIONS.soakReconnectEveryMs / 1000}s; 0 = never)
  --soak-outage DURATION
                       longest a device stays offline after half of its drops, making frames
                       to resend (default ${DEFAULT_OPTIONS.soakOutageMs / 1000}s); the other half reconnect at once
  --soak-interval DURATION
                       time between rows of the soak's time series (default: a 30th of the run, ≥ 1s)
  --soak-rate N        READINGS frames per second per device (default ${DEFAULT_OPTIONS.soakRate})
  --help               this text
`;

/** At least two generators, so a soak always merges figures from several processes. */
export function soakLoadProcs(devices: number): number {
  return Math.min(devices, Math.max(2, Math.ceil(devices / SOAK_DEVICES_PER_PROC)));
}

export class UsageError extends Error {}

function positive(flag: string, raw: string | undefined, integer = true): number {
  const value = Number(raw);
  if (raw === undefined || !Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new UsageError(`${flag}: expected a positive ${integer ? 'integer' : 'number'}, got ${raw ?? 'nothing'}`);
  }
  return value;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `90s`, `10m`, `1h`, `1.5h`, `250ms`; a bare number is seconds. */
export function parseDuration(flag: string, raw: string | undefined, allowZero = false): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(raw ?? '');
  const value = match ? Math.round(Number(match[1]) * DURATION_UNITS[match[2] ?? 's']) : NaN;
  if (!Number.isFinite(value) || (value === 0 && !allowZero)) {
    throw new UsageError(`${flag}: expected a duration like 90s, 10m or 1h, got ${raw ?? 'nothing'}`);
  }
  return value;
}

export function parseArgs(argv: readonly string[]): BenchOptions | 'help' {
  const options: BenchOptions = { ...DEFAULT_OPTIONS };
  const given = new Set(argv);
  if (argv.includes('--quick')) Object.assign(options, QUICK_OPTIONS);
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => argv[++i];
    switch (flag) {
      case '--help':
      case '-h':
        return 'help';
      case '--quick':
        break;
      case '--only': {
        const names = (value() ?? '').split(',').map((s) => s.trim()).filter(Boolean);
        const unknown = names.filter((n) => !(SCENARIOS as readonly string[]).includes(n));
        if (names.length === 0 || unknown.length) throw new UsageError(`--only: unknown scenario ${unknown.join(', ') || '(none)'}; choose from ${SCENARIOS.join(', ')}`);
        options.scenarios = SCENARIOS.filter((s) => names.includes(s));
        break;
      }
      case '--devices': options.devices = positive(flag, value()); break;
      case '--load-procs': options.loadProcs = positive(flag, value()); break;
      case '--seconds': options.seconds = positive(flag, value(), false); break;
      case '--warmup': options.warmSeconds = positive(flag, value(), false); break;
      case '--samples': {
        const list = (value() ?? '').split(',').map((s) => positive(flag, s));
        const over = list.find((n) => n > MAX_BENCH_SAMPLES);
        if (over !== undefined) throw new UsageError(`--samples: ${over} readings do not fit one frame's ${MAX_PAYLOAD}-byte payload; at most ${MAX_BENCH_SAMPLES}`);
        options.samples = list;
        break;
      }
      case '--window': options.window = positive(flag, value()); break;
      case '--memory':
        options.memorySizes = (value() ?? '').split(',').map((s) => positive(flag, s)).sort((a, b) => a - b);
        break;
      case '--history-points': options.historyPoints = positive(flag, value()); break;
      case '--isolation-rate': options.isolationRate = positive(flag, value(), false); break;
      case '--isolation-points': options.isolationPoints = positive(flag, value()); break;
      case '--failover-devices': options.failoverDevices = positive(flag, value()); break;
      case '--cluster-rate': options.clusterRate = positive(flag, value(), false); break;
      case '--cluster-commands': options.clusterCommands = Math.max(2, positive(flag, value())); break;
      case '--dashboard-devices': options.dashboardDevices = positive(flag, value()); break;
      case '--dashboard-online': {
        const raw = value();
        options.dashboardOnline = raw === '0' ? 0 : positive(flag, raw);
        break;
      }
      case '--dashboard-idle': options.dashboardIdleSeconds = positive(flag, value(), false); break;
      case '--alert-devices': options.alertDevices = positive(flag, value()); break;
      case '--no-influx': options.influx = false; break;
      case '--no-node-red': options.nodeRed = false; break;
      case '--profile': options.profile = true; break;
      case '--soak': options.soak = parseDuration(flag, value()); break;
      case '--soak-reconnect-every': options.soakReconnectEveryMs = parseDuration(flag, value(), true); break;
      case '--soak-outage': options.soakOutageMs = parseDuration(flag, value(), true); break;
      case '--soak-interval': options.soakIntervalMs = parseDuration(flag, value()); break;
      case '--soak-rate': options.soakRate = positive(flag, value(), false); break;
      case '--hub-batch-size': options.hubBatchSize = positive(flag, value()); break;
      case '--hub-writes-in-flight': options.hubWritesInFlight = positive(flag, value()); break;
      case '--hub-flush-ms': options.hubFlushMs = positive(flag, value()); break;
      default:
        throw new UsageError(`unknown flag ${flag}`);
    }
  }
  if (options.soak !== undefined) {
    if (given.has('--only')) throw new UsageError('--soak runs on its own: drop --only');
    if (!given.has('--devices')) options.devices = SOAK_DEFAULT_DEVICES;
    if (!given.has('--load-procs')) options.loadProcs = soakLoadProcs(options.devices);
  }
  if (options.devices < options.loadProcs) throw new UsageError('--devices must be at least --load-procs');
  return options;
}
