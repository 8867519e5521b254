import { describe, expect, it } from 'vitest';
import type { ChannelView } from '../../hub/src/http/wire.ts';
import {
  autoWindow, axisTimeLabels, csvInZone, estimateInterval, fromZoneInput, gapThreshold, groupByUnit, isoInZone,
  limitFromRefusal, rangeStats, toZoneInput, WINDOW_CHOICES, windowAllowed, windowCount, windowMs, withGaps, zoneLabel,
} from './chart-math.ts';

describe('estimateInterval', () => {
  it('is the median step of the newest points, unmoved by one outage', () => {
    const times = [0, 1, 2, 3, 4, 24, 25, 26, 27];
    expect(estimateInterval(times)).toBe(1);
  });

  it('ignores repeated times and needs two distinct ones', () => {
    expect(estimateInterval([5, 5, 5])).toBeNull();
    expect(estimateInterval([5])).toBeNull();
    expect(estimateInterval([0, 0, 0.5, 0.5, 1])).toBe(0.5);
  });
});

describe('withGaps', () => {
  it('puts a null inside every step longer than the threshold', () => {
    const times = [0, 1, 2, 22, 23];
    const gapped = withGaps(times, [1, 2, 3, 4, 5], gapThreshold(estimateInterval(times), 0.5))!;
    expect(gapped.gaps).toBe(1);
    expect(gapped.times).toEqual([0, 1, 2, 12, 22, 23]);
    expect(gapped.values).toEqual([1, 2, 3, null, 4, 5]);
  });

  it('answers null when the line has no gap, so nothing is copied', () => {
    expect(withGaps([0, 1, 2, 3], [1, 1, 1, 1], 4)).toBeNull();
    expect(withGaps([0, 100], [1, 1], gapThreshold(null, 1))).toBeNull();
  });

  it('never breaks below the floor, whatever the interval', () => {
    expect(gapThreshold(0.02, 1)).toBe(1);
    expect(gapThreshold(1, 1)).toBe(4);
  });
});

describe('rangeStats', () => {
  it('counts and bounds the points inside the range, skipping gaps', () => {
    expect(rangeStats([0, 1, 2, 3], [5, null, -2, 9], 1, 2)).toEqual({ count: 1, min: -2, max: -2 });
    expect(rangeStats([0, 1], [1, 2], 5, 6).count).toBe(0);
  });
});

describe('history windows', () => {
  it('reads windows as the hub does', () => {
    expect(windowMs('10s')).toBe(10_000);
    expect(windowMs('250ms')).toBe(250);
    expect(windowMs('2d')).toBe(172_800_000);
    expect(windowMs('x')).toBeNaN();
  });

  it('never allows a window the hub refuses: a year is not offered per second', () => {
    const year = 365 * 86_400_000;
    const allowed = WINDOW_CHOICES.filter((w) => windowAllowed(year, w));
    expect(allowed).not.toContain('1s');
    expect(allowed).not.toContain('1m');
    expect(allowed).not.toContain('5m');
    expect(allowed).toContain('15m');
    for (const w of allowed) expect(windowCount(year, w)).toBeLessThanOrEqual(100_000);
    // the boundary is the hub's: ceil(range / every) <= 100,000
    expect(windowAllowed(100_000_000, '1s')).toBe(true);
    expect(windowAllowed(100_000_001, '1s')).toBe(false);
  });

  it('picks a round automatic window of at most ~600 per channel', () => {
    expect(autoWindow(3_600_000)).toBe('10s');
    expect(autoWindow(60_000)).toBe('100ms');
    expect(autoWindow(365 * 86_400_000)).toBe('1d');
    for (const range of [1, 1000, 3_600_000, 86_400_000 * 3650, 8.64e15]) expect(windowAllowed(range, autoWindow(range))).toBe(true);
  });

  it('reads the limit from a refusal', () => {
    expect(limitFromRefusal('3153600 windows per channel; at most 100000: widen `every` or narrow the range')).toBe(100_000);
    expect(limitFromRefusal('nope')).toBeNull();
  });
});

describe('groupByUnit', () => {
  const channels: ChannelView[] = [
    { id: 1, type: 'f32', name: 'temperature', unit: '°C' },
    { id: 2, type: 'i32', name: 'battery', unit: 'mV' },
    { id: 3, type: 'f32', name: 'outside', unit: '°C' },
    { id: 4, type: 'bool', name: 'door', unit: '' },
    { id: 5, type: 'i32', name: 'count', unit: '' },
  ];

  it('never puts two units on one axis, and on/off apart', () => {
    expect(groupByUnit(['temperature', 'battery', 'outside', 'door', 'count', 'gone'], channels)).toEqual([
      { key: '°C', unit: '°C', channels: ['temperature', 'outside'] },
      { key: 'mV', unit: 'mV', channels: ['battery'] },
      { key: 'bool', unit: '', channels: ['door'] },
      { key: '', unit: '', channels: ['count', 'gone'] },
    ]);
  });
});

describe('time zones', () => {
  const t = Date.UTC(2026, 10, 25, 10, 5, 7, 42);

  it('writes UTC as the hub does and local time with its offset', () => {
    expect(isoInZone(t, 'utc')).toBe('2026-11-25T10:05:07.042Z');
    const local = isoInZone(t, 'local');
    expect(local).toMatch(/^2026-11-2\dT\d\d:\d\d:07\.042[+-]\d\d:\d\d$/);
    expect(Date.parse(local)).toBe(t);
  });

  it('reads inputs in the zone they are shown in', () => {
    expect(toZoneInput(t, 'utc')).toBe('2026-11-25T10:05:07');
    expect(fromZoneInput('2026-11-25T10:05:07', 'utc')).toBe(t - 42);
    expect(fromZoneInput(toZoneInput(t, 'local'), 'local')).toBe(t - 42);
    expect(fromZoneInput('', 'utc')).toBeNaN();
  });

  it('names the zone', () => {
    expect(zoneLabel('utc')).toBe('UTC');
    expect(zoneLabel('local')).toMatch(/^local time \((UTC|.+, UTC[+-]\d\d:\d\d)\)$/);
  });

  it('labels axes in the zone', () => {
    expect(axisTimeLabels([t / 1000], 60, 'utc')).toEqual(['10:05:07']);
    expect(axisTimeLabels([t / 1000], 3600, 'utc')).toEqual(['10:05']);
    expect(axisTimeLabels([t / 1000], 7 * 86_400, 'utc')).toEqual(['11-25 10:05']);
    expect(axisTimeLabels([t / 1000], 365 * 86_400, 'utc')).toEqual(['2026-11-25']);
  });

  it('rewrites only the time column of the CSV', () => {
    const csv = `time,channel,value\n${new Date(t).toISOString()},a,1.5\n${new Date(t + 1).toISOString()},'=x,-2\n`;
    expect(csvInZone(csv, 'utc')).toBe(csv);
    const lines = csvInZone(csv, 'local').split('\n');
    expect(lines[0]).toBe('time,channel,value');
    expect(lines[1]).toBe(`${isoInZone(t, 'local')},a,1.5`);
    expect(lines[2]).toBe(`${isoInZone(t + 1, 'local')},'=x,-2`);
    expect(lines[3]).toBe('');
  });
});
