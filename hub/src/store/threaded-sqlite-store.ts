// The embedded store on its own thread. better-sqlite3 is synchronous: on the main thread a
// 5,000-reading commit blocks every socket for ~15 ms, which is what the hub's live latency p99 was
// made of (see bench). Here the event loop only pays for copying the batch to the worker.
import { Worker } from 'node:worker_threads';
import { WriteRejectedError } from './errors.ts';
import { packReadings, type ThreadReply, type ThreadRequest } from './sqlite-thread-main.ts';
import type { Reading, ReadingPoint, ReadingQuery, ReadingStore } from './store.ts';

type Pending = { resolve(value: unknown): void; reject(err: Error): void };

// From the sources (tests, tsx) the worker needs a loader for TypeScript, which sqlite-thread.mjs
// registers; built for `npm start` (hub/dist, plain JavaScript) it runs the compiled module as is.
const WORKER_ENTRY = import.meta.url.endsWith('.ts') ? new URL('./sqlite-thread.mjs', import.meta.url) : new URL('./sqlite-thread-main.js', import.meta.url);

export interface ThreadedSqliteStore extends ReadingStore {
  /** Starts the thread and opens the database; rejects with the reason when it cannot. */
  open(): Promise<void>;
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

export function createThreadedSqliteStore(options: { path: string }): ThreadedSqliteStore {
  let worker: Worker | null = null;
  let ready: Promise<void> | null = null;
  let nextId = 1;
  const pending = new Map<number, Pending>();
  let closed = false;

  function start(): Promise<void> {
    const w = new Worker(WORKER_ENTRY, { workerData: { path: options.path, sqliteThread: true } });
    worker = w;
    ready = new Promise<void>((resolve, reject) => {
      w.on('message', (reply: ThreadReply) => {
        if (reply.id === 0) return resolve();
        const waiter = pending.get(reply.id);
        pending.delete(reply.id);
        if (!waiter) return;
        if (reply.ok) return waiter.resolve(reply.result);
        const err = reply.error.name === 'WriteRejectedError' ? new WriteRejectedError(reply.error.message) : new Error(reply.error.message);
        waiter.reject(err);
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
    async write(readings: readonly Reading[]) {
      const packed = packReadings(readings);
      await call({ op: 'write', packed }, [packed.seriesIndex.buffer, packed.times.buffer, packed.values.buffer] as ArrayBuffer[]);
    },
    async query(query: ReadingQuery) {
      return (await call({ op: 'query', query })) as ReadingPoint[];
    },
    async ping() {
      await call({ op: 'ping' });
    },
    async close() {
      if (closed) return;
      closed = true;
      if (!worker) return;
      await call({ op: 'close' }).catch(() => undefined);
      await worker?.terminate();
    },
  };
}
