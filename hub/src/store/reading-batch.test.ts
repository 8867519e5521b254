import { describe, expect, it } from 'vitest';
import { asBatch, asReadings, perSeries, ReadingBatch } from './reading-batch.ts';
import type { Reading } from './store.ts';

const readings: Reading[] = Array.from({ length: 700 }, (_, i) => ({ deviceId: `d${i % 3}`, channel: `c${i % 5}`, time: 1_700_000_000_000 + i, value: i / 8 }));

describe('ReadingBatch', () => {
  it('holds readings in columns and gives the same objects back, past its first capacity', () => {
    const batch = new ReadingBatch(2);
    for (const r of readings) batch.push(r.deviceId, r.channel, r.time, r.value);
    expect(batch.length).toBe(readings.length);
    expect(batch.toReadings()).toEqual(readings);
    expect(batch.at(699)).toEqual(readings[699]);
  });

  it('is filled again after clear() without readings of its last use showing', () => {
    const batch = ReadingBatch.from(readings);
    batch.clear();
    batch.push('x', 'y', 5, 6);
    expect(batch.toReadings()).toEqual([{ deviceId: 'x', channel: 'y', time: 5, value: 6 }]);
  });

  it('reserve() makes room to write columns directly', () => {
    const batch = new ReadingBatch(1);
    batch.push('a', 'b', 1, 1);
    batch.reserve(100);
    expect(batch.time.length).toBeGreaterThanOrEqual(101);
    expect(batch.at(0)).toEqual({ deviceId: 'a', channel: 'b', time: 1, value: 1 });
  });

  it('asBatch and asReadings pass their own kind through and convert the other', () => {
    const batch = ReadingBatch.from(readings);
    expect(asBatch(batch)).toBe(batch);
    expect(asReadings(readings)).toBe(readings);
    expect(asReadings(batch)).toEqual(readings);
    expect(asBatch(readings).toReadings()).toEqual(readings);
  });

  it('perSeries makes one thing per (device, channel), however the devices interleave', () => {
    const batch = ReadingBatch.from(readings);
    const made: string[] = [];
    const of = perSeries(batch, (deviceId, channel) => {
      made.push(`${deviceId}/${channel}`);
      return `${deviceId}/${channel}`;
    });
    for (let i = 0; i < batch.length; i++) expect(of(i)).toBe(`${readings[i].deviceId}/${readings[i].channel}`);
    expect(made.length).toBe(15);
    expect(new Set(made).size).toBe(15);
  });
});
