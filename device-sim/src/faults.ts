// Fault injection: what `--fault` accepts, and the small pure pieces the simulator applies.
import type { Random } from './random.ts';
import { SENSOR_CHANNELS, SENSOR_KINDS, type SensorKind, type SensorModel } from './sensors/index.ts';

export type FaultSpec =
  | { kind: 'drop'; everyMs: number }
  | { kind: 'stall'; forMs: number; everyMs: number }
  | { kind: 'burst'; factor: number; everyMs: number; forMs: number }
  | { kind: 'skew'; ms: number }
  | { kind: 'malformed'; probability: number }
  | { kind: 'bad-token' }
  | ({ kind: 'excursion' } & Excursion);

/** One channel pushed off its model by a fixed amount for a while, e.g. to drive it over an alert threshold. */
export interface Excursion {
  channel: SensorKind;
  offset: number;
  /** from the device's start (its first connect) */
  afterMs: number;
  forMs: number;
}

export interface Faults {
  drop?: { everyMs: number };
  stall?: { forMs: number; everyMs: number };
  burst?: { factor: number; everyMs: number; forMs: number };
  skewMs?: number;
  malformed?: number;
  badToken: boolean;
  excursion?: Excursion;
}

/** For --help: one line per fault. */
export const FAULT_USAGE: [syntax: string, meaning: string][] = [
  ['drop:<every s>', 'each device drops its TCP connection (no close handshake) once per period, at its own phase; it reconnects with backoff and resends'],
  ['stall:<s>[/<every s>]', 'each device freezes for <s> seconds once per period (default every max(30, 4×s) s): sends nothing, reads nothing, answers no pings'],
  ['burst:<x>[/<every s>[/<for s>]]', 'each device sends at <x> times its rate for <for> s (default 3) once per period (default 30 s)'],
  ['skew:<ms>', 'device clocks run <ms> off (negative: behind) and ignore the hub time in ACKs; over 300000 the hub rejects samples (FP_ERR_BAD_TIME)'],
  ['malformed:<p>', 'each new READINGS frame goes out with one random bit flipped with probability <p> (0..1); the hub closes the connection, the device reconnects and resends the intact copy'],
  ['bad-token', 'the last device connects with a wrong token and reports the hub\'s HTTP 401'],
  ['excursion:<channel>:<offset>/<after s>/<for s>', 'each device\'s <channel> (a number channel) reads its normal value plus <offset> (e.g. +15 or -10) for <for> s from <after> s after the device first connected, then normal again: exactly the samples stamped in that span are shifted, e.g. excursion:temperature:+15/5/10'],
];

export class FaultError extends Error {}

function number(text: string | undefined, what: string, spec: string, check: (n: number) => boolean): number {
  const value = Number(text);
  if (text === undefined || text.trim() === '' || !Number.isFinite(value) || !check(value)) {
    const usage = FAULT_USAGE.find(([syntax]) => syntax.startsWith(spec.split(':')[0] + ':'))?.[0];
    throw new FaultError(`--fault ${spec}: ${what}${usage ? ` (expected ${usage})` : ''}`);
  }
  return value;
}

const positive = (n: number) => n > 0;

