// Parses and checks the history API's query string into a store query.
import { AGGREGATES, type Aggregate, type ReadingQuery } from '../store/store.ts';
import { HttpError } from './http-error.ts';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** The times a Date can hold: ±100,000,000 days around 1970 (ECMAScript's time value range). */
export const MAX_DATE_MS = 8_640_000_000_000_000;
/** The longest window: 100 years of days, which InfluxDB can still count in int64 nanoseconds. */
export const MAX_EVERY_MS = 36_500 * 86_400_000;

export function parseDuration(text: string): number | undefined {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(text);
  if (!match) return undefined;
  const ms = Number(match[1]) * UNIT_MS[match[2]];
  return ms > 0 && ms <= MAX_EVERY_MS ? ms : undefined;
}

/** ISO 8601 or epoch milliseconds, within what a Date can hold. */
export function parseTime(text: string, name: string): number {
  const ms = /^-?\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isFinite(ms)) throw new HttpError('HUB_ERR_BAD_REQUEST', `${name}: expected ISO 8601 or epoch ms, got ${JSON.stringify(text.slice(0, 100))}`);
  if (Math.abs(ms) > MAX_DATE_MS) throw new HttpError('HUB_ERR_BAD_REQUEST', `${name}: epoch ms within ±${MAX_DATE_MS}`);
  return ms;
}

export interface HistoryParams {
  query: ReadingQuery;
  format: 'json' | 'csv';
}

export function parseHistoryParams(deviceId: string, params: URLSearchParams, opts: { now: number; maxPoints: number }): HistoryParams {
  const to = params.has('to') ? parseTime(params.get('to')!, 'to') : opts.now;
  const from = params.has('from') ? parseTime(params.get('from')!, 'from') : to - 3_600_000;
  if (from < -MAX_DATE_MS) throw new HttpError('HUB_ERR_BAD_REQUEST', `from: epoch ms within ±${MAX_DATE_MS}`);
  if (from >= to) throw new HttpError('HUB_ERR_BAD_REQUEST', '`from` must be before `to`');

  let every: number | undefined;
  if (params.has('every')) {
    every = parseDuration(params.get('every')!);
    if (every === undefined) throw new HttpError('HUB_ERR_BAD_REQUEST', `every: expected a window like 500ms, 10s, 1m, 1h, 1d, at most ${MAX_EVERY_MS / 86_400_000}d`);
  }
  let agg: Aggregate | undefined;
  if (params.has('agg')) {
    const name = params.get('agg')!;
    if (!(AGGREGATES as readonly string[]).includes(name)) throw new HttpError('HUB_ERR_BAD_REQUEST', `agg: one of ${AGGREGATES.join(', ')}`);
    agg = name as Aggregate;
    if (every === undefined) throw new HttpError('HUB_ERR_BAD_REQUEST', 'agg needs `every`');
  } else if (every !== undefined) {
    agg = 'mean';
  }
  if (every !== undefined && Math.ceil((to - from) / every) > opts.maxPoints) {
    throw new HttpError('HUB_ERR_TOO_MANY_POINTS', `${Math.ceil((to - from) / every)} windows per channel; at most ${opts.maxPoints}: widen \`every\` or narrow the range`);
  }

  let limit = opts.maxPoints;
  if (params.has('limit')) {
    limit = Number(params.get('limit'));
    if (!Number.isInteger(limit) || limit < 1 || limit > opts.maxPoints) throw new HttpError('HUB_ERR_BAD_REQUEST', `limit: 1 to ${opts.maxPoints}`);
  }
  const format = params.get('format') ?? 'json';
  if (format !== 'json' && format !== 'csv') throw new HttpError('HUB_ERR_BAD_REQUEST', 'format: json or csv');
  const channel = params.get('channel') ?? undefined;

  return { query: { deviceId, channel, from, to, every, agg, limit }, format };
}

/**
 * The answer to a query the store stopped past its bound on stored points (HUB_QUERY_MAX_SCAN).
 * Whole minutes or hours in `every` let a history tier answer, which reads a bucket where the
 * readings would be a minute or an hour of rows.
 */
export function queryTooLarge(maxScan: number): HttpError {
  return new HttpError(
    'HUB_ERR_QUERY_TOO_LARGE',
    `the query read more than ${maxScan} stored points: narrow the range, pick a channel, or use an \`every\` of whole minutes or hours so a history tier answers`,
  );
}
