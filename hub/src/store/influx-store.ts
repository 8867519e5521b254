// InfluxDB 1.x store, over its HTTP API.
//
// Schema, in database `<db>` (from the URL path, default `telemetry`):
//   retention policy `telemetry_rp` (the database's default; duration infinite unless configured)
//   measurement `readings`
//     tag `device`   the device id
//     tag `channel`  the channel name
//     field `value`  float
//     timestamp      the reading's time, written with ms precision
//   so series cardinality is devices × channels, and (device, channel, time) is the point key:
//   writing it again replaces the value, which makes retries and spool replays harmless.
//   History tiers: retention policies `rp_1m`, `rp_1h` filled by continuous queries (influx-rollups.ts).
//
// Line protocol cannot carry every string as a tag value: a backslash before a space, comma or equals
// sign (or at the end) reads as an escape, and a newline ends the line. Names with a backslash or a
// control character are therefore stored as `\~` followed by their percent-encoding. No name stored
// as is contains a backslash, so the two forms cannot be confused; every other name, including
// non-ASCII, is stored unchanged and reads naturally in other InfluxDB tools.
//
// Lines are built here rather than with the `influx` package's writePoints: on a 5,000-point batch
// that measured about 400k points/s against 300k/s, and its host pool answers "no host available"
// for a back-off period after any failure, which would delay noticing that InfluxDB is back.
import { escape } from 'influx';
import { DEFAULT_QUERY_TIMEOUT_MS, QueryTimeoutError, type Reading, type ReadingPoint, type ReadingQuery, type ReadingStore } from './store.ts';
import { WriteRejectedError } from './errors.ts';
import { asBatch, perSeries, type ReadingBatch, type Readings } from './reading-batch.ts';
import { compareCodePoints } from './channel-order.ts';
import { normalizeQuery, validateReadings, type NormalizedQuery } from './validate.ts';
import { planRange, TIERS, usesTier, type RangePart } from './pick-tier.ts';
import { combineParts, finish, type WindowState } from './rollup-state.ts';
import {
  backfillStatements, continuousQueries, influxTierSpans, isLate, stateStatement, tierDuration, tierPolicy,
  tierTarget, UNSUMMABLE_ABOVE, UNSUMMABLE_MEASUREMENT, type InfluxNames,
} from './influx-rollups.ts';
import { DEFAULT_TIER_RETENTION, type TierRetention } from './tier-retention.ts';

export const INFLUX_MEASUREMENT = 'readings';
export const INFLUX_RETENTION_POLICY = 'telemetry_rp';
export const INFLUX_DEFAULT_DATABASE = 'telemetry';

export interface InfluxStoreOptions {
  /** `http://host:port/<database>`; user and password in the URL are sent as basic auth */
  url: string;
  /** retention of `telemetry_rp`, an InfluxQL duration such as `30d`; `0s` or `INF` (default) keep forever */
  retention?: string;
  /** bound on every request to InfluxDB, so a dead or stalled server cannot hang a write; default 5000 */
  timeoutMs?: number;
  /** bound on a whole history query, all its requests together; default 10 s */
  queryTimeoutMs?: number;
  /** how long each history tier keeps its buckets; default DEFAULT_TIER_RETENTION */
  tierRetention?: TierRetention;
}

export interface InfluxStore extends ReadingStore {
  readonly database: string;
  /**
   * Creates the database and retention policy when missing. Optional: the first write or query does
   * it too, so the hub can start (and spool) while InfluxDB is down. Rejects while it is unreachable.
   */
  open(): Promise<void>;
}

const LINES_PER_REQUEST = 5000;
const PING_TIMEOUT_MS = 2000;
const NS_PER_MS = 1_000_000n;
const MIN_NS = -9_223_372_036_854_775_806n;
const MAX_NS = 9_223_372_036_854_775_806n;

