// Runs the embedded store inside a worker thread and answers the main thread's requests.
import { parentPort, workerData } from 'node:worker_threads';
import { createSqliteStore } from './sqlite-store.ts';
import type { Reading, ReadingQuery } from './store.ts';

export type ThreadRequest =
  | { id: number; op: 'write'; readings: Reading[] }
  | { id: number; op: 'query'; query: ReadingQuery }
  | { id: number; op: 'ping' }
  | { id: number; op: 'close' };

export type ThreadReply = { id: number; ok: true; result?: unknown } | { id: number; ok: false; error: { name: string; message: string } };

const store = createSqliteStore({ path: (workerData as { path: string }).path });
const port = parentPort!;

port.on('message', async function onStoreRequest(request: ThreadRequest) {
  try {
    let result: unknown;
    if (request.op === 'write') await store.write(request.readings);
    else if (request.op === 'query') result = await store.query(request.query);
    else if (request.op === 'ping') await store.ping();
    else await store.close();
    port.postMessage({ id: request.id, ok: true, result } satisfies ThreadReply);
  } catch (err) {
    const { name, message } = err as Error;
    port.postMessage({ id: request.id, ok: false, error: { name, message } } satisfies ThreadReply);
  }
});
port.postMessage({ id: 0, ok: true } satisfies ThreadReply);
