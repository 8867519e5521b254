// A ReadingStore that keeps nothing and only counts: with it, the hub's ingest rate is bounded by
// sockets, decoding and batching alone ("decode-only"), not by a database.
import type { Readings } from '../hub/src/store/reading-batch.ts';
import type { ReadingPoint, ReadingStore } from '../hub/src/store/store.ts';

export interface CountingStore extends ReadingStore {
  readonly readings: number;
  readonly batches: number;
}

export function createCountingStore(): CountingStore {
  let readings = 0;
  let batches = 0;
  return {
    get readings() {
      return readings;
    },
    get batches() {
      return batches;
    },
    async write(batch: Readings) {
      readings += batch.length;
      batches++;
    },
    async query(): Promise<ReadingPoint[]> {
      return [];
    },
    async ping() {},
    async close() {},
  };
}
