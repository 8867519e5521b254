import { describe, expect, it } from 'vitest';
import { SeriesRing } from './series-ring.ts';

describe('SeriesRing', () => {
  it('keeps the newest points in order as one contiguous view, without growing', () => {
    const ring = new SeriesRing(4);
    for (let i = 1; i <= 3; i++) ring.push(i, i * 10);
    expect([...ring.times()]).toEqual([1, 2, 3]);
    for (let i = 4; i <= 11; i++) ring.push(i, i * 10);
    expect([...ring.times()]).toEqual([8, 9, 10, 11]);
    expect([...ring.values()]).toEqual([80, 90, 100, 110]);
    expect(ring.length).toBe(4);
    expect(ring.lastTime).toBe(11);
    expect(ring.lastValue).toBe(110);
    // views share the ring's memory: no copies per frame
    expect(ring.times().buffer).toBe(ring.times().buffer);
  });

  it('refuses a point older than the newest, accepts an equal time', () => {
    const ring = new SeriesRing(3);
    expect(ring.push(5, 1)).toBe(true);
    expect(ring.push(4, 2)).toBe(false);
    expect(ring.push(5, 3)).toBe(true);
    expect([...ring.values()]).toEqual([1, 3]);
  });

  it('is empty after clear', () => {
    const ring = new SeriesRing(2);
    ring.push(1, 1);
    ring.clear();
    expect(ring.length).toBe(0);
    expect(ring.lastValue).toBeUndefined();
    expect(ring.times().length).toBe(0);
  });
});
