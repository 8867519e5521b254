// Outage spool: keeps readings on local disk while the primary store is down or slow, and replays
// them in order when it is back, so devices can be acknowledged during an InfluxDB outage.
//
// On disk: `dir/spool-<seq>.jsonl`, append-only segments. Each line is one write() batch,
// `{"s":[[device,channel],…],"r":[seriesIndex,time,value,…]}`, naming each series once per batch.
// A line is fsync'd before its write() resolves. Replay reads the oldest segment from a cursor kept
// in memory and deletes a segment once the primary has confirmed all of it. After a restart the
// segments are replayed from their start: some readings reach the primary twice, which is harmless
// because a store keeps one point per (device, channel, time).
//
// Order: while anything is spooled, new writes are spooled too, behind it. Writes that were already
// in flight to the primary when it failed may land before older spooled ones; that only matters for
// a reading rewritten at the same (device, channel, time) within that moment.
import { mkdirSync, readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Reading, ReadingStore } from './store.ts';
import { isWriteRejected } from './errors.ts';
import { validateReadings } from './validate.ts';

export type SpoolDropReason = 'full' | 'rejected';

export type SpoolEvent =
  /** the primary failed a write; this and later writes go to the spool */
  | { type: 'spooling'; error: unknown }
  /** a replay attempt failed; the next one follows after `retryMs` */
  | { type: 'replay-failed'; error: unknown }
  /** everything spooled reached the primary; writes go straight to it again */
  | { type: 'drained'; replayed: number }
  /**
   * `full`: the write would have passed `maxBytes`, so it was refused (write() rejected with
   * SpoolFullError). `rejected`: the primary refused spooled readings for good during replay.
   */
  | { type: 'dropped'; readings: number; reason: SpoolDropReason; error?: unknown }
  /** unreadable bytes in a segment found at start-up (a write torn by a crash, never acknowledged) */
  | { type: 'corrupt'; file: string; bytes: number };

export interface SpoolingStoreOptions {
  primary: ReadingStore;
  /** created when missing; segments left there by an earlier run are replayed first */
  dir: string;
  /** bound on the segment files' total size; a write that would pass it is refused */
  maxBytes: number;
  /** pause between replay attempts while the primary is down; default 1000 */
  retryMs?: number;
  /** a primary write slower than this counts as failed and the readings are spooled; default 5000 */
  writeTimeoutMs?: number;
  /** readings per replayed primary write; default 5000 */
  replayChunk?: number;
  /** a segment is closed once it reaches this size; default maxBytes/16 within 64 KiB–16 MiB */
  segmentBytes?: number;
  onEvent?: (event: SpoolEvent) => void;
  /** shorthand for the `dropped` events */
  onDrop?: (readings: number, reason: SpoolDropReason) => void;
}

export interface SpoolingStore extends ReadingStore {
  /** bytes of segment files on disk, including replayed parts not yet deleted */
  readonly spoolBytes: number;
  /** readings written to the spool that the primary has not confirmed yet */
  readonly spooledReadings: number;
  /** readings refused because the spool was full, or refused by the primary during replay */
  readonly droppedReadings: number;
  /** resolves once nothing is spooled (at once when nothing is) */
  drained(): Promise<void>;
}

