// The partial aggregate of a window or bucket, and how pieces of one window combine into its answer.
//
// Sum and count are kept, not the mean, so a mean over several pieces is exact up to the rounding
// of the additions; min, max and count combine exactly; the last value is the one of the latest
// piece, because the pieces of a window are read in time order (pick-tier.ts cuts them that way).
import type { Aggregate, ReadingPoint } from './store.ts';
import { compareChannelThenTime } from './channel-order.ts';

export interface WindowState {
  channel: string;
  /** window start (or the query's `from` for a whole-range aggregate) */
  time: number;
  count: number;
  /** may be non-finite (or null from SQLite) when the values' sum overflows: see `finish` */
  sum: number | null;
  min: number;
  max: number;
  last: number;
}

/**
 * Combines the pieces of each window; `parts` are the answers of the parts of a query in time order.
 * Returns the windows in channel-then-time order.
 */
export function combineParts(parts: readonly (readonly WindowState[])[]): WindowState[] {
  const windows = new Map<string, WindowState>();
  for (const part of parts) {
    for (const piece of part) {
      const key = `${piece.channel}\u0000${piece.time}`;
      const seen = windows.get(key);
      if (!seen) {
        windows.set(key, { ...piece });
        continue;
      }
      seen.count += piece.count;
      seen.sum = seen.sum === null || piece.sum === null ? null : seen.sum + piece.sum;
      if (piece.min < seen.min) seen.min = piece.min;
      if (piece.max > seen.max) seen.max = piece.max;
      seen.last = piece.last;
    }
  }
  return [...windows.values()].sort(compareChannelThenTime);
}

/**
 * The answer for `agg`, or null when it cannot be given from these states: a mean whose sum
 * overflowed, which the caller then reads from raw readings (they scale the values first).
 */
export function finish(windows: readonly WindowState[], agg: Aggregate, limit: number): ReadingPoint[] | null {
  const points: ReadingPoint[] = [];
  for (const w of windows.slice(0, limit)) {
    let value: number;
    switch (agg) {
      case 'mean':
        if (w.sum === null || !Number.isFinite(w.sum)) return null;
        value = w.sum / w.count;
        break;
      case 'min':
        value = w.min;
        break;
      case 'max':
        value = w.max;
        break;
      case 'count':
        value = w.count;
        break;
      case 'last':
        value = w.last;
        break;
    }
    points.push({ channel: w.channel, time: w.time, value });
  }
  return points;
}
