// History tiers in InfluxDB: continuous queries into retention policies of their own.
//
//   rp_1m / readings_1m   every minute, the last 3 minutes of `readings` again (RESAMPLE EVERY 1m FOR 3m)
//   rp_1h / readings_1h   every hour, the last 2 hours of `readings_1m` again (RESAMPLE EVERY 1h FOR 2h)
//   fields n (count), total (sum), lo (min), hi (max), last; tags device and channel as in `readings`
//
// Lag: a continuous query runs at the end of each interval, and re-reads a few intervals back, so a
// bucket is only trusted once every run that reads it is over (`influxTierSpans`): 3 minutes after a
// minute ends, 2 hours after an hour ends, plus a minute for the query's own run time and clock skew.
// Newer parts of a query's range come from the next finer tier or the readings themselves.
//
// Late readings (store-and-forward devices, the outage spool replaying): a continuous query never
// looks back past its FOR window, so whenever a write holds readings of a minute the queries will not
// read again, the store computes that span of the tiers itself after the write (`backfillStatements`),
// for the devices in the batch, before the write resolves. A crash between the two leaves those
// buckets without the late readings; the hub acknowledges no reading before the write resolves.
// Measured on a busy 2-core machine: that is ~100 ms a write whatever its size, so late readings
// went in at 25-30k/s in 5,000-reading writes (recent ones at ~250k/s) and 90-100k/s in 20,000;
// the outage spool replays in 20,000-reading writes for it (open-store.ts).
//
// A bucket whose sum overflows (values beyond ±1e296) cannot be written (InfluxDB stores no
// infinity) and would be missing from the tier: such readings also leave a point in `unsummable`,
// and a channel with one in the asked range is answered from its readings.
import { escape } from 'influx';
import { ceilTo, floorTo, TIERS, type Tier, type TierSpan } from './pick-tier.ts';
import { retentionOf, tierRetentionMs, type TierRetention } from './tier-retention.ts';

export const UNSUMMABLE_MEASUREMENT = 'unsummable';
/** 2^984: fewer than 2^40 values of this size cannot overflow a sum */
export const UNSUMMABLE_ABOVE = 2 ** 984;

const [MINUTE, HOUR] = TIERS;
/** how long a continuous query may take to run, and how far the hub's clock may be from InfluxDB's */
const RUN_MARGIN_MS = 60_000;
const MINUTE_FOR = 3;
const HOUR_FOR = 2;

export const tierPolicy = (tier: Tier) => `rp_${tier.name}`;
export const tierMeasurement = (tier: Tier) => `readings_${tier.name}`;
const STATE_FIELDS = 'count(value) AS n, sum(value) AS total, min(value) AS lo, max(value) AS hi, last(value) AS last';
const STATE_OF_STATES = 'sum(n) AS n, sum(total) AS total, min(lo) AS lo, max(hi) AS hi, last(last) AS last';

const ns = (ms: number) => `${BigInt(ms) * 1_000_000n}`;

/** The first whole bucket at or after `time`; -Infinity stays -Infinity. */
function bucketFrom(time: number, step: number): number {
  return Number.isFinite(time) ? ceilTo(time, step) : -Infinity;
}

function retentionMs(retention: TierRetention, tier: Tier): number {
  return tierRetentionMs(retentionOf(retention, tier.name));
}

/** InfluxQL duration of a tier's policy. */
export function tierDuration(retention: TierRetention, tier: Tier): string {
  const text = retentionOf(retention, tier.name);
  return Number.isFinite(tierRetentionMs(text)) ? text.toLowerCase() : 'INF';
}

export interface InfluxNames {
  /** quoted database */
  db: string;
  /** `"db"."rp"."readings"`, quoted */
  raw: string;
}

export function tierTarget(names: InfluxNames, tier: Tier): string {
  return `${names.db}.${escape.quoted(tierPolicy(tier))}.${escape.quoted(tierMeasurement(tier))}`;
}

/** The continuous queries, by name. */
export function continuousQueries(names: InfluxNames): Map<string, string> {
  const minute = `CREATE CONTINUOUS QUERY ${escape.quoted(`rollup_${MINUTE.name}`)} ON ${names.db} RESAMPLE EVERY 1m FOR ${MINUTE_FOR}m BEGIN
    SELECT ${STATE_FIELDS} INTO ${tierTarget(names, MINUTE)} FROM ${names.raw} GROUP BY time(1m), * END`;
  const hour = `CREATE CONTINUOUS QUERY ${escape.quoted(`rollup_${HOUR.name}`)} ON ${names.db} RESAMPLE EVERY 1h FOR ${HOUR_FOR}h BEGIN
    SELECT ${STATE_OF_STATES} INTO ${tierTarget(names, HOUR)} FROM ${tierTarget(names, MINUTE)} GROUP BY time(1h), * END`;
  return new Map([[`rollup_${MINUTE.name}`, minute], [`rollup_${HOUR.name}`, hour]]);
}

