// The outage spool's file format: an append-only log of reading batches in segment files, read back
// in order from a cursor. It knows nothing of the primary store or of outages (see spool.ts).
//
// On disk: `dir/spool-<seq>.jsonl`, append-only segments. Each line is one write() batch,
// `{"s":[[device,channel],…],"r":[seriesIndex,time,value,…]}`, naming each series once per batch.
// An append is fsync'd before it resolves. The read cursor is kept in memory, and a segment is
// deleted once it has been read and confirmed to its end; after a restart the segments are read from
// their start again.
import { mkdirSync, readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Reading } from './store.ts';
import { validateReadings } from './validate.ts';

export interface SegmentLogOptions {
  /** created when missing; segments left there by an earlier run are read first */
  dir: string;
  /** a segment is closed once it reaches this size, and the next append starts a new one */
  segmentBytes: number;
  /** unreadable bytes in a segment found at open (a write torn by a crash, never acknowledged) */
  onCorrupt?: (file: string, bytes: number) => void;
}

/** Where the next read starts. */
export interface LogCursor {
  /** byte offset of the next line in the head segment */
  offset: number;
  /** readings of that line already confirmed */
  skip: number;
}

export interface LogChunk {
  readings: Reading[];
  /** the cursor just past these readings, for `confirm` */
  end: LogCursor;
}

export interface SegmentLog {
  /** bytes of segment files on disk, including confirmed parts of a segment not yet deleted */
  readonly bytes: number;
  /** readings appended (or found at open) and not confirmed yet */
  readonly pending: number;
  /**
   * Appends whole lines (encodeBatch output, each ending in a newline) holding `readings` readings,
   * with one write and one fsync. A failed append leaves no torn line behind: later appends go to a
   * new segment. Appends and `clear` must not overlap; reads may run beside them.
   */
  append(lines: Buffer, readings: number): Promise<void>;
  /**
   * Up to `max` readings from the cursor on, without moving it; segments read and confirmed to
   * their end are deleted on the way. Undefined when every appended reading has been confirmed.
   */
  read(max: number): Promise<LogChunk | undefined>;
  /** The chunk's readings were taken care of: the next read starts after them. */
  confirm(chunk: LogChunk): void;
  /** Deletes every segment and starts over; for a log whose appends are all confirmed. */
  clear(): Promise<void>;
  /** Closes the segment being appended to; the files stay for the next open. */
  close(): Promise<void>;
}

const SEGMENT_NAME = /^spool-(\d{12})\.jsonl$/;
const READ_WINDOW = 256 * 1024;
const NEWLINE = 0x0a;

interface Segment {
  seq: number;
  path: string;
  /** bytes known to hold whole, synced lines; a torn tail beyond this is never read */
  size: number;
}

function segmentPath(dir: string, seq: number): string {
  return join(dir, `spool-${String(seq).padStart(12, '0')}.jsonl`);
}

export function encodeBatch(readings: readonly Reading[]): string {
  const series: [string, string][] = [];
  const index = new Map<string, Map<string, number>>();
  const flat: number[] = new Array(readings.length * 3);
  for (let i = 0; i < readings.length; i++) {
    const { deviceId, channel, time, value } = readings[i];
    let channels = index.get(deviceId);
    if (!channels) index.set(deviceId, (channels = new Map()));
    let s = channels.get(channel);
    if (s === undefined) {
      s = series.length;
      channels.set(channel, s);
      series.push([deviceId, channel]);
    }
    flat[i * 3] = s;
    flat[i * 3 + 1] = time;
    flat[i * 3 + 2] = value;
  }
  return JSON.stringify({ s: series, r: flat });
}

/** undefined for a line that is not a whole batch, such as one torn by a crash */
export function decodeBatch(line: string): Reading[] | undefined {
  let parsed: { s?: unknown; r?: unknown };
  try {
    parsed = JSON.parse(line);
  } catch {
    return undefined;
  }
  const { s, r } = parsed ?? {};
  if (!Array.isArray(s) || !Array.isArray(r) || r.length % 3 !== 0) return undefined;
  const readings: Reading[] = new Array(r.length / 3);
  for (let i = 0; i < readings.length; i++) {
    const series = s[r[i * 3]];
    if (!Array.isArray(series)) return undefined;
    readings[i] = { deviceId: series[0], channel: series[1], time: r[i * 3 + 1], value: r[i * 3 + 2] };
  }
  try {
    validateReadings(readings);
  } catch {
    return undefined;
  }
  return readings;
}

/** Splits complete lines; the bytes after the last newline are left for the caller. */
function* lines(buf: Buffer, length: number): Generator<{ start: number; end: number }> {
  let start = 0;
  while (start < length) {
    const nl = buf.indexOf(NEWLINE, start);
    if (nl < 0 || nl >= length) return;
    yield { start, end: nl };
    start = nl + 1;
  }
}

