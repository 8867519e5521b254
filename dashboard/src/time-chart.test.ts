import { describe, expect, it } from 'vitest';
import { mapLimited } from './fleet-view.ts';
import { joinSeries } from './time-chart.ts';

describe('joinSeries', () => {
  it('joins series on one time axis: undefined where one has no point (spanned), null at an outage (a break)', () => {
    const { data, gaps } = joinSeries([
      { label: 'a', color: '#000', times: [0, 1000, 2000, 3000, 30_000, 31_000], values: [1, 2, 3, 4, 5, 6] },
      { label: 'b', color: '#000', times: [500, 1500], values: [7, 8] },
    ], null);
    expect(gaps).toBe(1);
    expect(data[0]).toEqual([0, 0.5, 1, 1.5, 2, 3, 16.5, 30, 31]);
    expect(data[1]).toEqual([1, undefined, 2, undefined, 3, 4, null, 5, 6]);
    expect(data[2]).toEqual([undefined, 7, undefined, 8, undefined, undefined, undefined, undefined, undefined]);
  });

  it('breaks aggregates where more than one window in a row is missing', () => {
    const minute = 60_000;
    const { gaps: one } = joinSeries([{ label: 'a', color: '#000', times: [0, 1, 2, 4, 5, 6].map((i) => i * minute), values: [1, 1, 1, 1, 1, 1] }], minute);
    expect(one).toBe(1);
    // a device slower than the window is not an outage
    const { gaps: none } = joinSeries([{ label: 'a', color: '#000', times: [0, 3, 6, 9].map((i) => i * minute), values: [1, 1, 1, 1] }], minute);
    expect(none).toBe(0);
  });
});

describe('mapLimited', () => {
  it('keeps order and never runs more than the limit at once', async () => {
    let running = 0;
    let most = 0;
    const out = await mapLimited([5, 1, 4, 2, 3, 0], 2, async (n) => {
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, n));
      running--;
      return n * 10;
    });
    expect(out).toEqual([50, 10, 40, 20, 30, 0]);
    expect(most).toBe(2);
  });
});
