import { describe, expect, it } from 'vitest';
import { staleAfterMs } from './chart-math.ts';
import { describeTrack, joinColumns, seedThenLive, trackFacts } from './fleet-live-data.ts';

/** the time axis is a typed array: compared as a plain one */
const plain = ([times, ...columns]: [ArrayLike<number>, ...unknown[][]]) => [Array.from(times), ...columns];

describe('joinColumns', () => {
  it('puts every device on one axis, leaving out (not breaking) where another device has a point', () => {
    const { data, gaps } = joinColumns([
      { times: [10, 11, 12], values: [1, 2, 3] },
      { times: [10.5, 11.5, 12.5], values: [7, 8, 9] },
    ]);
    expect(plain(data)).toEqual([
      [10, 10.5, 11, 11.5, 12, 12.5],
      [1, undefined, 2, undefined, 3, undefined],
      [undefined, 7, undefined, 8, undefined, 9],
    ]);
    expect(gaps).toEqual([0, 0]);
  });

  it('breaks a line where its own device fell silent for more than four of its intervals (at least 1 s)', () => {
    // a 1 Hz device silent for 10 s, beside a 0.1 s device that keeps going
    const slow = { times: [0, 1, 2, 3, 13, 14], values: [1, 1, 1, 1, 2, 2] };
    const fast = { times: Array.from({ length: 141 }, (_, i) => i / 10), values: Array.from({ length: 141 }, () => 5) };
    const { data, gaps } = joinColumns([slow, fast]);
    expect(gaps).toEqual([1, 0]);
    const breakAt = [...data[0]].indexOf(8);
    expect(data[1][breakAt]).toBeNull();
    expect(data[2].filter((v) => v === null)).toEqual([]);
    // the fast device is not broken by its own 0.5 s jitter: the floor is 1 s
    expect(joinColumns([{ times: [0, 0.1, 0.2, 0.7, 0.8], values: [1, 1, 1, 1, 1] }]).gaps).toEqual([0]);
  });

  it('takes the last of several readings at one time, and joins no columns into an empty axis', () => {
    expect(plain(joinColumns([{ times: [1, 1, 2], values: [5, 6, 7] }, { times: [1], values: [9] }]).data)).toEqual([[1, 2], [6, 7], [9, undefined]]);
    expect(plain(joinColumns([]).data)).toEqual([[]]);
    expect(plain(joinColumns([{ times: [], values: [] }]).data)).toEqual([[], []]);
  });
});

describe('seedThenLive', () => {
  it('cuts the seed where the held live points begin, so nothing arrives twice or out of order', () => {
    const seed = [{ time: 1, value: 1 }, { time: 2, value: 2 }, { time: 3, value: 3 }];
    expect(seedThenLive(seed, [{ time: 3, value: 30 }, { time: 4, value: 40 }]).map((p) => p.time)).toEqual([1, 2, 3, 4]);
    expect(seedThenLive(seed, [{ time: 3, value: 30 }]).at(-1)).toEqual({ time: 3, value: 30 });
    expect(seedThenLive(seed, [])).toEqual(seed);
    expect(seedThenLive([], [{ time: 5, value: 5 }])).toEqual([{ time: 5, value: 5 }]);
  });
});

describe('staleness and the text alternative', () => {
  const now = 100_000;
  const column = (times: number[]) => ({ times, values: times.map((t) => 20 + t / 100) });

  it('calls a value stale after five of its device’s intervals, at least 5 s, 10 s without an interval', () => {
    expect(staleAfterMs(1)).toBe(5000);
    expect(staleAfterMs(0.1)).toBe(5000);
    expect(staleAfterMs(10)).toBe(50_000);
    expect(staleAfterMs(null)).toBe(10_000);
    const sending = trackFacts(column([95, 96, 97, 98, 99]), now, 40, 100);
    expect(sending).toMatchObject({ stale: false, interval: 1, count: 5, min: 20.95, max: 20.99, last: 20.99, lastTime: 99_000 });
    const stopped = trackFacts(column([80, 81, 82, 83, 84]), now, 40, 100);
    expect(stopped.stale).toBe(true);
    expect(trackFacts(column([]), now, 40, 100)).toMatchObject({ last: undefined, stale: false, count: 0 });
  });

  it('says each device’s latest value, its age, stale or not, and the minute’s range', () => {
    const sending = trackFacts(column([95, 96, 97, 98, 99]), now, 40, 100);
    expect(describeTrack('rack-a', sending, '°C', false, now, 60)).toBe('rack-a: latest 20.99 °C, just now; 5 readings in 60 s from 20.95 to 20.99 °C');
    const stopped = trackFacts(column([80, 81, 82, 83, 84]), now, 40, 100);
    expect(describeTrack('rack-b', stopped, '°C', false, now, 60)).toBe('rack-b: latest 20.84 °C, 16 s ago, stale; 5 readings in 60 s from 20.80 to 20.84 °C');
    const old = trackFacts(column([10, 11]), now, 40, 100);
    expect(describeTrack('rack-c', old, '', false, now, 60)).toBe('rack-c: latest 20.11, 1 min ago, stale; no readings in 60 s');
    const door = trackFacts({ times: [98, 99], values: [0, 1] }, now, 40, 100);
    expect(describeTrack('door-1', door, '', true, now, 60)).toBe('door-1: latest on, just now; 2 readings in 60 s from off to on');
    expect(describeTrack('rack-d', trackFacts(column([]), now, 40, 100), '°C', false, now, 60)).toBe('rack-d: no reading yet');
  });
});