// influxd cannot put an infinite MEAN() into JSON: it ends the answer with this line instead.
const INFINITE_RESULT = /unsupported value: [+-]Inf/;
// 2^-64 and 2^64: see meanStatement.
const SCALE_DOWN = '0.0000000000000000000542101086242752217003726400434970855712890625'; // InfluxQL has no exponents
const SCALE_UP = '18446744073709551616.0';

class InfiniteResultError extends Error {}

const NEEDS_ENCODING = /[\\\u0000-\u001f\u007f]/;
const ENCODED_PREFIX = '\\~';

export function encodeTagValue(name: string): string {
  return NEEDS_ENCODING.test(name) ? ENCODED_PREFIX + encodeURIComponent(name) : name;
}

export function decodeTagValue(stored: string): string {
  return stored.startsWith(ENCODED_PREFIX) ? decodeURIComponent(stored.slice(ENCODED_PREFIX.length)) : stored;
}

/** Tag value as written in line protocol. */
function lineTag(name: string): string {
  return escape.tag(encodeTagValue(name));
}

// `escape.stringLit` from the influx package escapes quotes but not backslashes, so a stored
// `\~…` name would be misread by the InfluxQL parser; this escapes both.
function stringLiteral(value: string): string {
  return `'${value.replace(/[\\']/g, '\\$&')}'`;
}

function nanoseconds(ms: number): string {
  const ns = BigInt(ms) * NS_PER_MS;
  return String(ns < MIN_NS ? MIN_NS : ns > MAX_NS ? MAX_NS : ns);
}

function retentionDuration(retention: string | undefined): string {
  const r = (retention ?? '0s').trim();
  if (/^(0+(ns|u|µ|ms|s|m|h|d|w)?|inf)$/i.test(r)) return 'INF';
  if (/^(\d+(ns|u|µ|ms|s|m|h|d|w))+$/.test(r)) return r;
  throw new RangeError(`retention ${JSON.stringify(retention)} is not an InfluxQL duration such as 30d, 52w or INF`);
}

interface Target {
  base: string;
  database: string;
  headers: Record<string, string>;
}

function parseUrl(raw: string): Target {
  const url = new URL(raw);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new RangeError(`InfluxDB URL must be http or https: ${raw}`);
  const headers: Record<string, string> = {};
  if (url.username || url.password) {
    const credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
    headers.authorization = `Basic ${Buffer.from(credentials).toString('base64')}`;
  }
  // The last path segment names the database; anything before it is a prefix, e.g. behind a proxy.
  const segments = url.pathname.split('/').filter(Boolean);
  const database = segments.length > 0 ? decodeURIComponent(segments.pop()!) : INFLUX_DEFAULT_DATABASE;
  const prefix = segments.length > 0 ? `/${segments.join('/')}` : '';
  return { base: `${url.protocol}//${url.host}${prefix}`, database, headers };
}

type Deadline = { at: number; ms: number };

interface QueryResult {
  error?: string;
  partial?: boolean;
  series?: { tags?: Record<string, string>; columns: string[]; values: [number, number][]; partial?: boolean }[];
}

