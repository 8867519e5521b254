// `npm run sim -- …`: every flag, its default and its help line in one table, and the parsing
// and validation that turn argv into a SimConfig (or a clear UsageError).
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { DEVICE_ID_PATTERN, MAX_PAYLOAD } from '../../hub/src/protocol/index.ts';
import { collectFaults, FAULT_USAGE, FaultError, type Faults } from './faults.ts';
import { MAX_RATE } from './sim-commands.ts';
import { parseSensorKinds, SENSOR_CHANNELS, SENSOR_KINDS, type SensorKind } from './sensors/index.ts';
import { readingsPayloadBytes } from './take-samples.ts';

export class UsageError extends Error {}

export const MAX_DEVICES = 10_000;

interface Flag {
  type: 'string' | 'boolean';
  multiple?: boolean;
  short?: string;
  /** placeholder in --help */
  arg?: string;
  /** the default, as --help shows it (applied in parseCli, not by parseArgs) */
  shown?: string;
  help: string;
}

export const FLAGS = {
  hub: { type: 'string', arg: '<url>', shown: 'http://127.0.0.1:8080', help: 'hub base URL' },
  token: { type: 'string', arg: '<token>', shown: '$HUB_ADMIN_TOKEN, else <data-dir>/admin-token', help: 'operator token, to provision devices that have no token yet' },
  'data-dir': { type: 'string', arg: '<dir>', shown: '$HUB_DATA_DIR, else ./data', help: 'the hub\'s data dir, to read the operator token from its admin-token file' },
  'tokens-file': { type: 'string', arg: '<file>', shown: 'none: tokens are not kept', help: 'JSON {"<device id>": "<token>"}: tokens in it are reused; newly provisioned ones are added, so a restart reuses the same devices' },
  reprovision: { type: 'boolean', shown: 'off', help: 'a device that exists on the hub but has no token in --tokens-file is deleted and created again (without this: an error)' },
  devices: { type: 'string', arg: '<n>', shown: '10', help: `number of devices, 1 to ${MAX_DEVICES}` },
  prefix: { type: 'string', arg: '<text>', shown: 'sim-', help: 'device ids are <prefix>0001, <prefix>0002, …' },
  rate: { type: 'string', arg: '<hz>', shown: '1', help: `READINGS frames per second per device (up to ${MAX_RATE}); the set-rate command changes it per device` },
  batch: { type: 'string', arg: '<n>', shown: '1', help: 'sampling rounds per frame, spread over the frame\'s period; a frame holds n × channels samples' },
  channels: { type: 'string', arg: '<list>', shown: 'all', help: `sensors per device: a comma list of ${SENSOR_KINDS.join(', ')}; "all"; or "mixed" (temperature plus a random half of the rest, per device)` },
  duration: { type: 'string', arg: '<s>', shown: 'until Ctrl-C', help: 'stop after this many seconds, print the final report and exit' },
  'no-clock': { type: 'boolean', shown: 'off', help: 'devices without a clock: frames carry no base time and the hub stamps them on arrival (resent frames get their resend time)' },
  seed: { type: 'string', arg: '<n>', shown: 'random, printed at start', help: 'seed for sensor values and faults, to repeat a run (sessions stay random)' },
  'day-length': { type: 'string', arg: '<s>', shown: '86400', help: 'length of a simulated day: the temperature cycle, battery life (2 days)' },
  'summary-interval': { type: 'string', arg: '<s>', shown: '5', help: 'seconds between summary lines; 0 for none' },
  'connect-rate': { type: 'string', arg: '<n>', shown: '200', help: 'new connections per second (first connects and reconnects), so thousands of devices do not stampede' },
  'source-ips': { type: 'string', arg: '<n>', shown: '32 when the hub is on 127.x.x.x, else 0', help: 'spread sockets over source addresses 127.0.0.1 … 127.0.0.<n> (0: let the OS choose)' },
  buffer: { type: 'string', arg: '<frames>', shown: '1000', help: 'unacknowledged frames each device keeps; beyond that the oldest is dropped' },
  drain: { type: 'string', arg: '<s>', shown: '5', help: 'at exit, how long to wait for outstanding ACKs before closing' },
  fault: { type: 'string', multiple: true, arg: '<spec>', shown: 'none', help: 'inject a fault; repeat for several (see FAULTS)' },
  serial: { type: 'string', arg: '<path>', shown: 'off', help: 'run ONE device over this serial port instead (FP-8 lines), e.g. a socat pty' },
  baud: { type: 'string', arg: '<n>', shown: '115200', help: 'serial baud rate' },
  id: { type: 'string', arg: '<device id>', shown: '<prefix>serial with --serial, else <prefix>0001…', help: 'run exactly this one device (over WebSocket, or the one on --serial) instead of numbered ones' },
  'device-token': { type: 'string', arg: '<token>', shown: 'provisioned, or from --tokens-file', help: 'the --id device\'s own token, as the hub showed it when the device was added: no operator token is needed' },
  help: { type: 'boolean', short: 'h', shown: '', help: 'show this help' },
} as const satisfies Record<string, Flag>;

