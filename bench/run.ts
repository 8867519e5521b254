// `npm run bench`: runs the scenarios, prints the table, writes bench/results/latest.json
// (`--soak DURATION`: the soak instead, written to bench/results/soak.json).
// Ctrl-C, SIGTERM and errors stop every child (hubs, load generators, influxd) by its PID.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs, UsageError, USAGE, type BenchOptions } from './bench-options.ts';
import { killAllChildrenNow } from './children.ts';
import { formatMachine, formatTable } from './report.ts';
import { abortBench, runBench } from './run-bench.ts';
import { runSoakBench } from './run-soak.ts';

let options: BenchOptions;
try {
  const parsed = parseArgs(process.argv.slice(2));
  if (parsed === 'help') {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  options = parsed;
} catch (err) {
  if (!(err instanceof UsageError)) throw err;
  process.stderr.write(`bench: ${err.message}\n\n${USAGE}`);
  process.exit(2);
}

let aborting = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (aborting) return;
    aborting = true;
    process.stderr.write(`\nbench: ${signal}: stopping every child process\n`);
    abortBench().finally(() => process.exit(130));
  });
}
// whatever else ends this process, no child may survive it
process.on('exit', killAllChildrenNow);

const started = Date.now();
const log = (line: string) => process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);

try {
  if (options.soak !== undefined) await soak();
  else await scenarios();
} catch (err) {
  process.stderr.write(`bench: ${(err as Error).stack ?? err}\n`);
  await abortBench();
  process.exitCode = 1;
}

async function scenarios(): Promise<void> {
  const report = await runBench(options, log);
  mkdirSync(options.resultsDir, { recursive: true });
  const file = join(options.resultsDir, 'latest.json');
  writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
  process.stdout.write(`\n${formatMachine(report.machine)}\n\n${formatTable(report.rows)}\n\n`);
  process.stdout.write(`written to ${file}; child logs in ${join(options.resultsDir, 'logs')}\n`);
  if (options.profile) process.stdout.write(`hub CPU profiles in ${join(options.resultsDir, 'profiles')} (summarise one with: npx tsx bench/profile-summary.ts DIR)\n`);
  const failed = report.rows.filter((r) => r.error);
  if (failed.length) {
    process.stderr.write(`bench: ${failed.length} row(s) failed:\n${failed.map((r) => `  ${r.key}: ${r.error}`).join('\n')}\n`);
    process.exitCode = 1;
  }
}

async function soak(): Promise<void> {
  const report = await runSoakBench(options, log);
  mkdirSync(options.resultsDir, { recursive: true });
  const file = join(options.resultsDir, 'soak.json');
  writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
  process.stdout.write(`\n${formatMachine(report.machine)}\n\n${formatTable(report.rows)}\n\n`);
  process.stdout.write(`written to ${file}; child logs in ${join(options.resultsDir, 'logs')}\n`);
  const result = report.soak.result;
  // Lost or duplicated readings are wrong answers, not slow ones, so unlike a missed target they
  // fail the run.
  if (!result || !result.deliveryOk) {
    process.stderr.write(`bench: soak ${result ? 'did not deliver every reading exactly once' : `failed: ${report.rows.find((r) => r.error)?.error}`}\n`);
    process.exitCode = 1;
  }
}
