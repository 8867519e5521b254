import { describe, expect, it } from 'vitest';
import { combineParts, finish, type WindowState } from './rollup-state.ts';

const state = (channel: string, time: number, values: number[]): WindowState => ({
  channel,
  time,
  count: values.length,
  sum: values.reduce((a, b) => a + b, 0),
  min: Math.min(...values),
  max: Math.max(...values),
  last: values[values.length - 1],
});

describe('combineParts and finish', () => {
  it('combine the pieces of a window into what one scan of its readings gives', () => {
    const head = [state('b', 0, [4, -2]), state('a', 0, [1])];
    const middle = [state('a', 0, [3, 7]), state('a', 60, [5]), state('b', 0, [0.5])];
    const tail = [state('a', 60, [-1, 2])];
    const windows = combineParts([head, middle, tail]);
    expect(windows.map((w) => [w.channel, w.time])).toEqual([['a', 0], ['a', 60], ['b', 0]]);
    expect(finish(windows, 'count', 10)!.map((p) => p.value)).toEqual([3, 3, 3]);
    expect(finish(windows, 'mean', 10)!.map((p) => p.value)).toEqual([11 / 3, 2, 2.5 / 3]);
    expect(finish(windows, 'min', 10)!.map((p) => p.value)).toEqual([1, -1, -2]);
    expect(finish(windows, 'max', 10)!.map((p) => p.value)).toEqual([7, 5, 4]);
    // the latest piece in time holds the last value
    expect(finish(windows, 'last', 10)!.map((p) => p.value)).toEqual([7, 2, 0.5]);
    expect(finish(windows, 'max', 2)).toEqual([{ channel: 'a', time: 0, value: 7 }, { channel: 'a', time: 60, value: 5 }]);
  });

  it('gives no mean when a sum overflowed, so the caller reads raw readings instead', () => {
    const big = combineParts([[state('x', 0, [1.7e308])], [state('x', 0, [1.7e308])]]);
    expect(finish(big, 'mean', 10)).toBeNull();
    expect(finish(big, 'max', 10)).toEqual([{ channel: 'x', time: 0, value: 1.7e308 }]);
    expect(finish([{ ...state('x', 0, [1]), sum: null }], 'mean', 10)).toBeNull();
    expect(finish(combineParts([[{ ...state('x', 0, [1]), sum: null }], [state('x', 0, [2])]]), 'mean', 10)).toBeNull();
  });
});
