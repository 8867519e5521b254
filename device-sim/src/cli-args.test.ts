import { describe, expect, it } from 'vitest';
import { deviceIds, FLAGS, fleetIds, helpText, parseCli, UsageError, type SimConfig } from './cli-args.ts';
import { FAULT_USAGE } from './faults.ts';
import { SENSOR_KINDS } from './sensors/index.ts';

function config(args: string[], env: NodeJS.ProcessEnv = {}): SimConfig {
  const result = parseCli(args, env);
  if (result.help) throw new Error('got help');
  return result.config;
}

describe('--help', () => {
  const help = helpText();

  it('documents every flag, with its default', () => {
    for (const [name, flag] of Object.entries(FLAGS)) {
      const line = help.split('\n').find((l) => l.trimStart().startsWith(`--${name}`) || l.includes(`, --${name}`));
      expect(line, `--${name}`).toBeDefined();
      if (name !== 'help') expect(help.slice(help.indexOf(line!)).split('\n--')[0], `--${name}`).toMatch(/\(default: [^)]+\)/);
      expect(flag.help.length).toBeGreaterThan(5);
    }
  });

  it('documents every fault and every channel', () => {
    for (const [syntax] of FAULT_USAGE) expect(help).toContain(syntax);
    for (const kind of SENSOR_KINDS) expect(help).toContain(kind);
  });

  it('is asked for with --help or -h, whatever else is given', () => {
    expect(parseCli(['--help'])).toEqual({ help: true });
    expect(parseCli(['--devices', '5', '-h'])).toEqual({ help: true });
  });
});

