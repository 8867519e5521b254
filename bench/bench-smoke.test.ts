// The bench at tiny sizes, so it cannot rot: every scenario runs (hubs, load generators and
// influxd as real processes) and yields finite positive figures, and a short soak delivers every
// reading exactly once through random reconnects. No timing is asserted.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { DEFAULT_OPTIONS, frameSamples, MAX_BENCH_SAMPLES, parseArgs, SCENARIOS, SMOKE_OPTIONS, UsageError, type BenchOptions } from './bench-options.ts';
import { runningChildren } from './children.ts';
import { formatTable, type Report } from './report.ts';
import { expectedRowKeys, runBench } from './run-bench.ts';
import { nodeRedInstalled, nodeRedPeer } from './node-red-peer.ts';
import { clusterPartsMissing } from './scenario-cluster.ts';
import type { BenchContext } from './scenario-support.ts';
import { runSoakBench, SOAK_SUMMARY_KEYS } from './run-soak.ts';
import { soakIntervalMs } from './scenario-soak.ts';

const resultsDir = mkdtempSync(join(tmpdir(), 'bench-smoke-'));
afterAll(() => rmSync(resultsDir, { recursive: true, force: true }));

/** Figures that are right at zero: readings lost, devices that never streamed again after a failover. */
const ZERO_FIGURES = new Set(['lost', 'notRecovered']);
/** Figures that may rightly be zero: what an idle dashboard tab moved in a short window, an idle machine's load average. */
const MAY_BE_ZERO = new Set(['bytesPerMinute', 'loadBefore']);

function expectRowsComplete(options: BenchOptions, report: Report): void {
  const table = formatTable(report.rows);
  expect(report.rows.map((r) => r.key), table).toEqual(expectedRowKeys(options));
  for (const row of report.rows) {
    expect(row.error, `${row.key}: ${row.error}`).toBeUndefined();
    if (row.skipped) {
      // in CI every real part is installed: a skipped InfluxDB row would hide a broken setup
      expect(process.env.TEST_REQUIRE_REAL_PARTS, `${row.key} skipped: ${row.skipped}`).not.toBe('1');
      continue;
    }
    expect(Object.keys(row.values).length, row.key).toBeGreaterThan(0);
    for (const [name, value] of Object.entries(row.values)) {
      if (ZERO_FIGURES.has(name)) expect(value, `${row.key} ${name}\n${table}`).toBe(0);
      else if (MAY_BE_ZERO.has(name)) expect(Number.isFinite(value) && value >= 0, `${row.key} ${name} = ${value}\n${table}`).toBe(true);
      else expect(Number.isFinite(value) && value > 0, `${row.key} ${name} = ${value}\n${table}`).toBe(true);
    }
  }
  expect(runningChildren()).toEqual([]);
}

it('runs every scenario at tiny sizes and reports every row with finite positive figures', async () => {
  // isolation, cluster and dashboard run in tests of their own, on their own clocks
  const options: BenchOptions = { ...DEFAULT_OPTIONS, ...SMOKE_OPTIONS, resultsDir, scenarios: SCENARIOS.filter((s) => s !== 'isolation' && s !== 'cluster' && s !== 'dashboard') };
  expectRowsComplete(options, await runBench(options));
}, 120_000);

it('dashboard: a few devices listed in Chromium, scrolled, and left idle', async () => {
  const options: BenchOptions = { ...DEFAULT_OPTIONS, ...SMOKE_OPTIONS, resultsDir, scenarios: ['dashboard'] };
  const report = await runBench(options);
  expectRowsComplete(options, report);
  const render = report.rows.find((r) => r.key === 'dashboard.render')!;
  if (!render.skipped) expect(render.values.rowsInDom, formatTable(report.rows)).toBeGreaterThan(0);
}, 60_000);

it('measures good devices alone and beside each abuser, losing none of their readings', async () => {
  const options: BenchOptions = { ...DEFAULT_OPTIONS, ...SMOKE_OPTIONS, resultsDir, scenarios: ['isolation'] };
  const report = await runBench(options);
  expectRowsComplete(options, report);
  const table = formatTable(report.rows);
  for (const row of report.rows) expect(row.values.countedBack, `${row.key}\n${table}`).toBe(row.values.sent);
}, 90_000);

// without nats-server, PostgreSQL or haproxy the scenario only reports skipped rows: nothing to smoke
it.skipIf(clusterPartsMissing().length > 0)('cluster: ingest, live and commands across two hubs, and a hub killed under a fleet behind HAProxy', async () => {
  const options: BenchOptions = { ...DEFAULT_OPTIONS, ...SMOKE_OPTIONS, resultsDir, scenarios: ['cluster'] };
  const report = await runBench(options);
  expectRowsComplete(options, report);
  const failover = report.rows.find((r) => r.key === 'cluster.failover')!;
  if (!failover.skipped) expect(failover.values.devices, formatTable(report.rows)).toBe(SMOKE_OPTIONS.failoverDevices);
}, 120_000);

