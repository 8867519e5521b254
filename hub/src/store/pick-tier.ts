// Which stored resolution answers which part of an aggregate query, for every backend.
//
// A tier keeps, per (device, channel) and per bucket of `bucketMs` aligned to the epoch, the
// count, sum, min, max and last value of the readings in it (see rollup-state.ts). Windows of a
// query are aligned to the epoch too, so when `every` is a whole multiple of a bucket every bucket
// lies inside exactly one window, and combining the buckets gives the window's answer exactly.
//
// A query's range need not fall on bucket edges: the buckets wholly inside [from, to) come from the
// coarsest tier that holds them, and the ragged edges from the next finer tier, down to raw
// readings for the last part under a minute. An edge lies inside one window (window edges are
// bucket edges), so the pieces of a window are combined, never approximated.
//
// A tier holds a bucket only once it is complete and until it expires: `[since, until)` is where it
// may be trusted (retention behind, the rollup's lag ahead). Outside that, finer tiers or raw
// readings answer.

export interface Tier {
  /** stable name, used by stores for their tables or measurements */
  name: string;
  bucketMs: number;
}

/** The tiers every store keeps, finest first. */
export const TIERS: readonly Tier[] = [
  { name: '1m', bucketMs: 60_000 },
  { name: '1h', bucketMs: 3_600_000 },
];

/** Where a tier may be trusted at the time of a query: buckets starting at or after `since` and ending by `until`. */
export interface TierSpan {
  tier: Tier;
  since: number;
  until: number;
}

/** One part of a query's range and what answers it: a tier's buckets, or raw readings. */
export interface RangePart {
  tier: Tier | null;
  from: number;
  to: number;
}

export function floorTo(time: number, step: number): number {
  return time - (((time % step) + step) % step);
}

export function ceilTo(time: number, step: number): number {
  const floor = floorTo(time, step);
  return floor === time ? time : floor + step;
}

/**
 * Splits [from, to) into parts in time order, each answered by the coarsest tier that can answer it
 * exactly (its buckets divide `every`, lie inside [from, to) and inside the tier's trusted span), or
 * by raw readings. `every` undefined is one window over the whole range: any bucket divides it.
 */
export function planRange(from: number, to: number, every: number | undefined, spans: readonly TierSpan[]): RangePart[] {
  // coarsest first
  const usable = spans.filter((s) => every === undefined || every % s.tier.bucketMs === 0).sort((a, b) => b.tier.bucketMs - a.tier.bucketMs);
  const parts: RangePart[] = [];
  const cover = (a: number, b: number, level: number): void => {
    if (a >= b) return;
    if (level >= usable.length) {
      parts.push({ tier: null, from: a, to: b });
      return;
    }
    const { tier, since, until } = usable[level];
    const start = ceilTo(Math.max(a, since), tier.bucketMs);
    const end = floorTo(Math.min(b, until), tier.bucketMs);
    if (start >= end) return cover(a, b, level + 1);
    cover(a, start, level + 1);
    parts.push({ tier, from: start, to: end });
    cover(end, b, level + 1);
  };
  cover(from, to, 0);
  return parts;
}

/** True when a plan reads some tier, i.e. is worth more than one raw query. */
export function usesTier(parts: readonly RangePart[]): boolean {
  return parts.some((p) => p.tier !== null);
}
