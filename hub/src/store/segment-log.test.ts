import { appendFile, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Reading } from './store.ts';
import { decodeBatch, encodeBatch, openSegmentLog, type SegmentLog, type SegmentLogOptions } from './segment-log.ts';

const T0 = 1_700_000_000_000;

function readings(count: number, deviceId = 'dev-1'): Reading[] {
  return Array.from({ length: count }, (_, i) => ({ deviceId, channel: i % 2 ? 'temp' : 'hum', time: T0 + i, value: i / 2 }));
}

function lines(...batches: Reading[][]): Buffer {
  return Buffer.from(batches.map((b) => `${encodeBatch(b)}\n`).join(''));
}

async function readAll(log: SegmentLog, max: number): Promise<Reading[][]> {
  const chunks: Reading[][] = [];
  for (let chunk = await log.read(max); chunk; chunk = await log.read(max)) {
    chunks.push(chunk.readings);
    log.confirm(chunk);
  }
  return chunks;
}

describe('segment log', () => {
  let dir: string;
  const open: SegmentLog[] = [];

  function segmentLog(overrides: Partial<SegmentLogOptions> = {}): SegmentLog {
    const log = openSegmentLog({ dir, segmentBytes: 1024 * 1024, ...overrides });
    open.push(log);
    return log;
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'segment-log-test-'));
  });

  afterEach(async () => {
    for (const log of open.splice(0)) await log.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('writes the documented line format, one line per batch, in a numbered segment', async () => {
    const log = segmentLog();
    const batch = [
      { deviceId: 'd1', channel: 'temp', time: 1000, value: 21.5 },
      { deviceId: 'd1', channel: 'temp', time: 2000, value: 22 },
      { deviceId: 'd2', channel: 'hum', time: 1000, value: -3 },
    ];
    await log.append(lines(batch), 3);
    expect(await readdir(dir)).toEqual(['spool-000000000001.jsonl']);
    expect(await readFile(join(dir, 'spool-000000000001.jsonl'), 'utf8')).toBe('{"s":[["d1","temp"],["d2","hum"]],"r":[0,1000,21.5,0,2000,22,1,1000,-3]}\n');
    expect(decodeBatch(encodeBatch(batch))).toEqual(batch);
    expect(log.pending).toBe(3);
    expect(log.bytes).toBe((await readFile(join(dir, 'spool-000000000001.jsonl'))).length);
  });

  it('reads back in order and in chunks of at most max, splitting a line, and moves on only when confirmed', async () => {
    const log = segmentLog();
    const a = readings(5, 'a');
    const b = readings(3, 'b');
    await log.append(lines(a, b), 8);

    const first = await log.read(4);
    expect(first?.readings).toEqual(a.slice(0, 4));
    // not confirmed: the same readings again
    expect((await log.read(4))?.readings).toEqual(a.slice(0, 4));
    log.confirm(first!);
    expect(log.pending).toBe(4);
    expect(await readAll(log, 4)).toEqual([[a[4], ...b.slice(0, 3)]]);
    expect(log.pending).toBe(0);
    expect(await log.read(4)).toBeUndefined();
  });

  it('rotates at segmentBytes and deletes a segment once it is confirmed to its end', async () => {
    const log = segmentLog({ segmentBytes: 200 });
    const batches = Array.from({ length: 6 }, (_, i) => readings(10, `dev-${i}`));
    for (const batch of batches) await log.append(lines(batch), batch.length);
    const files = (await readdir(dir)).sort();
    expect(files.length).toBe(6);

    const chunk = await log.read(10);
    expect(chunk?.readings).toEqual(batches[0]);
    log.confirm(chunk!);
    const bytesBefore = log.bytes;
    // the next read finds the head consumed and deletes it
    expect((await log.read(10))?.readings).toEqual(batches[1]);
    expect((await readdir(dir)).sort()).toEqual(files.slice(1));
    expect(log.bytes).toBeLessThan(bytesBefore);

    expect((await readAll(log, 10)).flat()).toEqual(batches.slice(1).flat());
  });

  it('keeps the segment being appended to while it is read to its end, and appends behind it', async () => {
    const log = segmentLog();
    const a = readings(3, 'a');
    await log.append(lines(a), 3);
    expect(await readAll(log, 100)).toEqual([a]);
    expect(await readdir(dir)).toHaveLength(1);
    const b = readings(2, 'b');
    await log.append(lines(b), 2);
    expect(await readAll(log, 100)).toEqual([b]);
  });

  it('recovers segments at open, counting their readings and reporting a torn tail', async () => {
    const first = segmentLog({ segmentBytes: 200 });
    const kept = [readings(10, 'a'), readings(10, 'b')];
    for (const batch of kept) await first.append(lines(batch), 10);
    await first.close();
    const [last] = (await readdir(dir)).sort().slice(-1);
    const torn = encodeBatch(readings(10, 'c')).slice(0, 30);
    await appendFile(join(dir, last), torn);

    const corrupt: [string, number][] = [];
    const again = segmentLog({ onCorrupt: (file, bytes) => corrupt.push([file, bytes]) });
    expect(corrupt).toEqual([[join(dir, last), torn.length]]);
    expect(again.pending).toBe(20);
    expect((await readAll(again, 100)).flat()).toEqual(kept.flat());

    // new appends go to a new segment after the recovered ones
    await again.append(lines(readings(1)), 1);
    expect((await readdir(dir)).sort().at(-1)! > last).toBe(true);
  });

  it('deletes a segment with no readable line at open', async () => {
    const first = segmentLog();
    await first.append(lines(readings(2)), 2);
    await first.close();
    const [name] = await readdir(dir);
    await rm(join(dir, name));
    await appendFile(join(dir, name), 'not json\n');
    const again = segmentLog();
    expect(again.pending).toBe(0);
    expect(await readdir(dir)).toEqual([]);
  });

  it('clear deletes every segment and starts over', async () => {
    const log = segmentLog({ segmentBytes: 100 });
    for (let i = 0; i < 3; i++) await log.append(lines(readings(5)), 5);
    expect((await readdir(dir)).length).toBeGreaterThan(1);
    await log.clear();
    expect(await readdir(dir)).toEqual([]);
    expect(log.bytes).toBe(0);
    expect(log.pending).toBe(0);
    await log.append(lines(readings(1)), 1);
    expect(await readAll(log, 10)).toEqual([readings(1)]);
  });
});