/** write() was refused because the spool is at its bound; the readings are not stored. */
export class SpoolFullError extends Error {
  override readonly name = 'SpoolFullError';
  readonly code = 'SPOOL_FULL';
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

interface Pending {
  line: string;
  bytes: number;
  readings: number;
  resolve(): void;
  reject(err: unknown): void;
}

interface Chunk {
  readings: Reading[];
  end: Cursor;
}

interface Cursor {
  /** byte offset of the next line in the head segment */
  offset: number;
  /** readings of that line already replayed */
  skip: number;
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

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the primary store did not finish the write within ${ms} ms`)), ms);
  });
  // The late outcome of a timed-out write does not matter: its readings are spooled and replayed.
  work.catch(() => {});
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

export function createSpoolingStore(options: SpoolingStoreOptions): SpoolingStore {
  const { primary, dir, maxBytes } = options;
  const retryMs = options.retryMs ?? 1000;
  const writeTimeoutMs = options.writeTimeoutMs ?? 5000;
  const replayChunk = options.replayChunk ?? 5000;
  const segmentBytes = options.segmentBytes ?? Math.min(16 * 1024 * 1024, Math.max(64 * 1024, Math.floor(maxBytes / 16)));
  for (const [name, value, min] of [['maxBytes', maxBytes, 0], ['retryMs', retryMs, 0], ['writeTimeoutMs', writeTimeoutMs, 1], ['replayChunk', replayChunk, 1], ['segmentBytes', segmentBytes, 1]] as const) {
    if (!Number.isSafeInteger(value) || value < min) throw new RangeError(`spool ${name} must be a whole number ≥ ${min}, not ${value}`);
  }

  function emit(event: SpoolEvent): void {
    try {
      options.onEvent?.(event);
      if (event.type === 'dropped') options.onDrop?.(event.readings, event.reason);
    } catch (err) {
      // An observer's bug must not change whether readings are stored; still make it visible.
      process.emitWarning(`spool event handler threw: ${String(err)}`);
    }
  }

  const segments: Segment[] = [];
  let spoolBytes = 0;
  let spooled = 0;
  let dropped = 0;
  let replayed = 0;
  let nextSeq = 1;

  // Recover what an earlier run left, synchronously, so counters are right from the first call.
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
    if (good < buf.length) emit({ type: 'corrupt', file: path, bytes: buf.length - good });
    if (readings === 0) {
      unlinkSync(path);
      continue;
    }
    segments.push({ seq, path, size: buf.length });
    spoolBytes += buf.length;
    spooled += readings;
  }

  let active: { segment: Segment; file: FileHandle } | undefined;
  let cursor: Cursor = { offset: 0, skip: 0 };
  let queue: Pending[] = [];
  let queuedBytes = 0;
  let queuedReadings = 0;
  let flushingBytes = 0;
  let flushingReadings = 0;
  let flushScheduled = false;
  let closed = false;
  let outage = spooled > 0;
  let replayTimer: NodeJS.Timeout | undefined;
  let replaying: Promise<void> | undefined;
  let drainWaiters: { resolve(): void; reject(err: Error): void }[] = [];

  // Appends, segment rotation and the final clean-up of an emptied spool run one at a time.
  let chain: Promise<unknown> = Promise.resolve();
  function serial<T>(task: () => Promise<T>): Promise<T> {
    const result = chain.then(task);
    chain = result.catch(() => {});
    return result;
  }

  const backlog = () => spooled + queuedReadings + flushingReadings;

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

  async function appendToDisk(data: Buffer, readings: number): Promise<void> {
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
    segment.size += data.length;
    spoolBytes += data.length;
    spooled += readings;
    if (segment.size >= segmentBytes) await closeActive();
  }

  async function flushQueue(): Promise<void> {
    flushScheduled = false;
    const batch = queue;
    queue = [];
    queuedBytes = 0;
    queuedReadings = 0;
    const readings = batch.reduce((n, p) => n + p.readings, 0);
    flushingReadings = readings;
    flushingBytes = batch.reduce((n, p) => n + p.bytes, 0);
    try {
      // One write and one fsync for every batch that queued up meanwhile.
      await appendToDisk(Buffer.from(batch.map((p) => p.line).join('')), readings);
      for (const p of batch) p.resolve();
    } catch (err) {
      for (const p of batch) p.reject(err);
    } finally {
      flushingReadings = 0;
      flushingBytes = 0;
    }
  }

  function spoolAppend(readings: readonly Reading[]): Promise<void> {
    const line = `${encodeBatch(readings)}\n`;
    const bytes = Buffer.byteLength(line);
    if (spoolBytes + flushingBytes + queuedBytes + bytes > maxBytes) {
      dropped += readings.length;
      emit({ type: 'dropped', readings: readings.length, reason: 'full' });
      return Promise.reject(new SpoolFullError(`outage spool is full (${spoolBytes} of ${maxBytes} bytes): ${readings.length} readings refused`));
    }
    return new Promise<void>((resolve, reject) => {
      queue.push({ line, bytes, readings: readings.length, resolve, reject });
      queuedBytes += bytes;
      queuedReadings += readings.length;
      if (!flushScheduled) {
        flushScheduled = true;
        void serial(flushQueue);
      }
    });
  }

  async function readChunk(): Promise<Chunk | undefined> {
    while (segments.length > 0) {
      const head = segments[0];
      if (cursor.offset >= head.size) {
        if (head === active?.segment) return undefined;
        await unlink(head.path).catch((err) => {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        });
        segments.shift();
        spoolBytes -= head.size;
        cursor = { offset: 0, skip: 0 };
        continue;
      }
      return readFrom(head);
    }
    return undefined;
  }

  async function readFrom(head: Segment): Promise<Chunk> {
    const readings: Reading[] = [];
    let { offset, skip } = cursor;
    const file = await open(head.path, 'r');
    try {
      let window = READ_WINDOW;
      while (readings.length < replayChunk && offset < head.size) {
        const length = Math.min(window, head.size - offset);
        const buf = Buffer.allocUnsafe(length);
        const { bytesRead } = await file.read(buf, 0, length, offset);
        let consumed = 0;
        let sawLine = false;
        let partial = false;
        for (const { start, end } of lines(buf, bytesRead)) {
          sawLine = true;
          // an unreadable line was reported at start-up; it is skipped like an empty batch
          const batch = decodeBatch(buf.toString('utf8', start, end)) ?? [];
          const take = Math.min(batch.length - skip, replayChunk - readings.length);
          for (let i = skip; i < skip + take; i++) readings.push(batch[i]);
          if (skip + take < batch.length) {
            skip += take;
            partial = true;
            break;
          }
          skip = 0;
          consumed = end + 1;
          if (readings.length >= replayChunk) break;
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

  function notifyDrained(): void {
    const waiters = drainWaiters;
    drainWaiters = [];
    for (const waiter of waiters) waiter.resolve();
  }

  async function resetIfEmpty(): Promise<void> {
    if (backlog() > 0) return;
    await closeActive();
    for (const segment of segments.splice(0)) await unlink(segment.path).catch(() => {});
    spoolBytes = 0;
    cursor = { offset: 0, skip: 0 };
  }

  /**
   * When the primary refuses a chunk for good, halves it until the refused readings are isolated, so
   * one bad reading does not cost its neighbours. Writing the accepted halves again is harmless.
   * Other errors propagate: the whole chunk is retried later.
   */
  async function writeSalvaging(readings: Reading[]): Promise<{ refused: number; error?: unknown }> {
    try {
      await withTimeout(primary.write(readings), writeTimeoutMs);
      return { refused: 0 };
    } catch (err) {
      if (!isWriteRejected(err)) throw err;
      if (readings.length === 1) return { refused: 1, error: err };
      const mid = readings.length >> 1;
      const first = await writeSalvaging(readings.slice(0, mid));
      const second = await writeSalvaging(readings.slice(mid));
      return { refused: first.refused + second.refused, error: first.error ?? second.error };
    }
  }

  /** 'retry' when the primary failed and the next attempt should wait `retryMs` */
  async function replay(): Promise<'done' | 'retry'> {
    while (!closed) {
      if (backlog() === 0) {
        await serial(resetIfEmpty);
        if (backlog() > 0) continue;
        if (outage) emit({ type: 'drained', replayed });
        outage = false;
        replayed = 0;
        notifyDrained();
        return 'done';
      }
      const chunk = await readChunk();
      if (!chunk) {
        // Everything on disk is replayed; what is left is still being appended.
        if (queuedReadings + flushingReadings > 0) await chain;
        else spooled = 0;
        continue;
      }
      if (chunk.readings.length > 0) {
        let outcome: { refused: number; error?: unknown };
        try {
          outcome = await writeSalvaging(chunk.readings);
        } catch (err) {
          emit({ type: 'replay-failed', error: err });
          return 'retry';
        }
        replayed += chunk.readings.length - outcome.refused;
        if (outcome.refused > 0) {
          dropped += outcome.refused;
          emit({ type: 'dropped', readings: outcome.refused, reason: 'rejected', error: outcome.error });
        }
      }
      cursor = chunk.end;
      spooled -= chunk.readings.length;
    }
    return 'done';
  }

  function scheduleReplay(delayMs: number): void {
    if (closed || replaying || replayTimer) return;
    replayTimer = setTimeout(() => {
      replayTimer = undefined;
      replaying = replay()
        .catch((err: unknown) => {
          // reading a segment failed; the cursor did not move, so the next attempt starts there again
          emit({ type: 'replay-failed', error: err });
          return 'retry' as const;
        })
        .then((outcome) => {
          replaying = undefined;
          // A write may have been spooled after the loop saw an empty spool, while it still counted as running.
          if (outcome === 'retry') scheduleReplay(retryMs);
          else if (backlog() > 0) scheduleReplay(0);
        });
    }, delayMs);
    replayTimer.unref();
  }

  if (spooled > 0) scheduleReplay(0);

  return {
    get spoolBytes() {
      return spoolBytes;
    },
    get spooledReadings() {
      return spooled + queuedReadings + flushingReadings;
    },
    get droppedReadings() {
      return dropped;
    },

    async write(readings) {
      if (closed) throw new Error('the spooling store is closed');
      validateReadings(readings);
      if (readings.length === 0) return;
      if (backlog() === 0) {
        try {
          await withTimeout(primary.write(readings), writeTimeoutMs);
          return;
        } catch (err) {
          if (isWriteRejected(err)) throw err;
          if (!outage) emit({ type: 'spooling', error: err });
          outage = true;
        }
      }
      await spoolAppend(readings);
      scheduleReplay(retryMs);
    },

    query(q) {
      return primary.query(q);
    },

    ping() {
      return primary.ping();
    },

    drained() {
      if (backlog() === 0) return Promise.resolve();
      if (closed) return Promise.reject(new Error('the spooling store is closed'));
      return new Promise<void>((resolve, reject) => drainWaiters.push({ resolve, reject }));
    },

    async close() {
      if (closed) return;
      closed = true;
      clearTimeout(replayTimer);
      replayTimer = undefined;
      await replaying;
      await chain;
      await closeActive();
      for (const waiter of drainWaiters.splice(0)) waiter.reject(new Error('the spooling store closed before the spool drained'));
      await primary.close();
    },
  };
}