// the default run installs Node-RED from the npm registry; with an install at hand the peer runs here too
it.skipIf(!nodeRedInstalled())('Node-RED peer: decodes every frame the generators wrote and refuses none', async () => {
  const options: BenchOptions = { ...DEFAULT_OPTIONS, ...SMOKE_OPTIONS, resultsDir };
  const ctx: BenchContext = { options, logDir: join(resultsDir, 'logs'), profileDir: join(resultsDir, 'profiles'), influxUrl: null, influxSkip: null, log: () => undefined };
  const r = await nodeRedPeer(ctx, 10);
  expect([r.stats.refused, r.stats.readings]).toEqual([0, r.stats.messages * 10]);
  expect(r.stats.messages).toBeGreaterThan(0);
  expect(Number.isFinite(r.serverUsPerMessage) && r.serverUsPerMessage > 0).toBe(true);
  expect(runningChildren()).toEqual([]);
}, 60_000);

it('parses --samples as readings per frame: any from 1 to what fits one frame, the last for every other scenario', () => {
  const options = parseArgs(['--samples', '1,10,40,3']) as BenchOptions;
  expect([options.samples, frameSamples(options)]).toEqual([[1, 10, 40, 3], 3]);
  expect((parseArgs([]) as BenchOptions).samples).toEqual([1, 10, 40]);
  expect((parseArgs(['--samples', String(MAX_BENCH_SAMPLES)]) as BenchOptions).samples).toEqual([MAX_BENCH_SAMPLES]);
  for (const bad of [['--samples', '0'], ['--samples', '2.5'], ['--samples', String(MAX_BENCH_SAMPLES + 1)], ['--samples', '']]) {
    expect(() => parseArgs(bad), bad.join(' ')).toThrow(UsageError);
  }
});

it('parses soak flags: durations, and the soak\'s own defaults unless given', () => {
  const soak = parseArgs(['--soak', '10m']) as BenchOptions;
  expect([soak.soak, soak.devices, soak.loadProcs, soak.soakReconnectEveryMs]).toEqual([600_000, 1000, 2, 60_000]);
  const given = parseArgs(['--soak', '1.5h', '--devices', '200', '--load-procs', '1', '--soak-reconnect-every', '0', '--soak-interval', '90s']) as BenchOptions;
  expect([given.soak, given.devices, given.loadProcs, given.soakReconnectEveryMs, given.soakIntervalMs]).toEqual([5_400_000, 200, 1, 0, 90_000]);
  expect((parseArgs(['--soak', '90']) as BenchOptions).soak).toBe(90_000);
  for (const bad of [['--soak', '10x'], ['--soak', '0s'], ['--soak'], ['--soak', '1m', '--only', 'ingest']]) {
    expect(() => parseArgs(bad), bad.join(' ')).toThrow(UsageError);
  }
});

it('soaks briefly with random reconnects and finds every reading stored exactly once', async () => {
  const options: BenchOptions = {
    ...DEFAULT_OPTIONS, ...SMOKE_OPTIONS, resultsDir,
    soak: 8000, devices: 20, loadProcs: 2, soakReconnectEveryMs: 2000, soakOutageMs: 1000,
  };
  const report = await runSoakBench(options);
  const table = formatTable(report.rows);
  const result = report.soak.result;
  expect(report.rows.filter((r) => r.error).map((r) => r.error), table).toEqual([]);
  expect(result, table).not.toBeNull();

  const rowsInSeries = Math.ceil(options.soak! / soakIntervalMs(options.soak!)) + 1;
  const seriesKeys = Array.from({ length: rowsInSeries }, (_, i) => `soak.series.${i}`);
  expect(report.rows.map((r) => r.key), table).toEqual([...seriesKeys, ...SOAK_SUMMARY_KEYS]);
  for (const row of report.rows.slice(1, rowsInSeries)) {
    for (const name of ['rss', 'heapUsed', 'generated', 'acked']) expect(row.values[name], `${row.key} ${name}\n${table}`).toBeGreaterThan(0);
  }

  const { delivery, drain, totals } = result!;
  expect(delivery.generated, table).toBeGreaterThan(0);
  expect(delivery.lost, table).toBe(0);
  expect(delivery.duplicated, table).toBe(0);
  expect(delivery.unexpected, table).toBe(0);
  expect(drain.drained, table).toBe(true);
  expect(totals.anomalies, table).toBe(0);
  // the run did exercise store-and-forward: connections dropped, frames made offline were sent later
  expect(totals.drops, table).toBeGreaterThan(0);
  expect(totals.heldFrames, table).toBeGreaterThan(0);
  expect(runningChildren()).toEqual([]);
}, 60_000);
