// device-sim CLI: `npm run sim -- --help`. Parses options, gets device tokens, runs the fleet
// (or one serial device), prints summaries, and reports at exit.
import { fleetIds, helpText, parseCli, UsageError, type SimConfig } from './cli-args.ts';
import { Fleet, type FleetDeviceSpec } from './fleet.ts';
import { findOperatorToken, provisionDevices, ProvisionError } from './provision.ts';
import { deriveSeed, seededRandom } from './random.ts';
import { mixedKinds, type SensorKind } from './sensors/index.ts';
import { SerialRun } from './serial-run.ts';
import { exitCodeOf, finalReport, summaryLine, type FleetSnapshot } from './summary.ts';

const say = (line: string) => process.stdout.write(`${line}\n`);
const complain = (line: string) => process.stderr.write(`device-sim: ${line}\n`);

function kindsFor(config: SimConfig, index: number): SensorKind[] {
  return config.channels === 'mixed' ? mixedKinds(seededRandom(deriveSeed(config.seed, 0x6d1, index))) : config.channels;
}

function describeFaults(config: SimConfig): string {
  const f = config.faults;
  const parts = [
    f.drop && `drop every ${f.drop.everyMs / 1000} s`,
    f.stall && `stall ${f.stall.forMs / 1000} s every ${f.stall.everyMs / 1000} s`,
    f.burst && `burst ×${f.burst.factor} for ${f.burst.forMs / 1000} s every ${f.burst.everyMs / 1000} s`,
    f.skewMs !== undefined && `clock skew ${f.skewMs} ms`,
    f.malformed !== undefined && `malformed p=${f.malformed}`,
    f.badToken && 'bad token on the last device',
    f.excursion && `${f.excursion.channel} ${f.excursion.offset > 0 ? '+' : ''}${f.excursion.offset} for ${f.excursion.forMs / 1000} s from ${f.excursion.afterMs / 1000} s after each device's first connect`,
  ].filter(Boolean);
  return parts.length ? `; faults: ${parts.join(', ')}` : '';
}

interface Run {
  snapshot(): FleetSnapshot;
  stop(drainMs: number): Promise<void>;
  readonly startedAt: number;
}

async function startFleet(config: SimConfig): Promise<Run> {
  const ids = fleetIds(config);
  const tokens = config.deviceToken !== undefined ? new Map([[ids[0], config.deviceToken]]) : await provisionDevices({
    hubUrl: config.hubUrl,
    ids,
    operatorToken: findOperatorToken({ flag: config.token, env: process.env.HUB_ADMIN_TOKEN, dataDir: config.dataDir }),
    tokensFile: config.tokensFile,
    reprovision: config.reprovision,
    log: say,
  });
  const specs: FleetDeviceSpec[] = ids.map((id, i) => ({ id, token: tokens.get(id)!, kinds: kindsFor(config, i) }));
  const fleet = new Fleet({
    hubUrl: config.hubUrl,
    devices: specs,
    rate: config.rate,
    batch: config.batch,
    absoluteTime: config.absoluteTime,
    seed: config.seed,
    dayLengthMs: config.dayLengthMs,
    connectRate: config.connectRate,
    sourceAddresses: config.sourceAddresses,
    maxUnacked: config.buffer,
    faults: config.faults,
    log: say,
  });
  say(
    `${ids.length} device(s) ${ids[0]}${ids.length > 1 ? `…${ids.at(-1)}` : ''} → ${config.hubUrl}, ${config.rate} frame(s)/s each, ` +
      `${config.batch} round(s) per frame, channels ${config.channels === 'mixed' ? 'mixed' : config.channels.join(',')}, ` +
      `connecting at ${config.connectRate}/s, seed ${config.seed}${describeFaults(config)}`,
  );
  fleet.start();
  return fleet;
}

function startSerial(config: SimConfig): Run {
  const serial = config.serial!;
  const run = new SerialRun({
    path: serial.path,
    baudRate: serial.baudRate,
    deviceId: serial.id,
    kinds: kindsFor(config, 0),
    rate: config.rate,
    batch: config.batch,
    absoluteTime: config.absoluteTime,
    seed: config.seed,
    dayLengthMs: config.dayLengthMs,
    maxUnacked: config.buffer,
    faults: config.faults,
    log: say,
  });
  say(`${serial.id} on ${serial.path} at ${serial.baudRate} baud, ${config.rate} frame(s)/s, seed ${config.seed}${describeFaults(config)}`);
  run.start();
  return run;
}

async function main(): Promise<number> {
  let config: SimConfig;
  try {
    const parsed = parseCli(process.argv.slice(2), process.env);
    if (parsed.help) {
      say(helpText());
      return 0;
    }
    config = parsed.config;
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    complain(`${err.message}\nsee: npm run sim -- --help`);
    return 2;
  }

  let run: Run;
  try {
    run = config.serial ? startSerial(config) : await startFleet(config);
  } catch (err) {
    if (!(err instanceof ProvisionError)) throw err;
    complain(err.message);
    return 1;
  }

  let previous = run.snapshot();
  const summary = config.summaryIntervalMs > 0
    ? setInterval(() => {
      const current = run.snapshot();
      say(summaryLine(previous, current, run.startedAt));
      previous = current;
    }, config.summaryIntervalMs)
    : null;

  const reason = await new Promise<string>((resolve) => {
    const timer = config.durationMs === undefined ? null : setTimeout(() => resolve(`--duration ${config.durationMs! / 1000} s reached`), config.durationMs);
    const onSignal = (signal: NodeJS.Signals) => {
      if (timer) clearTimeout(timer);
      resolve(`${signal} received`);
      // a second Ctrl-C means now
      process.once(signal, () => process.exit(130));
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
  if (summary) clearInterval(summary);
  say(`${reason}; waiting up to ${config.drainMs / 1000} s for outstanding ACKs, then closing`);
  await run.stop(config.drainMs);
  const final = run.snapshot();
  say(finalReport(final, run.startedAt));
  return exitCodeOf(final, config.faults.badToken);
}

main().then(
  (code) => process.stdout.write('', () => process.exit(code)),
  (err) => {
    complain(`unexpected failure: ${(err as Error).stack ?? err}`);
    process.exit(1);
  },
);
