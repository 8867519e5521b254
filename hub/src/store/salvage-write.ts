// When a store refuses part of a batch for good (InfluxDB: a tag over `max-values-per-tag`, a field
// type conflict), the rest of the batch must still be stored and acknowledged: one device's bad
// series must not cost every other device its ACKs. Refusals are per series in practice, so the
// batch is halved over whole series until the refused ones are isolated; writing the accepted
// halves again is harmless (writes are idempotent).
import { isWriteRejected } from './errors.ts';
import type { Reading } from './store.ts';

export interface Salvage {
  /** readings of the series the store refused */
  refused: Reading[];
  /** the store's reason, from the first refusal */
  error?: unknown;
}

/**
 * Writes `readings`, isolating the series the store refuses for good. Other errors (the store is
 * down) propagate: nothing is known to be refused then.
 */
export async function writeSalvaging(write: (readings: Reading[]) => Promise<void>, readings: readonly Reading[]): Promise<Salvage> {
  const bySeries = new Map<string, Reading[]>();
  for (const r of readings) {
    const key = `${r.deviceId}\u0000${r.channel}`;
    const series = bySeries.get(key);
    if (series) series.push(r);
    else bySeries.set(key, [r]);
  }
  return salvage(write, [...bySeries.values()]);
}

async function salvage(write: (readings: Reading[]) => Promise<void>, series: Reading[][]): Promise<Salvage> {
  try {
    await write(series.flat());
    return { refused: [] };
  } catch (err) {
    if (!isWriteRejected(err)) throw err;
    if (series.length === 1) return { refused: series[0], error: err };
    const mid = series.length >> 1;
    const first = await salvage(write, series.slice(0, mid));
    const second = await salvage(write, series.slice(mid));
    return { refused: [...first.refused, ...second.refused], error: first.error ?? second.error };
  }
}
