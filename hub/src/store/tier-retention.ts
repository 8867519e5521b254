// How long each tier keeps its buckets. Defaults: minutes for 90 days (a 1-minute chart of the last
// quarter), hours for 5 years (260 weeks, a 1-day chart of several years); configurable per tier
// (HUB_ROLLUP_MINUTE_RETENTION, HUB_ROLLUP_HOUR_RETENTION).

export interface TierRetention {
  /** the 1-minute tier: a duration such as `90d`, `12w`, or `INF` to keep it forever */
  minute: string;
  /** the 1-hour tier */
  hour: string;
}

export const DEFAULT_TIER_RETENTION: TierRetention = { minute: '90d', hour: '260w' };

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

export const TIER_RETENTION_PATTERN = /^(INF|\d+[smhdw])$/i;

/** A retention in ms; Infinity for INF (or zero, InfluxDB's "forever"). */
export function tierRetentionMs(text: string): number {
  const match = /^(\d+)([smhdw])$/i.exec(text);
  if (!match) {
    if (/^INF$/i.test(text)) return Infinity;
    throw new RangeError(`tier retention ${JSON.stringify(text)} is not INF or a duration such as 90d, 12w`);
  }
  const ms = Number(match[1]) * UNIT_MS[match[2].toLowerCase()];
  return ms === 0 ? Infinity : ms;
}

/** The retention of a tier by its name in pick-tier.ts. */
export function retentionOf(retention: TierRetention, tierName: string): string {
  return tierName === '1m' ? retention.minute : retention.hour;
}