describe('parseCli', () => {
  it('has sensible defaults', () => {
    const c = config([], {});
    expect(c).toMatchObject({
      hubUrl: 'http://127.0.0.1:8080', devices: 10, prefix: 'sim-', rate: 1, batch: 1, channels: [...SENSOR_KINDS],
      absoluteTime: true, seedGiven: false, dayLengthMs: 86_400_000, summaryIntervalMs: 5000, connectRate: 200,
      buffer: 1000, drainMs: 5000, reprovision: false, faults: { badToken: false },
    });
    expect(c.durationMs).toBeUndefined();
    expect(c.serial).toBeUndefined();
    expect(c.dataDir).toMatch(/\/data$/);
    expect(c.sourceAddresses).toHaveLength(32);
    expect(c.sourceAddresses[0]).toBe('127.0.0.1');
  });

  it('reads every flag', () => {
    const c = config([
      '--hub', 'http://127.0.0.2:9000/', '--token', 'op', '--data-dir', '/tmp/d', '--tokens-file', 't.json', '--reprovision',
      '--devices', '1000', '--prefix', 'load-', '--rate', '0.5', '--batch', '10', '--channels', 'door,battery', '--duration', '12',
      '--no-clock', '--seed', '99', '--day-length', '600', '--summary-interval', '0', '--connect-rate', '500', '--source-ips', '4',
      '--buffer', '50', '--drain', '1', '--fault', 'drop:20', '--fault', 'bad-token',
    ]);
    expect(c).toMatchObject({
      hubUrl: 'http://127.0.0.2:9000', token: 'op', dataDir: '/tmp/d', tokensFile: 't.json', reprovision: true,
      devices: 1000, prefix: 'load-', rate: 0.5, batch: 10, channels: ['door', 'battery'], durationMs: 12_000,
      absoluteTime: false, seed: 99, seedGiven: true, dayLengthMs: 600_000, summaryIntervalMs: 0, connectRate: 500,
      sourceAddresses: ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4'], buffer: 50, drainMs: 1000,
      faults: { drop: { everyMs: 20_000 }, badToken: true },
    });
  });

  it('takes the data dir from HUB_DATA_DIR, and spreads source addresses only for a loopback hub', () => {
    expect(config([], { HUB_DATA_DIR: '/srv/hub' }).dataDir).toBe('/srv/hub');
    expect(config(['--hub', 'http://hub.example:8080']).sourceAddresses).toEqual([]);
    expect(config(['--channels', 'mixed']).channels).toBe('mixed');
  });

  it('takes an excursion on a channel the devices carry, or may carry with --channels mixed', () => {
    const excursion = { channel: 'humidity', offset: -20, afterMs: 0, forMs: 30_000 };
    expect(config(['--fault', 'excursion:humidity:-20/0/30']).faults.excursion).toEqual(excursion);
    expect(config(['--channels', 'mixed', '--fault', 'excursion:humidity:-20/0/30']).faults.excursion).toEqual(excursion);
  });

  it('runs one serial device with --serial', () => {
    expect(config(['--serial', '/dev/pts/3', '--baud', '9600', '--fault', 'malformed:0.1']).serial).toEqual({ path: '/dev/pts/3', baudRate: 9600, id: 'sim-serial' });
    expect(config(['--serial', '/tmp/ttyB', '--id', 'bench-1']).serial?.id).toBe('bench-1');
  });

  it('runs exactly one device with --id over WebSocket, with its own token when given', () => {
    const one = config(['--id', 'pump-7']);
    expect(one).toMatchObject({ id: 'pump-7', devices: 10 });
    expect(one.deviceToken).toBeUndefined();
    expect(one.serial).toBeUndefined();
    expect(fleetIds(one)).toEqual(['pump-7']);
    expect(fleetIds(config(['--id', 'a:b.c_d-0', '--devices', '1']))).toEqual(['a:b.c_d-0']);
    const own = config(['--hub', 'http://127.0.0.1:9000', '--id', 'dev-1a2b3c4d', '--device-token', '0123456789abcdef0123456789abcdef']);
    expect(own).toMatchObject({ id: 'dev-1a2b3c4d', deviceToken: '0123456789abcdef0123456789abcdef' });
    // an id that starts with a dash is given with =
    expect(config(['--id=-x']).id).toBe('-x');
    expect(fleetIds(config(['--devices', '3', '--prefix', 'p-']))).toEqual(['p-0001', 'p-0002', 'p-0003']);
  });

  it.each([
    [['--id', 'pump-7', '--devices', '2'], '--id runs one device: leave out --devices'],
    [['--id', 'pump-7', '--prefix', 'x-'], '--id names the device: leave out --prefix'],
    [['--id', 'bad id'], '--id bad id: 1-64 characters'],
    [['--id', 'x'.repeat(65)], `--id ${'x'.repeat(65)}: 1-64 characters`],
    [['--device-token', 'abc'], '--device-token is one device\'s token: give its --id too'],
    [['--id', 'p', '--device-token', 'a b'], '--device-token: expected the token as the hub showed it'],
    [['--id', 'p', '--device-token', 'abc', '--tokens-file', 't.json'], '--device-token gives the token: leave out --tokens-file'],
    [['--id', 'p', '--device-token', 'abc', '--reprovision'], '--device-token gives the token: leave out --reprovision'],
    [['--serial', '/dev/x', '--id', 'p', '--device-token', 'abc'], '--device-token: not available with --serial'],
    [['--serial', '/dev/x', '--id', 'bad id'], '--id bad id: 1-64 characters'],
  ])('refuses %j: %s', (args, message) => {
    expect(() => parseCli(args)).toThrow(UsageError);
    expect(() => parseCli(args)).toThrow(message);
  });

  it.each([
    [['--devices', '0'], '--devices 0: expected a whole number from 1 to 10000'],
    [['--devices', '10001'], '--devices 10001: expected a whole number from 1 to 10000'],
    [['--devices', '2.5'], '--devices 2.5: expected a whole number'],
    [['--devices'], "Option '--devices <value>' argument missing"],
    [['--rate', '0'], '--rate 0: expected a number above 0 and at most 1000'],
    [['--rate', 'fast'], '--rate fast: expected a number'],
    [['--duration=-1'], '--duration -1: expected a number above 0'],
    [['--duration', '-1'], "use '--duration=-XYZ'"],
    [['--hub', 'localhost:8080'], '--hub localhost:8080: expected an http:// or https:// URL'],
    [['--hub', 'not a url'], '--hub not a url: not a URL'],
    [['--prefix', 'bad prefix '], '--prefix bad prefix : device ids allow'],
    [['--channels', 'temperature,lux'], '--channels temperature,lux: unknown channel "lux"'],
    [['--batch', '2000'], "frames would exceed the protocol's 16384-byte payload limit"],
    [['--seed=-1'], '--seed -1: expected a whole number from 0 to 4294967295'],
    [['--fault', 'flood'], '--fault flood: unknown fault'],
    [['--fault', 'malformed:2'], '--fault malformed:2: the probability must be from 0 to 1'],
    [['--bogus'], "Unknown option '--bogus'"],
    [['extra'], "Unexpected argument 'extra'"],
    [['--source-ips', '3', '--hub', 'http://10.0.0.1:8080'], '--source-ips 3: only for a hub on a 127.x.x.x address'],
    [['--serial', '/dev/x', '--devices', '5'], '--serial runs one device'],
    [['--serial', '/dev/x', '--fault', 'drop:5'], '--fault drop: not available with --serial'],
    [['--baud', '9600'], '--baud applies only with --serial'],
    [['--channels', 'door,battery', '--fault', 'excursion:temperature:+15/5/10'], '--fault excursion:temperature:…: no device carries temperature (--channels door,battery)'],
    [['--serial', '/dev/x', '--fault', 'excursion:temperature:+15/5/10'], '--fault excursion: not available with --serial'],
  ])('refuses %j: %s', (args, message) => {
    expect(() => parseCli(args)).toThrow(UsageError);
    expect(() => parseCli(args)).toThrow(message);
  });
});

describe('deviceIds', () => {
  it('numbers from 1 with at least four digits, so ids do not change with --devices', () => {
    expect(deviceIds('sim-', 3)).toEqual(['sim-0001', 'sim-0002', 'sim-0003']);
    expect(deviceIds('x', 10_000).slice(-2)).toEqual(['x9999', 'x10000']);
  });
});
