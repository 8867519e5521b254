import { describe, expect, it } from 'vitest';
import { RateMeter } from './rate-meter.ts';
import { formatRate, relativeTime } from './format.ts';

describe('RateMeter', () => {
  it('averages whole seconds and ignores the partly observed first one', () => {
    const meter = new RateMeter();
    const t0 = 1_000_000_500;
    expect(meter.rate(t0)).toBeNull();
    // 50 Hz for 4 s, starting mid-second
    for (let ms = 0; ms < 4000; ms += 20) meter.add(1, t0 + ms);
    expect(meter.rate(t0 + 4000)).toBe(50);
  });

  it('falls to zero when readings stop', () => {
    const meter = new RateMeter();
    for (let ms = 0; ms < 3000; ms += 100) meter.add(2, ms);
    expect(meter.rate(3000)).toBe(20);
    expect(meter.rate(20_000)).toBe(0);
  });
});

describe('format', () => {
  it('says how long ago in words a person reads at a glance', () => {
    expect(relativeTime(null, 0)).toBe('never');
    expect(relativeTime(1000, 1500)).toBe('just now');
    expect(relativeTime(0, 42_000)).toBe('42 s ago');
    expect(relativeTime(0, 3 * 60_000)).toBe('3 min ago');
    expect(relativeTime(0, 5 * 3_600_000)).toBe('5 h ago');
    expect(formatRate(null)).toBe('—');
    expect(formatRate(49.96)).toBe('50.0/s');
    expect(formatRate(1234.4)).toBe('1234/s');
  });
});
