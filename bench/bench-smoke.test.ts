// The bench at tiny sizes, so it cannot rot: every scenario runs (hubs, load generators and
// influxd as real processes) and yields finite positive figures. No timing is asserted.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { DEFAULT_OPTIONS, SMOKE_OPTIONS, type BenchOptions } from './bench-options.ts';
import { runningChildren } from './children.ts';
import { formatTable } from './report.ts';
import { expectedRowKeys, runBench } from './run-bench.ts';

const resultsDir = mkdtempSync(join(tmpdir(), 'bench-smoke-'));
afterAll(() => rmSync(resultsDir, { recursive: true, force: true }));

it('runs every scenario at tiny sizes and reports every row with finite positive figures', async () => {
  const options: BenchOptions = { ...DEFAULT_OPTIONS, ...SMOKE_OPTIONS, resultsDir };
  const report = await runBench(options);
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
      expect(Number.isFinite(value) && value > 0, `${row.key} ${name} = ${value}\n${table}`).toBe(true);
    }
  }
  expect(runningChildren()).toEqual([]);
}, 120_000);