/**
 * Where each tier may be trusted at `now`: from its retention (and from when its continuous query
 * was created, on a database that had readings before) to the end of its lag.
 */
export function influxTierSpans(retention: TierRetention, createdAt: number, now: number): TierSpan[] {
  const since = (tier: Tier) => Math.max(now - retentionMs(retention, tier), bucketFrom(createdAt, tier.bucketMs));
  return [
    { tier: MINUTE, since: since(MINUTE), until: floorTo(now - RUN_MARGIN_MS, MINUTE.bucketMs) - (MINUTE_FOR - 1) * MINUTE.bucketMs },
    // the last hour's buckets are read again from minutes complete by then
    { tier: HOUR, since: since(HOUR), until: floorTo(now - RUN_MARGIN_MS - MINUTE_FOR * MINUTE.bucketMs, HOUR.bucketMs) - (HOUR_FOR - 1) * HOUR.bucketMs },
  ];
}

/** True when a reading written at `writtenAt` lies in a minute no continuous query reads again. */
export function isLate(time: number, writtenAt: number): boolean {
  // The next run after the write reads back to FOR minutes before its own minute; one minute is
  // kept in hand for clock skew between the hub and InfluxDB.
  return time < floorTo(writtenAt, MINUTE.bucketMs) - (MINUTE_FOR - 2) * MINUTE.bucketMs;
}

/**
 * The statements that compute the tiers again over [from, to) for `deviceFilter`'s devices: minutes
 * from the readings, then hours from those minutes where the minute tier still holds them, from the
 * readings before that. Parts past a tier's retention are left out (InfluxDB would drop them).
 */
export function backfillStatements(names: InfluxNames, retention: TierRetention, deviceFilter: string, from: number, to: number, now: number): string[] {
  const statements: string[] = [];
  // a bucket's margin inside each retention, so InfluxDB keeps what is written
  const minutesKept = bucketFrom(now - retentionMs(retention, MINUTE) + MINUTE.bucketMs, MINUTE.bucketMs);
  const hoursFromMinutes = bucketFrom(now - retentionMs(retention, MINUTE) + MINUTE.bucketMs, HOUR.bucketMs);
  const hoursKept = bucketFrom(now - retentionMs(retention, HOUR) + HOUR.bucketMs, HOUR.bucketMs);
  const into = (tier: Tier, fields: string, source: string, a: number, b: number) =>
    `SELECT ${fields} INTO ${tierTarget(names, tier)} FROM ${source} WHERE (${deviceFilter}) AND ${range(a, b)} GROUP BY time(${tier.bucketMs / MINUTE.bucketMs}m), *`;

  const minutes = { from: Math.max(floorTo(from, MINUTE.bucketMs), minutesKept), to: ceilTo(to, MINUTE.bucketMs) };
  if (minutes.from < minutes.to) statements.push(into(MINUTE, STATE_FIELDS, names.raw, minutes.from, minutes.to));
  const hours = { from: Math.max(floorTo(from, HOUR.bucketMs), hoursKept), to: ceilTo(to, HOUR.bucketMs) };
  const split = Math.min(Math.max(hours.from, hoursFromMinutes), hours.to);
  if (hours.from < split) statements.push(into(HOUR, STATE_FIELDS, names.raw, hours.from, split));
  if (split < hours.to) statements.push(into(HOUR, STATE_OF_STATES, tierTarget(names, MINUTE), split, hours.to));
  return statements;
}

/** The partial state of each window over [from, to) of one channel, from a tier or the readings. */
export function stateStatement(names: InfluxNames, tier: Tier | null, where: string, from: number, to: number, every: number | undefined, limit: number): string {
  const source = tier ? tierTarget(names, tier) : names.raw;
  const fields = tier ? STATE_OF_STATES : STATE_FIELDS;
  const windows = every !== undefined ? ` GROUP BY time(${every}ms) fill(none)` : '';
  return `SELECT ${fields} FROM ${source} WHERE ${where} AND ${range(from, to)}${windows} LIMIT ${limit}`;
}

function range(from: number, to: number): string {
  return `time >= ${ns(from)} AND time < ${ns(to)}`;
}
