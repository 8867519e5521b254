// One interface for every place readings are kept. Backends: embedded SQLite (default), InfluxDB.
import type { Readings } from './reading-batch.ts';

/** One stored sample. Values are numbers: bool is 1/0, i32 and floats as they are. */
export interface Reading {
  deviceId: string;
  channel: string;
  /** ms since the Unix epoch */
  time: number;
  value: number;
}

export const AGGREGATES = ['mean', 'min', 'max', 'last', 'count'] as const;
export type Aggregate = (typeof AGGREGATES)[number];

export interface ReadingQuery {
  deviceId: string;
  /** one channel name; absent means every channel of the device */
  channel?: string;
  /** inclusive, ms */
  from: number;
  /** exclusive, ms */
  to: number;
  /**
   * window length in ms; with `agg`, one point per non-empty window aligned to the epoch. `agg`
   * without `every` is one window spanning [from, to), stamped `from`; `every` without `agg` is ignored.
   */
  every?: number;
  agg?: Aggregate;
  /**
   * most points returned, over all channels together (not per channel): the store returns at most
   * this many, the first ones in channel-then-time order, and reads no more than it needs for them
   */
  limit: number;
  /** bound on this query in ms, instead of the store's own (default 10 s) */
  timeoutMs?: number;
  /**
   * most stored rows (readings, or a history tier's buckets) this query may read, instead of the
   * store's own bound (default DEFAULT_QUERY_MAX_SCAN); past it the query rejects with
   * QueryTooLargeError. Honoured by the embedded store only.
   */
  maxScan?: number;
  /**
   * true: aggregate the stored readings themselves, never a history tier (pick-tier.ts); the answer
   * is the same, only slower over long ranges. For comparing and measuring.
   */
  rawOnly?: boolean;
}

/** A point of a query result. For aggregates `time` is the window start. */
export interface ReadingPoint {
  channel: string;
  time: number;
  value: number;
}

export interface ReadingStore {
  /**
   * Durable when the promise resolves. Writing the same (device, channel, time) again replaces the
   * value. Readings come as objects or in columns (what ingest writes); the store reads them during
   * the call only, and never changes them.
   */
  write(readings: Readings): Promise<void>;
  /**
   * Points ordered by channel name, then time. Never holds up `write`: a slow query runs beside
   * writes, not before them. Rejects with QueryTimeoutError when it runs past the store's bound.
   */
  query(q: ReadingQuery): Promise<ReadingPoint[]>;
  /**
   * Optional: `query`'s answer as the UTF-8 bytes of its JSON array of points (what
   * JSON.stringify gives), made off the event loop, for a store whose queries run on threads of
   * their own. Same bounds and errors as `query`.
   */
  queryJson?(q: ReadingQuery): Promise<EncodedPoints>;
  /** Resolves when the backend answers; rejects when it is unreachable. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface EncodedPoints {
  /** how many points the JSON holds */
  count: number;
  json: Uint8Array;
}

/** Default bound on one history query, from the call to its answer (waiting for a free reader included). */
export const DEFAULT_QUERY_TIMEOUT_MS = 10_000;

/** The store gave up on a query that took longer than its bound; the store itself is fine. */
export class QueryTimeoutError extends Error {
  override readonly name = 'QueryTimeoutError';
  readonly code = 'STORE_QUERY_TIMEOUT';
  constructor(readonly timeoutMs: number) {
    super(`the query took longer than ${timeoutMs} ms`);
  }
}

export function isQueryTimeout(err: unknown): err is QueryTimeoutError {
  return err instanceof QueryTimeoutError || (err as { code?: unknown } | null)?.code === 'STORE_QUERY_TIMEOUT';
}

/**
 * Default bound on the stored rows one history query may read on the embedded store. The heaviest
 * queries the README's bench runs read 3-3.15M readings; this lets six times that through. A reader
 * thread, paced to half a core, read about 1.6M rows/s on the 2-core bench machine, so with the
 * default 10 s time bound the time bound trips first there; this one holds where that does not:
 * with HUB_QUERY_TIMEOUT_MS raised (600 s would let a query read about a billion rows), on faster
 * machines, and whatever the load, refusing the same query the same way.
 */
export const DEFAULT_QUERY_MAX_SCAN = 20_000_000;

/** The query would read more stored rows than its bound; the store itself is fine. */
export class QueryTooLargeError extends Error {
  override readonly name = 'QueryTooLargeError';
  readonly code = 'STORE_QUERY_TOO_LARGE';
  constructor(readonly maxScan: number) {
    super(`the query read more than ${maxScan} stored points`);
  }
}

export function isQueryTooLarge(err: unknown): err is QueryTooLargeError {
  return err instanceof QueryTooLargeError || (err as { code?: unknown } | null)?.code === 'STORE_QUERY_TOO_LARGE';
}
