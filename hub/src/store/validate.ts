// One set of rules for every backend, so a reading one store accepts is storable by all of them and
// the outage spool never keeps a reading that the primary would refuse on every retry.
import { AGGREGATES, type Aggregate, type Reading, type ReadingQuery } from './store.ts';
import { WriteRejectedError } from './errors.ts';
import { ReadingBatch, type Readings } from './reading-batch.ts';

// InfluxDB keeps int64 nanoseconds minus two sentinels; the same range in whole milliseconds.
export const MIN_TIME = -9_223_372_036_854;
export const MAX_TIME = 9_223_372_036_854;
export const MAX_NAME_LENGTH = 256;

// A lone surrogate has no UTF-8 form; backends would store U+FFFD and the name would not read back.
const LONE_SURROGATE = /\p{Cs}/u;

function nameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string') return 'is not a string';
  if (name.length === 0) return 'is empty';
  if (name.length > MAX_NAME_LENGTH) return `is longer than ${MAX_NAME_LENGTH} characters`;
  if (LONE_SURROGATE.test(name)) return 'is not valid Unicode';
  return undefined;
}

function readingProblem(r: Reading): string | undefined {
  if (r === null || typeof r !== 'object') return 'is not an object';
  const device = nameProblem(r.deviceId);
  if (device) return `deviceId ${device}`;
  const channel = nameProblem(r.channel);
  if (channel) return `channel ${channel}`;
  const time = timeProblem(r.time);
  if (time) return time;
  if (typeof r.value !== 'number' || !Number.isFinite(r.value)) return `value ${String(r.value)} is not a finite number`;
  return undefined;
}

/** Throws WriteRejectedError naming the first bad reading; a batch is accepted whole or not at all. */
export function validateReadings(readings: Readings): void {
  if (readings instanceof ReadingBatch) return validateBatch(readings);
  if (!Array.isArray(readings)) throw new WriteRejectedError('readings must be an array');
  for (let i = 0; i < readings.length; i++) {
    const problem = readingProblem(readings[i]);
    if (problem) throw new WriteRejectedError(`reading ${i}: ${problem}`);
  }
}

function timeProblem(time: number): string | undefined {
  if (!Number.isInteger(time) || time < MIN_TIME || time > MAX_TIME) return `time ${String(time)} is not a whole ms within ±${MAX_TIME}`;
  return undefined;
}

/**
 * In columns a batch names a few devices and channels thousands of times: each name is checked once
 * (the Unicode test on every name of every reading was most of a write's validation).
 */
function validateBatch(batch: ReadingBatch): void {
  const good = new Set<string>();
  const { deviceId, channel, time, value } = batch;
  for (let i = 0; i < batch.length; i++) {
    let problem: string | undefined;
    const device = deviceId[i];
    if (!good.has(device)) {
      const p = nameProblem(device);
      if (p) problem = `deviceId ${p}`;
      else good.add(device);
    }
    const name = channel[i];
    if (problem === undefined && !good.has(name)) {
      const p = nameProblem(name);
      if (p) problem = `channel ${p}`;
      else good.add(name);
    }
    problem ??= timeProblem(time[i]);
    if (problem === undefined && !Number.isFinite(value[i])) problem = `value ${String(value[i])} is not a finite number`;
    if (problem) throw new WriteRejectedError(`reading ${i}: ${problem}`);
  }
}

export interface NormalizedQuery {
  deviceId: string;
  channel?: string;
  /** whole ms, inclusive */
  from: number;
  /** whole ms, exclusive */
  to: number;
  /** set when `agg` is: the window length, or the whole range when the query gave no `every` */
  agg?: { fn: Aggregate; every?: number };
  limit: number;
  /** true when no point can match, so a store may answer [] without asking its backend */
  empty: boolean;
}

/**
 * Checks a query and turns its range into whole milliseconds within what every backend can store.
 * `every` without `agg` is ignored (raw points); `agg` without `every` makes one window per channel
 * spanning [from, to), reported at `from`.
 */
export function normalizeQuery(q: ReadingQuery): NormalizedQuery {
  if (typeof q.deviceId !== 'string') throw new RangeError('query deviceId must be a string');
  if (q.channel !== undefined && typeof q.channel !== 'string') throw new RangeError('query channel must be a string');
  // A name no reading may have (empty, too long) is not an error to ask about: there is just nothing.
  const unstorable = nameProblem(q.deviceId) !== undefined || (q.channel !== undefined && nameProblem(q.channel) !== undefined);
  if (typeof q.from !== 'number' || Number.isNaN(q.from)) throw new RangeError('query from must be a number');
  if (typeof q.to !== 'number' || Number.isNaN(q.to)) throw new RangeError('query to must be a number');
  if (!Number.isSafeInteger(q.limit) || q.limit < 0) throw new RangeError('query limit must be a whole number ≥ 0');
  if (q.agg !== undefined && !AGGREGATES.includes(q.agg)) throw new RangeError(`query agg must be one of ${AGGREGATES.join(', ')}`);
  if (q.every !== undefined && (!Number.isSafeInteger(q.every) || q.every <= 0)) throw new RangeError('query every must be a whole number of ms > 0');
  const from = Math.max(MIN_TIME, Math.min(MAX_TIME + 1, Math.ceil(q.from)));
  const to = Math.max(MIN_TIME, Math.min(MAX_TIME + 1, Math.ceil(q.to)));
  return {
    deviceId: q.deviceId,
    channel: q.channel,
    from,
    to,
    agg: q.agg === undefined ? undefined : { fn: q.agg, every: q.every },
    limit: q.limit,
    empty: unstorable || from >= to || q.limit === 0,
  };
}
