// Runs the embedded store inside worker threads and answers the main thread's requests: one writer
// thread (writes, ping) and reader threads, each with a read-only connection, for history queries.
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { createSqliteStore, openSqliteReader } from './sqlite-store.ts';
import { pointsJson } from './points-json.ts';
import { perSeries, ReadingBatch } from './reading-batch.ts';
import type { EncodedPoints, ReadingPoint, ReadingQuery } from './store.ts';
import type { TierRetention } from './tier-retention.ts';

/**
 * History queries take at most half a core: a loop of heavy aggregates otherwise takes a whole one,
 * and on 2 cores the writer, whose commits every acknowledgement waits for, and the event loop
 * wait for it.
 */
export const READER_PACE = { busyMs: 20, restMs: 20 } as const;

/**
 * A batch in columns: each device/channel pair once, times and values in typed arrays whose
 * buffers are transferred, not copied. Cloning thousands of small objects cost the main thread
 * more than the write it was meant to move away.
 */
export interface PackedReadings {
  series: string[];
  seriesIndex: Uint32Array;
  times: Float64Array;
  values: Float64Array;
}

export function packReadings(batch: ReadingBatch): PackedReadings {
  const series: string[] = [];
  const seriesOf = perSeries(batch, (deviceId, channel) => series.push(deviceId, channel) / 2 - 1);
  const seriesIndex = new Uint32Array(batch.length);
  for (let i = 0; i < batch.length; i++) seriesIndex[i] = seriesOf(i);
  // copies: the batch stays the caller's, and may be written again (a salvage)
  return { series, seriesIndex, times: batch.time.slice(0, batch.length), values: batch.value.slice(0, batch.length) };
}

export function unpackReadings(packed: PackedReadings): ReadingBatch {
  const { series, seriesIndex, times, values } = packed;
  const batch = new ReadingBatch(times.length);
  for (let i = 0; i < times.length; i++) {
    const k = seriesIndex[i] * 2;
    batch.push(series[k], series[k + 1], times[i], values[i]);
  }
  return batch;
}

/** An answer in columns, like a batch: 50,000 cloned point objects cost the main thread ~20 ms. */
export interface PackedPoints {
  channels: string[];
  channelIndex: Uint32Array;
  times: Float64Array;
  values: Float64Array;
}

export function packPoints(points: readonly ReadingPoint[]): PackedPoints {
  const channels: string[] = [];
  const channelIndex = new Uint32Array(points.length);
  const times = new Float64Array(points.length);
  const values = new Float64Array(points.length);
  for (let i = 0; i < points.length; i++) {
    const p = points[i];
    // points come ordered by channel: a new name is a new channel
    if (channels.length === 0 || channels[channels.length - 1] !== p.channel) channels.push(p.channel);
    channelIndex[i] = channels.length - 1;
    times[i] = p.time;
    values[i] = p.value;
  }
  return { channels, channelIndex, times, values };
}

export function unpackPoints(packed: PackedPoints): ReadingPoint[] {
  const { channels, channelIndex, times, values } = packed;
  const points: ReadingPoint[] = new Array(times.length);
  for (let i = 0; i < times.length; i++) points[i] = { channel: channels[channelIndex[i]], time: times[i], value: values[i] };
  return points;
}

export type ThreadRequest =
  | { id: number; op: 'write'; packed: PackedReadings }
  | { id: number; op: 'query'; query: ReadingQuery; encoding?: 'json' }
  | { id: number; op: 'ping' }
  | { id: number; op: 'close' };

export type ThreadReply = { id: number; ok: true; result?: unknown } | { id: number; ok: false; error: { name: string; message: string } };

export type ThreadRole = 'writer' | 'reader';

if (parentPort && workerData?.sqliteThread) {
  const tierRetention = workerData.tierRetention as TierRetention | undefined;
  const maxScan = workerData.maxScan as number | undefined;
  if (workerData.role === 'reader') serveReads(parentPort, workerData.path as string, tierRetention, maxScan);
  else serve(parentPort, workerData.path as string, tierRetention, maxScan);
}

function reply(port: NonNullable<typeof parentPort>, id: number, run: () => unknown): void {
  try {
    const result = run();
    if (result && typeof result === 'object' && 'channelIndex' in result) {
      const { channelIndex, times, values } = result as PackedPoints;
      port.postMessage({ id, ok: true, result } satisfies ThreadReply, [channelIndex.buffer, times.buffer, values.buffer] as ArrayBuffer[]);
    } else if (result && typeof result === 'object' && 'json' in result) {
      port.postMessage({ id, ok: true, result } satisfies ThreadReply, [(result as EncodedPoints).json.buffer] as ArrayBuffer[]);
    } else port.postMessage({ id, ok: true, result } satisfies ThreadReply);
  } catch (err) {
    const { name, message } = err as Error;
    port.postMessage({ id, ok: false, error: { name, message } } satisfies ThreadReply);
  }
}

/**
 * On Linux a thread's nice value is its own: the reader thread takes the lowest priority, so the
 * writer and the event loop get a core first whenever they want one. Elsewhere (no
 * /proc/thread-self) the reader keeps the hub's priority and only its pace bounds it.
 */
function lowerThreadPriority(): void {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isSafeInteger(tid) && tid > 0) setPriority(tid, 19);
  } catch {
    // not Linux, or no /proc
  }
}

/** TextEncoder's bytes own their buffer, so it can be transferred (a small Buffer.from shares a pool's). */
function encodePoints(points: ReadingPoint[]): EncodedPoints {
  return { count: points.length, json: new TextEncoder().encode(pointsJson(points)) };
}

/** A reader answers one query at a time; the main thread sends the next when it has the answer. */
function serveReads(port: NonNullable<typeof parentPort>, path: string, tierRetention: TierRetention | undefined, maxScan: number | undefined): void {
  lowerThreadPriority();
  const reader = openSqliteReader(path, { pace: READER_PACE, checkpoint: true, tierRetention, maxScan });
  port.on('message', function onReadRequest(request: ThreadRequest) {
    if (request.op === 'query' && request.encoding === 'json') reply(port, request.id, () => encodePoints(reader.query(request.query)));
    else if (request.op === 'query') reply(port, request.id, () => packPoints(reader.query(request.query)));
    else if (request.op === 'close') reply(port, request.id, () => reader.close());
    else reply(port, request.id, () => { throw new Error(`a reader thread does not ${request.op}`); });
  });
  port.postMessage({ id: 0, ok: true } satisfies ThreadReply);
}

function serve(port: NonNullable<typeof parentPort>, path: string, tierRetention: TierRetention | undefined, maxScan: number | undefined): void {
  const store = createSqliteStore({ path, tierRetention, maxScan });
  port.on('message', async function onStoreRequest(request: ThreadRequest) {
  try {
    let result: unknown;
    if (request.op === 'write') await store.write(unpackReadings(request.packed));
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
}