export function parseFault(spec: string): FaultSpec {
  const colon = spec.indexOf(':');
  const kind = colon < 0 ? spec : spec.slice(0, colon);
  const args = colon < 0 ? [] : spec.slice(colon + 1).split('/');
  switch (kind) {
    case 'drop':
      if (args.length !== 1) break;
      return { kind, everyMs: 1000 * number(args[0], 'the period must be a positive number of seconds', spec, positive) };
    case 'stall': {
      if (args.length < 1 || args.length > 2) break;
      const forMs = 1000 * number(args[0], 'the stall must last a positive number of seconds', spec, positive);
      const everyMs = args[1] === undefined ? Math.max(30_000, 4 * forMs) : 1000 * number(args[1], 'the period must be a positive number of seconds', spec, positive);
      if (everyMs <= forMs) throw new FaultError(`--fault ${spec}: the period must be longer than the stall`);
      return { kind, forMs, everyMs };
    }
    case 'burst': {
      if (args.length < 1 || args.length > 3) break;
      const factor = number(args[0], 'the factor must be a number above 1', spec, (n) => n > 1 && n <= 1000);
      const everyMs = args[1] === undefined ? 30_000 : 1000 * number(args[1], 'the period must be a positive number of seconds', spec, positive);
      const forMs = args[2] === undefined ? Math.min(3000, everyMs / 2) : 1000 * number(args[2], 'the burst must last a positive number of seconds', spec, positive);
      if (everyMs <= forMs) throw new FaultError(`--fault ${spec}: the period must be longer than the burst`);
      return { kind, factor, everyMs, forMs };
    }
    case 'skew':
      if (args.length !== 1) break;
      return { kind, ms: number(args[0], 'the skew must be a whole number of milliseconds', spec, Number.isInteger) };
    case 'malformed':
      if (args.length !== 1) break;
      return { kind, probability: number(args[0], 'the probability must be from 0 to 1', spec, (n) => n >= 0 && n <= 1) };
    case 'bad-token':
      if (args.length !== 0) break;
      return { kind };
    case 'excursion':
      return parseExcursion(spec);
    default:
      throw new FaultError(`--fault ${spec}: unknown fault ${JSON.stringify(kind)}; known: ${FAULT_USAGE.map(([s]) => s.split(':')[0]).join(', ')}`);
  }
  const usage = FAULT_USAGE.find(([syntax]) => syntax.split(/[:[]/)[0] === kind)![0];
  throw new FaultError(`--fault ${spec}: expected ${usage}`);
}

const NUMBER_KINDS = SENSOR_KINDS.filter((k) => SENSOR_CHANNELS[k].type !== 'bool');

function parseExcursion(spec: string): FaultSpec {
  const [, channel, rest, extra] = spec.split(':');
  const args = rest?.split('/') ?? [];
  if (channel === undefined || extra !== undefined || args.length !== 3) throw new FaultError(`--fault ${spec}: expected ${FAULT_USAGE.find(([s]) => s.startsWith('excursion:'))![0]}`);
  if (!(NUMBER_KINDS as readonly string[]).includes(channel)) {
    throw new FaultError(`--fault ${spec}: the channel must be one of ${NUMBER_KINDS.join(', ')}`);
  }
  const offset = number(args[0], 'the offset must be a number other than 0', spec, (n) => n !== 0);
  const afterMs = 1000 * number(args[1], 'the start must be 0 or more seconds', spec, (n) => n >= 0);
  const forMs = 1000 * number(args[2], 'the excursion must last a positive number of seconds', spec, positive);
  return { kind: 'excursion', channel: channel as SensorKind, offset, afterMs, forMs };
}

/** Several --fault flags into one set; the same kind twice is a mistake, not a merge. */
export function collectFaults(specs: readonly string[]): Faults {
  const faults: Faults = { badToken: false };
  const seen = new Set<string>();
  for (const text of specs) {
    const spec = parseFault(text);
    if (seen.has(spec.kind)) throw new FaultError(`--fault ${spec.kind} given twice`);
    seen.add(spec.kind);
    switch (spec.kind) {
      case 'drop': faults.drop = { everyMs: spec.everyMs }; break;
      case 'stall': faults.stall = { forMs: spec.forMs, everyMs: spec.everyMs }; break;
      case 'burst': faults.burst = { factor: spec.factor, everyMs: spec.everyMs, forMs: spec.forMs }; break;
      case 'skew': faults.skewMs = spec.ms; break;
      case 'malformed': faults.malformed = spec.probability; break;
      case 'bad-token': faults.badToken = true; break;
      case 'excursion': faults.excursion = { channel: spec.channel, offset: spec.offset, afterMs: spec.afterMs, forMs: spec.forMs }; break;
    }
  }
  return faults;
}

/** A copy of `bytes` with one random bit flipped: line noise, or a broken encoder. */
export function flipRandomBit(bytes: Uint8Array, rand: Random): Uint8Array {
  const copy = new Uint8Array(bytes);
  const bit = Math.floor(rand() * bytes.length * 8);
  copy[bit >> 3] ^= 1 << (bit & 7);
  return copy;
}

/** The `tamper` hook of a device: damages a frame with the given probability. */
export function malformer(probability: number, rand: Random): (bytes: Uint8Array) => Uint8Array {
  return (bytes) => (rand() < probability ? flipRandomBit(bytes, rand) : bytes);
}

/** A token of the same shape that is certainly not the right one. */
export function wrongToken(token: string): string {
  return token.slice(0, -1) + (token.at(-1) === '0' ? '1' : '0');
}

/**
 * When a device's first periodic fault happens: at a random phase in the first period, so a
 * thousand devices do not all drop at the same moment.
 */
export function firstOccurrence(start: number, everyMs: number, rand: Random): number {
  return start + rand() * everyMs;
}

/** What an excursion adds at sample time `t` to a device that started at `startedAt`: [start + after, start + after + for). */
export function excursionOffset(excursion: Excursion, startedAt: number, t: number): number {
  const from = startedAt + excursion.afterMs;
  return t >= from && t < from + excursion.forMs ? excursion.offset : 0;
}

/**
 * A device's sensors with the excursion applied to its channel (the others as they are). The model
 * underneath keeps running, so the channel comes back to where it would have been anyway.
 */
export function applyExcursion(sensors: readonly SensorModel[], excursion: Excursion, startedAt: number): SensorModel[] {
  const channel = SENSOR_CHANNELS[excursion.channel];
  return sensors.map((sensor) => {
    if (sensor.channel.id !== channel.id) return sensor;
    // an i32 channel cannot carry a fraction
    const shift = sensor.channel.type === 'i32' ? (v: number) => Math.round(v) : (v: number) => v;
    return {
      channel: sensor.channel,
      read: (t) => shift((sensor.read(t) as number) + excursionOffset(excursion, startedAt, t)),
    };
  });
}