/** Opens the log in `dir`, synchronously, so `bytes` and `pending` are right from the first call. */
export function openSegmentLog(options: SegmentLogOptions): SegmentLog {
  const { dir, segmentBytes } = options;
  const segments: Segment[] = [];
  let bytes = 0;
  let pending = 0;
  let nextSeq = 1;

  // Recover what an earlier run left.
  mkdirSync(dir, { recursive: true });
  for (const name of readdirSync(dir).filter((n) => SEGMENT_NAME.test(n)).sort()) {
    const path = join(dir, name);
    const seq = Number(SEGMENT_NAME.exec(name)![1]);
    nextSeq = Math.max(nextSeq, seq + 1);
    const buf = readFileSync(path);
    let readings = 0;
    let good = 0;
    for (const { start, end } of lines(buf, buf.length)) {
      const batch = decodeBatch(buf.toString('utf8', start, end));
      if (batch) {
        readings += batch.length;
        good += end + 1 - start;
      }
    }
    if (good < buf.length) options.onCorrupt?.(path, buf.length - good);
    if (readings === 0) {
      unlinkSync(path);
      continue;
    }
    segments.push({ seq, path, size: buf.length });
    bytes += buf.length;
    pending += readings;
  }

  let active: { segment: Segment; file: FileHandle } | undefined;
  let cursor: LogCursor = { offset: 0, skip: 0 };

  async function syncDir(): Promise<void> {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  async function closeActive(): Promise<void> {
    const current = active;
    active = undefined;
    await current?.file.close().catch(() => {});
  }

  async function readFrom(head: Segment, max: number): Promise<LogChunk> {
    const readings: Reading[] = [];
    let { offset, skip } = cursor;
    const file = await open(head.path, 'r');
    try {
      let window = READ_WINDOW;
      while (readings.length < max && offset < head.size) {
        const length = Math.min(window, head.size - offset);
        const buf = Buffer.allocUnsafe(length);
        const { bytesRead } = await file.read(buf, 0, length, offset);
        let consumed = 0;
        let sawLine = false;
        let partial = false;
        for (const { start, end } of lines(buf, bytesRead)) {
          sawLine = true;
          // an unreadable line was reported at open; it is skipped like an empty batch
          const batch = decodeBatch(buf.toString('utf8', start, end)) ?? [];
          const take = Math.min(batch.length - skip, max - readings.length);
          for (let i = skip; i < skip + take; i++) readings.push(batch[i]);
          if (skip + take < batch.length) {
            skip += take;
            partial = true;
            break;
          }
          skip = 0;
          consumed = end + 1;
          if (readings.length >= max) break;
        }
        offset += consumed;
        if (partial) break;
        if (!sawLine) {
          // Either a line longer than the window, or a tail torn by a crash in an earlier run.
          if (offset + bytesRead >= head.size) offset = head.size;
          else window *= 2;
        }
      }
    } finally {
      await file.close();
    }
    return { readings, end: { offset, skip } };
  }

  return {
    get bytes() {
      return bytes;
    },
    get pending() {
      return pending;
    },

    async append(data, readings) {
      if (!active) {
        const segment = { seq: nextSeq, path: segmentPath(dir, nextSeq), size: 0 };
        nextSeq++;
        const file = await open(segment.path, 'ax');
        active = { segment, file };
        segments.push(segment);
        // The new name must survive a crash as well as the bytes in it.
        await syncDir();
      }
      const { segment, file } = active;
      try {
        let written = 0;
        while (written < data.length) written += (await file.write(data, written, data.length - written, null)).bytesWritten;
        await file.datasync();
      } catch (err) {
        // Never append behind a torn line: cut it off if possible and continue in a new segment.
        await file.truncate(segment.size).catch(() => {});
        await closeActive();
        throw err;
      }
      // Size and count change together, so a read beside this append sees all of it or none.
      segment.size += data.length;
      bytes += data.length;
      pending += readings;
      if (segment.size >= segmentBytes) await closeActive();
    },

    async read(max) {
      while (segments.length > 0) {
        const head = segments[0];
        if (cursor.offset >= head.size) {
          if (head === active?.segment) break;
          await unlink(head.path).catch((err) => {
            if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
          });
          segments.shift();
          bytes -= head.size;
          cursor = { offset: 0, skip: 0 };
          continue;
        }
        return readFrom(head, max);
      }
      // Everything appended so far is read and confirmed.
      pending = 0;
      return undefined;
    },

    confirm(chunk) {
      cursor = chunk.end;
      pending -= chunk.readings.length;
    },

    async clear() {
      await closeActive();
      for (const segment of segments.splice(0)) await unlink(segment.path).catch(() => {});
      bytes = 0;
      pending = 0;
      cursor = { offset: 0, skip: 0 };
    },

    close: closeActive,
  };
}