export function createInfluxStore(options: InfluxStoreOptions): InfluxStore {
  const target = parseUrl(options.url);
  const timeoutMs = options.timeoutMs ?? 5000;
  const queryTimeoutMs = options.queryTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS;
  const duration = retentionDuration(options.retention);
  const db = escape.quoted(target.database);
  const rp = escape.quoted(INFLUX_RETENTION_POLICY);
  const from = `${db}.${rp}.${escape.quoted(INFLUX_MEASUREMENT)}`;
  const writeUrl = `${target.base}/write?${new URLSearchParams({ db: target.database, rp: INFLUX_RETENTION_POLICY, precision: 'ms' })}`;
  const tierRetention = options.tierRetention ?? DEFAULT_TIER_RETENTION;
  const influxNames: InfluxNames = { db, raw: from };
  // from when the tiers hold every reading: -Infinity unless they were added to a database with readings
  let tiersSince = -Infinity;
  let opening: Promise<void> | undefined;
  let closed = false;
  // Late writes compute their span of the tiers one after another: each reads the readings and
  // writes buckets from them, so of two running at once the one that read first could write last,
  // without the other's readings. (Its own readings are written before it starts.)
  let backfilling: Promise<void> = Promise.resolve();

  async function request(url: string, init: RequestInit & { timeout?: number; deadline?: Deadline }): Promise<{ status: number; body: string }> {
    if (closed) throw new Error('the InfluxDB store is closed');
    let ms = init.timeout ?? timeoutMs;
    // Within a query, the query's own bound cuts the request short (influxd stops a query whose
    // client went away); a server that does not answer at all is still "did not answer".
    const left = init.deadline ? init.deadline.at - Date.now() : Infinity;
    if (left <= 0) throw new QueryTimeoutError(init.deadline!.ms);
    const queryBound = left < ms;
    if (queryBound) ms = left;
    // The bound is raced, not only passed to fetch as a signal: an abort that lands while the
    // answer's body is being read has been seen to leave res.text() pending for good.
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const timeout = Object.assign(new Error(`no answer within ${ms} ms`), { name: 'TimeoutError' });
        controller.abort(timeout);
        reject(timeout);
      }, ms);
    });
    const exchange = (async () => {
      const res = await fetch(url, { ...init, headers: { ...target.headers, ...init.headers }, signal: controller.signal });
      return { status: res.status, body: await res.text() };
    })();
    exchange.catch(() => undefined); // it may lose the race and fail later
    try {
      return await Promise.race([exchange, bound]);
    } catch (err) {
      if ((err as Error).name === 'TimeoutError' && queryBound) throw new QueryTimeoutError(init.deadline!.ms);
      if ((err as Error).name === 'TimeoutError') throw new Error(`InfluxDB at ${target.base} did not answer within ${ms} ms`, { cause: err });
      throw new Error(`InfluxDB at ${target.base} is unreachable: ${(err as Error).message}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  // Chunked: without it InfluxDB 1.x cuts a series at 10,000 points and marks it partial.
  // Each line of the answer is one JSON chunk; a series may continue over several chunks.
  async function influxql(q: string, withDatabase = true, deadline?: Deadline): Promise<QueryResult[]> {
    const params = new URLSearchParams({ q, epoch: 'ms', chunked: 'true', chunk_size: '10000' });
    if (withDatabase) params.set('db', target.database);
    const { status, body } = await request(`${target.base}/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: params.toString(),
      deadline,
    });
    const results: QueryResult[] = [];
    for (const line of body.split('\n')) {
      if (!line.trim()) continue;
      if (INFINITE_RESULT.test(line) && !line.startsWith('{')) throw new InfiniteResultError(line);
      let parsed: { error?: string; results?: (QueryResult & { statement_id?: number })[] } | undefined;
      try {
        parsed = JSON.parse(line);
      } catch {
        throw new Error(`InfluxDB query failed (HTTP ${status}): ${body.slice(0, 500)}`);
      }
      const error = parsed?.error ?? parsed?.results?.find((r) => r.error)?.error;
      if (error) throw new Error(`InfluxDB query failed (HTTP ${status}): ${error}`);
      for (const chunk of parsed?.results ?? []) {
        const result = (results[chunk.statement_id ?? 0] ??= {});
        if (chunk.series) (result.series ??= []).push(...chunk.series);
      }
    }
    if (status !== 200) throw new Error(`InfluxDB query failed (HTTP ${status}): ${body.slice(0, 500)}`);
    return results;
  }

  async function createSchema(): Promise<void> {
    await influxql(`CREATE DATABASE ${db}`, false);
    const [policies] = await influxql(`SHOW RETENTION POLICIES ON ${db}`, false);
    const exists = policies.series?.[0]?.values.some((row) => (row as unknown[])[0] === INFLUX_RETENTION_POLICY);
    // ALTER keeps an existing policy in line with the configured retention on every start.
    const verb = exists ? 'ALTER' : 'CREATE';
    await influxql(`${verb} RETENTION POLICY ${rp} ON ${db} DURATION ${duration} REPLICATION 1 DEFAULT`, false);
    await createTiers(new Set(policies.series?.[0]?.values.map((row) => String((row as unknown[])[0])) ?? []));
  }

  async function createTiers(policies: Set<string>): Promise<void> {
    for (const tier of TIERS) {
      const verb = policies.has(tierPolicy(tier)) ? 'ALTER' : 'CREATE';
      await influxql(`${verb} RETENTION POLICY ${escape.quoted(tierPolicy(tier))} ON ${db} DURATION ${tierDuration(tierRetention, tier)} REPLICATION 1`, false);
    }
    const marker = `${db}.${escape.quoted(tierPolicy(TIERS[TIERS.length - 1]))}."tiers_since"`;
    const [shown] = await influxql('SHOW CONTINUOUS QUERIES', false);
    const existing = new Set((shown?.series ?? []).filter((s) => (s as { name?: string }).name === target.database).flatMap((s) => (s.values ?? []).map((row) => String((row as unknown[])[0]))));
    const missing = [...continuousQueries(influxNames)].filter(([name]) => !existing.has(name));
    if (missing.length > 0) {
      // Readings stored before the tiers existed are not in them: the tiers answer from now on.
      const [series] = await influxql(`SHOW SERIES FROM ${escape.quoted(INFLUX_MEASUREMENT)} LIMIT 1`);
      if (series?.series?.length) {
        const now = Date.now();
        await post(`tiers_since since=${now} ${now}\n`, false, `${target.base}/write?${new URLSearchParams({ db: target.database, rp: tierPolicy(TIERS[TIERS.length - 1]), precision: 'ms' })}`);
      }
      for (const [, statement] of missing) {
        // another hub may have created it meanwhile
        await influxql(statement, false).catch((err: Error) => {
          if (!/already exists/.test(err.message)) throw err;
        });
      }
    }
    const [since] = await influxql(`SELECT last(since) FROM ${marker}`);
    const value = since?.series?.[0]?.values?.[0]?.[1];
    tiersSince = typeof value === 'number' ? value : -Infinity;
  }

  function open(): Promise<void> {
    opening ??= createSchema().catch((err) => {
      opening = undefined;
      throw err;
    });
    return opening;
  }

  async function post(lines: string, retried = false, url = writeUrl): Promise<void> {
    const { status, body } = await request(url, { method: 'POST', body: lines });
    if (status === 204) return;
    // Someone dropped the database under us (tests do, operators might): recreate it once.
    if (status === 404 && /database not found/.test(body) && !retried) {
      opening = undefined;
      await open();
      return post(lines, true, url);
    }
    // Points older than the retention period would be deleted at once anyway; refusing the batch for
    // them would only make devices resend a backlog that can never be accepted.
    if (status === 400 && /^\{"error":"partial write: points beyond retention policy dropped=\d+"\}\s*$/.test(body)) return;
    // Any other 400 means InfluxDB refused the points themselves (field type conflict, …); other
    // statuses are about the server, not the data, and may pass on a retry.
    if (status === 400) throw new WriteRejectedError(`InfluxDB refused the readings: ${body.slice(0, 500)}`);
    throw new Error(`InfluxDB write failed (HTTP ${status}): ${body.slice(0, 500)}`);
  }

  /** Computes the tiers again over the span of the batch's late readings, for their devices. */
  async function backfillLate(batch: ReadingBatch): Promise<void> {
    const writtenAt = Date.now();
    let first = Infinity;
    let last = -Infinity;
    const devices = new Set<string>();
    for (let i = 0; i < batch.length; i++) {
      const t = batch.time[i];
      if (!isLate(t, writtenAt)) continue;
      if (t < first) first = t;
      if (t > last) last = t;
      devices.add(batch.deviceId[i]);
    }
    if (devices.size === 0) return;
    const filter = [...devices].map((d) => `device = ${stringLiteral(encodeTagValue(d))}`).join(' OR ');
    // one request: InfluxDB runs the statements in order, minutes before the hours made from them
    const statements = backfillStatements(influxNames, tierRetention, filter, first, last + 1, writtenAt);
    if (statements.length === 0) return;
    const backfill = backfilling.then(() => influxql(statements.join(';\n')));
    backfilling = backfill.then(() => undefined, () => undefined);
    await backfill;
  }

  /** The device's channel names, from the index (no points read), in the contract's order; a tier's too if asked. */
  async function channelsOf(deviceId: string, deadline: Deadline, withTiers: boolean): Promise<string[]> {
    // a channel may outlive its readings in a tier kept longer than them
    const sources = withTiers ? [from, ...TIERS.map((tier) => tierTarget(influxNames, tier))].join(', ') : from;
    const [result] = await influxql(`SHOW TAG VALUES FROM ${sources} WITH KEY = "channel" WHERE device = ${stringLiteral(encodeTagValue(deviceId))}`, true, deadline);
    const names = (result?.series ?? []).flatMap((series) => series.values.map((row) => decodeTagValue(String((row as unknown[])[1]))));
    return [...new Set(names)].sort(compareCodePoints);
  }

  /** At most `limit` [time, value] rows of one channel, raw or aggregated, in time order. */
  async function readChannel(q: NormalizedQuery, channel: string, limit: number, deadline: Deadline): Promise<[number, number][]> {
    const where = `device = ${stringLiteral(encodeTagValue(q.deviceId))} AND channel = ${stringLiteral(encodeTagValue(channel))}`;
    const range = `time >= ${nanoseconds(q.from)} AND time < ${nanoseconds(q.to)}`;
    const windows = q.agg?.every !== undefined ? ` GROUP BY time(${q.agg.every}ms) fill(none)` : '';
    let statement: string;
    if (!q.agg) statement = `SELECT value FROM ${from} WHERE ${where} AND ${range} ORDER BY time ASC LIMIT ${limit}`;
    else statement = `SELECT ${q.agg.fn}(value) FROM ${from} WHERE ${where} AND ${range}${windows} LIMIT ${limit}`;
    const rows = async (text: string) => (await influxql(text, true, deadline))[0]?.series?.flatMap((series) => series.values) ?? [];
    try {
      return await rows(statement);
    } catch (err) {
      if (!(err instanceof InfiniteResultError) || q.agg?.fn !== 'mean') throw err;
      // MEAN() sums first, and the sum of finite values can overflow (two of 1.79e308). Then the
      // mean is taken of the values scaled by 2^-64, which no count below 2^64 can overflow, and
      // scaled back: scaling by a power of two is exact for normal numbers, so it is the same mean.
      const scaled = `SELECT value * ${SCALE_DOWN} AS v FROM ${from} WHERE ${where} AND ${range}`;
      return rows(`SELECT mean(v) * ${SCALE_UP} FROM (${scaled}) WHERE ${range}${windows} LIMIT ${limit}`);
    }
  }

  /** A channel's windows from the tiers and the readings, or null when only the readings can answer it. */
  async function readChannelFromTiers(q: NormalizedQuery, channel: string, parts: RangePart[], limit: number, deadline: Deadline): Promise<[number, number][] | null> {
    const where = `device = ${stringLiteral(encodeTagValue(q.deviceId))} AND channel = ${stringLiteral(encodeTagValue(channel))}`;
    const [unsummable] = await influxql(`SELECT count(value) FROM ${db}.${rp}.${escape.quoted(UNSUMMABLE_MEASUREMENT)} WHERE ${where} AND time >= ${nanoseconds(q.from)} AND time < ${nanoseconds(q.to)}`, true, deadline);
    if (unsummable?.series?.length) return null;
    const pieces: WindowState[][] = [];
    for (const part of parts) {
      let rows: unknown[][];
      try {
        const [result] = await influxql(stateStatement(influxNames, part.tier, where, part.from, part.to, q.agg!.every, limit), true, deadline);
        rows = result?.series?.flatMap((series) => series.values as unknown as unknown[][]) ?? [];
      } catch (err) {
        if (err instanceof InfiniteResultError) return null; // a sum of readings overflowed: they scale it
        throw err;
      }
      pieces.push(rows.map(([time, n, total, lo, hi, last]) => ({
        channel, time: q.agg!.every === undefined ? q.from : (time as number), count: n as number, sum: total as number, min: lo as number, max: hi as number, last: last as number,
      })));
    }
    const points = finish(combineParts(pieces), q.agg!.fn, limit);
    return points && points.map((p) => [p.time, p.value]);
  }

  return {
    database: target.database,
    open,

    async write(readings: Readings) {
      if (closed) throw new Error('the InfluxDB store is closed');
      validateReadings(readings);
      if (readings.length === 0) return;
      await open();
      const batch = asBatch(readings);
      const { time, value } = batch;
      // a batch names each device and channel many times: each is escaped once
      const tagsOf = perSeries(batch, (device, channel) => `channel=${lineTag(channel)},device=${lineTag(device)}`);
      // One request after another: a batch may hold the same point twice, and the later must win.
      // (Writes may run at once; ingest starts one that rewrites a point of another after it.)
      for (let start = 0; start < batch.length; start += LINES_PER_REQUEST) {
        const end = Math.min(batch.length, start + LINES_PER_REQUEST);
        let lines = '';
        for (let i = start; i < end; i++) {
          const tags = tagsOf(i);
          const v = value[i];
          lines += `${INFLUX_MEASUREMENT},${tags} value=${v} ${time[i]}\n`;
          if (Math.abs(v) > UNSUMMABLE_ABOVE) lines += `${UNSUMMABLE_MEASUREMENT},${tags} value=1 ${time[i]}\n`;
        }
        await post(lines);
      }
      await backfillLate(batch);
    },

    async query(query: ReadingQuery): Promise<ReadingPoint[]> {
      if (closed) throw new Error('the InfluxDB store is closed');
      const q = normalizeQuery(query);
      if (q.empty) return [];
      const ms = query.timeoutMs ?? queryTimeoutMs;
      const deadline = { at: Date.now() + ms, ms };
      await open();
      // LIMIT in InfluxQL applies per series: over 64 channels one statement could return 64 × limit
      // points. So channels are read one after another, in the contract's order, each limited to
      // what the answer still has room for, and the whole query never returns more than `limit`.
      const parts = q.agg && !query.rawOnly ? planRange(q.from, q.to, q.agg.every, influxTierSpans(tierRetention, tiersSince, Date.now())) : [];
      const channels = q.channel !== undefined ? [q.channel] : await channelsOf(q.deviceId, deadline, usesTier(parts));
      const points: ReadingPoint[] = [];
      for (const channel of channels) {
        const room = q.limit - points.length;
        if (room <= 0) break;
        const tiered = usesTier(parts) ? await readChannelFromTiers(q, channel, parts, room, deadline) : null;
        for (const [time, value] of tiered ?? (await readChannel(q, channel, room, deadline))) {
          // A whole-range aggregate is stamped `from` by the contract; InfluxDB's stamp for it depends on its version.
          points.push({ channel, time: q.agg && q.agg.every === undefined ? q.from : time, value });
        }
      }
      return points;
    },

    async ping() {
      const { status } = await request(`${target.base}/ping`, { method: 'GET', timeout: Math.min(timeoutMs, PING_TIMEOUT_MS) });
      if (status !== 204) throw new Error(`InfluxDB at ${target.base} answered /ping with HTTP ${status}`);
    },

    async close() {
      closed = true;
    },
  };
}