export type FlagName = keyof typeof FLAGS;

const HELP_WIDTH = 100;

/** Word-wraps `text` to HELP_WIDTH, indenting continuation lines under the first. */
function hanging(left: string, text: string): string {
  const lines: string[] = [];
  let line = left;
  for (const word of text.split(' ')) {
    if (line.length > left.length && line.length + 1 + word.length > HELP_WIDTH) {
      lines.push(line);
      line = ' '.repeat(left.length) + word;
    } else {
      line += (line.length > left.length ? ' ' : '') + word;
    }
  }
  lines.push(line);
  return lines.join('\n');
}

export function helpText(): string {
  const rows = Object.entries(FLAGS as Record<string, Flag>).map(([name, flag]) => [`  ${flag.short ? `-${flag.short}, ` : ''}--${name}${flag.arg ? ` ${flag.arg}` : ''}`, flag]);
  const width = Math.max(...rows.map(([left]) => (left as string).length)) + 2;
  const options = rows.map(([left, flag]) => {
    const f = flag as Flag;
    return hanging((left as string).padEnd(width), `${f.help}${f.shown ? ` (default: ${f.shown})` : ''}`);
  });
  // a syntax too long for the column gets a line of its own, so the others keep room for their text
  const faultWidth = Math.max(...FAULT_USAGE.map(([s]) => s.length).filter((n) => n <= 32)) + 2;
  const fault = ([syntax, meaning]: [string, string]) => (syntax.length + 2 > faultWidth
    ? `  ${syntax}\n${hanging(' '.repeat(faultWidth + 2), meaning)}`
    : hanging(`  ${syntax.padEnd(faultWidth)}`, meaning));
  const channels = SENSOR_KINDS.map((k) => {
    const c = SENSOR_CHANNELS[k];
    return `  ${k.padEnd(12)} channel ${c.id}, ${c.type}${c.unit ? `, ${c.unit}` : ''}`;
  });
  return [
    'device-sim — simulated telemetry devices speaking firmware-protocol.md',
    '',
    'usage: npm run sim -- [options]',
    '       npm run sim -- --id <device id> --device-token <token> [options]',
    '       npm run sim -- --serial /dev/pts/3 [options]',
    '',
    'Provisions the devices it has no token for, connects them over WebSocket at --connect-rate,',
    'streams READINGS, keeps every frame until the hub acknowledges it and resends after reconnects,',
    'answers the ping, set-rate and reboot commands, prints a summary line every few seconds and a',
    'final report at exit (Ctrl-C or --duration). Exit code 0 on success, 1 on failure, 2 on bad options.',
    '',
    'OPTIONS',
    ...options,
    '',
    'CHANNELS',
    ...channels,
    '',
    'FAULTS (--fault <spec>)',
    ...FAULT_USAGE.map(fault),
    '  With --serial only malformed and skew apply. With --channels mixed, an excursion shifts only',
    '  the devices that carry its channel.',
    '',
    'EXAMPLES',
    '  npm run sim -- --devices 1000 --rate 5 --tokens-file sim-tokens.json --duration 60',
    '  npm run sim -- --devices 50 --fault drop:20 --fault malformed:0.05 --channels mixed',
    '  npm run sim -- --hub http://127.0.0.1:8080 --id pump-7 --device-token 3f9c… --rate 2',
    '  npm run sim -- --serial /tmp/ttyB --rate 2',
    '',
  ].join('\n');
}

export interface SimConfig {
  hubUrl: string;
  /** operator token from --token, if given (the env and data dir are looked at later) */
  token?: string;
  dataDir: string;
  tokensFile?: string;
  reprovision: boolean;
  devices: number;
  prefix: string;
  rate: number;
  batch: number;
  channels: SensorKind[] | 'mixed';
  durationMs?: number;
  absoluteTime: boolean;
  seed: number;
  seedGiven: boolean;
  dayLengthMs: number;
  summaryIntervalMs: number;
  connectRate: number;
  sourceAddresses: string[];
  buffer: number;
  drainMs: number;
  faults: Faults;
  serial?: { path: string; baudRate: number; id: string };
  /** --id over WebSocket: a fleet of exactly this device */
  id?: string;
  /** --device-token: that device's token, so nothing is provisioned */
  deviceToken?: string;
}

