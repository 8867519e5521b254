// Readings in columns, the form ingest hands a store. As objects, a 5,000-reading batch was 15,000
// allocations (each reading an object and two boxed numbers) made for every batch only to be read
// once and dropped: a seventh of the hub's CPU at 40 readings per frame, and most of its garbage.
import type { Reading } from './store.ts';

export class ReadingBatch {
  length = 0;
  /** only the first `length` entries are readings (a batch used again keeps older ones past it) */
  readonly deviceId: string[] = [];
  /** only the first `length` entries are readings */
  readonly channel: string[] = [];
  /** ms since the Unix epoch; only the first `length` entries are readings */
  time: Float64Array;
  /** only the first `length` entries are readings */
  value: Float64Array;

  constructor(capacity = 1024) {
    this.time = new Float64Array(Math.max(1, capacity));
    this.value = new Float64Array(Math.max(1, capacity));
  }

  static from(readings: readonly Reading[]): ReadingBatch {
    const batch = new ReadingBatch(readings.length);
    for (const r of readings) batch.push(r.deviceId, r.channel, r.time, r.value);
    return batch;
  }

  push(deviceId: string, channel: string, time: number, value: number): void {
    const i = this.length;
    if (i === this.time.length) this.grow();
    this.deviceId[i] = deviceId;
    this.channel[i] = channel;
    this.time[i] = time;
    this.value[i] = value;
    this.length = i + 1;
  }

  /** Makes room for `count` more readings, so they can be written into the columns directly. */
  reserve(count: number): void {
    while (this.length + count > this.time.length) this.grow();
  }

  /** Empties the batch for another use, keeping its room. */
  clear(): void {
    this.length = 0;
  }

  at(i: number): Reading {
    return { deviceId: this.deviceId[i], channel: this.channel[i], time: this.time[i], value: this.value[i] };
  }

  toReadings(): Reading[] {
    const readings: Reading[] = new Array(this.length);
    for (let i = 0; i < this.length; i++) readings[i] = this.at(i);
    return readings;
  }

  private grow(): void {
    const time = new Float64Array(this.time.length * 2);
    const value = new Float64Array(this.time.length * 2);
    time.set(this.time);
    value.set(this.value);
    this.time = time;
    this.value = value;
  }
}

/**
 * Something made once per (device, channel) of a batch, for every reading of it: `of(i)` is reading
 * i's. A batch names each series many times, a device's readings mostly together, so the device's
 * own map is looked up again only when the device changes.
 */
export function perSeries<T>(batch: ReadingBatch, make: (deviceId: string, channel: string) => T): (i: number) => T {
  const byDevice = new Map<string, Map<string, T>>();
  let lastDevice: string | undefined;
  let byChannel: Map<string, T> | undefined;
  return function of(i: number): T {
    const device = batch.deviceId[i];
    if (device !== lastDevice) {
      lastDevice = device;
      byChannel = byDevice.get(device);
      if (!byChannel) byDevice.set(device, (byChannel = new Map()));
    }
    const name = batch.channel[i];
    let made = byChannel!.get(name);
    if (made === undefined) {
      made = make(device, name);
      byChannel!.set(name, made);
    }
    return made;
  };
}

/** What a store's write takes: readings as objects, or in columns. */
export type Readings = readonly Reading[] | ReadingBatch;

export function asBatch(readings: Readings): ReadingBatch {
  return readings instanceof ReadingBatch ? readings : ReadingBatch.from(readings);
}

export function asReadings(readings: Readings): readonly Reading[] {
  return readings instanceof ReadingBatch ? readings.toReadings() : readings;
}
