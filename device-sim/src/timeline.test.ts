import { describe, expect, it } from 'vitest';
import { Timeline } from './timeline.ts';

describe('Timeline', () => {
  it('hands out due items in time order, slot by slot', () => {
    const timeline = new Timeline<string>(10, 1000);
    timeline.at(1055, 'c');
    timeline.at(1012, 'a');
    timeline.at(1019, 'b');
    timeline.at(2000, 'later');
    const seen: string[] = [];
    timeline.take(1060, (x) => seen.push(x));
    expect(seen).toEqual(['a', 'b', 'c']);
    expect(timeline.size).toBe(1);
    timeline.take(1999, (x) => seen.push(x));
    expect(seen).toHaveLength(3);
    timeline.take(2000, (x) => seen.push(x));
    expect(seen.at(-1)).toBe('later');
    expect(timeline.size).toBe(0);
  });

  it('runs an item scheduled in the past at the next take, never losing it', () => {
    const timeline = new Timeline<string>(10, 1000);
    timeline.take(1100, () => undefined);
    timeline.at(500, 'late');
    const seen: string[] = [];
    timeline.take(1100, (x) => seen.push(x));
    timeline.take(1110, (x) => seen.push(x));
    expect(seen).toEqual(['late']);
  });

  it('keeps items scheduled while taking (a device rescheduling its next frame)', () => {
    const timeline = new Timeline<number>(10, 0);
    timeline.at(5, 1);
    const seen: number[] = [];
    timeline.take(5, (n) => {
      seen.push(n);
      if (n < 3) timeline.at(5, n + 1); // "now" again: goes to the next slot, not into the void
    });
    expect(seen).toEqual([1]);
    timeline.take(15, (n) => seen.push(n));
    expect(seen).toEqual([1, 2]);
    expect(timeline.size).toBe(0);
  });
});
