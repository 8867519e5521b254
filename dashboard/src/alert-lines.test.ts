import { describe, expect, it } from 'vitest';
import { rangeWithLevels } from './alert-lines.ts';

describe('rangeWithLevels', () => {
  it('widens the range to levels within one span of the readings', () => {
    expect(rangeWithLevels(20, 24, [27])).toEqual([20, 27]);
    expect(rangeWithLevels(20, 24, [17, 28])).toEqual([17, 28]);
  });

  it('leaves out levels so far away that the readings would become a flat line', () => {
    expect(rangeWithLevels(20, 24, [100, -50])).toEqual([20, 24]);
  });

  it('gives a flat series a span of its own, and no readings the levels alone', () => {
    expect(rangeWithLevels(50, 50, [54])).toEqual([50, 54]);
    expect(rangeWithLevels(50, 50, [80])).toEqual([50, 50]);
    expect(rangeWithLevels(null, null, [5, 30])).toEqual([5, 30]);
    expect(rangeWithLevels(null, null, [])).toBeNull();
  });
});
