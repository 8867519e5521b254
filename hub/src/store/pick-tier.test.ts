import { describe, expect, it } from 'vitest';
import { ceilTo, floorTo, planRange, TIERS, usesTier, type TierSpan } from './pick-tier.ts';

const [MINUTE, HOUR] = TIERS;
const M = 60_000;
const H = 3_600_000;
const D = 86_400_000;
const T0 = 1_700_000_000_000 - (1_700_000_000_000 % D); // a midnight UTC

const always = (tier = MINUTE): TierSpan => ({ tier, since: -Infinity, until: Infinity });

describe('planRange', () => {
  it('answers aligned ranges from the coarsest tier whose bucket divides `every`', () => {
    const spans = [always(MINUTE), always(HOUR)];
    expect(planRange(T0, T0 + D, H, spans)).toEqual([{ tier: HOUR, from: T0, to: T0 + D }]);
    expect(planRange(T0, T0 + D, D, spans)).toEqual([{ tier: HOUR, from: T0, to: T0 + D }]);
    expect(planRange(T0, T0 + D, 5 * M, spans)).toEqual([{ tier: MINUTE, from: T0, to: T0 + D }]);
    // 90 s is no whole number of minutes: raw readings only
    expect(planRange(T0, T0 + D, 90_000, spans)).toEqual([{ tier: null, from: T0, to: T0 + D }]);
    expect(planRange(T0, T0 + D, 1000, spans)).toEqual([{ tier: null, from: T0, to: T0 + D }]);
  });

  it('reads ragged edges from finer tiers, down to raw readings under a minute', () => {
    const from = T0 + 10 * M + 30_000;
    const to = T0 + 5 * H + 7 * M + 5000;
    expect(planRange(from, to, undefined, [always(MINUTE), always(HOUR)])).toEqual([
      { tier: null, from, to: T0 + 11 * M },
      { tier: MINUTE, from: T0 + 11 * M, to: T0 + H },
      { tier: HOUR, from: T0 + H, to: T0 + 5 * H },
      { tier: MINUTE, from: T0 + 5 * H, to: T0 + 5 * H + 7 * M },
      { tier: null, from: T0 + 5 * H + 7 * M, to },
    ]);
  });

  it('uses a tier only where it may be trusted: not before its retention, not after its lag', () => {
    const spans: TierSpan[] = [
      { tier: MINUTE, since: T0 + 2 * H + 1, until: T0 + 20 * H + 30_000 },
      { tier: HOUR, since: T0 + 3 * H, until: T0 + 18 * H },
    ];
    expect(planRange(T0, T0 + D, H, spans)).toEqual([
      { tier: null, from: T0, to: T0 + 2 * H + M },
      { tier: MINUTE, from: T0 + 2 * H + M, to: T0 + 3 * H },
      { tier: HOUR, from: T0 + 3 * H, to: T0 + 18 * H },
      { tier: MINUTE, from: T0 + 18 * H, to: T0 + 20 * H },
      { tier: null, from: T0 + 20 * H, to: T0 + D },
    ]);
  });

  it('falls back to raw readings when no whole bucket lies in the range', () => {
    expect(planRange(T0 + 1000, T0 + 59_000, undefined, [always()])).toEqual([{ tier: null, from: T0 + 1000, to: T0 + 59_000 }]);
    expect(usesTier(planRange(T0 + 1000, T0 + 59_000, undefined, [always()]))).toBe(false);
    expect(planRange(T0, T0 + D, H, [])).toEqual([{ tier: null, from: T0, to: T0 + D }]);
  });

  it('covers the range without gaps or overlaps, whatever the edges', () => {
    const spans: TierSpan[] = [
      { tier: MINUTE, since: T0 + 7 * M + 1, until: T0 + 30 * H },
      { tier: HOUR, since: T0 - 3 * H, until: T0 + 26 * H + 1 },
    ];
    for (let i = 0; i < 500; i++) {
      const from = T0 - 5 * H + Math.floor(((i * 7919) % 10_007) * 3_600_000 / 97);
      const to = from + 1 + Math.floor(((i * 104_729) % 9973) * 3_600_000 / 211);
      for (const every of [undefined, M, H, D, 7 * M]) {
        const parts = planRange(from, to, every, spans);
        expect(parts[0].from).toBe(from);
        expect(parts[parts.length - 1].to).toBe(to);
        for (let p = 0; p < parts.length; p++) {
          const part = parts[p];
          expect(part.from).toBeLessThan(part.to);
          if (p > 0) expect(part.from).toBe(parts[p - 1].to);
          if (part.tier) {
            expect(part.from % part.tier.bucketMs).toBe(0);
            expect(part.to % part.tier.bucketMs).toBe(0);
            if (every !== undefined) expect(every % part.tier.bucketMs).toBe(0);
          }
        }
      }
    }
  });
});

describe('floorTo and ceilTo', () => {
  it('align to the epoch before 1970 as well', () => {
    expect(floorTo(-1, M)).toBe(-M);
    expect(ceilTo(-1, M)).toBe(0);
    expect(floorTo(-M, M)).toBe(-M);
    expect(ceilTo(M + 1, M)).toBe(2 * M);
    expect(ceilTo(M, M)).toBe(M);
  });
});