/** Ids of the fleet: <prefix>0001 … (never renumbered by --devices, so a tokens file stays valid) */
export function deviceIds(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${String(i + 1).padStart(4, '0')}`);
}

/** The WebSocket fleet's ids: the one --id, else <prefix>0001 …. */
export function fleetIds(config: Pick<SimConfig, 'id' | 'prefix' | 'devices'>): string[] {
  return config.id === undefined ? deviceIds(config.prefix, config.devices) : [config.id];
}

function checkId(id: string): string {
  if (!DEVICE_ID_PATTERN.test(id)) throw new UsageError(`--id ${id}: 1-64 characters of A-Z a-z 0-9 . _ - :`);
  return id;
}

export type CliResult = { help: true } | { help: false; config: SimConfig };

function numberFlag(name: FlagName, raw: string | undefined, fallback: number, check: { min: number; max: number; integer?: boolean; above?: boolean }): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  const { min, max, integer, above } = check;
  const ok = raw.trim() !== '' && Number.isFinite(value) && (above ? value > min : value >= min) && value <= max && (!integer || Number.isInteger(value));
  if (!ok) {
    const range = above ? `above ${min} and at most ${max}` : `from ${min} to ${max}`;
    throw new UsageError(`--${name} ${raw}: expected ${integer ? 'a whole number' : 'a number'} ${range}`);
  }
  return value;
}

function isLoopbackLiteral(hostname: string): boolean {
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

export function parseCli(argv: string[], env: NodeJS.ProcessEnv = {}): CliResult {
  const options = Object.fromEntries(Object.entries(FLAGS as Record<string, Flag>).map(([name, { type, multiple, short }]) => [name, { type, ...(multiple && { multiple }), ...(short && { short }) }]));
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false }));
  } catch (err) {
    // node's messages are good ("Unknown option '--x'"); only the hint is ours
    throw new UsageError((err as Error).message.replace(/\. To specify a positional argument.*$/, ''));
  }
  if (values.help) return { help: true };
  const str = (name: FlagName) => values[name] as string | undefined;
  const flag = (name: FlagName) => values[name] === true;

  const hubText = str('hub') ?? 'http://127.0.0.1:8080';
  let hub: URL;
  try {
    hub = new URL(hubText);
  } catch {
    throw new UsageError(`--hub ${hubText}: not a URL (expected e.g. http://127.0.0.1:8080)`);
  }
  if (hub.protocol !== 'http:' && hub.protocol !== 'https:') throw new UsageError(`--hub ${hubText}: expected an http:// or https:// URL`);
  const hubUrl = hub.origin + hub.pathname.replace(/\/+$/, '');

  const prefix = str('prefix') ?? 'sim-';
  if (!DEVICE_ID_PATTERN.test(`${prefix}${MAX_DEVICES}`)) throw new UsageError(`--prefix ${prefix}: device ids allow A-Z a-z 0-9 . _ - : and 64 characters in all`);

  const absoluteTime = !flag('no-clock');
  const channelsText = str('channels') ?? 'all';
  let channels: SensorKind[] | 'mixed';
  try {
    channels = channelsText.trim() === 'mixed' ? 'mixed' : parseSensorKinds(channelsText);
  } catch (err) {
    throw new UsageError(`--channels ${channelsText}: ${(err as Error).message}`);
  }
  const batch = numberFlag('batch', str('batch'), 1, { min: 1, max: 10_000, integer: true });
  const types = (channels === 'mixed' ? [...SENSOR_KINDS] : channels).map((k) => SENSOR_CHANNELS[k].type);
  // [FP-3.4] a frame's payload is at most 16384 bytes
  if (readingsPayloadBytes(types, batch, absoluteTime) > MAX_PAYLOAD) {
    throw new UsageError(`--batch ${batch}: frames would exceed the protocol's ${MAX_PAYLOAD}-byte payload limit with these channels`);
  }

  const seedText = str('seed');
  const seed = seedText === undefined ? Math.floor(Math.random() * 0x1_0000_0000) : numberFlag('seed', seedText, 0, { min: 0, max: 0xffffffff, integer: true });
  const durationText = str('duration');
  const sourceIps = numberFlag('source-ips', str('source-ips'), isLoopbackLiteral(hub.hostname) ? 32 : 0, { min: 0, max: 254, integer: true });
  if (sourceIps > 0 && !isLoopbackLiteral(hub.hostname)) throw new UsageError(`--source-ips ${sourceIps}: only for a hub on a 127.x.x.x address (got ${hub.hostname})`);

  let faults: Faults;
  try {
    faults = collectFaults((values.fault as string[] | undefined) ?? []);
  } catch (err) {
    if (err instanceof FaultError) throw new UsageError(err.message);
    throw err;
  }
  // with "mixed" some devices carry the channel and some do not; a list without it is a mistake
  if (faults.excursion && channels !== 'mixed' && !channels.includes(faults.excursion.channel)) {
    throw new UsageError(`--fault excursion:${faults.excursion.channel}:…: no device carries ${faults.excursion.channel} (--channels ${channelsText})`);
  }

  const config: SimConfig = {
    hubUrl,
    token: str('token'),
    dataDir: resolve(str('data-dir') ?? (env.HUB_DATA_DIR || './data')),
    tokensFile: str('tokens-file'),
    reprovision: flag('reprovision'),
    devices: numberFlag('devices', str('devices'), 10, { min: 1, max: MAX_DEVICES, integer: true }),
    prefix,
    rate: numberFlag('rate', str('rate'), 1, { min: 0, max: MAX_RATE, above: true }),
    batch,
    channels,
    durationMs: durationText === undefined ? undefined : 1000 * numberFlag('duration', durationText, 0, { min: 0, max: 365 * 86_400, above: true }),
    absoluteTime,
    seed,
    seedGiven: seedText !== undefined,
    dayLengthMs: 1000 * numberFlag('day-length', str('day-length'), 86_400, { min: 0, max: 365 * 86_400, above: true }),
    summaryIntervalMs: 1000 * numberFlag('summary-interval', str('summary-interval'), 5, { min: 0, max: 86_400 }),
    connectRate: numberFlag('connect-rate', str('connect-rate'), 200, { min: 0, max: 100_000, above: true }),
    sourceAddresses: Array.from({ length: sourceIps }, (_, i) => `127.0.0.${i + 1}`),
    buffer: numberFlag('buffer', str('buffer'), 1000, { min: 1, max: 10_000_000, integer: true }),
    drainMs: 1000 * numberFlag('drain', str('drain'), 5, { min: 0, max: 3600 }),
    faults,
  };

  const serialPath = str('serial');
  if (serialPath !== undefined) {
    if (str('devices') !== undefined && config.devices !== 1) throw new UsageError('--serial runs one device: leave out --devices');
    const unsupported = (['drop', 'stall', 'burst'] as const).filter((k) => faults[k]);
    if (faults.badToken) unsupported.push('bad-token' as never);
    if (unsupported.length) throw new UsageError(`--fault ${unsupported.join(', ')}: not available with --serial (serial devices have no connection or token); malformed and skew are`);
    if (faults.excursion) throw new UsageError('--fault excursion: not available with --serial; malformed and skew are');
    if (str('device-token') !== undefined) throw new UsageError('--device-token: not available with --serial (serial devices have no token)');
    const id = checkId(str('id') ?? `${prefix}serial`);
    config.serial = { path: serialPath, baudRate: numberFlag('baud', str('baud'), 115200, { min: 1, max: 10_000_000, integer: true }), id };
  } else {
    if (str('baud') !== undefined) throw new UsageError('--baud applies only with --serial');
    const id = str('id');
    const deviceToken = str('device-token');
    if (id !== undefined) {
      if (str('devices') !== undefined && config.devices !== 1) throw new UsageError('--id runs one device: leave out --devices');
      if (str('prefix') !== undefined) throw new UsageError('--id names the device: leave out --prefix');
      config.id = checkId(id);
    }
    if (deviceToken !== undefined) {
      if (id === undefined) throw new UsageError('--device-token is one device\'s token: give its --id too');
      if (!/^\S+$/.test(deviceToken)) throw new UsageError('--device-token: expected the token as the hub showed it (no spaces)');
      // the token is given: nothing to provision, so nothing to reuse or recreate
      if (config.tokensFile !== undefined) throw new UsageError('--device-token gives the token: leave out --tokens-file');
      if (config.reprovision) throw new UsageError('--device-token gives the token: leave out --reprovision');
      config.deviceToken = deviceToken;
    }
  }
  return { help: false, config };
}
