// The embedded store on its own threads. better-sqlite3 is synchronous: on the main thread a
// 5,000-reading commit blocks every socket for ~15 ms, which is what the hub's live latency p99 was
// made of (see bench). Here the event loop only pays for copying the batch to the worker.
//
// Writes go to one writer thread; history queries to reader threads with read-only connections
// (WAL lets them read while the writer commits). A query over millions of readings once ran on the
// writer thread and held every acknowledgement behind it for seconds. Each query has a time bound
// that includes waiting for a free reader: past it the query is answered with QueryTimeoutError and
// the reader running it is terminated (a fresh one starts for the next query). Readers run at the
// lowest thread priority and at most half a core each (see sqlite-thread-main.ts), so a loop of
// heavy queries does not slow the writer, and with it every acknowledgement.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { WriteRejectedError } from './errors.ts';
import { asBatch, ReadingBatch, type Readings } from './reading-batch.ts';
import { validateReadings } from './validate.ts';
import { packReadings, unpackPoints, type PackedPoints, type ThreadReply, type ThreadRequest, type ThreadRole } from './sqlite-thread-main.ts';
import { DEFAULT_QUERY_MAX_SCAN, DEFAULT_QUERY_TIMEOUT_MS, QueryTimeoutError, QueryTooLargeError, type EncodedPoints, type ReadingPoint, type ReadingQuery, type ReadingStore } from './store.ts';
import type { TierRetention } from './tier-retention.ts';

/** Queries running back to back this long wait for the running ones to end before the next starts. */
const CHECKPOINT_AFTER_MS = 2000;

type Pending = { resolve(value: unknown): void; reject(err: Error): void };

// From the sources (tests, tsx) the worker needs a loader for TypeScript, which sqlite-thread.mjs
// registers; built for `npm start` (hub/dist, plain JavaScript) it runs the compiled module as is.
const WORKER_ENTRY = import.meta.url.endsWith('.ts') ? new URL('./sqlite-thread.mjs', import.meta.url) : new URL('./sqlite-thread-main.js', import.meta.url);

export interface ThreadedSqliteStore extends ReadingStore {
  /** Starts the thread and opens the database; rejects with the reason when it cannot. */
  open(): Promise<void>;
  queryJson(q: ReadingQuery): Promise<EncodedPoints>;
}
// sqlite3_errstr() of the primary result codes.
const SQLITE_MESSAGES: Record<string, string> = {
  SQLITE_ERROR: 'SQL logic error',
  SQLITE_PERM: 'access permission denied',
  SQLITE_BUSY: 'database is locked',
  SQLITE_LOCKED: 'database table is locked',
  SQLITE_NOMEM: 'out of memory',
  SQLITE_READONLY: 'attempt to write a readonly database',
  SQLITE_IOERR: 'disk I/O error',
  SQLITE_CORRUPT: 'database disk image is malformed',
  SQLITE_FULL: 'database or disk is full',
  SQLITE_CANTOPEN: 'unable to open database file',
  SQLITE_NOTADB: 'file is not a database',
};

/**
 * An error the thread died of. better-sqlite3's SqliteError is not built by the Error constructor,
 * so it crosses from the thread as its enumerable fields only, `{ code }` without the message.
 */
function threadError(err: unknown): Error {
  if (err instanceof Error) return err;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return new Error(`store thread failed: ${String(err)}`);
  const primary = /^SQLITE_[A-Z]+/.exec(code)?.[0] ?? code;
  return Object.assign(new Error(SQLITE_MESSAGES[primary] ?? code), { code });
}

type RequestBody = ThreadRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

export interface ThreadedSqliteStoreOptions {
  path: string;
  /**
   * reader threads for history queries; default one core fewer than the machine has, at least 1 and
   * at most 2, so queries leave a core to ingest
   */
  readers?: number;
  /** bound on each query, waiting for a reader included; default 10 s */
  queryTimeoutMs?: number;
  /** most stored rows (readings or tier buckets) one query may read; default DEFAULT_QUERY_MAX_SCAN */
  maxScan?: number;
  /** how long each history tier keeps its buckets; default DEFAULT_TIER_RETENTION */
  tierRetention?: TierRetention;
}

