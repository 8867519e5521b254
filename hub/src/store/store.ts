// One interface for every place readings are kept. Backends: embedded SQLite (default), InfluxDB.

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
  /** most points returned; the store returns at most this many (the earliest ones) */
  limit: number;
}

/** A point of a query result. For aggregates `time` is the window start. */
export interface ReadingPoint {
  channel: string;
  time: number;
  value: number;
}

export interface ReadingStore {
  /** Durable when the promise resolves. Writing the same (device, channel, time) again replaces the value. */
  write(readings: readonly Reading[]): Promise<void>;
  /** Points ordered by channel name, then time. */
  query(q: ReadingQuery): Promise<ReadingPoint[]>;
  /** Resolves when the backend answers; rejects when it is unreachable. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
