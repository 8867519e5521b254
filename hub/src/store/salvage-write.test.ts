import { describe, expect, it } from 'vitest';
import { WriteRejectedError } from './errors.ts';
import { writeSalvaging } from './salvage-write.ts';
import type { Reading } from './store.ts';

const reading = (deviceId: string, channel: string, time: number): Reading => ({ deviceId, channel, time, value: time });

/** A store that refuses any write holding one of `bad` channels, and keeps what it accepts. */
function refusing(bad: Set<string>) {
  const stored: Reading[] = [];
  let writes = 0;
  return {
    stored,
    get writes() { return writes; },
    async write(readings: Reading[]) {
      writes++;
      if (readings.some((r) => bad.has(r.channel))) throw new WriteRejectedError('partial write: max-values-per-tag limit exceeded');
      stored.push(...readings);
    },
  };
}

describe('writeSalvaging', () => {
  it('writes everything in one go when nothing is refused', async () => {
    const store = refusing(new Set());
    const batch = [reading('a', 't', 1), reading('b', 't', 2)];
    expect(await writeSalvaging((r) => store.write(r), batch)).toEqual({ refused: [] });
    expect(store.writes).toBe(1);
  });

  it('isolates the refused series and stores every other one', async () => {
    const store = refusing(new Set(['junk-1', 'junk-2']));
    const batch: Reading[] = [];
    for (let d = 0; d < 100; d++) for (let t = 0; t < 10; t++) batch.push(reading(`dev-${d}`, 'temp', t));
    for (let t = 0; t < 50; t++) batch.push(reading('bad', 'junk-1', t), reading('bad', 'junk-2', t));
    const { refused, error } = await writeSalvaging((r) => store.write(r), batch);
    expect(refused).toHaveLength(100);
    expect(new Set(refused.map((r) => r.channel))).toEqual(new Set(['junk-1', 'junk-2']));
    expect(error).toBeInstanceOf(WriteRejectedError);
    expect(new Set(store.stored.map((r) => `${r.deviceId}/${r.time}`)).size).toBe(1000);
    // halving over 102 series, not over 1,100 readings
    expect(store.writes).toBeLessThan(40);
  });

  it('lets a store outage through: nothing is known to be refused then', async () => {
    const down = async () => { throw new Error('ECONNREFUSED'); };
    await expect(writeSalvaging(down, [reading('a', 't', 1)])).rejects.toThrow('ECONNREFUSED');
  });
});
