// Outage spool: keeps readings on local disk while the primary store is down or slow, and replays
// them in order when it is back, so devices can be acknowledged during an InfluxDB outage.
//
// States: write-through (nothing spooled: writes go to the primary) → outage (a primary write
// failed or timed out: this and later writes are appended to the segment log, fsync'd before they
// resolve) → replay (the log is read back in chunks and written to the primary; readings it refuses
// for good are isolated and dropped, the rest kept) → drained (the log is empty and deleted;
// write-through again). The file format is segment-log.ts's. After a restart the log is replayed
// from its start: some readings reach the primary twice, which is harmless because a store keeps
// one point per (device, channel, time).
//
// Order: while anything is spooled, new writes are spooled too, behind it. Writes that were already
// in flight to the primary when it failed may land before older spooled ones; that only matters for
// a reading rewritten at the same (device, channel, time) within that moment.
import type { Reading, ReadingStore } from './store.ts';
import { isWriteRejected } from './errors.ts';
import { encodeBatch, openSegmentLog } from './segment-log.ts';
import { asReadings, type Readings } from './reading-batch.ts';
import { validateReadings } from './validate.ts';

export { decodeBatch, encodeBatch } from './segment-log.ts';

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

/** A write waiting to be appended, with others that queued meanwhile, in one fsync. */
interface Pending {
  line: string;
  bytes: number;
  readings: number;
  resolve(): void;
  reject(err: unknown): void;
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

  let dropped = 0;
  let replayed = 0;
  const log = openSegmentLog({ dir, segmentBytes, onCorrupt: (file, bytes) => emit({ type: 'corrupt', file, bytes }) });

  let queue: Pending[] = [];
  let queuedBytes = 0;
  let queuedReadings = 0;
  let flushingBytes = 0;
  let flushingReadings = 0;
  let flushScheduled = false;
  let closed = false;
  let outage = log.pending > 0;
  let replayTimer: NodeJS.Timeout | undefined;
  let replaying: Promise<void> | undefined;
  let drainWaiters: { resolve(): void; reject(err: Error): void }[] = [];

  // Appends to the log and the clearing of an emptied log run one at a time (the log's rule).
  let chain: Promise<unknown> = Promise.resolve();
  function serial<T>(task: () => Promise<T>): Promise<T> {
    const result = chain.then(task);
    chain = result.catch(() => {});
    return result;
  }

  const backlog = () => log.pending + queuedReadings + flushingReadings;

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
      await log.append(Buffer.from(batch.map((p) => p.line).join('')), readings);
      for (const p of batch) p.resolve();
    } catch (err) {
      for (const p of batch) p.reject(err);
    } finally {
      flushingReadings = 0;
      flushingBytes = 0;
    }
  }

  function spoolAppend(readings: Readings): Promise<void> {
    const line = `${encodeBatch(asReadings(readings))}\n`;
    const bytes = Buffer.byteLength(line);
    if (log.bytes + flushingBytes + queuedBytes + bytes > maxBytes) {
      dropped += readings.length;
      emit({ type: 'dropped', readings: readings.length, reason: 'full' });
      return Promise.reject(new SpoolFullError(`outage spool is full (${log.bytes} of ${maxBytes} bytes): ${readings.length} readings refused`));
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

  function notifyDrained(): void {
    const waiters = drainWaiters;
    drainWaiters = [];
    for (const waiter of waiters) waiter.resolve();
  }

  async function clearIfEmpty(): Promise<void> {
    if (backlog() === 0) await log.clear();
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
        await serial(clearIfEmpty);
        if (backlog() > 0) continue;
        if (outage) emit({ type: 'drained', replayed });
        outage = false;
        replayed = 0;
        notifyDrained();
        return 'done';
      }
      const chunk = await log.read(replayChunk);
      if (!chunk) {
        // Everything on disk is replayed; what is left is still being appended.
        if (queuedReadings + flushingReadings > 0) await chain;
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
      log.confirm(chunk);
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

  if (log.pending > 0) scheduleReplay(0);

  return {
    get spoolBytes() {
      return log.bytes;
    },
    get spooledReadings() {
      return backlog();
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
      await log.close();
      for (const waiter of drainWaiters.splice(0)) waiter.reject(new Error('the spooling store closed before the spool drained'));
      await primary.close();
    },
  };
}