function replyError(error: { name: string; message: string }): Error {
  return error.name === 'WriteRejectedError' ? new WriteRejectedError(error.message) : new Error(error.message);
}

export function createThreadedSqliteStore(options: ThreadedSqliteStoreOptions): ThreadedSqliteStore {
  const queryTimeoutMs = options.queryTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS;
  const maxScan = options.maxScan ?? DEFAULT_QUERY_MAX_SCAN;
  const maxReaders = Math.max(1, options.readers ?? Math.min(2, availableParallelism() - 1));
  let worker: Worker | null = null;
  let ready: Promise<void> | null = null;
  let nextId = 1;
  const pending = new Map<number, Pending>();
  let closed = false;

  function start(): Promise<void> {
    const w = new Worker(WORKER_ENTRY, { workerData: { path: options.path, tierRetention: options.tierRetention, maxScan, sqliteThread: true, role: 'writer' satisfies ThreadRole } });
    worker = w;
    ready = new Promise<void>((resolve, reject) => {
      w.on('message', (reply: ThreadReply) => {
        if (reply.id === 0) return resolve();
        const waiter = pending.get(reply.id);
        pending.delete(reply.id);
        if (!waiter) return;
        if (reply.ok) return waiter.resolve(reply.result);
        waiter.reject(replyError(reply.error));
      });
      // A dead worker fails what it held; the next request starts a new one.
      const fail = (err: Error) => {
        reject(err);
        for (const waiter of pending.values()) waiter.reject(err);
        pending.clear();
        if (worker === w) {
          worker = null;
          ready = null;
        }
      };
      w.on('error', (err) => fail(threadError(err)));
      w.on('exit', (code) => fail(new Error(`store thread exited with code ${code}`)));
    });
    return ready;
  }

  // Readers. A job waits in `queue` until a reader is free; `reader.job` is the one it runs.
  interface Job {
    query: ReadingQuery;
    /** 'json': the reader answers EncodedPoints instead of packed points */
    encoding?: 'json';
    resolve(answer: ReadingPoint[] | EncodedPoints): void;
    reject(err: Error): void;
    timer: NodeJS.Timeout;
    reader?: Reader;
  }
  interface Reader {
    worker: Worker;
    ready: boolean;
    job: Job | null;
  }
  const readers = new Set<Reader>();
  const queue: Job[] = [];
  // Since when queries have run without a break (none running and none waiting); null in a break.
  let readingSince: number | null = null;

  function finish(job: Job, err: Error | null, points?: ReadingPoint[] | EncodedPoints): void {
    clearTimeout(job.timer);
    if (job.reader?.job === job) job.reader.job = null;
    job.reader = undefined;
    if (err) job.reject(err);
    else job.resolve(points!);
  }

  function startReader(): void {
    const w = new Worker(WORKER_ENTRY, { workerData: { path: options.path, tierRetention: options.tierRetention, maxScan, sqliteThread: true, role: 'reader' satisfies ThreadRole } });
    const reader: Reader = { worker: w, ready: false, job: null };
    readers.add(reader);
    w.on('message', (reply: ThreadReply) => {
      if (reply.id === 0) reader.ready = true;
      else if (reader.job) {
        if (reply.ok) finish(reader.job, null, reader.job.encoding ? (reply.result as EncodedPoints) : unpackPoints(reply.result as PackedPoints));
        // past its scan bound the reader is fine and keeps serving; the error crosses as a name only
        else if (reply.error.name === 'QueryTooLargeError') finish(reader.job, new QueryTooLargeError(reader.job.query.maxScan ?? maxScan));
        else finish(reader.job, replyError(reply.error));
      }
      pump();
    });
    let gone = false;
    const fail = (err: Error) => {
      if (gone) return;
      gone = true;
      readers.delete(reader);
      if (reader.job) finish(reader.job, err);
      // A reader that cannot even open the database fails what waits, rather than restart forever.
      else if (!reader.ready) for (const job of queue.splice(0)) finish(job, err);
      pump();
    };
    w.on('error', (err) => fail(threadError(err)));
    w.on('exit', (code) => fail(new Error(`store reader thread exited with code ${code}`)));
  }

  function pump(): void {
    if (closed) return;
    let busy = false;
    for (const reader of readers) if (reader.job) busy = true;
    // a break: no query runs and none waits
    if (!busy && queue.length === 0) readingSince = null;
    if (queue.length > 0 && readingSince !== null && Date.now() - readingSince >= CHECKPOINT_AFTER_MS) {
      // Queries back to back keep the WAL from ever starting over: a reader inside a query holds a
      // snapshot in it, so it grows (~5 MB/s at 80k readings/s) for as long as they run. Every so
      // often new queries wait until none runs: each reader copies the WAL into the database after
      // its query, and with no snapshot left in it the writer's next commit starts it over.
      if (busy) return;
      readingSince = null;
    }
    let starting = 0;
    for (const reader of readers) {
      if (!reader.ready) starting++;
      else if (!reader.job && queue.length > 0) {
        const job = queue.shift()!;
        readingSince ??= Date.now();
        reader.job = job;
        job.reader = reader;
        reader.worker.postMessage({ id: nextId++, op: 'query', query: job.query, ...(job.encoding && { encoding: job.encoding }) } satisfies ThreadRequest);
      }
    }
    for (let wanted = queue.length - starting; wanted > 0 && readers.size < maxReaders; wanted--) startReader();
  }

  function timedOut(job: Job, ms: number): void {
    const index = queue.indexOf(job);
    if (index >= 0) queue.splice(index, 1);
    const reader = job.reader;
    if (reader) {
      // Its statement stops at the next row it reads, when the thread runs JavaScript again.
      readers.delete(reader);
      reader.job = null;
      void reader.worker.terminate();
    }
    job.reader = undefined;
    job.reject(new QueryTimeoutError(ms));
    pump();
  }

  async function submit(query: ReadingQuery, encoding?: 'json'): Promise<ReadingPoint[] | EncodedPoints> {
    if (closed) throw new Error('the store is closed');
    const startedAt = Date.now();
    // The writer opens (and creates) the database before any reader may read it.
    await (ready ?? start());
    if (closed) throw new Error('the store is closed');
    const ms = query.timeoutMs ?? queryTimeoutMs;
    return new Promise((resolve, reject) => {
      const job: Job = { query, encoding, resolve, reject, timer: setTimeout(() => timedOut(job, ms), Math.max(0, startedAt + ms - Date.now())) };
      queue.push(job);
      pump();
    });
  }

  async function call(body: RequestBody, transfer: ArrayBuffer[] = []): Promise<unknown> {
    if (closed && body.op !== 'close') throw new Error('the store is closed');
    await (ready ?? start());
    const id = nextId++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      worker!.postMessage({ ...body, id }, transfer);
    });
  }

  return {
    async open() {
      if (closed) throw new Error('the store is closed');
      await (ready ?? start());
    },
    async write(readings: Readings) {
      // The writer thread validates what it unpacks; objects are checked here first, as packing
      // would coerce what it should refuse (a string value, a null reading).
      if (!(readings instanceof ReadingBatch)) validateReadings(readings);
      const packed = packReadings(asBatch(readings));
      await call({ op: 'write', packed }, [packed.seriesIndex.buffer, packed.times.buffer, packed.values.buffer] as ArrayBuffer[]);
    },
    query: (query: ReadingQuery) => submit(query) as Promise<ReadingPoint[]>,
    queryJson: (query: ReadingQuery) => submit(query, 'json') as Promise<EncodedPoints>,
    async ping() {
      await call({ op: 'ping' });
    },
    async close() {
      if (closed) return;
      closed = true;
      const stopping = new Error('the store is closed');
      for (const job of queue.splice(0)) finish(job, stopping);
      for (const reader of readers) if (reader.job) finish(reader.job, stopping);
      await Promise.all([...readers].map((reader) => reader.worker.terminate()));
      readers.clear();
      if (!worker) return;
      await call({ op: 'close' }).catch(() => undefined);
      await worker?.terminate();
    },
  };
}
